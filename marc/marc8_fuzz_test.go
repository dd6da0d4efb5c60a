package marc

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzMARC8ToUTF8 checks, for any bytes, that conversion never panics or
// hangs, that the lenient result is valid UTF-8 and agrees with the strict
// one, that an error names bytes that are really in the input, and that
// converted text without control characters converts back to MARC-8 and
// reads the same again.
func FuzzMARC8ToUTF8(f *testing.F) {
	for _, s := range canonicalMARC8 {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"Caf\xe2e", "\xe2", "a\xe2", m8Esc, m8Esc + "(", m8Esc + "(Zabc", m8Esc + "$1!0", m8Esc + "$1!0d!0!",
		m8Esc + "$)1\xa1\xb0\xe4", m8Esc + ")N\xc1\xa0", "\xebt\xecs\xeb", "\x88\x89\x8d\x8e\x80\xff", "a\x00\x0a\x1f\x7f",
		m8Esc + "gabcd" + m8Esc + "s", m8Esc + "p(0)" + m8Esc + "b+-", "\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9a",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lenient, errs := MARC8ToUTF8Lenient(nil, in, nil)
		if !utf8.Valid(lenient) {
			t.Fatalf("lenient output %+q is not valid UTF-8", lenient)
		}
		strict, err := MARC8ToUTF8([]byte("x"), in)
		if err != nil {
			me, ok := err.(*MARC8Error)
			if !ok || len(errs) == 0 || errs[0].Offset != me.Offset || !bytes.Equal(errs[0].Bytes, me.Bytes) || errs[0].Reason != me.Reason {
				t.Fatalf("strict error %v, lenient errors %v", err, errs)
			}
			if string(strict) != "x" {
				t.Fatalf("strict conversion changed dst on error: %q", strict)
			}
			for _, e := range errs {
				if e.Offset < 0 || e.Offset+len(e.Bytes) > len(in) || len(e.Bytes) == 0 || !bytes.Equal(in[e.Offset:e.Offset+len(e.Bytes)], e.Bytes) {
					t.Fatalf("error %v does not name bytes of the input %q", e, in)
				}
			}
			return
		}
		if len(errs) != 0 || string(strict[1:]) != string(lenient) {
			t.Fatalf("strict %+q and lenient %+q (%v) disagree", strict[1:], lenient, errs)
		}
		if strings.ContainsFunc(string(lenient), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return
		}
		m, err := UTF8ToMARC8(nil, lenient)
		if err != nil {
			t.Fatalf("UTF8ToMARC8(%+q) (read from %q): %v", lenient, in, err)
		}
		again, err := MARC8ToUTF8(nil, m)
		if err != nil || !bytes.Equal(again, lenient) {
			t.Fatalf("%q -> %+q -> %q -> %+q, %v", in, lenient, m, again, err)
		}
	})
}

// marc8AltRunes are the runes written through the code table's alternative
// mappings, which read back as their primary form.
const marc8AltRunes = "\u02be\ufe20\ufe21\ufe22\ufe23"

// FuzzUTF8ToMARC8 checks, for any string, that conversion never panics or
// hangs, that strict and lenient agree, that whatever is written reads back
// as canonically equivalent text (the same text in NFD), and that writing
// that text again gives the same MARC-8.
func FuzzUTF8ToMARC8(f *testing.F) {
	for _, s := range []string{
		"Caf\u00e9", "Vi\u1ec7t Nam", "Tho\u031b\u0300", "\u0412\u043e\u0439\u043d\u0430 \u0438 \u043c\u0438\u0440, 1985. London",
		"\u1f08\u03b8\u1fc6\u03bd\u03b1\u03b9", "\u03b1-particle", "H\u2082O x\u00b2", "\u4eba \u4e00 \u4e99 \uf900",
		"\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd", "\u0627\u0628\u064e \u0686", "t\u0361s n\u0360g", "t\ufe20s\ufe21",
		"\u0301a", "a\u20adb", "\ufb01", "a\x1bb", "a\xffb", "\u0098The\u009c", "\U0001F600", "e\u1dc0",
		"\u0434\u20ad", "\u00e9\u0323", "a\u0344", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lenient, errs := UTF8ToMARC8Lenient(nil, []byte(in), nil)
		back, err := MARC8ToUTF8(nil, lenient)
		if err != nil {
			t.Fatalf("UTF8ToMARC8Lenient(%+q) wrote %q, which does not read back: %v", in, lenient, err)
		}
		strict, err := UTF8ToMARC8(nil, []byte(in))
		if err != nil {
			ee, ok := err.(*MARC8EncodeError)
			if !ok || len(errs) == 0 || errs[0].Offset != ee.Offset || errs[0].Rune != ee.Rune {
				t.Fatalf("strict error %v, lenient errors %v", err, errs)
			}
			if ee.Offset < 0 || ee.Offset >= len(in) {
				t.Fatalf("error offset %d outside %+q", ee.Offset, in)
			}
			return
		}
		if len(errs) != 0 || !bytes.Equal(strict, lenient) {
			t.Fatalf("strict %q and lenient %q (%v) disagree", strict, lenient, errs)
		}
		if !strings.ContainsAny(in, marc8AltRunes) && norm.NFD.String(string(back)) != norm.NFD.String(in) {
			t.Fatalf("%+q -> %q -> %+q: not canonically equivalent", in, strict, back)
		}
		again, err := UTF8ToMARC8(nil, back)
		if err != nil {
			t.Fatalf("%+q read back as %+q, which does not convert: %v", in, back, err)
		}
		back2, err := MARC8ToUTF8(nil, again)
		if err != nil || !bytes.Equal(back2, back) {
			t.Fatalf("%+q -> %q -> %+q -> %q -> %+q, %v", in, strict, back, again, back2, err)
		}
	})
}
