package marc

import (
	"sort"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

// UTF8ToMARC8 appends the MARC-8 form of the UTF-8 value src to dst and
// returns the extended buffer.
//
// Precomposed characters that MARC-8 lacks are written decomposed (é as
// ANSEL acute + e), each non-spacing mark is written before its base
// character in the order given, and escape sequences are chosen so that as
// few as possible are needed: a character already in the current G0 or G1
// set is written without one, and when a switch is needed the set that
// covers most of the text that follows is chosen. Greek symbols,
// subscripts and superscripts use technique 1 (ESC g, ESC b, ESC p, back
// with ESC s). The value ends with G0 back at ASCII (G1 is always ANSEL), so
// every value can be read on its own. U+0361 and U+0360 are written as the
// first half of the ligature or double tilde before the first character and
// the second half (0xEC, 0xFB) before the next one.
//
// A character with no MARC-8 form, a non-spacing mark with no character
// before it, a control character, or invalid UTF-8 makes it return dst
// unchanged and a *MARC8EncodeError giving the offset.
func UTF8ToMARC8(dst, src []byte) ([]byte, error) {
	e := m8Encoder{dst: dst}
	if err := encodeMARC8(&e, src); err != nil {
		return dst, err
	}
	return e.dst, nil
}

// UTF8ToMARC8Lenient is UTF8ToMARC8 that writes every character it cannot
// express as a numeric character reference in ASCII, &#xXXXX; with at least
// four upper-case hexadecimal digits, as the Library of Congress recommends
// for lossless conversion to MARC-8 (invalid UTF-8 becomes &#xFFFD;), and
// appends a *MARC8EncodeError for each to errs. A literal "&#x" already in
// the text is not escaped.
func UTF8ToMARC8Lenient(dst, src []byte, errs []*MARC8EncodeError) ([]byte, []*MARC8EncodeError) {
	e := m8Encoder{dst: dst, lenient: true, errs: errs}
	encodeMARC8(&e, src)
	return e.dst, e.errs
}

// m8Rev is what the encoder knows about one rune with a MARC-8 form.
type m8Rev struct {
	codes []marc8Code // the sets that hold it, in order of preference
	sets  uint16      // bit s is set when set s holds it
	comb  bool        // a non-spacing mark
}

// m8DenseLimit bounds the runes looked up by array index; those above it
// (EACC, mostly) are looked up in a map.
const m8DenseLimit = 0x3000

// m8RevTable is the UTF-8 to MARC-8 table.
type m8RevTable struct {
	dense  [m8DenseLimit]uint16 // 1 + index in revs; 0 when there is no MARC-8 form
	sparse map[rune]uint16
	revs   []m8Rev
}

// lookup returns what the table says about r, or nil when r has no MARC-8
// form of its own.
func (t *m8RevTable) lookup(r rune) *m8Rev {
	var k uint16
	if uint32(r) < m8DenseLimit {
		k = t.dense[r]
	} else {
		k = t.sparse[r]
	}
	if k == 0 {
		return nil
	}
	return &t.revs[k-1]
}

// marc8Reverse builds the UTF-8 to MARC-8 table from the generated MARC-8
// to UTF-8 tables on first use.
var marc8Reverse = sync.OnceValue(func() *m8RevTable {
	t := &m8RevTable{sparse: make(map[rune]uint16, len(eaccCodes)), revs: make([]m8Rev, 0, len(eaccCodes)+1024)}
	add := func(r rune, c marc8Code, comb bool) {
		k := t.dense[r&(m8DenseLimit-1)]
		if r >= m8DenseLimit {
			k = t.sparse[r]
		}
		if k == 0 {
			t.revs = append(t.revs, m8Rev{})
			k = uint16(len(t.revs))
			if r < m8DenseLimit {
				t.dense[r] = k
			} else {
				t.sparse[r] = k
			}
		}
		v := &t.revs[k-1]
		v.codes = append(v.codes, c)
		v.sets |= 1 << c.set
		v.comb = v.comb || comb
	}
	for set := setASCII; set < setEACC; set++ {
		for idx, v := range marc8Single[set] {
			if v == 0 || v&m8NoUnicode != 0 || (set != setANSEL && idx < 0x21) {
				continue // unmapped, second halves, space
			}
			r := rune(v & m8RuneMask)
			add(r, marc8Code{r: r, set: set, code: uint32(idx)}, v&m8Combining != 0)
		}
	}
	preferred := make(map[rune]uint32, len(eaccPreferred))
	for _, c := range eaccPreferred {
		preferred[c.r] = c.code
	}
	for k, code := range eaccCodes {
		r := eaccRunes[k]
		if p, dup := preferred[r]; dup && p != code {
			continue
		}
		add(r, marc8Code{r: r, set: setEACC, code: code}, false)
	}
	for _, c := range marc8Alternatives {
		c.code &= 0x7F
		add(c.r, c, marc8Single[c.set][c.code]&m8Combining != 0)
	}
	return t
})

// marc8Decompose looks up the MARC-8-expressible decomposition of r.
func marc8Decompose(r rune) (string, bool) {
	i := sort.Search(len(marc8Decompositions), func(i int) bool { return marc8Decompositions[i].r >= r })
	if i < len(marc8Decompositions) && marc8Decompositions[i].r == r {
		return marc8Decompositions[i].d, true
	}
	return "", false
}

// marc8Compose returns the precomposed rune with a MARC-8 form that base
// followed by mark is canonically equivalent to.
func marc8Compose(base, mark rune) (rune, bool) {
	for _, c := range marc8Compositions {
		if c.base == base && c.mark == mark {
			return c.r, true
		}
	}
	return 0, false
}

// m8Encoder is the output side of one UTF-8 to MARC-8 conversion.
type m8Encoder struct {
	dst     []byte
	lenient bool
	errs    []*MARC8EncodeError
	rev     *m8RevTable
	g0      marc8Set // G1 is always ANSEL
	second  byte     // second half of a double diacritic, due before the next character
}

// m8Mark is a non-spacing mark of a cluster and its offset in the source.
type m8Mark struct {
	r   rune
	off int
}

// m8DecodeRuneAt decodes the rune at src[i] from a string or a byte slice.
func m8DecodeRuneAt[S ~string | ~[]byte](src S, i int) (rune, int) {
	if src[i] < utf8.RuneSelf {
		return rune(src[i]), 1
	}
	var buf [utf8.UTFMax]byte
	return utf8.DecodeRune(buf[:copy(buf[:], src[i:])])
}

// isMark reports whether r is a non-spacing mark: one of MARC-8's, or a
// Unicode one (Mn, Me) that MARC-8 lacks.
func (e *m8Encoder) isMark(r rune) bool {
	if v := e.rev.lookup(r); v != nil {
		return v.comb
	}
	return r >= 0x300 && unicode.In(r, unicode.Mn, unicode.Me)
}

// encodeMARC8 converts src into e. It returns the first error in strict
// mode; in lenient mode it always returns nil.
func encodeMARC8[S ~string | ~[]byte](e *m8Encoder, src S) error {
	e.g0, e.second = setASCII, 0
	n := len(src)
	for i := 0; i < n; {
		if b := src[i]; b-0x20 < 0x5F && e.g0 == setASCII && e.second == 0 {
			// A run of ASCII graphic characters, except a last one that
			// non-spacing marks may follow.
			j := m8ASCIIRun(src, i+1)
			if j < n && src[j] >= 0x80 {
				j--
			}
			if j > i {
				e.dst = append(e.dst, src[i:j]...)
				i = j
				continue
			}
		}
		if e.rev == nil {
			e.rev = marc8Reverse()
		}
		var err *MARC8EncodeError
		if i, err = m8EncodeCluster(e, src, i); err != nil {
			return err
		}
	}
	e.second = 0
	e.switchTo(setASCII)
	return nil
}

// m8EncodeCluster writes the character at src[i] with the non-spacing marks
// that follow it and returns the index after them.
func m8EncodeCluster[S ~string | ~[]byte](e *m8Encoder, src S, i int) (int, *MARC8EncodeError) {
	r, size := m8DecodeRuneAt(src, i)
	if r == utf8.RuneError && size <= 1 {
		return i + 1, e.fail(i, utf8.RuneError, "invalid UTF-8 byte 0x"+strconv.FormatUint(uint64(src[i]), 16))
	}
	end := i + size
	var buf [8]m8Mark
	marks := buf[:0]
	for end < len(src) {
		m, msize := m8DecodeRuneAt(src, end)
		if !e.isMark(m) {
			break
		}
		marks = append(marks, m8Mark{m, end})
		end += msize
	}
	if e.second != 0 {
		e.dst = append(e.dst, e.second)
		e.second = 0
	}

	// Find the base character and the complete list of marks to write.
	base := r
	var plan [16]m8Mark
	pm := plan[:0]
	v := e.rev.lookup(r)
	switch {
	case r == ' ':
	case r < 0x20 || r == 0x7F:
		return end, e.failCluster(r, i, marks, "control character")
	case v != nil && !v.comb:
	case v != nil || e.isMark(r):
		return end, e.failCluster(r, i, marks, "non-spacing mark with no character before it")
	default:
		d, ok := marc8Decompose(r)
		if !ok {
			return end, e.failCluster(r, i, marks, "no MARC-8 form")
		}
		if first, _ := utf8.DecodeRuneInString(d); e.rev.lookup(first).comb {
			return end, e.failCluster(r, i, marks, "non-spacing mark with no character before it")
		}
		for k, dr := range d {
			if k == 0 {
				base = dr
			} else {
				pm = append(pm, m8Mark{dr, i})
			}
		}
	}
	var lost []m8Mark // marks with no MARC-8 form
	for _, m := range marks {
		if mv := e.rev.lookup(m.r); mv != nil && mv.comb {
			pm = append(pm, m)
			continue
		}
		if d, ok := marc8Decompose(m.r); ok && e.allMarks(d) {
			for _, dr := range d {
				pm = append(pm, m8Mark{dr, m.off})
			}
			continue
		}
		if c, ok := marc8Compose(base, m.r); ok {
			base = c
			continue
		}
		lost = append(lost, m)
	}
	if len(lost) > 0 && !e.lenient {
		return end, &MARC8EncodeError{Offset: lost[0].off, Rune: lost[0].r, Reason: "no MARC-8 form"}
	}

	// Choose the set for the base character first, so that marks in the
	// same set need no escape sequence of their own.
	var bc marc8Code
	if base != ' ' {
		bc = m8ChooseCode(e, e.rev.lookup(base).codes, src, end)
		if bc.set != setANSEL && bc.set != e.g0 {
			e.switchTo(bc.set)
		}
	}
	baseSet := e.g0
	for _, m := range pm {
		mc := m8ChooseCode(e, e.rev.lookup(m.r).codes, src, end)
		if mc.set != setANSEL && mc.set != e.g0 {
			e.switchTo(mc.set)
		}
		e.put(mc)
		if mc.set == setANSEL {
			switch mc.code | 0x80 {
			case 0xEB: // ligature, first half (U+0361)
				if m.r == 0x0361 {
					e.second = 0xEC
				}
			case 0xFA: // double tilde, first half (U+0360)
				if m.r == 0x0360 {
					e.second = 0xFB
				}
			}
		}
	}
	if base == ' ' {
		e.dst = append(e.dst, ' ')
	} else {
		if bc.set != setANSEL && e.g0 != baseSet {
			e.switchTo(baseSet)
		}
		e.put(bc)
	}
	for _, m := range lost {
		e.errs = append(e.errs, &MARC8EncodeError{Offset: m.off, Rune: m.r, Reason: "no MARC-8 form"})
		e.ncr(m.r)
	}
	return end, nil
}

// allMarks reports whether every rune of s is a MARC-8 non-spacing mark.
func (e *m8Encoder) allMarks(s string) bool {
	for _, r := range s {
		if v := e.rev.lookup(r); v == nil || !v.comb {
			return false
		}
	}
	return true
}

// current returns the code among codes that is in the current G0 set or,
// failing that, in G1 (ANSEL): one that needs no escape sequence.
func (e *m8Encoder) current(codes []marc8Code) (marc8Code, bool) {
	for _, c := range codes {
		if c.set == e.g0 {
			return c, true
		}
	}
	for _, c := range codes {
		if c.set == setANSEL {
			return c, true
		}
	}
	return marc8Code{}, false
}

// m8Lookahead bounds how many characters (marks included) m8ChooseCode
// examines per candidate set, which keeps conversion linear.
const m8Lookahead = 32

// m8ChooseCode picks the code to write for a rune held by the sets of codes:
// one that needs no escape sequence if there is one; otherwise the one
// whose set can also write the longest run of the characters from
// src[from:], the earlier in order of preference on a tie.
func m8ChooseCode[S ~string | ~[]byte](e *m8Encoder, codes []marc8Code, src S, from int) marc8Code {
	if c, ok := e.current(codes); ok {
		return c
	}
	best, bestRun := codes[0], -1
	for _, c := range codes {
		run := 0
		for k, seen := from, 0; k < len(src) && seen < m8Lookahead; seen++ {
			r, size := m8DecodeRuneAt(src, k)
			k += size
			if e.isMark(r) {
				continue
			}
			if !e.holds(c.set, r) {
				break
			}
			run++
		}
		if run > bestRun {
			best, bestRun = c, run
		}
	}
	return best
}

// holds reports whether G0 = set, with G1 = ANSEL, can write the base
// character r (or the base of its decomposition).
func (e *m8Encoder) holds(set marc8Set, r rune) bool {
	if r == ' ' {
		return true
	}
	v := e.rev.lookup(r)
	if v == nil {
		d, ok := marc8Decompose(r)
		if !ok {
			return false
		}
		r, _ = utf8.DecodeRuneInString(d)
		v = e.rev.lookup(r)
	}
	return v.sets&(1<<set|1<<setANSEL) != 0
}

// switchTo designates set as G0 with the shortest escape sequence.
func (e *m8Encoder) switchTo(set marc8Set) {
	if set == e.g0 {
		return
	}
	switch set {
	case setASCII:
		switch e.g0 {
		case setGreekSymbols, setSubscripts, setSuperscripts:
			e.dst = append(e.dst, 0x1B, 's')
		default:
			e.dst = append(e.dst, 0x1B, '(', 'B')
		}
	case setGreekSymbols:
		e.dst = append(e.dst, 0x1B, 'g')
	case setSubscripts:
		e.dst = append(e.dst, 0x1B, 'b')
	case setSuperscripts:
		e.dst = append(e.dst, 0x1B, 'p')
	case setEACC:
		e.dst = append(e.dst, 0x1B, '$', '1')
	default:
		e.dst = append(e.dst, 0x1B, '(', marc8Finals[set])
	}
	e.g0 = set
}

// put writes c, whose set is the current G0 set or ANSEL (G1).
func (e *m8Encoder) put(c marc8Code) {
	switch {
	case c.set == setEACC:
		e.dst = append(e.dst, byte(c.code>>16), byte(c.code>>8), byte(c.code))
	case c.set == setANSEL:
		e.dst = append(e.dst, byte(c.code)|0x80)
	default:
		e.dst = append(e.dst, byte(c.code))
	}
}

// ncr writes r as a numeric character reference in ASCII.
func (e *m8Encoder) ncr(r rune) {
	e.switchTo(setASCII)
	e.dst = append(e.dst, "&#x"...)
	hex := strconv.AppendUint(nil, uint64(r), 16)
	for range 4 - len(hex) {
		e.dst = append(e.dst, '0')
	}
	for _, h := range hex {
		if h >= 'a' {
			h -= 'a' - 'A'
		}
		e.dst = append(e.dst, h)
	}
	e.dst = append(e.dst, ';')
}

// fail reports the rune r at offset off. In lenient mode it writes r as a
// numeric character reference and returns nil.
func (e *m8Encoder) fail(off int, r rune, reason string) *MARC8EncodeError {
	err := &MARC8EncodeError{Offset: off, Rune: r, Reason: reason}
	if !e.lenient {
		return err
	}
	e.errs = append(e.errs, err)
	e.ncr(r)
	return nil
}

// failCluster reports the base character r at offset off that cannot be
// written; in lenient mode it writes it and its marks as numeric character
// references.
func (e *m8Encoder) failCluster(r rune, off int, marks []m8Mark, reason string) *MARC8EncodeError {
	if err := e.fail(off, r, reason); err != nil {
		return err
	}
	for _, m := range marks {
		if v := e.rev.lookup(m.r); v == nil || !v.comb {
			e.errs = append(e.errs, &MARC8EncodeError{Offset: m.off, Rune: m.r, Reason: "no MARC-8 form"})
		}
		e.ncr(m.r)
	}
	return nil
}
