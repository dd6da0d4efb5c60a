package marc

import (
	"fmt"
	"strconv"
)

// ConvertError reports a value of a record that could not be converted
// between MARC-8 and UTF-8, or a leader whose character coding (leader/09)
// is neither blank nor 'a'.
type ConvertError struct {
	Tag      string // the field's tag; "LDR" for the leader
	Field    int    // index in Record.Fields; -1 for the leader
	Subfield int    // index in Field.Subfields; -1 for a control field's value or the leader
	Code     byte   // the subfield's code; 0 when Subfield is -1
	Err      error  // a *MARC8Error, a *MARC8EncodeError, or an error matching ErrUnknownCharCoding
}

// Error names the place and the problem, e.g.
// "field 245 $a: invalid MARC-8 at offset 3 (bytes C9): byte 0xC9 is not in ANSEL (G1)".
func (e *ConvertError) Error() string {
	switch {
	case e.Field < 0:
		return "leader/09: " + e.Err.Error()
	case e.Subfield < 0:
		return "field " + m8Printable(e.Tag) + ": " + e.Err.Error()
	default:
		return "field " + m8Printable(e.Tag) + " $" + m8Printable(string(e.Code)) + ": " + e.Err.Error()
	}
}

// Unwrap returns Err.
func (e *ConvertError) Unwrap() error { return e.Err }

// m8Printable quotes s if it holds bytes that would garble a message.
func m8Printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return strconv.Quote(s)
		}
	}
	return s
}

// ToUTF8 returns a copy of r whose field data is in UTF-8, with leader/09
// set to 'a'. r itself is not changed, so the caller keeps the original.
//
// A record whose leader/09 is blank has every control field value and
// every subfield value converted from MARC-8 as MARC8ToUTF8 does (tags,
// indicators and subfield codes are ASCII in both); a record already in
// UTF-8 ('a') is returned as a plain copy. On the first value that cannot
// be converted, or for any other leader/09, it returns nil and a
// *ConvertError naming the field and subfield.
func ToUTF8(r *Record) (*Record, error) {
	c, problems := m8ConvertRecord(r, true, false)
	if len(problems) > 0 {
		return nil, problems[0]
	}
	return c, nil
}

// ToUTF8Lenient is ToUTF8 that always returns a record: bytes that cannot be
// converted become U+FFFD as in MARC8ToUTF8Lenient, a leader/09 other than
// blank or 'a' is taken to mean MARC-8, and every problem is listed with
// the field and subfield where it was found.
func ToUTF8Lenient(r *Record) (*Record, []*ConvertError) {
	return m8ConvertRecord(r, true, true)
}

// ToMARC8 returns a copy of r whose field data is in MARC-8, with leader/09
// set to blank, for systems that only take MARC-8. r itself is not
// changed.
//
// A record whose leader/09 is 'a' has every control field value and every
// subfield value converted as UTF8ToMARC8 does; a record already in MARC-8
// (blank) is returned as a plain copy. On the first character that MARC-8
// cannot express, or for any other leader/09, it returns nil and a
// *ConvertError naming the field and subfield.
func ToMARC8(r *Record) (*Record, error) {
	c, problems := m8ConvertRecord(r, false, false)
	if len(problems) > 0 {
		return nil, problems[0]
	}
	return c, nil
}

// ToMARC8Lenient is ToMARC8 that always returns a record: characters that
// MARC-8 cannot express are written as numeric character references
// (&#xXXXX;) as in UTF8ToMARC8Lenient, a leader/09 other than blank or 'a'
// is taken to mean UTF-8, and every problem is listed with the field and
// subfield where it was found.
func ToMARC8Lenient(r *Record) (*Record, []*ConvertError) {
	return m8ConvertRecord(r, false, true)
}

// m8ConvertRecord implements the four record conversions. In strict mode it
// stops at the first problem and returns a nil record with it.
func m8ConvertRecord(r *Record, toUTF8, lenient bool) (*Record, []*ConvertError) {
	from, to := byte(' '), byte('a')
	if !toUTF8 {
		from, to = to, from
	}
	coding := r.Leader[CharCodingPos]
	if coding == to {
		return r.Clone(), nil
	}
	var problems []*ConvertError
	if coding != from {
		p := &ConvertError{Tag: "LDR", Field: -1, Subfield: -1,
			Err: fmt.Errorf("%w: %q", ErrUnknownCharCoding, coding)}
		if !lenient {
			return nil, []*ConvertError{p}
		}
		problems = append(problems, p)
	}
	c := r.Clone()
	c.Leader[CharCodingPos] = to

	// Values that are plain ASCII are the same in both codings and are
	// shared with r. The others are converted into one buffer that becomes
	// one string, sliced into the copy's values at the end.
	type pending struct {
		v          *string
		start, end int
	}
	var pendBuf [16]pending
	pend := pendBuf[:0]
	var buf []byte
	convert := func(v *string, field, sub int, code byte) bool {
		if m8PlainASCII(*v) {
			return true
		}
		start := len(buf)
		var err error
		switch {
		case toUTF8 && lenient:
			var errs []*MARC8Error
			buf, errs = MARC8StringToUTF8Lenient(buf, *v, nil)
			for _, e := range errs {
				problems = append(problems, &ConvertError{Field: field, Subfield: sub, Code: code, Err: e})
			}
		case toUTF8:
			buf, err = MARC8StringToUTF8(buf, *v)
		case lenient:
			e := m8Encoder{dst: buf, lenient: true}
			encodeMARC8(&e, *v)
			buf = e.dst
			for _, err := range e.errs {
				problems = append(problems, &ConvertError{Field: field, Subfield: sub, Code: code, Err: err})
			}
		default:
			e := m8Encoder{dst: buf}
			if err = encodeMARC8(&e, *v); err == nil {
				buf = e.dst
			}
		}
		if err != nil {
			problems = append(problems, &ConvertError{Field: field, Subfield: sub, Code: code, Err: err})
			return false
		}
		pend = append(pend, pending{v, start, len(buf)})
		return true
	}
	for i := range c.Fields {
		f := &c.Fields[i]
		n := len(problems)
		ok := convert(&f.Value, i, -1, 0)
		for j := 0; ok && j < len(f.Subfields); j++ {
			ok = convert(&f.Subfields[j].Value, i, j, f.Subfields[j].Code)
		}
		for _, p := range problems[n:] {
			p.Tag = f.Tag
		}
		if !ok {
			return nil, problems
		}
	}
	if len(pend) > 0 {
		s := string(buf)
		for _, p := range pend {
			*p.v = s[p.start:p.end]
		}
	}
	return c, problems
}

// m8PlainASCII reports whether s holds only ASCII graphic characters and
// spaces, which read the same in MARC-8 and UTF-8.
func m8PlainASCII(s string) bool { return m8ASCIIRun(s, 0) == len(s) }
