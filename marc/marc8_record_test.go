package marc

import (
	"errors"
	"testing"
)

// marc8TestRecord returns a MARC-8 record with diacritics, Cyrillic in an
// 880 field and a control field.
func marc8TestRecord() *Record {
	r := &Record{}
	copy(r.Leader[:], "00000nam  2200000 a 4500")
	r.Fields = []Field{
		{Tag: "001", Value: "ocm12345678 "},
		{Tag: "008", Value: "850101s1985    ru            000 1 rus d"},
		{Tag: "100", Ind1: '1', Subfields: []Subfield{{Code: 'a', Value: "Dvo\xe9r\xe2ak, Anton\xe2in,"}, {Code: 'd', Value: "1841-1904."}}},
		{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{Code: '6', Value: "880-01"}, {Code: 'a', Value: "Voina i mir /"}, {Code: 'c', Value: "L. Tolsto\xe2i."}}},
		{Tag: "880", Ind1: '1', Ind2: '0', Subfields: []Subfield{{Code: '6', Value: "245-01/(N"}, {Code: 'a', Value: m8Esc + "(NwOJNA I MIR /" + m8Esc + "(B"}, {Code: 'c', Value: m8Esc + "(Nl. tOLSTOJ." + m8Esc + "(B"}}},
	}
	return r
}

func TestToUTF8(t *testing.T) {
	r := marc8TestRecord()
	orig := r.Clone()
	u, err := ToUTF8(r)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Equal(orig) {
		t.Error("ToUTF8 changed its argument")
	}
	if u.Leader[CharCodingPos] != 'a' {
		t.Errorf("leader/09 = %q, want 'a'", u.Leader[CharCodingPos])
	}
	l := u.Leader
	l[CharCodingPos] = r.Leader[CharCodingPos]
	if l != r.Leader {
		t.Errorf("leader %q changed beyond position 09 (from %q)", u.Leader, r.Leader)
	}
	want := map[[2]string]string{
		{"100", "a"}: "Dvor\u030ca\u0301k, Antoni\u0301n,",
		{"245", "c"}: "L. Tolstoi\u0301.",
		{"880", "a"}: "\u0412\u043e\u0439\u043d\u0430 \u0438 \u043c\u0438\u0440 /",
		{"880", "c"}: "\u041b. \u0422\u043e\u043b\u0441\u0442\u043e\u0439.",
		{"880", "6"}: "245-01/(N",
		{"001", ""}:  "ocm12345678 ",
	}
	for k, w := range want {
		f := u.Field(k[0])
		got := f.Value
		if k[1] != "" {
			got = f.SubfieldValue(k[1][0])
		}
		if got != w {
			t.Errorf("%s $%s = %+q, want %+q", k[0], k[1], got, w)
		}
	}
	// Converting back gives the original MARC-8 record.
	m, err := ToMARC8(u)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Equal(orig) {
		t.Errorf("ToMARC8(ToUTF8(r)) differs from r:\n%+q\n%+q", m.Fields, orig.Fields)
	}

	// The copy does not share slices with the original.
	u.Fields[2].Subfields[0].Value = "changed"
	if r.Fields[2].Subfields[0].Value == "changed" {
		t.Error("ToUTF8's result shares subfields with its argument")
	}
}

func TestToUTF8AlreadyUTF8(t *testing.T) {
	r := marc8TestRecord()
	r.Leader[CharCodingPos] = 'a'
	r.Fields[2].Subfields[0].Value = "Dvor\u030ca\u0301k" // UTF-8 already: must not be touched
	u, err := ToUTF8(r)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Equal(r) {
		t.Error("ToUTF8 of a UTF-8 record changed it")
	}
	if &u.Fields[0] == &r.Fields[0] {
		t.Error("ToUTF8 of a UTF-8 record returned the same fields, want a copy")
	}
	m, err := ToMARC8(marc8TestRecord())
	if err != nil || !m.Equal(marc8TestRecord()) {
		t.Errorf("ToMARC8 of a MARC-8 record = %v, want an unchanged copy", err)
	}
}

