package main

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"go/format"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// singleByteSets lists the 94-character graphic sets of MARC-8 in the order
// of package marc's marc8Set constants, by the ISOcode attribute of their
// <characterSet> element. The order is also the encoder's preference when a
// character exists in several sets. EACC (ISOcode 31) follows them.
var singleByteSets = []struct{ iso, ident, name string }{
	{"42", "setASCII", "Basic Latin (ASCII)"},
	{"45", "setANSEL", "Extended Latin (ANSEL)"},
	{"67", "setGreekSymbols", "Greek symbols"},
	{"62", "setSubscripts", "Subscripts"},
	{"70", "setSuperscripts", "Superscripts"},
	{"32", "setHebrew", "Basic Hebrew"},
	{"4E", "setCyrillic", "Basic Cyrillic"},
	{"51", "setExtCyrillic", "Extended Cyrillic"},
	{"33", "setArabic", "Basic Arabic"},
	{"34", "setExtArabic", "Extended Arabic"},
	{"53", "setGreek", "Basic Greek"},
}

const eaccISO = "31"

// Flags of a single-byte table entry; the low 21 bits hold the rune.
const (
	flagCombining = 1 << 31 // the character is a non-spacing mark
	flagNoUnicode = 1 << 30 // the character has no Unicode form of its own
)

type xmlCode struct {
	Combining string `xml:"isCombining"`
	MARC      string `xml:"marc"`
	UCS       string `xml:"ucs"`
	Alt       string `xml:"alt"`
	AltUTF8   string `xml:"altutf-8"`
	Name      string `xml:"name"`
}

type xmlSet struct {
	Name      string    `xml:"name,attr"`
	ISO       string    `xml:"ISOcode,attr"`
	Codes     []xmlCode `xml:"code"`
	Groupings []struct {
		Codes []xmlCode `xml:"code"`
	} `xml:"grouping"`
}

type xmlTables struct {
	Tables []struct {
		Sets []xmlSet `xml:"characterSet"`
	} `xml:"codeTable"`
}

// entry is one character of the code table, decoded.
type entry struct {
	set       int    // index into singleByteSets, or len(singleByteSets) for EACC
	code      uint32 // MARC-8 bytes, big-endian (1 or 3 bytes)
	r         rune   // primary Unicode mapping; -1 when there is none
	alt       rune   // alternative Unicode mapping; -1 when there is none
	combining bool
	variant   bool // the table calls it a variant or duplicate of another code
}

// tables is everything the generator learned from the code table.
type tables struct {
	single [][128]uint32
	eacc   []entry // sorted by code
	all    []entry
}

// Generate returns the Go source of marc8_tables.go for the code table data.
func Generate(data []byte) ([]byte, error) {
	t, err := parse(data)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := emit(&b, t); err != nil {
		return nil, err
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format generated source: %w", err)
	}
	return src, nil
}

func parseHexRune(s string) (rune, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return -1, nil
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
		return 0, fmt.Errorf("bad code point %q", s)
	}
	return rune(v), nil
}

