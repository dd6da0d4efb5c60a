package marc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// m8Esc is the MARC-8 escape character, for readable test tables.
const m8Esc = "\x1b"

func TestMARC8ToUTF8(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ascii", "Title : subtitle / Author.", "Title : subtitle / Author."},
		{"empty", "", ""},

		// Extended Latin (ANSEL), the default G1 set.
		{"ansel letters", "\xa2\xb2 \xa5\xb5 \xa6\xb6 \xa1\xb1 \xa3\xb3 \xa4\xb4 \xba \xb8", "Øø Ææ Œœ Łł Đđ Þþ ð ı"},
		{"ansel symbols", "\xc31999 \xc22001 \xc8 \xb9 \xc0 \xc5\xc6 \xc7 \xa9\xc4", "©1999 ℗2001 € £ ° ¿¡ ß ♭♯"},
		{"ansel modifier letters", "\xa7\xb7\xae\xb0", "ʹʺʼʻ"},
		{"nonsort begin and end", "\x88The\x89 Beatles", "\u0098The\u009c Beatles"},
		{"joiners", "a\x8db\x8ec", "a\u200db\u200cc"},
		{"horn letters", "\xac\xbc\xad\xbd", "ƠơƯư"},

		// Non-spacing marks precede their base in MARC-8 and follow it
		// in Unicode; nothing is composed.
		{"acute", "Caf\xe2e", "Cafe\u0301"},
		{"marks at start", "\xe2Ecole", "E\u0301cole"},
		{"caron and acute", "Dvo\xe9r\xe2ak", "Dvor\u030ca\u0301k"},
		{"stacked marks keep order", "Vi\xf2\xe3et", "Vie\u0323\u0302t"},
		{"stacked marks other order", "Vi\xe3\xf2et", "Vie\u0302\u0323t"},
		{"horn letter with mark", "Th\xe1\xbc", "Thơ\u0300"},
		{"mark on space", "\xe2 x", " \u0301x"},
		{"nine marks", "\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9a", "a\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030c"},
		{"mark before an escape", "\xe2" + m8Esc + "(Na" + m8Esc + "(B", "\u0410\u0301"},
		{"every ANSEL mark", "\xe0a\xe1a\xe2a\xe3a\xe4a\xe5a\xe6a\xe7a\xe8a\xe9a\xeaa\xeda\xeea\xefa\xf0a\xf1a\xf2a\xf3a\xf4a\xf5a\xf6a\xf7a\xf8a\xf9a\xfea",
			"a\u0309a\u0300a\u0301a\u0302a\u0303a\u0304a\u0306a\u0307a\u0308a\u030ca\u030aa\u0315a\u030ba\u0310a\u0327a\u0328a\u0323a\u0324a\u0325a\u0333a\u0332a\u0326a\u031ca\u032ea\u0313"},

		// Double diacritics: U+0361 and U+0360 span both characters, the
		// second halves have no Unicode form of their own.
		{"ligature halves", "\xebt\xecs", "t\u0361s"},
		{"double tilde halves", "\xfan\xfbg", "n\u0360g"},
		{"second half alone", "x\xec", "x"},

		// Technique 1.
		{"greek symbols", m8Esc + "gabc" + m8Esc + "s-rays", "\u03b1\u03b2\u03b3-rays"},
		{"subscripts", "H" + m8Esc + "b2" + m8Esc + "sO", "H\u2082O"},
		{"subscript signs", m8Esc + "b(+-)0123456789" + m8Esc + "s", "\u208d\u208a\u208b\u208e\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089"},
		{"superscripts", "10" + m8Esc + "p-3" + m8Esc + "s m", "10\u207b\u00b3 m"},
		{"superscript digits", m8Esc + "p0123456789" + m8Esc + "s", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"},
		{"space in a technique 1 set", m8Esc + "ga b" + m8Esc + "s", "\u03b1 \u03b2"},

		// Technique 2, G0.
		{"basic hebrew", m8Esc + "(2ylem" + m8Esc + "(B", "\u05e9\u05dc\u05d5\u05dd"},
		{"hebrew points", m8Esc + "(2AMyl" + m8Esc + "(B", "\u05e9\u05b8\u05c1\u05dc"},
		{"basic cyrillic", m8Esc + "(NmOSKWA, 1985" + m8Esc + "(B", "\u041c\u043e\u0441\u043a\u0432\u0430, 1985"},
		{"cyrillic lower case", m8Esc + "(Nmoskwa" + m8Esc + "(B", "\u041c\u041e\u0421\u041a\u0412\u0410"},
		{"extended cyrillic", m8Esc + "(QDAf" + m8Esc + "(B", "\u0451\u0452\u0406"},
		{"basic arabic", m8Esc + "(3GHI" + m8Esc + "(B", "\u0627\u0628\u0629"},
		{"arabic vowel marks", m8Esc + "(3nH" + m8Esc + "(B", "\u0628\u064e"},
		{"extended arabic", m8Esc + "(41S" + m8Esc + "(B", "\u0686\u06a4"},
		{"basic greek", m8Esc + "(SAbd" + m8Esc + "(B", "\u0391\u03b2\u03b3"},
		{"greek accent", m8Esc + "(S\"a" + m8Esc + "(B", "\u03b1\u0301"},
		{"cjk", m8Esc + "$1!0d!0!" + m8Esc + "(B", "\u4eba\u4e00"},
		{"cjk with ascii space", m8Esc + "$1!0d !0!" + m8Esc + "(B", "\u4eba \u4e00"},
		{"cjk ideographic space", m8Esc + "$1!# " + m8Esc + "(B", "\u3000"},
		{"kana and hangul", m8Esc + "$1i$+i%Jo\\eoIo" + m8Esc + "(B", "\u304b\u30ca\ud55c\uad6d"},
		{"cjk outside the BMP", m8Esc + "$1" + string([]byte{0x22, 0x2a, 0x2b}) + m8Esc + "(B", string(eaccRunesFor(0x222a2b))},
		{"alternate G0 intermediate", m8Esc + ",Nm" + m8Esc + ",B", "\u041c"},
		{"ansel in G0", m8Esc + "(!E!1" + m8Esc + "(B", "\u0141\u0142"},
		{"ansel in G0 without '!'", m8Esc + "(E!" + m8Esc + "(B", "\u0141"},
		{"multibyte G0 long form", m8Esc + "$(1!0d" + m8Esc + "(B", "\u4eba"},
		{"value ends in another set", m8Esc + "(Nm", "\u041c"},

		// Technique 2, G1: bytes 0xA1-0xFE come from the G1 set.
		{"cyrillic in G1", m8Esc + ")NA\xc1\xc2", "A\u0430\u0431"},
		{"cyrillic in G1 alternate", m8Esc + "-N\xed", "\u041c"},
		{"hebrew in G1", m8Esc + ")2\xf9\xec", "\u05e9\u05dc"},
		{"ansel back in G1", m8Esc + ")N\xc1" + m8Esc + ")!E\xc1", "\u0430\u2113"},
		{"cjk in G1", m8Esc + "$)1\xa1\xb0\xe4a", "\u4ebaa"},
		{"ascii in G1", m8Esc + ")B\xc1", "A"},

		// ISO 2709 separators inside a value pass through.
		{"separators", "a\x1fb", "a\x1fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MARC8ToUTF8([]byte("prefix:"), []byte(tt.in))
			if err != nil {
				t.Fatalf("MARC8ToUTF8(%q): %v", tt.in, err)
			}
			if want := "prefix:" + tt.want; string(got) != want {
				t.Errorf("MARC8ToUTF8(%q) = %+q, want %+q", tt.in, got, want)
			}
			gotS, err := MARC8StringToUTF8(nil, tt.in)
			if err != nil || string(gotS) != tt.want {
				t.Errorf("MARC8StringToUTF8(%q) = %+q, %v; want %+q", tt.in, gotS, err, tt.want)
			}
			gotL, errs := MARC8ToUTF8Lenient(nil, []byte(tt.in), nil)
			if len(errs) != 0 || string(gotL) != tt.want {
				t.Errorf("MARC8ToUTF8Lenient(%q) = %+q, %v; want %+q", tt.in, gotL, errs, tt.want)
			}
		})
	}
}

