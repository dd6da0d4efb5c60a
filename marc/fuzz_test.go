package marc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/iotest"
)

// Fuzz targets for every parser of outside bytes. Their seed corpora are
// committed under testdata/fuzz/<Target>/ (written by TestCorpusFiles
// -update, see fuzzSeeds) and run by every `go test`. Run a fuzzer with
//
//	go test ./marc -run '^$' -fuzz FuzzDecode -fuzztime 60s

// FuzzDecode: Decode never panics; a failure is a *DecodeError inside the
// data; a success re-encodes to a record that decodes to the same thing,
// and the lenient decoder agrees with no problems.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalidRecord) || de.Kind == nil {
				t.Fatalf("error %v (%T) is not a proper *DecodeError", err, err)
			}
			if de.Offset < 0 || de.Offset > len(data) {
				t.Fatalf("offset %d outside the %d-byte record", de.Offset, len(data))
			}
			if r != nil {
				t.Fatal("record returned with an error")
			}
			return
		}
		b, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode(Decode(x)): %v", err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(x))): %v", err)
		}
		// The leader's lengths are recomputed; everything else must match.
		want := r.Clone()
		copy(want.Leader[0:5], b[0:5])
		copy(want.Leader[12:17], b[12:17])
		if !again.Equal(want) {
			t.Fatalf("Decode(Encode(Decode(x))) != Decode(x)")
		}
		lr, probs := DecodeLenient(data)
		if len(probs) != 0 || !lr.Equal(r) {
			t.Fatalf("lenient decoding of a valid record: %v", probs)
		}
	})
}

// FuzzDecodeLenient: DecodeLenient never panics, returns a record for
// anything as long as a leader, whose problems lie inside the data, and
// which passes Encode's checks.
func FuzzDecodeLenient(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, probs := DecodeLenient(data)
		if (r == nil) != (len(data) < LeaderLen) {
			t.Fatalf("record %v for %d bytes", r, len(data))
		}
		for _, p := range probs {
			if p.Offset < 0 || p.Offset > len(data) || p.Kind == nil || p.Detail == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
		if r == nil {
			return
		}
		if _, err := Encode(r); err != nil && !errors.Is(err, ErrTooLong) {
			t.Fatalf("lenient record does not encode: %v", err)
		}
		if len(probs) == 0 {
			if _, err := Decode(data); err != nil {
				t.Fatalf("no problems reported but strict decoding fails: %v", err)
			}
		}
	})
}

// FuzzReader: the Reader never panics or loops, and accounts for every
// byte: each is either skipped filler or part of exactly one returned
// record or error, in order, at the offset it reports.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, rd := range []*Reader{NewReader(bytes.NewReader(data)), NewReader(iotest.OneByteReader(bytes.NewReader(data)))} {
			var pos int64
			for calls := 0; ; calls++ {
				if calls > len(data)+1 {
					t.Fatal("more results than bytes")
				}
				raw, off, err := rd.ReadRaw()
				skipOff, skipped := rd.Skipped()
				if len(skipped) > 0 {
					if skipOff != pos || !bytes.Equal(skipped, data[pos:pos+int64(len(skipped))]) {
						t.Fatalf("Skipped() = %d %q does not match the input at %d", skipOff, skipped, pos)
					}
					pos += int64(len(skipped))
				}
				if err == io.EOF {
					if pos != int64(len(data)) {
						t.Fatalf("EOF at %d of %d bytes", pos, len(data))
					}
					break
				}
				var re *ReadError
				if err != nil && (!errors.As(err, &re) || re.Offset != off) {
					t.Fatalf("error %v is not a *ReadError at %d", err, off)
				}
				if off != pos || len(raw) == 0 || !bytes.Equal(raw, data[off:off+int64(len(raw))]) {
					t.Fatalf("result at %d (%d bytes) does not continue the input at %d", off, len(raw), pos)
				}
				if len(raw) > MaxRecordLen {
					t.Fatalf("%d-byte result", len(raw))
				}
				if err == nil {
					if n, _, ok := atoiDigits(raw[:5]); !ok || n != len(raw) || raw[n-1] != RecordTerminator {
						t.Fatalf("record at %d is not framed by its length", off)
					}
				}
				pos += int64(len(raw))
			}
		}
	})
}

