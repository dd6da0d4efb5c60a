package receiver

import (
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/marc"
)

func decoded(tb testing.TB, b []byte) *marc.Record {
	tb.Helper()
	r, err := marc.Decode(b)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func tags(r *marc.Record) string {
	var t []string
	for _, f := range r.Fields {
		t = append(t, f.Tag)
	}
	return strings.Join(t, " ")
}

func TestApplyCatalogingLanguage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        string // 040 $b; "-" for no $b, "" for no 040 at all
		applies  bool
		wantTags string
	}{
		{"french", "fre", true, "001 003 049 245"},
		{"german upper case", " GER ", true, "001 003 049 245"},
		{"english", "eng", false, "001 003 035 035 040 049 245"},
		{"english any case", "ENG", false, "001 003 035 035 040 049 245"},
		{"040 without $b", "-", false, "001 003 035 035 040 049 245"},
		{"no 040", "", false, "001 003 035 035 049 245"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := []marc.Field{ctl("001", "ocm00012345 "), ctl("003", "OCoLC"),
				dat("035", "  ", "a", "(OCoLC)12345"), dat("035", "  ", "a", "(HVD01)000000042")}
			switch tc.b {
			case "":
			case "-":
				fields = append(fields, dat("040", "  ", "a", "DLC"))
			default:
				fields = append(fields, dat("040", "  ", "a", "FRBNF", "b", tc.b, "c", "FRBNF"))
			}
			fields = append(fields, dat("049", "  ", "a", "HVDA"), dat("245", "10", "a", "Titre."))
			r := decoded(t, record(t, 'a', fields...))
			r.Leader[marc.EncodingLevelPos] = 'I'
			note := ApplyCatalogingLanguage(r)
			if (note != "") != tc.applies {
				t.Fatalf("note = %q, applies = %v", note, tc.applies)
			}
			if got := tags(r); got != tc.wantTags {
				t.Errorf("fields %s, want %s", got, tc.wantTags)
			}
			wantLevel := byte('I')
			if tc.applies {
				wantLevel = '5'
			}
			if r.Leader[marc.EncodingLevelPos] != wantLevel {
				t.Errorf("leader/17 = %q, want %q", r.Leader[marc.EncodingLevelPos], wantLevel)
			}
		})
	}
}