func parse(data []byte) (*tables, error) {
	var x xmlTables
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("parse code table: %w", err)
	}
	bySet := map[string][]xmlCode{}
	for _, tbl := range x.Tables {
		for _, s := range tbl.Sets {
			codes := slices.Clone(s.Codes)
			for _, g := range s.Groupings {
				codes = append(codes, g.Codes...)
			}
			if _, dup := bySet[s.ISO]; dup {
				return nil, fmt.Errorf("character set %s appears twice", s.ISO)
			}
			bySet[s.ISO] = codes
		}
	}
	t := &tables{single: make([][128]uint32, len(singleByteSets))}
	for i, s := range singleByteSets {
		codes, ok := bySet[s.iso]
		if !ok {
			return nil, fmt.Errorf("character set %s (%s) missing", s.iso, s.name)
		}
		for _, c := range codes {
			e, err := decodeEntry(i, c, 1)
			if err != nil {
				return nil, fmt.Errorf("set %s: %w", s.iso, err)
			}
			if e.code < 0x20 {
				// ESC and the ISO 2709 separators are listed with ASCII;
				// they are C0 controls, not graphic characters, and the
				// converter handles them by their byte value.
				continue
			}
			idx := e.code & 0x7F
			if t.single[i][idx] != 0 {
				return nil, fmt.Errorf("set %s: code %02X appears twice", s.iso, e.code)
			}
			v := uint32(0)
			if e.r >= 0 {
				v = uint32(e.r)
			} else if e.alt >= 0 && e.combining {
				v = flagNoUnicode
			} else {
				return nil, fmt.Errorf("set %s: code %02X has no Unicode mapping", s.iso, e.code)
			}
			if e.combining {
				v |= flagCombining
			}
			if v == 0 {
				return nil, fmt.Errorf("set %s: code %02X maps to U+0000", s.iso, e.code)
			}
			t.single[i][idx] = v
			t.all = append(t.all, e)
		}
	}
	codes, ok := bySet[eaccISO]
	if !ok {
		return nil, errors.New("character set 31 (EACC) missing")
	}
	for _, c := range codes {
		e, err := decodeEntry(len(singleByteSets), c, 3)
		if err != nil {
			return nil, fmt.Errorf("set 31: %w", err)
		}
		if e.r < 0 || e.combining {
			return nil, fmt.Errorf("set 31: code %06X: unexpected mapping", e.code)
		}
		t.eacc = append(t.eacc, e)
		t.all = append(t.all, e)
	}
	slices.SortFunc(t.eacc, func(a, b entry) int { return int(a.code) - int(b.code) })
	for i := 1; i < len(t.eacc); i++ {
		if t.eacc[i].code == t.eacc[i-1].code {
			return nil, fmt.Errorf("set 31: code %06X appears twice", t.eacc[i].code)
		}
	}
	return t, nil
}

func decodeEntry(set int, c xmlCode, width int) (entry, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(c.MARC))
	if err != nil || len(raw) != width {
		return entry{}, fmt.Errorf("bad MARC-8 code %q", c.MARC)
	}
	e := entry{set: set, combining: strings.TrimSpace(c.Combining) == "true"}
	for _, b := range raw {
		e.code = e.code<<8 | uint32(b)
	}
	if e.r, err = parseHexRune(c.UCS); err != nil {
		return entry{}, fmt.Errorf("code %X: %w", e.code, err)
	}
	if e.alt, err = parseHexRune(c.Alt); err != nil {
		return entry{}, fmt.Errorf("code %X: alt: %w", e.code, err)
	}
	if e.alt < 0 && strings.TrimSpace(c.AltUTF8) != "" {
		b, err := hex.DecodeString(strings.TrimSpace(c.AltUTF8))
		r, n := utf8.DecodeRune(b)
		if err != nil || r == utf8.RuneError || n != len(b) {
			return entry{}, fmt.Errorf("code %X: bad altutf-8 %q", e.code, c.AltUTF8)
		}
		e.alt = r
	}
	name := strings.ToLower(c.Name)
	e.variant = strings.Contains(name, "variant") || strings.Contains(name, "duplicate")
	return e, nil
}

// reverseInfo is what the generator needs to know about the UTF-8 to MARC-8
// direction: which runes have a MARC-8 form and which of those are marks.
type reverseInfo struct {
	direct    map[rune]bool // rune has a MARC-8 form (primary or accepted alternative)
	combining map[rune]bool // rune is a MARC-8 non-spacing mark
	alts      []entry       // alternative mappings accepted for UTF-8 to MARC-8
	preferred []entry       // for EACC runes with several codes: the code to write
}

func reverse(t *tables) reverseInfo {
	ri := reverseInfo{direct: map[rune]bool{}, combining: map[rune]bool{}}
	for _, e := range t.all {
		if e.r < 0 {
			continue
		}
		ri.direct[e.r] = true
		if e.combining {
			ri.combining[e.r] = true
		}
	}
	altCount := map[rune]int{}
	for _, e := range t.all {
		if e.alt >= 0 {
			altCount[e.alt]++
		}
	}
	for _, e := range t.all {
		if e.alt >= 0 && altCount[e.alt] == 1 && !ri.direct[e.alt] {
			ri.alts = append(ri.alts, e)
		}
	}
	for _, e := range ri.alts {
		ri.direct[e.alt] = true
		if e.combining {
			ri.combining[e.alt] = true
		}
	}
	slices.SortFunc(ri.alts, func(a, b entry) int { return int(a.alt) - int(b.alt) })

	byRune := map[rune][]entry{}
	for _, e := range t.eacc {
		byRune[e.r] = append(byRune[e.r], e)
	}
	for _, es := range byRune {
		if len(es) < 2 {
			continue
		}
		best := es[0]
		for _, e := range es[1:] {
			if (best.variant && !e.variant) || (best.variant == e.variant && e.code < best.code) {
				best = e
			}
		}
		ri.preferred = append(ri.preferred, best)
	}
	slices.SortFunc(ri.preferred, func(a, b entry) int { return int(a.r) - int(b.r) })
	return ri
}

