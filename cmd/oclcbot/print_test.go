package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/marc"
)

const (
	corpusFile = "../../marc/testdata/corpus.mrc"
	marc8File  = "../../marc/testdata/marc8/records.mrc"
	brokenDir  = "../../marc/testdata/broken"
)

// runCmd runs oclcbot with args and stdin, returning its exit status and
// outputs.
func runCmd(t *testing.T, ctx context.Context, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &env{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTemp writes data to a new file in a test directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// firstDiff describes where got and want part.
func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-60)
	return strings.Join([]string{
		"first difference at byte " + itoa(i) + " (got " + itoa(len(got)) + " bytes, want " + itoa(len(want)) + ")",
		"got:  " + strconv.Quote(got[lo:min(len(got), i+60)]),
		"want: " + strconv.Quote(want[lo:min(len(want), i+60)]),
	}, "\n")
}

func itoa(i int) string { return strconv.Itoa(i) }

// yazPath returns yaz-marcdump's path; without it the test is skipped,
// or fails under CI=true.
func yazPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("yaz-marcdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("yaz-marcdump is not on PATH and CI=true: install yaz (Debian package yaz): %v", err)
		}
		t.Skipf("yaz-marcdump is not on PATH (install the yaz package to cross-check oclcbot print): %v", err)
	}
	return p
}

func runYaz(t *testing.T, yaz string, args ...string) string {
	t.Helper()
	cmd := exec.Command(yaz, args...)
	out, err := cmd.Output()
	// yaz-marcdump exits non-zero after skipping bytes; its output still
	// counts.
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("yaz-marcdump %v: %v", args, err)
	}
	return string(out)
}

// crlfFile returns the records of the MARC-8 file separated by CR LF, with
// filler at the end, as some exports are.
func crlfFile(t *testing.T) []byte {
	t.Helper()
	rd := marc.NewReader(bytes.NewReader(readFile(t, marc8File)))
	var out []byte
	for {
		raw, _, err := rd.ReadRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, raw...), "\r\n"...)
	}
	return append(out, "\n\x00\x1a"...)
}

// TestPrintMatchesYaz checks that print's line and xml formats, plain and
// --utf8, are byte for byte yaz-marcdump's, so either can check the other.
func TestPrintMatchesYaz(t *testing.T) {
	yaz := yazPath(t)
	files := map[string]string{
		"corpus": corpusFile,
		"marc8":  marc8File,
		"crlf":   writeTemp(t, "crlf.mrc", crlfFile(t)),
		"empty":  writeTemp(t, "empty.mrc", nil),
	}
	cases := []struct {
		name    string
		ours    []string
		yaz     []string
		onlyFor string // "" for every file
		notFor  string
	}{
		{"line", []string{"--format", "line"}, []string{"-o", "line"}, "", ""},
		{"xml", []string{"--format", "xml"}, []string{"-o", "marcxml"}, "", ""},
		// yaz puts its "Skipping bad byte" XML comments into JSON too,
		// which makes it invalid; print leaves them out there.
		{"json", []string{"--format", "json"}, []string{"-o", "json"}, "", "crlf"},
		// yaz silently drops the bytes of broken MARC-8 that print
		// reports, so the conversions are compared on valid MARC-8.
		{"utf8-line", []string{"--format", "line", "--utf8"}, []string{"-f", "MARC-8", "-t", "UTF-8", "-o", "line"}, "marc8", ""},
		{"utf8-xml", []string{"--format", "xml", "--utf8"}, []string{"-f", "MARC-8", "-t", "UTF-8", "-o", "marcxml"}, "marc8", ""},
		{"utf8-line-crlf", []string{"--format", "line", "--utf8"}, []string{"-f", "MARC-8", "-t", "UTF-8", "-o", "line"}, "crlf", ""},
	}
	for _, c := range cases {
		for name, path := range files {
			if c.onlyFor != "" && c.onlyFor != name || c.notFor == name {
				continue
			}
			t.Run(c.name+"/"+name, func(t *testing.T) {
				want := runYaz(t, yaz, append(append([]string{}, c.yaz...), path)...)
				code, got, stderr := runCmd(t, t.Context(), nil, append(append([]string{"print"}, c.ours...), path)...)
				if name != "corpus" && code != 0 {
					t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr)
				}
				if got != want {
					t.Errorf("oclcbot print %v differs from yaz-marcdump %v:\n%s", c.ours, c.yaz, firstDiff(got, want))
				}
			})
		}
	}
}