func TestTargetNumber(t *testing.T) {
	for _, tc := range []struct {
		name    string
		values  []string // 035 $a values
		prefix  string
		want    string
		wantErr string
	}{
		{"none", []string{"(OCoLC)123"}, "(HVD01)", "", ""},
		{"one", []string{"(OCoLC)123", "(HVD01)000123456"}, "(HVD01)", "000123456", ""},
		{"case and blanks", []string{" (hvd01) 000123456 "}, "(HVD01)", "000123456", ""},
		{"repeated same", []string{"(HVD01)000123456", "(HVD01)000123456"}, "(HVD01)", "000123456", ""},
		{"two different", []string{"(HVD01)000123456", "(HVD01)000999999"}, "(HVD01)", "", "different local records"},
		{"not digits", []string{"(HVD01)abc"}, "(HVD01)", "", "digits only"},
		{"empty number", []string{"(HVD01)"}, "(HVD01)", "", "digits only"},
		{"targeting disabled", []string{"(HVD01)000123456"}, "", "", ""},
		{"other library's prefix", []string{"(MIT01)000123456"}, "(HVD01)", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fields []marc.Field
			for _, v := range tc.values {
				fields = append(fields, dat("035", "  ", "a", v))
			}
			r := decoded(t, record(t, 'a', fields...))
			got, err := TargetNumber(r, tc.prefix)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("TargetNumber = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestTargetNumberIgnoresOtherSubfields(t *testing.T) {
	r := decoded(t, record(t, 'a', dat("035", "  ", "z", "(HVD01)000000001")))
	if got, err := TargetNumber(r, "(HVD01)"); got != "" || err != nil {
		t.Fatalf("TargetNumber from $z = %q, %v", got, err)
	}
}

func TestRemoveTargeting(t *testing.T) {
	r := decoded(t, record(t, 'a',
		dat("035", "  ", "a", "(OCoLC)123"),
		dat("035", "  ", "a", "(HVD01)000123456"),
		dat("035", "  ", "a", "(MIT01)000000007"),
		dat("049", "  ", "a", "HVDA")))
	if n := RemoveTargeting(r, "(HVD01)"); n != 1 {
		t.Fatalf("removed %d, want 1", n)
	}
	var left []string
	for _, f := range r.FieldsByTag("035") {
		left = append(left, f.SubfieldValue('a'))
	}
	if strings.Join(left, ",") != "(OCoLC)123,(MIT01)000000007" {
		t.Fatalf("035s left: %v", left)
	}
	if n := RemoveTargeting(r, ""); n != 0 {
		t.Fatalf("empty prefix removed %d", n)
	}
}

func TestCheckAllowed049(t *testing.T) {
	with := func(codes ...string) *marc.Record {
		var fs []marc.Field
		for _, c := range codes {
			fs = append(fs, dat("049", "  ", "a", c))
		}
		return decoded(t, record(t, 'a', append(fs, dat("245", "10", "a", "T."))...))
	}
	allowed := []string{"HVDA", "HVDB"}
	for _, tc := range []struct {
		name    string
		r       *marc.Record
		allowed []string
		wantErr string
	}{
		{"allowed", with("HVDA"), allowed, ""},
		{"allowed any case", with("hvdb"), allowed, ""},
		{"no restriction", with("XYZA"), nil, ""},
		{"not allowed", with("XYZA"), allowed, `049 is "XYZA"`},
		{"one of two not allowed", with("HVDA", "XYZA"), allowed, `"XYZA"`},
		{"no 049", with(), allowed, "has no 049"},
	} {
		err := CheckAllowed049(tc.r, tc.allowed)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "HVDA or HVDB") {
			t.Errorf("%s: err = %v, want one containing %q and the allowed codes", tc.name, err, tc.wantErr)
		}
	}
}

// TestNoRuleTouches049 runs every rule on records that trigger them and
// checks that 049 comes out exactly as it went in.
func TestNoRuleTouches049(t *testing.T) {
	f049 := dat("049", "  ", "a", "HVDA", "o", "copy 2")
	r := decoded(t, record(t, 'a',
		ctl("001", "ocm00012345 "),
		dat("035", "  ", "a", "(OCoLC)12345"),
		dat("035", "  ", "a", "(HVD01)000000042"),
		dat("040", "  ", "a", "FRBNF", "b", "fre"),
		f049,
		dat("245", "10", "a", "Titre.")))
	if _, err := TargetNumber(r, "(HVD01)"); err != nil {
		t.Fatal(err)
	}
	if err := CheckAllowed049(r, []string{"HVDA"}); err != nil {
		t.Fatal(err)
	}
	RemoveTargeting(r, "(HVD01)")
	if ApplyCatalogingLanguage(r) == "" {
		t.Fatal("the 040 rule did not apply")
	}
	got := r.FieldsByTag("049")
	if len(got) != 1 || !got[0].Equal(&f049) {
		t.Fatalf("049 after the rules: %+v, want %+v", got, f049)
	}
}

func TestContentHashIgnores005(t *testing.T) {
	a := decoded(t, engRecord(t, "12345", "Title"))
	b := a.Clone()
	b.Field("005").Value = "20270101000000.0"
	ha, err := ContentHash(a)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := ContentHash(b)
	if ha != hb {
		t.Fatal("records differing only in 005 hash differently")
	}
	c := a.Clone()
	c.Field("245").Subfields[0].Value = "Other title /"
	if hc, _ := ContentHash(c); hc == ha {
		t.Fatal("records with different titles hash the same")
	}
	if len(ha) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", ha)
	}
}