// eaccRunesFor returns the Unicode form of an EACC code from the tables.
func eaccRunesFor(code uint32) rune {
	r, ok := eaccLookup(byte(code>>16), byte(code>>8), byte(code))
	if !ok {
		panic("no EACC code " + string(rune(code)))
	}
	return r
}

func TestMARC8ValuesStartInDefaultSets(t *testing.T) {
	// A value left in Cyrillic does not affect the next value.
	first, err := MARC8StringToUTF8(nil, m8Esc+"(Nmoskwa")
	if err != nil {
		t.Fatal(err)
	}
	second, err := MARC8StringToUTF8(first, "moskwa\xe2e")
	if err != nil {
		t.Fatal(err)
	}
	if want := "\u041c\u041e\u0421\u041a\u0412\u0410moskwae\u0301"; string(second) != want {
		t.Errorf("got %+q, want %+q", second, want)
	}
}

func TestMARC8ToUTF8Errors(t *testing.T) {
	tests := []struct {
		name, in string
		offset   int
		bytes    string
		reason   string
	}{
		{"unknown escape", "ab" + m8Esc + "(Zc", 2, m8Esc + "(Z", "unknown escape sequence"},
		{"unknown technique 1 escape", "ab" + m8Esc + "zc", 2, m8Esc + "z", "unknown escape sequence"},
		{"EACC final single byte", m8Esc + "(1!0d", 0, m8Esc + "(1", "unknown escape sequence"},
		{"escape cut by end", "ab" + m8Esc + "(", 2, m8Esc + "(", "incomplete escape sequence at end of value"},
		{"lone escape at end", "ab" + m8Esc, 2, m8Esc, "incomplete escape sequence at end of value"},
		{"escape cut by control", "ab" + m8Esc + "(\x01B", 2, m8Esc + "(", "incomplete escape sequence"},
		{"truncated EACC at end", m8Esc + "$1!0d!0", 6, "!0", "incomplete EACC character at end of value"},
		{"truncated EACC before escape", m8Esc + "$1!0" + m8Esc + "(B", 3, "!0", "incomplete EACC character"},
		{"EACC cut by high byte", m8Esc + "$1!\xe20d", 3, "!", "incomplete EACC character"},
		{"unmapped EACC", m8Esc + "$1~~~", 3, "~~~", "not an EACC character (G0)"},
		{"byte not in ANSEL", "abc\xa0", 3, "\xa0", "byte 0xA0 is not in ANSEL (G1)"},
		{"C1 byte not in ANSEL", "a\x80", 1, "\x80", "byte 0x80 is not in ANSEL (G1)"},
		{"byte 0xFF", "a\xff", 1, "\xff", "byte 0xFF is not in ANSEL (G1)"},
		{"byte not in greek symbols", "x" + m8Esc + "gd", 3, "d", "byte 0x64 is not in Greek symbols (G0)"},
		{"byte not in hebrew", m8Esc + "(2yP", 4, "P", "byte 0x50 is not in Basic Hebrew (G0)"},
		{"byte not in cyrillic G1", m8Esc + ")N\xa0", 3, "\xa0", "byte 0xA0 is not in Basic Cyrillic (G1)"},
		{"line feed", "a\nb", 1, "\n", "control character 0x0A is not MARC-8 text"},
		{"NUL", "a\x00b", 1, "\x00", "control character 0x00 is not MARC-8 text"},
		{"DEL", "a\x7fb", 1, "\x7f", "control character 0x7F is not MARC-8 text"},
		{"mark at end", "ab\xe2", 2, "\xe2", "non-spacing mark with no character after it"},
		{"marks at end", "ab\xe2\xe3", 2, "\xe2\xe3", "non-spacing mark with no character after it"},
		{"marks and escape at end", "ab\xe2" + m8Esc + "(N\xe3", 2, "\xe2" + m8Esc + "(N\xe3", "non-spacing mark with no character after it"},
		{"ligature first half at end", "ab\xeb", 2, "\xeb", "non-spacing mark with no character after it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := MARC8ToUTF8(dst, []byte(tt.in))
			if string(got) != "keep" {
				t.Errorf("dst after error = %q, want it unchanged", got)
			}
			var me *MARC8Error
			if !errors.As(err, &me) {
				t.Fatalf("MARC8ToUTF8(%q) error = %v, want a *MARC8Error", tt.in, err)
			}
			if !errors.Is(err, ErrInvalidMARC8) {
				t.Errorf("errors.Is(%v, ErrInvalidMARC8) = false", err)
			}
			if me.Offset != tt.offset || string(me.Bytes) != tt.bytes || me.Reason != tt.reason {
				t.Errorf("error = {%d % X %q}, want {%d % X %q}", me.Offset, me.Bytes, me.Reason, tt.offset, []byte(tt.bytes), tt.reason)
			}
			if _, err := MARC8StringToUTF8(nil, tt.in); err == nil || err.Error() != me.Error() {
				t.Errorf("MARC8StringToUTF8 error = %v, want %v", err, me)
			}
		})
	}
}

