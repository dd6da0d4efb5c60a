package catalog

import (
	"errors"
	"testing"
)

func TestSystemNumberFormat(t *testing.T) {
	for n, want := range map[SystemNumber]string{1: "000000001", 42: "000000042", 123456789: "123456789", MaxSystemNumber: "999999999"} {
		if got := n.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(n), got, want)
		}
	}
	if got := SystemNumber(42).Display("HVD01"); got != "HVD01 000000042" {
		t.Errorf("Display = %q", got)
	}
	if got := SystemNumber(42).Display(""); got != "000000042" {
		t.Errorf("Display without code = %q", got)
	}
	c, _ := mustOpen(t, Options{LibraryCode: "HVD01"})
	if got := c.Display(7); got != "HVD01 000000007" {
		t.Errorf("catalog Display = %q", got)
	}
}

func TestParseSystemNumber(t *testing.T) {
	good := map[string]SystemNumber{
		"42":                42,
		"000000042":         42,
		" 000000042 ":       42,
		"HVD01 000000042":   42,
		"hvd01 000000042":   42,
		"HVD01-000000042":   42,
		"HVD01000000042":    42,
		"(HVD01)000000042":  42,
		"(hvd01)42":         42,
		"999999999":         MaxSystemNumber,
		"0000000000000042":  42,
		"HVD01   123456789": 123456789,
	}
	for s, want := range good {
		got, err := ParseSystemNumber(s, "HVD01")
		if err != nil || got != want {
			t.Errorf("ParseSystemNumber(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "000000000", "1000000000", "HVD02 000000042", "(HVD02)42", "HVD01", "4 2", "42a", "-42", "(OCoLC)42", "ocm00000042", "12345678901234567890"} {
		if n, err := ParseSystemNumber(s, "HVD01"); !errors.Is(err, ErrBadSystemNumber) {
			t.Errorf("ParseSystemNumber(%q) = %d, %v; want ErrBadSystemNumber", s, n, err)
		}
	}
	if _, err := ParseSystemNumber("HVD01 000000042", ""); !errors.Is(err, ErrBadSystemNumber) {
		t.Error("a library code was accepted when none is configured")
	}
}

func FuzzParseSystemNumber(f *testing.F) {
	for _, s := range []string{"42", "HVD01 000000042", "(HVD01)000000042", "hvd01-1", "999999999", "1000000000", "", "(HVD01)", "HVD01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSystemNumber(s, "HVD01")
		if err != nil {
			if !errors.Is(err, ErrBadSystemNumber) {
				t.Fatalf("error %v does not wrap ErrBadSystemNumber", err)
			}
			return
		}
		if n < 1 || n > MaxSystemNumber {
			t.Fatalf("%q parsed to %d, out of range", s, n)
		}
		for _, form := range []string{n.String(), n.Display("HVD01"), "(HVD01)" + n.String()} {
			if m, err := ParseSystemNumber(form, "HVD01"); err != nil || m != n {
				t.Fatalf("%q -> %d, but %q -> %d, %v", s, n, form, m, err)
			}
		}
	})
}