// TestPrintGolden compares with yaz-marcdump's output recorded by the marc
// package, so the comparison also runs where yaz is not installed.
func TestPrintGolden(t *testing.T) {
	for _, c := range []struct{ format, golden string }{
		{"line", "corpus.line.gz"},
		{"xml", "corpus.marcxml.gz"},
		{"json", "corpus.json.gz"},
	} {
		t.Run(c.format, func(t *testing.T) {
			f, err := os.Open(filepath.Join("../../marc/testdata/golden", c.golden))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			_, got, _ := runCmd(t, t.Context(), nil, "print", "--format", c.format, corpusFile)
			if got != string(want) {
				t.Errorf("print --format %s differs from yaz-marcdump's recorded output:\n%s", c.format, firstDiff(got, string(want)))
			}
		})
	}
}

// TestPrintDefaultIsMnemonic checks that without --format records are
// printed as MarcEdit mnemonic, from standard input when there is no
// file or the file is "-".
func TestPrintDefaultIsMnemonic(t *testing.T) {
	data := readFile(t, marc8File)
	r, err := marc.Decode(data[:recordLen(t, data)])
	if err != nil {
		t.Fatal(err)
	}
	wantFirst := string(marc.AppendMnemonic(nil, r))
	for _, args := range [][]string{{"print"}, {"print", "-"}} {
		code, out, stderr := runCmd(t, t.Context(), data, args...)
		if code != 0 {
			t.Fatalf("%v: exit status %d; stderr:\n%s", args, code, stderr)
		}
		if !strings.HasPrefix(out, wantFirst) {
			t.Errorf("%v: output does not start with the first record in mnemonic form:\n%.300s", args, out)
		}
		if n := strings.Count(out, "=LDR  "); n != 12 {
			t.Errorf("%v: printed %d records, want 12", args, n)
		}
	}
}

