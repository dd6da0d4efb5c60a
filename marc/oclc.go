package marc

import "strings"

// oclcPrefix is the MARC organization code of OCLC in parentheses, as 035
// $a carries it.
const oclcPrefix = "(OCoLC)"

// maxOCLCDigits bounds a normalised OCLC number (they have 10 digits
// today).
const maxOCLCDigits = 15

// NormalizeOCLCNumber returns the bare OCLC number in s, without leading
// zeros, and whether s held one. It accepts the forms OCLC numbers take in
// records: "ocm00012345" (8 digits, zero padded), "ocn123456789" (9),
// "on1234567890" (10 or more), "(OCoLC)12345", "(OCoLC)ocm00012345", and
// bare digits, with surrounding blanks (Connexion pads 001 with a trailing
// space). The prefixes are matched without regard to case. Anything else
// after the prefix ("(OCoLC)12345 (print)", "(OCoLC-I)...") is not an
// OCLC number.
func NormalizeOCLCNumber(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if hasPrefixFold(s, oclcPrefix) {
		s = strings.TrimSpace(s[len(oclcPrefix):])
	}
	s = trimOCLCLetters(s)
	s = strings.TrimLeft(s, "0")
	if s == "" || len(s) > maxOCLCDigits {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return "", false
		}
	}
	return s, true
}

// trimOCLCLetters removes one ocm, ocn or on prefix.
func trimOCLCLetters(s string) string {
	for _, p := range [...]string{"ocm", "ocn", "on"} {
		if hasPrefixFold(s, p) {
			return s[len(p):]
		}
	}
	return s
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// OCLCNumber returns the record's own OCLC number, normalised (see
// NormalizeOCLCNumber), or "" if it has none. It is taken from:
//
//  1. 001, when the value carries an OCLC prefix (ocm, ocn, on,
//     "(OCoLC)"), or when it is bare digits and 003 is "OCoLC" (digits in
//     001 with any other 003, or none, are another system's number);
//  2. otherwise the first 035 $a that is "(OCoLC)" and a number. 035 $z
//     (cancelled or invalid numbers) is never used, and 019 (numbers of
//     records merged into this one) never names the record itself.
func OCLCNumber(r *Record) string {
	if n, ok := oclcFrom001(r); ok {
		return n
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.Tag != "035" {
			continue
		}
		for _, sf := range f.Subfields {
			if sf.Code == 'a' && hasPrefixFold(strings.TrimSpace(sf.Value), oclcPrefix) {
				if n, ok := NormalizeOCLCNumber(sf.Value); ok {
					return n
				}
			}
		}
	}
	return ""
}

func oclcFrom001(r *Record) (string, bool) {
	f := r.Field("001")
	if f == nil {
		return "", false
	}
	v := strings.TrimSpace(f.Value)
	prefixed := hasPrefixFold(v, oclcPrefix) || trimOCLCLetters(v) != v
	if !prefixed && strings.TrimSpace(r.ControlValue("003")) != "OCoLC" {
		return "", false
	}
	return NormalizeOCLCNumber(v)
}

// OCLCNumbers returns every OCLC number the record carries, normalised and
// without duplicates: OCLCNumber first (if any), then each other "(OCoLC)"
// 035 $a, then each 019 $a (numbers of records OCLC merged into this
// one), in record order. 035 $z (cancelled numbers) is not included. Use
// it to find other copies of the same work; it returns nil when there are
// none.
func OCLCNumbers(r *Record) []string {
	var out []string
	add := func(n string) {
		for _, o := range out {
			if o == n {
				return
			}
		}
		out = append(out, n)
	}
	if n := OCLCNumber(r); n != "" {
		add(n)
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.Tag != "035" {
			continue
		}
		for _, sf := range f.Subfields {
			if sf.Code == 'a' && hasPrefixFold(strings.TrimSpace(sf.Value), oclcPrefix) {
				if n, ok := NormalizeOCLCNumber(sf.Value); ok {
					add(n)
				}
			}
		}
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.Tag != "019" {
			continue
		}
		for _, sf := range f.Subfields {
			if sf.Code == 'a' {
				if n, ok := NormalizeOCLCNumber(sf.Value); ok {
					add(n)
				}
			}
		}
	}
	return out
}