func TestMARC8ErrorMessage(t *testing.T) {
	_, err := MARC8StringToUTF8(nil, "Tit"+m8Esc+"(Zle")
	want := "invalid MARC-8 at offset 3 (bytes 1B 28 5A): unknown escape sequence"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestMARC8ToUTF8Lenient(t *testing.T) {
	in := "a\xa0b" + m8Esc + "(Zc" + m8Esc + "$1!0d!0" + m8Esc + "(B\xe2"
	got, errs := MARC8ToUTF8Lenient([]byte(">"), []byte(in), nil)
	want := ">a\ufffdb\ufffdc\u4eba\ufffd\ufffd\u0301"
	if string(got) != want {
		t.Errorf("got %+q, want %+q", got, want)
	}
	type problem struct {
		off   int
		bytes string
	}
	wantErrs := []problem{{1, "\xa0"}, {3, m8Esc + "(Z"}, {13, "!0"}, {18, "\xe2"}}
	if len(errs) != len(wantErrs) {
		t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(wantErrs))
	}
	for i, e := range errs {
		if e.Offset != wantErrs[i].off || string(e.Bytes) != wantErrs[i].bytes {
			t.Errorf("error %d = {%d % X}, want {%d % X}", i, e.Offset, e.Bytes, wantErrs[i].off, []byte(wantErrs[i].bytes))
		}
	}
	// Marks before an unmappable byte attach to its U+FFFD.
	got, errs = MARC8ToUTF8Lenient(nil, []byte("\xe2\xa0x"), nil)
	if string(got) != "\ufffd\u0301x" || len(errs) != 1 {
		t.Errorf("got %+q %v, want U+FFFD U+0301 x and one error", got, errs)
	}
	// Errors are appended to the caller's slice.
	_, errs = MARC8StringToUTF8Lenient(nil, "\xa0", errs)
	if len(errs) != 2 {
		t.Errorf("got %d errors, want 2", len(errs))
	}
}

