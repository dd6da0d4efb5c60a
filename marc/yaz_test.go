package marc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The printers must produce, byte for byte, what yaz-marcdump prints for
// the same records, so that yaz can serve as a cross-check. These tests run
// yaz-marcdump on files of records and compare. When yaz-marcdump is not
// installed they skip, except under CI=true where they fail.

// yazFormats are the output formats compared with yaz-marcdump.
var yazFormats = []struct {
	name   string
	format Format
	args   []string
}{
	{"line", FormatLine, nil},
	{"marcxml", FormatMARCXML, []string{"-o", "marcxml"}},
	{"json", FormatJSON, []string{"-o", "json"}},
}

func yazMarcdump(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("yaz-marcdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("yaz-marcdump is not on PATH and CI=true: install yaz (Debian package yaz) to run the cross-check: %v", err)
		}
		t.Skipf("yaz-marcdump is not on PATH (install the yaz package to cross-check the printers): %v", err)
	}
	return p
}

func runYaz(t *testing.T, yaz string, args []string, file string) []byte {
	t.Helper()
	cmd := exec.Command(yaz, append(append([]string{}, args...), file)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// yaz-marcdump exits with status 5 after skipping bytes between
	// records; its output is still what is compared.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() > 0) {
		t.Fatalf("%s %v %s: %v\n%s", yaz, args, file, err, stderr.Bytes())
	}
	return out
}

// printStream prints every record of a file as the oclcbot print command
// would: through a Reader, reporting skipped filler as yaz does.
func printStream(t *testing.T, data []byte, f Format) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, f)
	rd := NewReader(bytes.NewReader(data))
	for {
		raw, off, err := rd.ReadRaw()
		if so, skipped := rd.Skipped(); len(skipped) > 0 {
			if err := w.WriteRaw(AppendSkipComments(nil, so, skipped, err == io.EOF)); err != nil {
				t.Fatal(err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ReadRaw at %d: %v", off, err)
		}
		r, err := Decode(raw)
		if err != nil {
			t.Fatalf("Decode at %d: %v", off, err)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// diffAt describes the first difference between got and want.
func diffAt(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := bytes.Count(want[:i], []byte{'\n'}) + 1
	ctx := func(b []byte) string {
		s := max(0, i-80)
		return fmt.Sprintf("%q", b[s:min(len(b), i+80)])
	}
	return fmt.Sprintf("first difference at byte %d (line %d); got %d bytes, want %d\n got: %s\nwant: %s", i, line, len(got), len(want), ctx(got), ctx(want))
}

func TestYazCrossCheck(t *testing.T) {
	yaz := yazMarcdump(t)
	_, corpus := corpusFile(t)
	// Beyond the committed corpus: many more random records.
	var more []byte
	for _, r := range randomRecords(2, 2000) {
		more = append(more, mustEncode(t, r)...)
	}
	// Files with the filler some exports have between records.
	var crlf []byte
	for _, r := range corpusRecords()[:6] {
		crlf = append(crlf, mustEncode(t, r)...)
		crlf = append(crlf, "\r\n"...)
	}
	crlf = append(crlf, "\n\n\r\n\x00\x1a"...)

	dir := t.TempDir()
	for _, file := range []struct {
		name string
		data []byte
	}{{"corpus", corpus}, {"random", more}, {"crlf", crlf}, {"empty", nil}} {
		path := filepath.Join(dir, file.name+".mrc")
		if err := os.WriteFile(path, file.data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range yazFormats {
			t.Run(file.name+"/"+f.name, func(t *testing.T) {
				want := runYaz(t, yaz, f.args, path)
				got := printStream(t, file.data, f.format)
				if !bytes.Equal(got, want) {
					t.Errorf("output differs from yaz-marcdump %v: %s", f.args, diffAt(got, want))
				}
			})
		}
	}
}

// TestYazGolden compares the printers with yaz-marcdump's output for the
// committed corpus, recorded in testdata/golden (so the comparison runs
// even where yaz is not installed). -update re-records it with yaz.
func TestYazGolden(t *testing.T) {
	corpus, err := os.ReadFile(filepath.Join("testdata", "corpus.mrc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range yazFormats {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", "corpus."+f.name+".gz")
			if *update {
				want := runYaz(t, yazMarcdump(t), f.args, filepath.Join("testdata", "corpus.mrc"))
				writeGzip(t, path, want)
			}
			want := readGzip(t, path)
			got := printStream(t, corpus, f.format)
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from yaz-marcdump's recorded in %s: %s", path, diffAt(got, want))
			}
		})
	}
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (record it with: go test ./marc -run TestYazGolden -update)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return b
}