func recordLen(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	for _, c := range data[:5] {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestPrintBadRecords checks that a bad record is reported with its file
// and offset, the others are still printed, and the exit status is 1;
// with --lenient the bad record is printed as well.
func TestPrintBadRecords(t *testing.T) {
	good := readFile(t, marc8File)
	first := good[:recordLen(t, good)]
	bad := readFile(t, filepath.Join(brokenDir, "base-mismatch.mrc"))
	var file []byte
	file = append(file, first...)
	file = append(file, bad...)
	file = append(file, first...)
	path := writeTemp(t, "mixed.mrc", file)

	code, out, stderr := runCmd(t, t.Context(), nil, "print", "--format", "line", path)
	if code != exitFailure {
		t.Errorf("exit status %d, want %d", code, exitFailure)
	}
	if n := strings.Count(out, "001 m8-latin\n"); n != 2 {
		t.Errorf("printed the good record %d times, want 2:\n%s", n, out)
	}
	wantErr := path + ": record 2 at byte " + itoa(len(first)) + ": bad base address of data at record byte 12 (file byte " + itoa(len(first)+12) + ")"
	if !strings.Contains(stderr, wantErr) {
		t.Errorf("stderr does not report %q:\n%s", wantErr, stderr)
	}
	if !strings.Contains(stderr, "1 of 3 records had problems") {
		t.Errorf("stderr has no summary:\n%s", stderr)
	}

	code, out, stderr = runCmd(t, t.Context(), nil, "print", "--format", "line", "--lenient", path)
	if code != exitFailure {
		t.Errorf("--lenient: exit status %d, want %d", code, exitFailure)
	}
	if n := strings.Count(out, "\n\n"); n != 3 {
		t.Errorf("--lenient: printed %d records, want 3:\n%s", n, out)
	}
	if !strings.Contains(stderr, "record 2 at byte "+itoa(len(first))) {
		t.Errorf("--lenient: the problem is not reported:\n%s", stderr)
	}
}

// TestPrintGarbageBetweenRecords checks that bytes that are no record are
// reported with their offset and skipped.
func TestPrintGarbageBetweenRecords(t *testing.T) {
	good := readFile(t, marc8File)
	first := good[:recordLen(t, good)]
	file := append(append(append([]byte{}, first...), "this is not a MARC record at all, just text"...), first...)
	code, out, stderr := runCmd(t, t.Context(), file, "print", "--format", "line")
	if code != exitFailure {
		t.Errorf("exit status %d, want 1", code)
	}
	if n := strings.Count(out, "001 m8-latin\n"); n != 2 {
		t.Errorf("printed the good record %d times, want 2", n)
	}
	want := "standard input: byte " + itoa(len(first)) + ": not a MARC record"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report %q:\n%s", want, stderr)
	}
}

// TestPrintXMLOneCollection checks that several files make one
// well-formed MARCXML collection.
func TestPrintXMLOneCollection(t *testing.T) {
	code, out, stderr := runCmd(t, t.Context(), nil, "print", "--format", "xml", "--utf8", marc8File, marc8File)
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, stderr)
	}
	if n := strings.Count(out, "<collection"); n != 1 {
		t.Errorf("%d <collection> elements, want 1", n)
	}
	var doc struct {
		XMLName xml.Name
		Records []struct {
			Leader string `xml:"leader"`
		} `xml:"record"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not well-formed XML: %v", err)
	}
	if doc.XMLName.Local != "collection" || doc.XMLName.Space != marc.MARCXMLNamespace {
		t.Errorf("root element %v, want a MARC 21 slim collection", doc.XMLName)
	}
	if len(doc.Records) != 24 {
		t.Errorf("%d records, want 24", len(doc.Records))
	}
	for _, r := range doc.Records {
		if r.Leader[9] != 'a' {
			t.Errorf("leader %q: leader/09 should be 'a' after --utf8", r.Leader)
		}
	}
}

// TestPrintUTF8ReportsUnconvertible checks that bytes that are not MARC-8
// are reported and printed as U+FFFD.
func TestPrintUTF8ReportsUnconvertible(t *testing.T) {
	r := marc.NewRecord()
	r.Leader[marc.CharCodingPos] = ' ' // MARC-8
	r.Fields = append(r.Fields,
		marc.Field{Tag: "001", Value: "bad-m8"},
		marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "Caf\xe2e \xc9x"}}})
	raw, err := marc.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd(t, t.Context(), raw, "print", "--utf8", "--format", "mrk")
	if code != exitFailure {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(out, "=245  10$aCafe\u0301 \ufffdx") {
		t.Errorf("converted field not printed as expected:\n%s", out)
	}
	if !strings.Contains(out, "=LDR  ") || !strings.Contains(out, "a2200") {
		t.Errorf("leader/09 should be 'a' in mrk after --utf8:\n%s", out)
	}
	want := "standard input: record 1 at byte 0: field 245 $a: invalid MARC-8 at offset 6 (bytes C9)"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report %q:\n%s", want, stderr)
	}
}

// TestPrintMARCRoundTrip checks --format marc: the file comes back as it
// was, and with --utf8 as UTF-8 records.
func TestPrintMARCRoundTrip(t *testing.T) {
	data := readFile(t, marc8File)
	_, out, _ := runCmd(t, t.Context(), data, "print", "--format", "marc")
	if out != string(data) {
		t.Errorf("--format marc changed the records:\n%s", firstDiff(out, string(data)))
	}
	_, out, _ = runCmd(t, t.Context(), data, "print", "--format", "marc", "--utf8")
	rd := marc.NewReader(strings.NewReader(out))
	n := 0
	for {
		r, _, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Leader[marc.CharCodingPos] != 'a' {
			t.Errorf("record %d: leader/09 %q, want 'a'", n, r.Leader[marc.CharCodingPos])
		}
		n++
	}
	if n != 12 {
		t.Errorf("%d records, want 12", n)
	}
}

func TestPrintUsageErrors(t *testing.T) {
	code, _, stderr := runCmd(t, t.Context(), nil, "print", "--format", "pdf")
	if code != exitUsage || !strings.Contains(stderr, `unknown MARC output format "pdf"`) {
		t.Errorf("bad format: exit %d, stderr %q", code, stderr)
	}
	missing := filepath.Join(t.TempDir(), "missing.mrc")
	code, _, stderr = runCmd(t, t.Context(), nil, "print", missing)
	if code != exitFailure || !strings.Contains(stderr, missing) {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
	code, out, _ := runCmd(t, t.Context(), nil, "print", "-h")
	if code != exitOK || !strings.Contains(out, "--utf8") && !strings.Contains(out, "-utf8") {
		t.Errorf("-h: exit %d, output %q", code, out)
	}
}

// TestPrintInterrupted checks that a cancelled context stops print.
func TestPrintInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var data []byte
	for range 2 * printCheckEvery {
		data = append(data, readFile(t, marc8File)...)
	}
	code, out, stderr := runCmd(t, ctx, data, "print", "--format", "line")
	if code != exitFailure || !strings.Contains(stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if n := strings.Count(out, "\n\n"); n >= 24*printCheckEvery {
		t.Errorf("printed all %d records despite the cancelled context", n)
	}
}