func TestUTF8ToMARC8(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ascii", "Title : subtitle / Author.", "Title : subtitle / Author."},
		{"empty", "", ""},
		{"precomposed", "Caf\u00e9", "Caf\xe2e"},
		{"decomposed", "Cafe\u0301", "Caf\xe2e"},
		{"mark at start of ascii run", "e\u0301cole", "\xe2ecole"},
		{"two precomposed in a row", "\u00e9\u00e8", "\xe2e\xe1e"},
		{"stacked marks in given order", "Vie\u0323\u0302t", "Vi\xf2\xe3et"},
		{"precomposed with stacked marks", "Vi\u1ec7t", "Vi\xf2\xe3et"},
		{"precomposed plus extra mark", "\u00e9\u0323", "\xe2\xf2e"},
		{"horn letters", "\u01a0\u01a1\u01af\u01b0", "\xac\xbc\xad\xbd"},
		{"horn from NFD", "O\u031bo\u031b", "\xac\xbc"},
		{"vietnamese", "Th\u1edd", "Th\xe1\xbc"},
		{"vietnamese NFD", "Tho\u031b\u0300", "Th\xe1\xbc"},
		{"ansel letters", "Øø Ææ Œœ Łł Đđ Þþ ð ı", "\xa2\xb2 \xa5\xb5 \xa6\xb6 \xa1\xb1 \xa3\xb3 \xa4\xb4 \xba \xb8"},
		{"ansel symbols", "©1999 ℗2001 € £ ° ¿¡ ß", "\xc31999 \xc22001 \xc8 \xb9 \xc0 \xc5\xc6 \xc7"},
		{"nonsort", "\u0098The\u009c Beatles", "\x88The\x89 Beatles"},
		{"ligature", "t\u0361s", "\xebt\xecs"},
		{"ligature and another mark", "t\u0361s\u0301a", "\xebt\xec\xe2sa"},
		{"ligature at end", "t\u0361", "\xebt"},
		{"double tilde", "n\u0360g", "\xfan\xfbg"},
		{"ligature halves of 1996", "t\ufe20s\ufe21", "\xebt\xecs"},
		{"alif alternative", "\u02be", "\xae"},
		{"greek symbol", "\u03b1-particle", m8Esc + "ga" + m8Esc + "s-particle"},
		{"greek symbols run", "\u03b1\u03b2\u03b3 rays", m8Esc + "gabc " + m8Esc + "srays"},
		{"greek word", "\u03b1\u03bb\u03c6\u03b1", m8Esc + "(Sanza" + m8Esc + "(B"},
		{"greek with accents", "\u1f08\u03b8\u1fc6\u03bd\u03b1\u03b9", m8Esc + "(S%Ak$jpal" + m8Esc + "(B"},
		{"subscript", "H\u2082O", "H" + m8Esc + "b2" + m8Esc + "sO"},
		{"superscript", "x\u00b2", "x" + m8Esc + "p2" + m8Esc + "s"},
		{"superscript then cyrillic", "\u00b2\u0434", m8Esc + "p2" + m8Esc + "(ND" + m8Esc + "(B"},
		{"cyrillic stays for punctuation and digits", "\u041c\u043e\u0441\u043a\u0432\u0430 : \u041d\u0430\u0443\u043a\u0430, 1985. London",
			m8Esc + "(NmOSKWA : nAUKA, 1985. " + m8Esc + "(BLondon"},
		{"cyrillic with ANSEL mark", "\u0438\u0306", m8Esc + "(N\xe6I" + m8Esc + "(B"},
		{"cyrillic precomposed", "\u0439", m8Esc + "(NJ" + m8Esc + "(B"},
		{"extended cyrillic", "\u0451\u0452", m8Esc + "(QDA" + m8Esc + "(B"},
		{"hebrew", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd", m8Esc + "(2AMylEem" + m8Esc + "(B"},
		{"arabic", "\u0627\u0628\u064e", m8Esc + "(3GnH" + m8Esc + "(B"},
		{"extended arabic", "\u0686", m8Esc + "(41" + m8Esc + "(B"},
		{"cjk", "\u4eba \u4e00", m8Esc + "$1!0d !0!" + m8Esc + "(B"},
		{"cjk variant chooses the preferred code", "\u4e99", m8Esc + "$1K0W" + m8Esc + "(B"},
		{"mixed scripts", "War \u0438 \u05e9 \u4eba.", "War " + m8Esc + "(NI " + m8Esc + "(2y " + m8Esc + "$1!0d" + m8Esc + "(B."},
		{"cjk compatibility ideograph", "\uf900", m8Esc + "$1" + string(eaccCodeFor(0x8c48)) + m8Esc + "(B"},
		{"angstrom sign", "\u212b", "\xeaA"},
		{"mark decomposing into marks", "a\u0344", "\xe8\xe2a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UTF8ToMARC8([]byte("prefix:"), []byte(tt.in))
			if err != nil {
				t.Fatalf("UTF8ToMARC8(%+q): %v", tt.in, err)
			}
			if want := "prefix:" + tt.want; string(got) != want {
				t.Errorf("UTF8ToMARC8(%+q) = %q, want %q", tt.in, got, want)
			}
			gotL, errs := UTF8ToMARC8Lenient(nil, []byte(tt.in), nil)
			if len(errs) != 0 || string(gotL) != tt.want {
				t.Errorf("UTF8ToMARC8Lenient(%+q) = %q, %v; want %q", tt.in, gotL, errs, tt.want)
			}
		})
	}
}

// eaccCodeFor returns the three bytes UTF8ToMARC8 should write for r.
func eaccCodeFor(r rune) []byte {
	for k, c := range eaccCodes {
		if eaccRunes[k] == r {
			return []byte{byte(c >> 16), byte(c >> 8), byte(c)}
		}
	}
	panic("rune not in EACC")
}

func TestUTF8ToMARC8Errors(t *testing.T) {
	tests := []struct {
		name, in string
		offset   int
		r        rune
		reason   string
		lenient  string
	}{
		{"no MARC-8 form", "a\u20adb", 1, 0x20ad, "no MARC-8 form", "a&#x20AD;b"},
		{"outside the BMP", "a\U0001F600", 1, 0x1f600, "no MARC-8 form", "a&#x1F600;"},
		{"compatibility ligature", "\ufb01", 0, 0xfb01, "no MARC-8 form", "&#xFB01;"},
		{"mark with no base", "\u0301a", 0, 0x301, "non-spacing mark with no character before it", "&#x0301;a"},
		{"mark with no MARC-8 form", "e\u1dc0x", 1, 0x1dc0, "no MARC-8 form", "e&#x1DC0;x"},
		{"base without form takes its marks", "\u20ad\u0301x", 0, 0x20ad, "no MARC-8 form", "&#x20AD;&#x0301;x"},
		{"escape character", "a\x1bb", 1, 0x1b, "control character", "a&#x001B;b"},
		{"subfield delimiter", "a\x1fb", 1, 0x1f, "control character", "a&#x001F;b"},
		{"DEL", "a\x7f", 1, 0x7f, "control character", "a&#x007F;"},
		{"invalid UTF-8", "a\xffb", 1, utf8.RuneError, "invalid UTF-8 byte 0xff", "a&#xFFFD;b"},
		{"reference after cyrillic returns to ASCII", "\u0434\u20ad", 2, 0x20ad, "no MARC-8 form", m8Esc + "(ND" + m8Esc + "(B&#x20AD;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UTF8ToMARC8([]byte("keep"), []byte(tt.in))
			if string(got) != "keep" {
				t.Errorf("dst after error = %q, want it unchanged", got)
			}
			var ee *MARC8EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("UTF8ToMARC8(%+q) error = %v, want a *MARC8EncodeError", tt.in, err)
			}
			if !errors.Is(err, ErrNoMARC8Form) {
				t.Errorf("errors.Is(%v, ErrNoMARC8Form) = false", err)
			}
			if ee.Offset != tt.offset || ee.Rune != tt.r || ee.Reason != tt.reason {
				t.Errorf("error = {%d %U %q}, want {%d %U %q}", ee.Offset, ee.Rune, ee.Reason, tt.offset, tt.r, tt.reason)
			}
			lenient, errs := UTF8ToMARC8Lenient(nil, []byte(tt.in), nil)
			if string(lenient) != tt.lenient {
				t.Errorf("UTF8ToMARC8Lenient(%+q) = %q, want %q", tt.in, lenient, tt.lenient)
			}
			if len(errs) == 0 || errs[0].Offset != tt.offset || errs[0].Rune != tt.r {
				t.Errorf("lenient errors = %v, want first at offset %d for %U", errs, tt.offset, tt.r)
			}
		})
	}
}

