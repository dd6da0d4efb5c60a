package receiver

import (
	"fmt"
	"slices"
	"strings"

	"github.com/oclcbot/oclcbot/marc"
)

// The library's import rules (DESIGN.md, "Rules from the library's
// procedure"), each a function of a decoded record. The pipeline applies
// them to the UTF-8 copy of each record, in this order:
//
//  1. Identifiers are read first, from the record as received: the OCLC
//     numbers (001, 035 "(OCoLC)", 019) and the targeting number
//     (TargetNumber). The 040 rule below deletes every 035, so reading
//     them afterwards would lose both.
//  2. CheckAllowed049: an account limited to some holding codes may only
//     export records whose 049 $a is one of them.
//  3. RemoveTargeting: the targeting 035 is an instruction, not data; it
//     is removed from the stored record.
//  4. ApplyCatalogingLanguage: 040 $b present and not "eng" deletes every
//     035 and 040 and sets leader/17 (encoding level) to '5'.
//
// No rule ever changes 049 (the library's holding code): the procedure
// says to keep the default 049, and the catalog uses it to tell our
// records from other institutions'.

// TargetNumber returns the local system number named by an 035 $a that
// starts with prefix (such as "(HVD01)000123456" with prefix "(HVD01)"),
// or "" when no 035 $a has the prefix or prefix is empty. The prefix is
// matched without regard to case and surrounding blanks are ignored; the
// number must be digits only. Several targeting 035s must name the same
// number. A targeting 035 whose number is missing or not digits, or two
// that disagree, is an error: importing such a record as new would make
// a duplicate of the record the cataloger meant to overlay.
func TargetNumber(r *marc.Record, prefix string) (string, error) {
	if prefix == "" {
		return "", nil
	}
	target := ""
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.Tag != "035" {
			continue
		}
		for _, sf := range f.Subfields {
			num, ok := targetValue(sf, prefix)
			if !ok {
				continue
			}
			if num == "" || strings.Trim(num, "0123456789") != "" {
				return "", fmt.Errorf("the 035 $a %q does not give a system number after %s (it must be digits only)", strings.TrimSpace(sf.Value), prefix)
			}
			if target != "" && target != num {
				return "", fmt.Errorf("two 035 fields target different local records (%s and %s)", target, num)
			}
			target = num
		}
	}
	return target, nil
}

// targetValue returns what follows prefix in a targeting subfield.
func targetValue(sf marc.Subfield, prefix string) (string, bool) {
	if sf.Code != 'a' {
		return "", false
	}
	v := strings.TrimSpace(sf.Value)
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(v[len(prefix):]), true
}

// RemoveTargeting deletes every 035 whose $a starts with prefix (see
// TargetNumber) and returns how many it deleted. Other 035s (the OCLC
// number, other systems' numbers) stay.
func RemoveTargeting(r *marc.Record, prefix string) int {
	if prefix == "" {
		return 0
	}
	return r.RemoveFieldsFunc(func(f *marc.Field) bool {
		if f.Tag != "035" {
			return false
		}
		for _, sf := range f.Subfields {
			if _, ok := targetValue(sf, prefix); ok {
				return true
			}
		}
		return false
	})
}

// CatalogingLanguage returns the language of cataloging, the first 040
// $b (trimmed, as written), or "" when there is none.
func CatalogingLanguage(r *marc.Record) string {
	for i := range r.Fields {
		if r.Fields[i].Tag != "040" {
			continue
		}
		if v, ok := r.Fields[i].Subfield('b'); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ApplyCatalogingLanguage applies the rule for records cataloged in
// another language: when 040 $b is present and is not "eng" (compared
// without regard to case), it deletes all 035 and 040 fields and sets
// leader/17 (encoding level) to '5' (partial, preliminary). It reports
// what it did in words for the export log ("" when the rule did not
// apply). Records without 040 $b, or with "eng", are not changed.
func ApplyCatalogingLanguage(r *marc.Record) string {
	lang := CatalogingLanguage(r)
	if lang == "" || strings.EqualFold(lang, "eng") {
		return ""
	}
	n035, n040 := 0, 0
	r.RemoveFieldsFunc(func(f *marc.Field) bool {
		switch f.Tag {
		case "035":
			n035++
			return true
		case "040":
			n040++
			return true
		}
		return false
	})
	old := r.Leader[marc.EncodingLevelPos]
	r.Leader[marc.EncodingLevelPos] = '5'
	return fmt.Sprintf("040 $b is %q, not \"eng\": deleted %d 035 and %d 040 field(s), leader/17 %q -> '5'", lang, n035, n040, old)
}

// HoldingCodes returns every 049 $a of r, trimmed, in record order.
func HoldingCodes(r *marc.Record) []string {
	var out []string
	for i := range r.Fields {
		if r.Fields[i].Tag != "049" {
			continue
		}
		for _, v := range r.Fields[i].SubfieldValues('a') {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// CheckAllowed049 enforces an account's holding codes: when allowed is
// not empty, the record must have a 049 and each of its 049 $a must be
// one of allowed (compared without regard to case). The error says, in
// words for the cataloger, what the record has and what is allowed.
func CheckAllowed049(r *marc.Record, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	codes := HoldingCodes(r)
	if len(codes) == 0 {
		return fmt.Errorf("this record has no 049, and your login may export only records whose 049 is %s", orList(allowed))
	}
	for _, c := range codes {
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, c) }) {
			return fmt.Errorf("this record's 049 is %q, and your login may export only records whose 049 is %s", c, orList(allowed))
		}
	}
	return nil
}

// orList writes "A", "A or B", "A, B or C".
func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
