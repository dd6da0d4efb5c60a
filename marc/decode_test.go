package marc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeBaseRecord(t *testing.T) {
	r, err := Decode(baseBroken())
	if err != nil {
		t.Fatal(err)
	}
	want := rec("00071cam a2200049 a 4500", ctl("001", "123"), dat("245", "10", "aTitle", "cAuth."))
	if !r.Equal(want) {
		t.Fatalf("Decode = %+v, want %+v", r, want)
	}
}

// TestDecodeErrors checks every rule of the strict decoder: each broken
// record must fail with the right kind, at the right byte, and say so.
func TestDecodeErrors(t *testing.T) {
	for _, c := range brokenCases {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "broken", c.name+".mrc"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decode(data)
			if err == nil {
				t.Fatalf("Decode accepted a broken record: %+v", r)
			}
			if r != nil {
				t.Errorf("Decode returned a record with an error")
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			if de.Kind != c.kind || !errors.Is(err, c.kind) {
				t.Errorf("kind = %v, want %v (error: %v)", de.Kind, c.kind, err)
			}
			if de.Offset != c.offset {
				t.Errorf("offset = %d, want %d (error: %v)", de.Offset, c.offset, err)
			}
			if !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("errors.Is(err, ErrInvalidRecord) is false")
			}
			if de.Detail == "" || !strings.HasPrefix(err.Error(), "offset ") {
				t.Errorf("error text %q lacks the offset or a detail", err)
			}
		})
	}
}

func TestDecodeErrorTexts(t *testing.T) {
	_, err := Decode(brokenBytes(brokenCases[slicesIndex("base-mismatch")]))
	want := "offset 12: bad base address of data: leader/12-16 says data starts at 50, but the directory of 2 entries ends at 48, so it must be 49"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
	_, err = Decode(brokenBytes(brokenCases[slicesIndex("field-outside-record")]))
	want = "offset 36: field outside the record: field 245: directory entry at offset 36 places it at 949..965, past the end of the data at 69"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func slicesIndex(name string) int {
	for i, c := range brokenCases {
		if c.name == name {
			return i
		}
	}
	panic("no broken case " + name)
}

func TestDecodeCorpusRoundTrip(t *testing.T) {
	rs, _ := corpusFile(t)
	for i, r := range rs {
		b := mustEncode(t, r)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("record %d: Decode(Encode(r)): %v", i, err)
		}
		if !got.Equal(r) {
			t.Fatalf("record %d: Decode(Encode(r)) differs:\n got %+v\nwant %+v", i, got, r)
		}
		again, err := Encode(got)
		if err != nil || string(again) != string(b) {
			t.Fatalf("record %d: Encode(Decode(b)) != b (err %v)", i, err)
		}
	}
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	b := baseBroken()
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if r.Fields[1].Subfields[0].Value != "Title" || r.Fields[0].Value != "123" {
		t.Fatalf("record changed with its input: %+v", r)
	}
}

func TestDecodeLeaderPositions22and23Tolerated(t *testing.T) {
	for _, tail := range []string{"4500", "4520", "45  ", "45ab"} {
		b := baseBroken()
		copy(b[20:], tail)
		r, err := Decode(b)
		if err != nil {
			t.Fatalf("leader/20-23 %q: %v", tail, err)
		}
		if got := string(r.Leader[20:]); got != tail {
			t.Errorf("leader/20-23 = %q, want %q kept", got, tail)
		}
	}
}

func TestUnmarshalBinaryReusesAndResets(t *testing.T) {
	var r Record
	if err := r.UnmarshalBinary(mustEncode(t, corpusRecords()[0])); err != nil {
		t.Fatal(err)
	}
	if len(r.Fields) == 0 {
		t.Fatal("no fields decoded")
	}
	if err := r.UnmarshalBinary(baseBroken()); err != nil {
		t.Fatal(err)
	}
	if len(r.Fields) != 2 || r.Fields[1].Tag != "245" {
		t.Fatalf("second decode = %+v", r.Fields)
	}
	if err := r.UnmarshalBinary([]byte("garbage")); err == nil || len(r.Fields) != 0 {
		t.Fatalf("UnmarshalBinary of garbage: err %v, %d fields left", err, len(r.Fields))
	}
}

func TestDecodeEmptyAndTiny(t *testing.T) {
	for _, in := range []string{"", "0", "00026", strings.Repeat("0", 23)} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrRecordLength) {
			t.Errorf("Decode(%q) error = %v, want ErrRecordLength", in, err)
		}
	}
}
