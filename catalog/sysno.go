package catalog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSystemNumber is the largest system number: nine digits, as the
// library's system (Aleph style, "000123456") writes them.
const MaxSystemNumber SystemNumber = 999_999_999

// sysnoDigits is how many digits a formatted system number has.
const sysnoDigits = 9

// ErrBadSystemNumber is returned (wrapped) by ParseSystemNumber for text
// that is not a system number.
var ErrBadSystemNumber = errors.New("not a system number")

// SystemNumber identifies a catalog record. Numbers are allocated in
// increasing order from 1 (or Options.FirstSystemNumber) and never given
// to another record, even after the record is marked deleted. The zero
// value means "no record".
type SystemNumber int64

// String returns n as nine digits, zero-padded: "000000042", the form
// replies, the export log and the reply's 035 use.
func (n SystemNumber) String() string {
	var b [sysnoDigits]byte
	v := int64(n)
	if v < 0 || v > int64(MaxSystemNumber) {
		return strconv.FormatInt(v, 10)
	}
	for i := sysnoDigits - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}

// Display returns n as catalogers see it: prefixed by the library code
// and a space ("HVD01 000000042"), or the nine digits alone when code is
// empty.
func (n SystemNumber) Display(code string) string {
	if code == "" {
		return n.String()
	}
	return code + " " + n.String()
}

// ParseSystemNumber reads a system number written in any of the forms
// people and records use: bare digits ("42", "000000042"), with the
// library code before it ("HVD01 000000042", "HVD01-000000042",
// "HVD01000000042"), or in the 035 form "(HVD01)000000042". The code is
// matched without regard to case and only when code is not empty;
// surrounding blanks are ignored. It returns an error wrapping
// ErrBadSystemNumber for anything else, including 0, numbers of more than
// nine digits and another library's code.
func ParseSystemNumber(s, code string) (SystemNumber, error) {
	t := strings.TrimSpace(s)
	if code != "" {
		switch {
		case len(t) > len(code)+2 && t[0] == '(' && strings.EqualFold(t[1:1+len(code)], code) && t[1+len(code)] == ')':
			t = t[len(code)+2:]
		case len(t) > len(code) && strings.EqualFold(t[:len(code)], code):
			t = strings.TrimLeft(t[len(code):], " -")
		}
	}
	t = strings.TrimSpace(t)
	if t == "" || len(t) > 18 {
		return 0, fmt.Errorf("%w: %q", ErrBadSystemNumber, s)
	}
	var v int64
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadSystemNumber, s)
		}
		v = v*10 + int64(c-'0')
	}
	if v == 0 || v > int64(MaxSystemNumber) {
		return 0, fmt.Errorf("%w: %q is out of range 1-%d", ErrBadSystemNumber, s, int64(MaxSystemNumber))
	}
	return SystemNumber(v), nil
}