type decomposition struct {
	r rune
	d []rune
}

type composition struct{ base, mark, r rune }

// decompositions returns the pairs that NFD input needs composed, and the
// decompositions of the runes that have no MARC-8 form of their own.
//
// A composition is recorded for every precomposed rune with a MARC-8 form
// whose canonical decomposition is a base and a mark that MARC-8 lacks
// (O + U+031B COMBINING HORN is Ơ, ANSEL 0xAC).
//
// A decomposition is recorded for every rune without a MARC-8 form whose
// canonical decomposition, after composing such pairs, is a rune with a
// MARC-8 form followed only by MARC-8 non-spacing marks: é is e + U+0301,
// and ờ is ơ + U+0300 (NFD would give o + U+031B + U+0300). The result is
// always canonically equivalent to the rune.
func decompositions(ri reverseInfo) ([]decomposition, []composition) {
	var decs []decomposition
	var comps []composition
	compose := map[[2]rune]rune{}
	each := func(f func(r rune, d []rune)) {
		for r := rune(0); r <= utf8.MaxRune; r++ {
			if r >= 0xD800 && r <= 0xDFFF {
				continue
			}
			if s := string(r); !norm.NFD.IsNormalString(s) {
				f(r, []rune(norm.NFD.String(s)))
			}
		}
	}
	each(func(r rune, d []rune) {
		if ri.direct[r] && !ri.combining[r] && len(d) == 2 && !ri.direct[d[1]] && unicode.Is(unicode.Mn, d[1]) {
			comps = append(comps, composition{d[0], d[1], r})
			compose[[2]rune{d[0], d[1]}] = r
		}
	})
	each(func(r rune, d []rune) {
		if ri.direct[r] {
			return
		}
		base, marks := d[0], []rune{}
		for _, m := range d[1:] {
			switch c, ok := compose[[2]rune{base, m}]; {
			case ri.combining[m]:
				marks = append(marks, m)
			case ok:
				base = c
			default:
				return
			}
		}
		if ri.direct[base] {
			decs = append(decs, decomposition{r, append([]rune{base}, marks...)})
		}
	})
	return decs, comps
}

