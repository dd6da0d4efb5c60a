package marc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestEncodeLayout(t *testing.T) {
	r := rec("xxxxxcam a9999999 a 9999", ctl("001", "123"), dat("245", "10", "aTitle", "cAuth."))
	got, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	want := "00071cam a2200049 a 4599" +
		"001000400000" + "245001700004" + "\x1e" +
		"123\x1e" + "10\x1faTitle\x1fcAuth.\x1e" + "\x1d"
	if string(got) != want {
		t.Fatalf("Encode =\n%q\nwant\n%q", got, want)
	}
}

func TestAppendEncodeAppends(t *testing.T) {
	r := rec("00000nam a2200000   4500", ctl("001", "x"))
	prefix := []byte("prefix")
	out, err := AppendEncode(prefix, r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("AppendEncode lost the prefix: %q", out)
	}
	if _, err := Decode(out[len(prefix):]); err != nil {
		t.Fatal(err)
	}
	bad := rec("00000nam a2200000   4500", ctl("0 1", "x"))
	out, err = AppendEncode(prefix, bad)
	if err == nil || len(out) != len(prefix) {
		t.Fatalf("AppendEncode of a bad record: err %v, len %d (want the prefix unchanged)", err, len(out))
	}
}

func TestEncodeZeroIndicatorIsBlank(t *testing.T) {
	r := rec("00000nam a2200000   4500", Field{Tag: "500", Subfields: []Subfield{{'a', "Note."}}})
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Fields[0]; f.Ind1 != ' ' || f.Ind2 != ' ' {
		t.Fatalf("indicators = %q %q, want blanks", f.Ind1, f.Ind2)
	}
}

func TestEncodeErrors(t *testing.T) {
	ldr := "00000nam a2200000   4500"
	cases := []struct {
		name  string
		r     *Record
		kind  error
		field int
	}{
		{"tag too short", rec(ldr, ctl("01", "x")), ErrTag, 0},
		{"tag with blank", rec(ldr, ctl("001", "x"), dat("24 ", "  ", "ax")), ErrTag, 1},
		{"tag non-ASCII", rec(ldr, dat("24\xe9", "  ", "ax")), ErrTag, 0},
		{"control field with subfields", rec(ldr, Field{Tag: "001", Subfields: []Subfield{{'a', "x"}}}), ErrFieldData, 0},
		{"data field with value", rec(ldr, Field{Tag: "245", Value: "x"}), ErrFieldData, 0},
		{"field terminator in control field", rec(ldr, ctl("001", "a\x1eb")), ErrFieldData, 0},
		{"record terminator in value", rec(ldr, dat("245", "  ", "aa\x1db")), ErrFieldData, 0},
		{"delimiter in control field", rec(ldr, ctl("008", "a\x1fb")), ErrFieldData, 0},
		{"delimiter in subfield value", rec(ldr, dat("245", "  ", "aa\x1fbc")), ErrFieldData, 0},
		{"NUL in value", rec(ldr, dat("245", "  ", "aa\x00b")), ErrFieldData, 0},
		{"indicator is a terminator", rec(ldr, Field{Tag: "245", Ind1: '1', Ind2: 0x1e}), ErrIndicator, 0},
		{"code is a delimiter", rec(ldr, Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{0x1f, "x"}}}), ErrSubfield, 0},
		{"code is NUL", rec(ldr, Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{0, "x"}}}), ErrSubfield, 0},
		{"field too long", rec(ldr, dat("520", "  ", "a"+strings.Repeat("x", 9995))), ErrTooLong, 0},
		{"leader control byte", rec("00000n\x01m a2200000   4500"), ErrLeader, -1},
		{"leader zero value", &Record{}, ErrLeader, -1},
	}
	big := rec(ldr)
	for i := 0; i < 12; i++ {
		big.Fields = append(big.Fields, dat("505", "  ", "a"+strings.Repeat("x", 9000)))
	}
	cases = append(cases, struct {
		name  string
		r     *Record
		kind  error
		field int
	}{"record too long", big, ErrTooLong, -1})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Encode(c.r)
			if err == nil {
				t.Fatalf("Encode accepted it (%d bytes)", len(b))
			}
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is %T, not *EncodeError", err, err)
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %v is not %v", err, c.kind)
			}
			if ee.Field != c.field {
				t.Errorf("Field = %d, want %d (%v)", ee.Field, c.field, err)
			}
		})
	}
}

