package marc

import (
	"slices"
	"testing"
)

func TestNormalizeOCLCNumber(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"ocm00012345", "12345", true},
		{"ocm12345678 ", "12345678", true},
		{"ocn123456789", "123456789", true},
		{"on1234567890", "1234567890", true},
		{"on12345678901", "12345678901", true},
		{"(OCoLC)12345", "12345", true},
		{"(OCoLC)00012345", "12345", true},
		{"(OCoLC)ocm00012345", "12345", true},
		{"(OCoLC)ocn123456789", "123456789", true},
		{"(OCoLC) 12345", "12345", true},
		{"(ocolc)12345", "12345", true},
		{"OCM00012345", "12345", true},
		{"  0012345  ", "12345", true},
		{"12345", "12345", true},
		{"", "", false},
		{"ocm", "", false},
		{"ocm00000000", "", false},
		{"(OCoLC)", "", false},
		{"(OCoLC)12345 (print)", "", false},
		{"(OCoLC-I)12345", "", false},
		{"(DLC)12345", "", false},
		{"ocm1234x678", "", false},
		{"-12345", "", false},
		{"1234567890123456", "", false},
	}
	for _, c := range cases {
		got, ok := NormalizeOCLCNumber(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeOCLCNumber(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestOCLCNumber(t *testing.T) {
	ldr := "00000cam a2200000 a 4500"
	cases := []struct {
		name string
		r    *Record
		want string
		all  []string
	}{
		{"001 ocm with 003", rec(ldr, ctl("001", "ocm00012345 "), ctl("003", "OCoLC")), "12345", []string{"12345"}},
		{"001 ocn without 003", rec(ldr, ctl("001", "ocn123456789")), "123456789", []string{"123456789"}},
		{"001 on", rec(ldr, ctl("001", "on1234567890"), ctl("003", "OCoLC")), "1234567890", []string{"1234567890"}},
		{"001 digits with 003 OCoLC", rec(ldr, ctl("001", "0012345"), ctl("003", "OCoLC ")), "12345", []string{"12345"}},
		{"001 digits with other 003", rec(ldr, ctl("001", "12345"), ctl("003", "DLC")), "", nil},
		{"001 digits without 003", rec(ldr, ctl("001", "12345")), "", nil},
		{"001 local, 035 OCoLC", rec(ldr, ctl("001", "99123"), ctl("003", "HVD"), dat("035", "  ", "a(OCoLC)ocm00054321")), "54321", []string{"54321"}},
		{"035 $z is never primary", rec(ldr, ctl("001", "x"), dat("035", "  ", "z(OCoLC)111"), dat("035", "  ", "a(OCoLC)222")), "222", []string{"222"}},
		{"035 with $a and $z", rec(ldr, dat("035", "  ", "a(OCoLC)333", "z(OCoLC)444")), "333", []string{"333"}},
		{"other 035 prefixes ignored", rec(ldr, dat("035", "  ", "a(DLC)555"), dat("035", "  ", "a(OCoLC)666")), "666", []string{"666"}},
		{"019 is never primary", rec(ldr, dat("019", "  ", "a777", "a888")), "", []string{"777", "888"}},
		{"everything, de-duplicated", rec(ldr,
			ctl("001", "ocm00012345 "), ctl("003", "OCoLC"),
			dat("019", "  ", "a99", "aocm00012345", "a98"),
			dat("035", "  ", "a(OCoLC)12345"), dat("035", "  ", "a(OCoLC)ocm00000077"), dat("035", "  ", "z(OCoLC)55")),
			"12345", []string{"12345", "77", "99", "98"}},
		{"001 prefix that fails falls back to 035", rec(ldr, ctl("001", "ocmXYZ"), dat("035", "  ", "a(OCoLC)42")), "42", []string{"42"}},
		{"no numbers", rec(ldr, ctl("001", "local")), "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := OCLCNumber(c.r); got != c.want {
				t.Errorf("OCLCNumber = %q, want %q", got, c.want)
			}
			if got := OCLCNumbers(c.r); !slices.Equal(got, c.all) {
				t.Errorf("OCLCNumbers = %q, want %q", got, c.all)
			}
		})
	}
}