func emit(b *bytes.Buffer, t *tables) error {
	ri := reverse(t)
	decs, comps := decompositions(ri)

	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("// Code generated by marc8gen from internal/marc8gen/codetables.xml; DO NOT EDIT.\n\n")
	p("package marc\n\n")
	p("// marc8Set identifies one graphic character set of MARC-8.\n")
	p("type marc8Set uint8\n\n")
	p("// The MARC-8 graphic character sets, in the encoder's order of preference.\n")
	p("const (\n")
	for i, s := range singleByteSets {
		if i == 0 {
			p("\t%s marc8Set = iota // %s, ISOcode %s\n", s.ident, s.name, s.iso)
		} else {
			p("\t%s // %s, ISOcode %s\n", s.ident, s.name, s.iso)
		}
	}
	p("\tsetEACC // East Asian (EACC), ISOcode %s, three bytes per character\n", eaccISO)
	p("\tnumMARC8Sets\n")
	p(")\n\n")
	p("// marc8Code is one character of a MARC-8 set: its Unicode form, its set and\n")
	p("// its bytes (big-endian; three bytes for EACC, one otherwise).\n")
	p("type marc8Code struct {\n\tr    rune\n\tset  marc8Set\n\tcode uint32\n}\n\n")
	p("// marc8Decomposition is the canonical decomposition d of rune r.\n")
	p("type marc8Decomposition struct {\n\tr rune\n\td string\n}\n\n")
	p("// marc8Composition says that base followed by mark is canonically r.\n")
	p("type marc8Composition struct{ base, mark, r rune }\n\n")
	p("// Flags of a marc8Single entry; the low 21 bits hold the rune and an\n")
	p("// entry of 0 means the byte is not part of the set.\n")
	p("const (\n")
	p("\tm8Combining = 1 << 31 // a non-spacing mark: precedes its base in MARC-8\n")
	p("\tm8NoUnicode = 1 << 30 // second half of a double diacritic: no Unicode form of its own\n")
	p("\tm8RuneMask  = 1<<21 - 1\n")
	p(")\n\n")

	p("// marc8Single maps a byte of a single-byte set, with its high bit cleared,\n")
	p("// to its Unicode form and flags.\n")
	p("var marc8Single = [setEACC][128]uint32{\n")
	for i, s := range singleByteSets {
		p("\t%s: {\n", s.ident)
		n := 0
		for idx, v := range t.single[i] {
			if v == 0 {
				continue
			}
			if n%6 == 0 {
				p("\t\t")
			}
			p("0x%02X: 0x%08X,", idx, v)
			n++
			if n%6 == 0 {
				p("\n")
			} else {
				p(" ")
			}
		}
		if n%6 != 0 {
			p("\n")
		}
		p("\t},\n")
	}
	p("}\n\n")

	p("// eaccCodes lists the %d EACC characters by their three bytes (big-endian), sorted;\n", len(t.eacc))
	p("// eaccRunes holds their Unicode forms at the same index.\n")
	p("var eaccCodes = [%d]uint32{\n", len(t.eacc))
	for i, e := range t.eacc {
		if i%8 == 0 {
			p("\t")
		}
		p("0x%06X,", e.code)
		if i%8 == 7 || i == len(t.eacc)-1 {
			p("\n")
		} else {
			p(" ")
		}
	}
	p("}\n\n")
	p("var eaccRunes = [%d]rune{\n", len(t.eacc))
	for i, e := range t.eacc {
		if i%8 == 0 {
			p("\t")
		}
		p("0x%04X,", e.r)
		if i%8 == 7 || i == len(t.eacc)-1 {
			p("\n")
		} else {
			p(" ")
		}
	}
	p("}\n\n")
	p("// eaccStart[b-0x20] is the index in eaccCodes of the first character whose\n")
	p("// first byte is b or more, for b from 0x20 to 0x80.\n")
	p("var eaccStart = [97]uint16{\n\t")
	for b := 0x20; b <= 0x80; b++ {
		idx, _ := slices.BinarySearchFunc(t.eacc, uint32(b)<<16, func(e entry, k uint32) int { return int(e.code) - int(k) })
		p("%d,", idx)
		if (b-0x20)%12 == 11 {
			p("\n\t")
		} else {
			p(" ")
		}
	}
	p("\n}\n\n")

	p("// eaccPreferred gives, for each rune that several EACC codes map to, the\n")
	p("// code written for it: one the code table does not call a variant or\n")
	p("// duplicate, the lowest of those.\n")
	p("var eaccPreferred = [...]marc8Code{\n")
	for _, e := range ri.preferred {
		p("\t{0x%04X, setEACC, 0x%06X},\n", e.r, e.code)
	}
	p("}\n\n")

	p("// marc8Alternatives are the code table's alternative Unicode mappings that\n")
	p("// are accepted when writing MARC-8 (each names a single code and no rune\n")
	p("// with a primary mapping). Reading MARC-8 always yields the primary mapping.\n")
	p("var marc8Alternatives = [...]marc8Code{\n")
	for _, e := range ri.alts {
		p("\t{0x%04X, %s, 0x%02X},\n", e.alt, singleByteIdent(e.set), e.code)
	}
	p("}\n\n")

	p("// marc8Decompositions lists, sorted, the runes that have no MARC-8 form of\n")
	p("// their own but are canonically equivalent to a rune that has one followed\n")
	p("// by MARC-8 non-spacing marks (Unicode %s).\n", norm.Version)
	p("var marc8Decompositions = [...]marc8Decomposition{\n")
	for _, d := range decs {
		p("\t{0x%04X, %s},\n", d.r, strconv.QuoteToASCII(string(d.d)))
	}
	p("}\n\n")

	p("// marc8Compositions lists the precomposed runes with a MARC-8 form whose\n")
	p("// canonical decomposition is a base and a mark that MARC-8 lacks, so that\n")
	p("// decomposed input (NFD) can still be written.\n")
	p("var marc8Compositions = [...]marc8Composition{\n")
	for _, c := range comps {
		p("\t{0x%04X, 0x%04X, 0x%04X},\n", c.base, c.mark, c.r)
	}
	p("}\n")
	return nil
}

func singleByteIdent(set int) string {
	if set < len(singleByteSets) {
		return singleByteSets[set].ident
	}
	return "setEACC"
}
