package marc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// numbered returns a small valid record whose 001 is id.
func numbered(tb testing.TB, id string) []byte {
	tb.Helper()
	return mustEncode(tb, rec("00000cam a2200000 a 4500", ctl("001", id), dat("245", "10", "aTitle "+id)))
}

// event is what one ReadRaw call is expected to return.
type event struct {
	off  int64
	id   string // 001 of a good record, or "" for an error
	kind error  // error kind, nil for a good record
}

func readAll(t *testing.T, rd *Reader) []event {
	t.Helper()
	var got []event
	for i := 0; i < 1000; i++ {
		raw, off, err := rd.ReadRaw()
		if err == io.EOF {
			return got
		}
		if err != nil {
			var re *ReadError
			var de *DecodeError
			if !errors.As(err, &re) || !errors.As(err, &de) {
				t.Fatalf("ReadRaw error %v (%T) is not a *ReadError wrapping a *DecodeError", err, err)
			}
			if re.Offset != off {
				t.Errorf("ReadError.Offset %d != returned offset %d", re.Offset, off)
			}
			got = append(got, event{off: off, kind: de.Kind})
			continue
		}
		r, err := Decode(raw)
		if err != nil {
			t.Fatalf("record at %d does not decode: %v", off, err)
		}
		got = append(got, event{off: off, id: r.Fields[0].Value})
	}
	t.Fatal("ReadRaw did not reach EOF")
	return nil
}

func TestReaderResynchronises(t *testing.T) {
	a, b, c := numbered(t, "a"), numbered(t, "b"), numbered(t, "c")
	n := int64(len(a)) // all three have the same length
	withLen := func(rec []byte, l string) []byte {
		out := append([]byte{}, rec...)
		copy(out, l)
		return out
	}
	noRT := append(append([]byte{}, a[:len(a)-1]...), 'X')
	cases := []struct {
		name string
		in   [][]byte
		want []event
	}{
		{"clean", [][]byte{a, b, c}, []event{{0, "a", nil}, {n, "b", nil}, {2 * n, "c", nil}}},
		{"crlf between and after", [][]byte{a, []byte("\r\n"), b, []byte("\r\n")}, []event{{0, "a", nil}, {n + 2, "b", nil}}},
		{"nul and ctrl-z padding", [][]byte{a, []byte("\x00\x00\x1a"), b, []byte("\x1d\x1d")}, []event{{0, "a", nil}, {n + 3, "b", nil}}},
		{"garbage before", [][]byte{[]byte("xyz\n"), a}, []event{{0, "", ErrGarbage}, {4, "a", nil}}},
		{"garbage with digits before", [][]byte{[]byte("12"), a, b}, []event{{0, "", ErrGarbage}, {2, "a", nil}, {n + 2, "b", nil}}},
		{"garbage between", [][]byte{a, []byte("abc"), b}, []event{{0, "a", nil}, {n, "", ErrGarbage}, {n + 3, "b", nil}}},
		{"length says less", [][]byte{withLen(a, "00061"), b}, []event{{0, "", ErrRecordLength}, {n, "b", nil}}},
		{"length says more", [][]byte{withLen(a, "00081"), b, c}, []event{{0, "", ErrRecordLength}, {n, "b", nil}, {2 * n, "c", nil}}},
		{"length not digits", [][]byte{withLen(a, "0x071"), b}, []event{{0, "", ErrRecordLength}, {n, "b", nil}}},
		{"no record terminator", [][]byte{noRT, b}, []event{{0, "", ErrTerminator}, {n, "b", nil}}},
		{"no record terminator at end", [][]byte{b, noRT}, []event{{0, "b", nil}, {n, "", ErrTerminator}}},
		{"truncated at end", [][]byte{a, b[:40]}, []event{{0, "a", nil}, {n, "", ErrTruncated}}},
		{"garbage at end", [][]byte{a, []byte("trailing junk")}, []event{{0, "a", nil}, {n, "", ErrGarbage}}},
		{"empty", nil, nil},
		{"only filler", [][]byte{[]byte("\r\n\r\n")}, nil},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data-err": iotest.DataErrReader,
	}
	for _, c := range cases {
		for rname, wrap := range readers {
			t.Run(c.name+"/"+rname, func(t *testing.T) {
				got := readAll(t, NewReader(wrap(bytes.NewReader(bytes.Join(c.in, nil)))))
				if len(got) != len(c.want) {
					t.Fatalf("got %d results %+v, want %+v", len(got), got, c.want)
				}
				for i := range got {
					if got[i] != c.want[i] {
						t.Errorf("result %d = %+v, want %+v", i, got[i], c.want[i])
					}
				}
			})
		}
	}
}