func TestToUTF8Errors(t *testing.T) {
	r := marc8TestRecord()
	r.Fields[3].Subfields[2].Value = "L. Tol" + m8Esc + "(Zsto\xe2i."
	u, err := ToUTF8(r)
	if u != nil {
		t.Error("ToUTF8 returned a record with its error")
	}
	var ce *ConvertError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *ConvertError", err)
	}
	if ce.Tag != "245" || ce.Field != 3 || ce.Subfield != 2 || ce.Code != 'c' {
		t.Errorf("error at %s field %d subfield %d $%c, want 245 field 3 subfield 2 $c", ce.Tag, ce.Field, ce.Subfield, ce.Code)
	}
	var me *MARC8Error
	if !errors.As(err, &me) || me.Offset != 6 || string(me.Bytes) != m8Esc+"(Z" {
		t.Errorf("error = %v, want a *MARC8Error at offset 6", err)
	}
	if !errors.Is(err, ErrInvalidMARC8) {
		t.Error("errors.Is(err, ErrInvalidMARC8) = false")
	}
	want := "field 245 $c: invalid MARC-8 at offset 6 (bytes 1B 28 5A): unknown escape sequence"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}

	r.Fields[1].Value = "85\xa0"
	u, problems := ToUTF8Lenient(r)
	if len(problems) != 2 {
		t.Fatalf("got problems %v, want 2", problems)
	}
	if p := problems[0]; p.Tag != "008" || p.Subfield != -1 || p.Code != 0 || p.Error() != "field 008: invalid MARC-8 at offset 2 (bytes A0): byte 0xA0 is not in ANSEL (G1)" {
		t.Errorf("first problem = %+v (%v)", p, p)
	}
	if p := problems[1]; p.Tag != "245" || p.Subfield != 2 {
		t.Errorf("second problem = %+v", p)
	}
	if got := u.Fields[3].Subfields[2].Value; got != "L. Tol\ufffdstoi\u0301." {
		t.Errorf("lenient 245 $c = %+q", got)
	}
	if u.Leader[CharCodingPos] != 'a' {
		t.Error("lenient conversion did not set leader/09")
	}
}

func TestToUTF8UnknownCoding(t *testing.T) {
	r := marc8TestRecord()
	r.Leader[CharCodingPos] = 'z'
	if _, err := ToUTF8(r); !errors.Is(err, ErrUnknownCharCoding) {
		t.Errorf("ToUTF8 error = %v, want ErrUnknownCharCoding", err)
	}
	if _, err := ToMARC8(r); !errors.Is(err, ErrUnknownCharCoding) {
		t.Errorf("ToMARC8 error = %v, want ErrUnknownCharCoding", err)
	}
	u, problems := ToUTF8Lenient(r)
	if len(problems) != 1 || problems[0].Field != -1 || problems[0].Tag != "LDR" || !errors.Is(problems[0], ErrUnknownCharCoding) {
		t.Fatalf("problems = %v, want one for the leader", problems)
	}
	if problems[0].Error() != `leader/09: unknown character coding in leader/09: 'z'` {
		t.Errorf("problem = %q", problems[0])
	}
	if got := u.Field("880").SubfieldValue('c'); got != "\u041b. \u0422\u043e\u043b\u0441\u0442\u043e\u0439." {
		t.Errorf("lenient conversion took leader/09 'z' as %+q, want MARC-8", got)
	}
}

func TestToMARC8Errors(t *testing.T) {
	u, err := ToUTF8(marc8TestRecord())
	if err != nil {
		t.Fatal(err)
	}
	u.Fields[2].Subfields[1].Value = "1841-1904 \u20ad"
	_, err = ToMARC8(u)
	var ce *ConvertError
	var ee *MARC8EncodeError
	if !errors.As(err, &ce) || !errors.As(err, &ee) || ce.Tag != "100" || ce.Code != 'd' || ee.Offset != 10 || ee.Rune != 0x20ad {
		t.Fatalf("error = %v, want 100 $d U+20AD at offset 10", err)
	}
	m, problems := ToMARC8Lenient(u)
	if len(problems) != 1 || m.Fields[2].Subfields[1].Value != "1841-1904 &#x20AD;" || m.Leader[CharCodingPos] != ' ' {
		t.Errorf("lenient = %q, %v", m.Fields[2].Subfields[1].Value, problems)
	}
}
