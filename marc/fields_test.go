package marc

import (
	"slices"
	"testing"
)

func tags(r *Record) []string {
	var out []string
	for _, f := range r.Fields {
		out = append(out, f.Tag)
	}
	return out
}

func TestFieldAccess(t *testing.T) {
	r := corpusRecords()[0]
	if f := r.Field("245"); f == nil || f.SubfieldValue('a') != "The title of the book :" {
		t.Fatalf("Field(245) = %+v", f)
	}
	if r.Field("999") != nil {
		t.Fatal("Field(999) found something")
	}
	if got := len(r.FieldsByTag("650", "700")); got != 4 {
		t.Fatalf("FieldsByTag(650, 700) = %d fields, want 4", got)
	}
	if got := r.ControlValue("003"); got != "OCoLC" {
		t.Fatalf("ControlValue(003) = %q", got)
	}
	if got := r.SubfieldValue("040", 'b'); got != "eng" {
		t.Fatalf("SubfieldValue(040, b) = %q", got)
	}
	if got := r.SubfieldValue("650", 'z'); got != "New York (State)" {
		t.Fatalf("SubfieldValue skips fields without the code: %q", got)
	}
	if got := r.Field("020").SubfieldValues('a', 'q'); !slices.Equal(got, []string{"0394535421", "hardcover"}) {
		t.Fatalf("SubfieldValues = %q", got)
	}
	if v, ok := r.Field("500").Subfield('z'); ok || v != "" {
		t.Fatal("Subfield found a missing code")
	}
	// Pointers point into the record.
	r.Field("049").Subfields[0].Value = "HVDB"
	if r.SubfieldValue("049", 'a') != "HVDB" {
		t.Fatal("Field does not point into the record")
	}
}

func TestAddRemoveFields(t *testing.T) {
	r := rec("00000nam a2200000   4500", ctl("001", "x"), dat("245", "10", "aT"), dat("650", " 0", "aA"), dat("650", " 0", "aB"), dat("900", "  ", "aL"))
	r.AddField(dat("650", " 0", "aC"))
	r.AddField(dat("035", "  ", "a(OCoLC)1"))
	r.AddField(ctl("003", "OCoLC"))
	r.AddField(dat("999", "  ", "az"))
	if got := tags(r); !slices.Equal(got, []string{"001", "003", "035", "245", "650", "650", "650", "900", "999"}) {
		t.Fatalf("after AddField: %v", got)
	}
	if r.Fields[6].SubfieldValue('a') != "C" {
		t.Fatal("a repeated tag was not added after the others")
	}
	r.AppendField(dat("100", "1 ", "aAuthor"))
	if got := tags(r); got[len(got)-1] != "100" {
		t.Fatalf("AppendField: %v", got)
	}
	if n := r.RemoveFields("650", "999"); n != 4 {
		t.Fatalf("RemoveFields removed %d", n)
	}
	if got := tags(r); !slices.Equal(got, []string{"001", "003", "035", "245", "900", "100"}) {
		t.Fatalf("after RemoveFields: %v", got)
	}
	n := r.RemoveFieldsFunc(func(f *Field) bool { return f.IsControl() })
	if n != 2 || r.Fields[0].Tag != "035" {
		t.Fatalf("RemoveFieldsFunc: %d, %v", n, tags(r))
	}
}

func TestCloneIsDeep(t *testing.T) {
	r := corpusRecords()[0]
	c := r.Clone()
	if !c.Equal(r) {
		t.Fatal("clone differs")
	}
	c.Fields[0].Value = "changed"
	c.Field("245").Subfields[0].Value = "changed"
	c.Field("245").Subfields = append(c.Field("245").Subfields, Subfield{'x', "new"})
	c.Leader[5] = 'd'
	c.AddField(dat("500", "  ", "aNew"))
	if r.Fields[0].Value == "changed" || r.SubfieldValue("245", 'a') == "changed" || len(r.Field("245").Subfields) != 3 || r.Leader[5] == 'd' {
		t.Fatal("changing the clone changed the original")
	}
	if got := (&Record{}).Clone(); got.Fields != nil {
		t.Fatal("clone of an empty record has fields")
	}
}

func TestEqual(t *testing.T) {
	a := rec("00000nam a2200000   4500", dat("500", "  "))
	b := rec("00000nam a2200000   4500", Field{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{}})
	if !a.Equal(b) {
		t.Fatal("nil and empty subfields differ")
	}
	b.Fields[0].Ind2 = '0'
	if a.Equal(b) {
		t.Fatal("indicators ignored")
	}
}

func TestTitleAndAuthor(t *testing.T) {
	cases := []struct {
		f      []Field
		title  string
		author string
	}{
		{[]Field{dat("100", "1 ", "aDoe, Jane,", "d1950-"), dat("245", "10", "aThe title of the book :", "ba subtitle /", "cJane Doe.")}, "The title of the book : a subtitle", "Doe, Jane"},
		{[]Field{dat("110", "2 ", "aUnited States.", "bCongress."), dat("245", "10", "aHearings.")}, "Hearings", "United States"},
		{[]Field{dat("100", "1 ", "aSmith, John A."), dat("245", "10", "aPart one.", "nPart 2,", "pThe sequel ;")}, "Part one. Part 2, The sequel", "Smith, John A."},
		{[]Field{dat("111", "2 ", "aConference on Things"), dat("245", "00", "aProceedings =", "bActes /")}, "Proceedings = Actes", "Conference on Things"},
		{[]Field{dat("245", "00", "aWait for it...")}, "Wait for it...", ""},
		{[]Field{dat("245", "00", "aStatus report / ")}, "Status report", ""},
		{[]Field{ctl("001", "x")}, "", ""},
	}
	for _, c := range cases {
		r := rec("00000nam a2200000   4500", c.f...)
		if got := r.Title(); got != c.title {
			t.Errorf("Title() = %q, want %q", got, c.title)
		}
		if got := r.Author(); got != c.author {
			t.Errorf("Author() = %q, want %q", got, c.author)
		}
	}
}

func TestNewRecordEncodes(t *testing.T) {
	r := NewRecord()
	r.AddField(ctl("001", "1"))
	r.AddField(dat("245", "00", "aT"))
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil || d.Leader[CharCodingPos] != 'a' || d.Leader.String()[5:10] != "nam a" {
		t.Fatalf("%v %v", d, err)
	}
}
