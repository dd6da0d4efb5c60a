package marc

// Leader positions 10, 11, 20 and 21 describe the record's structure
// (indicator count, subfield code length, and the widths of a directory
// entry's length and starting position). MARC 21 fixes them at "22" and
// "45". Real records sometimes carry blanks or zeros there; like
// yaz-marcdump, this package then assumes MARC 21's values and keeps the
// byte as it is. A digit that is meaningful but different ("3" at
// leader/10) describes another structure and makes the record invalid.

// structRule is one structural leader position.
type structRule struct {
	pos    int
	want   byte // MARC 21's value
	lo, hi byte // digits yaz-marcdump would use as they are
	what   string
	yaz    string // the comment yaz-marcdump prints when it assumes want
}

var structRules = [...]structRule{
	{10, '2', '1', '9', "indicator count", "Indicator length at offset 10 should hold a number 1-9. Assuming 2"},
	// yaz-marcdump's message has the double space.
	{11, '2', '1', '9', "subfield code length", "Identifier length at offset 11 should  hold a number 1-9. Assuming 2"},
	{20, '4', '3', '9', "length of the length-of-field", "Length data entry at offset 20 should hold a number 3-9. Assuming 4"},
	{21, '5', '4', '9', "length of the starting-character-position", "Length starting at offset 21 should hold a number 4-9. Assuming 5"},
}

// yazImplementationNote is yaz-marcdump's comment for a non-digit at
// leader/22, which it replaces with '0'.
const yazImplementationNote = "Length implementation at offset 22 should hold a number. Assuming 0"

// contradicts reports whether c, at the rule's position, is a value that
// describes a structure other than MARC 21's.
func (s *structRule) contradicts(c byte) bool {
	return c != s.want && c >= s.lo && c <= s.hi
}

// yazLeader returns the leader as yaz-marcdump prints it and a bit set of
// the comments it prints first: bit i for structRules[i], bit 4 for
// leader/22. For a leader whose structural positions are MARC 21's values
// it returns the leader unchanged and no bits.
func yazLeader(l *Leader) (Leader, uint8) {
	fixed := *l
	var notes uint8
	for i := range structRules {
		s := &structRules[i]
		if c := l[s.pos]; c < s.lo || c > s.hi {
			fixed[s.pos] = s.want
			notes |= 1 << i
		}
	}
	if !isDigit(l[22]) {
		fixed[22] = '0'
		notes |= 1 << len(structRules)
	}
	return fixed, notes
}

// appendYazNotes appends yaz-marcdump's comments for the bits in notes,
// each between open and close.
func appendYazNotes(dst []byte, notes uint8, open, close string) []byte {
	for i := range structRules {
		if notes&(1<<i) != 0 {
			dst = append(dst, open...)
			dst = append(dst, structRules[i].yaz...)
			dst = append(dst, close...)
		}
	}
	if notes&(1<<len(structRules)) != 0 {
		dst = append(dst, open...)
		dst = append(dst, yazImplementationNote...)
		dst = append(dst, close...)
	}
	return dst
}
