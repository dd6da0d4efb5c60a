package gateway

import (
	"fmt"
	"strconv"
)

// AppendRequest appends to dst the request as a Connexion client sends it
// and returns the extended slice: the U, A and P fields that are not
// empty, in that order, then every record, then the NUL that ends the
// request. A field length uses the single-byte form (0x40 + n) when n <=
// 191, as the desktop client does, and decimal digits otherwise.
//
// What AppendRequest produces, Parser parses back to the same User,
// LocalUser, Password and Records. When that is impossible it returns an
// error wrapping ErrUnencodable (naming the field, never its value) and
// dst unchanged: a value of 192 bytes or more that starts with a digit
// (its decimal length would swallow the digit), a record whose first five
// bytes are not its own length in digits (or longer than 99,999 bytes),
// or a request without records.
func AppendRequest(dst []byte, req *Request) ([]byte, error) {
	if len(req.Records) == 0 {
		return dst, fmt.Errorf("%w: no record to send", ErrUnencodable)
	}
	orig := len(dst)
	var err error
	for _, f := range [...]struct {
		name byte
		val  string
	}{{'U', req.User}, {'A', req.LocalUser}, {'P', req.Password}} {
		if f.val == "" {
			continue
		}
		if dst, err = appendField(dst, f.name, f.val); err != nil {
			return dst[:orig], err
		}
	}
	for i, rec := range req.Records {
		if err := checkFraming(rec); err != nil {
			return dst[:orig], fmt.Errorf("%w: record %d: %v", ErrUnencodable, i+1, err)
		}
		dst = append(dst, rec...)
	}
	return append(dst, 0), nil
}

func appendField(dst []byte, name byte, val string) ([]byte, error) {
	n := len(val)
	if n <= maxSingleByteLength {
		dst = append(dst, name, byte(0x40+n))
		return append(dst, val...), nil
	}
	if isDigit(val[0]) {
		return dst, fmt.Errorf("%w: the %s of %d bytes starts with a digit, which a decimal length (needed above %d bytes) cannot carry",
			ErrUnencodable, fieldName(name), n, maxSingleByteLength)
	}
	dst = append(dst, name)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, val...), nil
}

// checkFraming reports whether rec can be framed: its first five bytes
// are ASCII digits giving len(rec).
func checkFraming(rec []byte) error {
	if len(rec) < MinRecordBytes || len(rec) > MaxRecordBytes {
		return fmt.Errorf("%d bytes is outside the %d to %d bytes a record length can express", len(rec), MinRecordBytes, MaxRecordBytes)
	}
	n := 0
	for _, c := range rec[:5] {
		if !isDigit(c) {
			return fmt.Errorf("leader/00-04 %q is not 5 digits", rec[:5])
		}
		n = n*10 + int(c-'0')
	}
	if n != len(rec) {
		return fmt.Errorf("leader/00-04 says %d bytes but the record has %d", n, len(rec))
	}
	return nil
}

func fieldName(name byte) string {
	switch name {
	case 'U':
		return "user (U)"
	case 'A':
		return "local user (A)"
	case 'P':
		return "password (P)"
	}
	return string(name)
}