func TestReaderLongGarbage(t *testing.T) {
	// More garbage than one record can be, with no terminator in it: the
	// reader reports it in bounded chunks and still finds the record.
	junk := bytes.Repeat([]byte("junk-"), 50000) // 250,000 bytes
	in := append(append([]byte{}, junk...), numbered(t, "after")...)
	rd := NewReader(bytes.NewReader(in))
	var garbage int64
	for {
		raw, off, err := rd.ReadRaw()
		if err == io.EOF {
			t.Fatal("record after the garbage not found")
		}
		if errors.Is(err, ErrGarbage) {
			if len(raw) > MaxRecordLen {
				t.Fatalf("garbage chunk of %d bytes", len(raw))
			}
			garbage += int64(len(raw))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if off != int64(len(junk)) || garbage != int64(len(junk)) {
			t.Fatalf("record at %d after %d garbage bytes, want %d", off, garbage, len(junk))
		}
		break
	}
	if len(rd.buf) != readBufSize {
		t.Fatalf("buffer grew to %d", len(rd.buf))
	}
}

func TestReaderSkipped(t *testing.T) {
	a, b := numbered(t, "a"), numbered(t, "b")
	in := bytes.Join([][]byte{[]byte("\n"), a, []byte("\r\n"), b, []byte("\r\n\x00")}, nil)
	rd := NewReader(bytes.NewReader(in))
	wantSkips := []struct {
		off  int64
		skip string
	}{{0, "\n"}, {int64(1 + len(a)), "\r\n"}, {int64(3 + 2*len(a)), "\r\n\x00"}}
	for i, w := range wantSkips {
		_, _, err := rd.ReadRaw()
		if i == 2 && err != io.EOF {
			t.Fatalf("want EOF, got %v", err)
		}
		off, skip := rd.Skipped()
		if off != w.off || string(skip) != w.skip {
			t.Errorf("call %d: Skipped() = %d %q, want %d %q", i, off, skip, w.off, w.skip)
		}
	}
}

// failingReader returns its data, then a non-EOF error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReaderIOErrorIsFinal(t *testing.T) {
	boom := errors.New("disk on fire")
	rd := NewReader(&failingReader{data: numbered(t, "a"), err: boom})
	if _, _, err := rd.ReadRaw(); err != nil {
		t.Fatalf("first record: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, _, err := rd.ReadRaw()
		if !errors.Is(err, boom) {
			t.Fatalf("call %d: err = %v, want the reader's error", i, err)
		}
		var re *ReadError
		if errors.As(err, &re) {
			t.Fatalf("an I/O error must not look like a skippable ReadError")
		}
	}
}

func TestReaderRead(t *testing.T) {
	a, bad, b := numbered(t, "a"), brokenBytes(brokenCases[slicesIndex("base-mismatch")]), numbered(t, "b")
	in := bytes.Join([][]byte{a, bad, b}, nil)
	n1, n2 := int64(len(a)), int64(len(a)+len(bad))
	rd := NewReader(bytes.NewReader(in))
	r, off, err := rd.Read()
	if err != nil || off != 0 || r.Fields[0].Value != "a" {
		t.Fatalf("first: %v %d %v", r, off, err)
	}
	_, off, err = rd.Read()
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, ErrBaseAddress) || off != n1 || re.Offset != n1 {
		t.Fatalf("second: off %d err %v, want a ReadError at %d wrapping ErrBaseAddress", off, err, n1)
	}
	if !strings.HasPrefix(err.Error(), "record at byte 64: offset 12: ") {
		t.Errorf("error text %q", err)
	}
	r, off, err = rd.Read()
	if err != nil || off != n2 || r.Fields[0].Value != "b" {
		t.Fatalf("third: %v %d %v", r, off, err)
	}
	if _, _, err := rd.Read(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestReaderCorpus(t *testing.T) {
	rs, file := corpusFile(t)
	rd := NewReader(iotest.HalfReader(bytes.NewReader(file)))
	var off int64
	for i, want := range rs {
		r, got, err := rd.Read()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got != off || !r.Equal(want) {
			t.Fatalf("record %d at %d (want %d) differs", i, got, off)
		}
		b, _ := Encode(r)
		off += int64(len(b))
	}
	if _, _, err := rd.Read(); err != io.EOF {
		t.Fatalf("after the corpus: %v", err)
	}
}