func TestEncodeLargestField(t *testing.T) {
	r := rec("00000nam a2200000   4500", dat("520", "  ", "a"+strings.Repeat("x", 9994)))
	b, err := Encode(r)
	if err != nil {
		t.Fatalf("a 9,999-byte field must encode: %v", err)
	}
	if string(b[27:31]) != "9999" {
		t.Fatalf("directory length = %q", b[27:31])
	}
}

func TestEncodeMaxRecord(t *testing.T) {
	b := mustEncode(t, maxRecord())
	if len(b) != MaxRecordLen || string(b[:5]) != "99999" {
		t.Fatalf("max record is %d bytes, leader says %q", len(b), b[:5])
	}
	if _, err := Decode(b); err != nil {
		t.Fatal(err)
	}
}

// arbitraryRecord returns a record Encode accepts, with arbitrary bytes
// wherever they are allowed: any byte but NUL and the three structural
// ones in values, indicators and codes, printable ASCII in the leader.
func arbitraryRecord(rng *rand.Rand) *Record {
	r := &Record{}
	for i := range r.Leader {
		r.Leader[i] = byte(0x20 + rng.IntN(0x5f))
	}
	anyByte := func() byte {
		for {
			if c := byte(rng.IntN(256)); !special[c] {
				return c
			}
		}
	}
	value := func(max int) string {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = anyByte()
		}
		return string(b)
	}
	for n := rng.IntN(30); n > 0; n-- {
		tag := []byte{randTagByte(rng), randTagByte(rng), randTagByte(rng)}
		if string(tag) == "LDR" { // cannot be told from the leader in mnemonic form
			tag[0] = 'X'
		}
		if rng.IntN(4) == 0 {
			tag[0], tag[1] = '0', '0'
		}
		if IsControlTag(string(tag)) {
			r.Fields = append(r.Fields, Field{Tag: string(tag), Value: value(50)})
			continue
		}
		f := Field{Tag: string(tag), Ind1: anyByte(), Ind2: anyByte()}
		for k := rng.IntN(6); k > 0; k-- {
			f.Subfields = append(f.Subfields, Subfield{Code: anyByte(), Value: value(40)})
		}
		r.Fields = append(r.Fields, f)
	}
	return r
}

// TestEncodeDecodeProperty: for every record Encode accepts,
// Decode(Encode(r)) equals r (with the leader positions Encode computes),
// and encoding the decoded record gives the same bytes.
func TestEncodeDecodeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 5000; i++ {
		r := arbitraryRecord(rng)
		orig := r.Clone()
		b, err := Encode(r)
		if err != nil {
			t.Fatalf("case %d: Encode: %v", i, err)
		}
		if !r.Equal(orig) {
			t.Fatalf("case %d: Encode changed its argument", i)
		}
		want := r.Clone()
		copy(want.Leader[0:5], b[0:5])
		copy(want.Leader[12:17], b[12:17])
		for _, s := range structRules {
			if s.contradicts(want.Leader[s.pos]) {
				want.Leader[s.pos] = s.want
			}
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("case %d: Decode(Encode(r)): %v\n%q", i, err, b)
		}
		if !got.Equal(want) {
			t.Fatalf("case %d: Decode(Encode(r)) != r\n got %+v\nwant %+v", i, got, want)
		}
		again, err := Encode(got)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("case %d: Encode(Decode(Encode(r))) != Encode(r): %v", i, err)
		}
		if lr, probs := DecodeLenient(b); len(probs) != 0 || !lr.Equal(got) {
			t.Fatalf("case %d: DecodeLenient of a valid record: %v problems, equal %v", i, probs, lr.Equal(got))
		}
	}
}

func TestMarshalBinaryRoundTrip(t *testing.T) {
	r := corpusRecords()[1]
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Record
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	copy(r.Leader[:], b)
	if !got.Equal(r) {
		t.Fatal("UnmarshalBinary(MarshalBinary(r)) != r")
	}
}