func TestMARC8EncodeErrorMessage(t *testing.T) {
	_, err := UTF8ToMARC8(nil, []byte("ab\u20ad"))
	want := "cannot write U+20AD at offset 2 as MARC-8: no MARC-8 form"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// canonicalMARC8 are MARC-8 values in the form UTF8ToMARC8 writes: reading
// them as UTF-8 and writing them back gives the same bytes.
var canonicalMARC8 = []string{
	"Dvo\xe9r\xe2ak, Anton\xe2in, 1841-1904.",
	"K\xb2benhavn : Gyldendal, \xc31999.",
	"Vi\xf2\xe3et Nam / \xebT\xecSentral\xa7nyi",
	"\x88The\x89 Beatles",
	"\xfan\xfbg \xe1\xbc \xac",
	m8Esc + "ga" + m8Esc + "s-particles and H" + m8Esc + "b2" + m8Esc + "sO at 10" + m8Esc + "p-3 " + m8Esc + "sK",
	m8Esc + "(NwOJNA I MIR / l. n. tOLSTOJ" + m8Esc + "(B",
	m8Esc + "(2AMylEem" + m8Esc + "(B",
	m8Esc + "(3GnH " + m8Esc + "(Band " + m8Esc + "(41" + m8Esc + "(B",
	m8Esc + "(S%Ak$jpal" + m8Esc + "(B",
	m8Esc + "$1!0d !0!" + m8Esc + "(B",
	"Mixed " + m8Esc + "(NI, " + m8Esc + "(2y, " + m8Esc + "$1!0d" + m8Esc + "(B.",
	m8Esc + "(QDA" + m8Esc + "(B",
	"\xe2 x",
}

func TestMARC8RoundTripCanonical(t *testing.T) {
	for _, m := range canonicalMARC8 {
		u, err := MARC8StringToUTF8(nil, m)
		if err != nil {
			t.Errorf("MARC8StringToUTF8(%q): %v", m, err)
			continue
		}
		back, err := UTF8ToMARC8(nil, u)
		if err != nil {
			t.Errorf("UTF8ToMARC8(%+q): %v", u, err)
			continue
		}
		if string(back) != m {
			t.Errorf("round trip of %q gave %q (via %+q)", m, back, u)
		}
	}
}

// TestMARC8EveryCharacterRoundTrips reads every character of every set of
// the code table and checks that writing it back as MARC-8 and reading that
// again gives the same Unicode.
func TestMARC8EveryCharacterRoundTrips(t *testing.T) {
	check := func(m string) {
		t.Helper()
		u, err := MARC8StringToUTF8(nil, m)
		if err != nil {
			t.Errorf("MARC8StringToUTF8(%q): %v", m, err)
			return
		}
		back, err := UTF8ToMARC8(nil, u)
		if err != nil {
			t.Errorf("UTF8ToMARC8(%+q) from %q: %v", u, m, err)
			return
		}
		u2, err := MARC8ToUTF8(nil, back)
		if err != nil || !bytes.Equal(u, u2) {
			t.Errorf("%q -> %+q -> %q -> %+q, %v", m, u, back, u2, err)
		}
	}
	intro := [numMARC8Sets]string{
		setASCII: "", setANSEL: m8Esc + "(!E", setGreekSymbols: m8Esc + "g", setSubscripts: m8Esc + "b",
		setSuperscripts: m8Esc + "p", setHebrew: m8Esc + "(2", setCyrillic: m8Esc + "(N", setExtCyrillic: m8Esc + "(Q",
		setArabic: m8Esc + "(3", setExtArabic: m8Esc + "(4", setGreek: m8Esc + "(S",
	}
	n := 0
	for set := setASCII; set < setEACC; set++ {
		for b, v := range marc8Single[set] {
			if v == 0 || b < 0x21 {
				continue
			}
			m := intro[set] + string(rune(b))
			if v&m8Combining != 0 {
				m += m8Esc + "(Bo"
			}
			check(m)
			// The same character from G1.
			if set != setEACC && set != setGreekSymbols && set != setSubscripts && set != setSuperscripts {
				g1 := m8Esc + ")" + string(marc8Finals[set]) + string([]byte{byte(b) | 0x80})
				if v&m8Combining != 0 {
					g1 += "o"
				}
				check(g1)
			}
			n++
		}
	}
	for _, c := range eaccCodes {
		check(m8Esc + "$1" + string([]byte{byte(c >> 16), byte(c >> 8), byte(c)}))
		n++
	}
	if n < 16000 {
		t.Errorf("checked %d characters, want the whole code table (over 16,000)", n)
	}
}

func TestMARC8EACCDuplicatesReadAlike(t *testing.T) {
	// 0x213057 is called a variant of 0x4B3057; both read as U+4E99 and
	// U+4E99 is written as the latter.
	for _, m := range []string{m8Esc + "$1!0W", m8Esc + "$1K0W"} {
		u, err := MARC8StringToUTF8(nil, m)
		if err != nil || string(u) != "\u4e99" {
			t.Errorf("%q = %+q, %v; want U+4E99", m, u, err)
		}
	}
}

func TestMARC8SetNamesAndFinalsCoverEverySet(t *testing.T) {
	for set := setASCII; set < numMARC8Sets; set++ {
		if marc8SetNames[set] == "" {
			t.Errorf("set %d has no name", set)
		}
		if fin := marc8Finals[set]; fin != 0 {
			got, g1, ok := marc8Designation("(", fin)
			if set == setEACC {
				got, g1, ok = marc8Designation("$", fin)
			}
			if !ok || g1 || got != set {
				t.Errorf("escape for set %s does not designate it", marc8SetNames[set])
			}
		}
	}
	if !strings.Contains(marc8SetNames[setEACC], "EACC") {
		t.Error("EACC set misnamed")
	}
}

func TestMARC8ASCIIRun(t *testing.T) {
	for c := 0; c < 256; c++ {
		for p := 0; p < 19; p++ {
			buf := []byte(strings.Repeat("a", 19))
			buf[p] = byte(c)
			want := p
			if c >= 0x20 && c <= 0x7E {
				want = len(buf)
			}
			for start := 0; start <= p; start++ {
				if got := m8ASCIIRun(buf, start); got != want {
					t.Fatalf("run of %q from %d = %d, want %d", buf, start, got, want)
				}
				if got := m8ASCIIRun(string(buf), start); got != want {
					t.Fatalf("run of string %q from %d = %d, want %d", buf, start, got, want)
				}
			}
		}
	}
}
