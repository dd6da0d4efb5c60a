package gateway

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// go test -run TestFuzzCorpus -update-corpus ./gateway rewrites the seed
// files generated from the test tables; files found by fuzzing are kept.
var updateCorpus = flag.Bool("update-corpus", false, "write the fuzz seed corpus from the framing test tables")

// roundTripSeeds are FuzzRoundTrip's committed seeds: user, local user,
// password, record body.
var roundTripSeeds = []struct {
	name                  string
	user, local, password string
	body                  string
}{
	{"spec-decimal-lengths", "abcde", "fg", "hij", "12345"},
	{"spec-local-user-password", "", "diku dikuuser abc123", "", "12345"},
	{"spec-utf8-bytes", "", "testlib user bøf", "", "æ"},
	{"length-boundaries", strings.Repeat("u", 191), "a" + strings.Repeat("b", 191), "x" + strings.Repeat("9", 299), "\x00\x1d"},
	{"unencodable-digit-led-password", "", "", "1" + strings.Repeat("p", 200), ""},
	{"binary-credentials", "\x00\xff", "\x40 \x00", "0", "\xff"},
}

func corpusFile(values ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		}
	}
	return b.String()
}

func corpusName(name string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' {
			return r
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, name)
}

// The committed seed corpus holds every framing example (the spec's
// included), so `go test` runs FuzzParseRequest's checks on each.
func TestFuzzCorpus(t *testing.T) {
	want := map[string]string{} // path -> content
	for _, tc := range specCases {
		want[filepath.Join("testdata", "fuzz", "FuzzParseRequest", corpusName(tc.name))] = corpusFile([]byte(tc.in))
	}
	for _, s := range roundTripSeeds {
		want[filepath.Join("testdata", "fuzz", "FuzzRoundTrip", s.name)] = corpusFile(s.user, s.local, s.password, []byte(s.body))
	}
	for path, content := range want {
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("seed %s missing or stale (run go test -run TestFuzzCorpus -update-corpus): %v", path, err)
		}
	}
	// Every committed seed is a well-formed corpus file.
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if lines[0] != "go test fuzz v1" {
			t.Errorf("%s: bad header %q", f, lines[0])
		}
		for _, l := range lines[1:] {
			inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(l, "[]byte("), "string("), ")")
			if _, err := strconv.Unquote(inner); err != nil {
				t.Errorf("%s: bad value line %q", f, l)
			}
		}
	}
}