// FuzzMnemonic: MnemonicReader never panics; every record it returns
// encodes and survives a round trip through AppendMnemonic.
func FuzzMnemonic(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		mr := NewMnemonicReader(bytes.NewReader(data))
		for i := 0; i <= len(data); i++ {
			r, err := mr.Read()
			if err == io.EOF {
				return
			}
			var me *MnemonicError
			if errors.As(err, &me) {
				continue
			}
			if err != nil {
				t.Fatalf("error %v (%T) is not a *MnemonicError", err, err)
			}
			if _, err := Encode(r); err != nil && !errors.Is(err, ErrTooLong) {
				t.Fatalf("record read from mnemonic does not encode: %v", err)
			}
			back, err := NewMnemonicReader(bytes.NewReader(AppendMnemonic(nil, r))).Read()
			if err != nil || !back.Equal(r) {
				t.Fatalf("mnemonic round trip: %v\n got %+v\nwant %+v", err, back, r)
			}
		}
		t.Fatal("more records than bytes")
	})
}

// fuzzSeeds returns the seed corpus of each fuzz target.
func fuzzSeeds(tb testing.TB) map[string][][]byte {
	tb.Helper()
	var records [][]byte
	for _, r := range corpusRecords() {
		if b := mustEncode(tb, r); len(b) < 4000 {
			records = append(records, b)
		}
	}
	for _, r := range randomRecords(3, 10) {
		records = append(records, mustEncode(tb, r))
	}
	var broken [][]byte
	for _, c := range brokenCases {
		broken = append(broken, brokenBytes(c))
	}
	a, b := records[0], records[2]
	streams := [][]byte{
		bytes.Join([][]byte{a, b}, nil),
		bytes.Join([][]byte{a, []byte("\r\n"), b, []byte("\r\n")}, nil),
		bytes.Join([][]byte{[]byte("junk"), a, broken[3], b, broken[11], a[:50]}, nil),
		bytes.Join([][]byte{[]byte("12"), a, []byte("\x00\x1a")}, nil),
		{},
	}
	var mrk [][]byte
	for _, r := range corpusRecords()[:10] {
		mrk = append(mrk, AppendMnemonic(nil, r))
	}
	mrk = append(mrk,
		[]byte("=LDR  00000nam a2200000   4500\n=245  10$aT{dollar}$b{x1F}\n"),
		[]byte("# comment\n=LDR  x\n\n=001  no leader\n"),
		[]byte("=LDR  00000nam a2200000   4500\r\n=500  {bsol}{esc}$a{lcub}\r\n\r\n"),
	)
	return map[string][][]byte{
		"FuzzDecode":        append(append([][]byte{}, records...), broken...),
		"FuzzDecodeLenient": append(append([][]byte{}, records...), broken...),
		"FuzzReader":        append(streams, broken...),
		"FuzzMnemonic":      mrk,
	}
}

// fuzzSeedFiles returns the seed corpus as files in Go's corpus format.
func fuzzSeedFiles(tb testing.TB) map[string][]byte {
	files := map[string][]byte{}
	for target, seeds := range fuzzSeeds(tb) {
		for i, s := range seeds {
			path := filepath.Join("testdata", "fuzz", target, "seed-"+strconv.Itoa(i))
			files[path] = []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n")
		}
	}
	return files
}

// TestFuzzSeedsPresent makes sure each target has its committed corpus.
func TestFuzzSeedsPresent(t *testing.T) {
	for _, target := range []string{"FuzzDecode", "FuzzDecodeLenient", "FuzzReader", "FuzzMnemonic"} {
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
		if err != nil || len(entries) == 0 {
			t.Errorf("no seed corpus for %s (regenerate with -run TestCorpusFiles -update): %v", target, err)
		}
	}
}
