package marc

//go:generate go run ./internal/marc8gen

// MARC-8 is the character coding of MARC 21 records whose leader/09 is
// blank: ISO 2022-style escape sequences switch a G0 set (bytes 0x21-0x7E)
// and a G1 set (bytes 0xA1-0xFE) among the graphic character sets of the
// Library of Congress code table, and non-spacing marks precede the
// character they modify (Unicode puts them after it).
//
// Every value (a control field, or one subfield of a data field) starts with
// the default sets, G0 = ASCII and G1 = ANSEL, as yaz and the MARC 21
// specification do; an escape sequence lasts until another one or the end
// of the value. The escape sequences understood are:
//
//	ESC ( F, ESC , F         designate F as G0
//	ESC ) F, ESC - F         designate F as G1
//	ESC $ 1, ESC $ ( 1, ESC $ , 1    EACC as G0
//	ESC $ ) 1, ESC $ - 1     EACC as G1
//	ESC g, ESC b, ESC p      Greek symbols, subscripts, superscripts as G0
//	ESC s                    ASCII as G0
//
// with F one of B (ASCII), E or !E (ANSEL), 2 (Basic Hebrew), N (Basic
// Cyrillic), Q (Extended Cyrillic), 3 (Basic Arabic), 4 (Extended Arabic)
// and S (Basic Greek). The conversion tables are generated from the code
// table by internal/marc8gen (see marc8_tables.go).

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalidMARC8 is matched (with errors.Is) by every *MARC8Error: the
// value holds bytes that are not MARC-8 text.
var ErrInvalidMARC8 = errors.New("invalid MARC-8")

// ErrNoMARC8Form is matched (with errors.Is) by every *MARC8EncodeError: the
// UTF-8 value holds a character that MARC-8 cannot express, or is not valid
// UTF-8.
var ErrNoMARC8Form = errors.New("no MARC-8 form")

// ErrUnknownCharCoding is reported by ToUTF8 and ToMARC8 for a record whose
// leader/09 is neither blank (MARC-8) nor 'a' (UTF-8).
var ErrUnknownCharCoding = errors.New("unknown character coding in leader/09")

// MARC8Error reports bytes of a MARC-8 value that could not be converted to
// UTF-8. Offset is the position of the first offending byte within the value
// (a control field's data or one subfield's data, without the subfield code)
// and Bytes holds a copy of the offending bytes.
type MARC8Error struct {
	Offset int
	Bytes  []byte
	Reason string // what is wrong, e.g. "unknown escape sequence"
}

// Error describes the error, e.g.
// "invalid MARC-8 at offset 4 (bytes 1B 28 5A): unknown escape sequence".
func (e *MARC8Error) Error() string {
	return fmt.Sprintf("invalid MARC-8 at offset %d (bytes % X): %s", e.Offset, e.Bytes, e.Reason)
}

// Unwrap returns ErrInvalidMARC8.
func (e *MARC8Error) Unwrap() error { return ErrInvalidMARC8 }

// MARC8EncodeError reports a character of a UTF-8 value that could not be
// written as MARC-8. Offset is the byte offset of the character within the
// value; Rune is the character, or utf8.RuneError when the value is not
// valid UTF-8 there.
type MARC8EncodeError struct {
	Offset int
	Rune   rune
	Reason string // e.g. "no MARC-8 form"
}

// Error describes the error, e.g.
// "cannot write U+20AD at offset 3 as MARC-8: no MARC-8 form".
func (e *MARC8EncodeError) Error() string {
	if e.Rune == utf8.RuneError {
		return fmt.Sprintf("cannot write offset %d as MARC-8: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("cannot write U+%04X at offset %d as MARC-8: %s", e.Rune, e.Offset, e.Reason)
}

// Unwrap returns ErrNoMARC8Form.
func (e *MARC8EncodeError) Unwrap() error { return ErrNoMARC8Form }

// marc8SetNames are the code table's names of the sets, for messages.
var marc8SetNames = [numMARC8Sets]string{
	setASCII:        "ASCII",
	setANSEL:        "ANSEL",
	setGreekSymbols: "Greek symbols",
	setSubscripts:   "subscripts",
	setSuperscripts: "superscripts",
	setHebrew:       "Basic Hebrew",
	setCyrillic:     "Basic Cyrillic",
	setExtCyrillic:  "Extended Cyrillic",
	setArabic:       "Basic Arabic",
	setExtArabic:    "Extended Arabic",
	setGreek:        "Basic Greek",
	setEACC:         "EACC",
}

// marc8Finals are the final bytes of the escape sequences designating the
// technique 2 sets (ESC ( F); 0 for the technique 1 sets.
var marc8Finals = [numMARC8Sets]byte{
	setASCII:       'B',
	setANSEL:       'E',
	setHebrew:      '2',
	setCyrillic:    'N',
	setExtCyrillic: 'Q',
	setArabic:      '3',
	setExtArabic:   '4',
	setGreek:       'S',
	setEACC:        '1',
}

// marc8Designation interprets an escape sequence ESC inter final. It returns
// the set designated and whether it goes to G1; ok is false for a sequence
// MARC-8 does not define.
func marc8Designation[S ~string | ~[]byte](inter S, final byte) (set marc8Set, g1, ok bool) {
	switch len(inter) {
	case 0: // technique 1
		switch final {
		case 'g':
			return setGreekSymbols, false, true
		case 'b':
			return setSubscripts, false, true
		case 'p':
			return setSuperscripts, false, true
		case 's':
			return setASCII, false, true
		}
	case 1:
		switch inter[0] {
		case '(', ',':
			set, ok = marc8SingleByteFinal(final)
			return set, false, ok
		case ')', '-':
			set, ok = marc8SingleByteFinal(final)
			return set, true, ok
		case '$':
			return setEACC, false, final == '1'
		}
	case 2:
		switch {
		case inter[1] == '!' && final == 'E': // ANSEL's registered form
			switch inter[0] {
			case '(', ',':
				return setANSEL, false, true
			case ')', '-':
				return setANSEL, true, true
			}
		case inter[0] == '$' && final == '1':
			switch inter[1] {
			case '(', ',':
				return setEACC, false, true
			case ')', '-':
				return setEACC, true, true
			}
		}
	}
	return 0, false, false
}

// marc8SingleByteFinal maps the final byte of a technique 2 escape sequence
// to its set. ANSEL is accepted without its '!' as yaz does.
func marc8SingleByteFinal(final byte) (marc8Set, bool) {
	switch final {
	case 'B':
		return setASCII, true
	case 'E':
		return setANSEL, true
	case '2':
		return setHebrew, true
	case 'N':
		return setCyrillic, true
	case 'Q':
		return setExtCyrillic, true
	case '3':
		return setArabic, true
	case '4':
		return setExtArabic, true
	case 'S':
		return setGreek, true
	}
	return 0, false
}

// eaccLookup returns the Unicode form of the EACC character with the given
// three bytes (high bits cleared).
func eaccLookup(b1, b2, b3 byte) (rune, bool) {
	if b1 < 0x20 || b1 > 0x7F {
		return 0, false
	}
	key := uint32(b1)<<16 | uint32(b2)<<8 | uint32(b3)
	lo, hi := int(eaccStart[b1-0x20]), int(eaccStart[b1-0x20+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := eaccCodes[m]; {
		case c == key:
			return eaccRunes[m], true
		case c < key:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}
