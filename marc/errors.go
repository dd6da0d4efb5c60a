package marc

import (
	"errors"
	"strconv"
)

// ErrInvalidRecord matches every *DecodeError with errors.Is: use it to ask
// "is this record broken?" without caring which rule it broke.
var ErrInvalidRecord = errors.New("invalid MARC record")

// Kinds of decoding problem. A *DecodeError (and so a *ReadError that
// wraps one) matches exactly one of them with errors.Is, plus
// ErrInvalidRecord.
var (
	// ErrRecordLength: leader/00-04 is not five digits, is too small, or
	// does not match the number of bytes in the record.
	ErrRecordLength = errors.New("bad record length")
	// ErrLeader: a leader byte is not printable ASCII, or leader/10-11 or
	// leader/20-21 do not describe a MARC 21 record ("22" and "45").
	ErrLeader = errors.New("bad leader")
	// ErrBaseAddress: leader/12-16 is not five digits or does not point just
	// past the directory (24 + 12 x entries + 1).
	ErrBaseAddress = errors.New("bad base address of data")
	// ErrDirectory: the directory is not terminated, ends inside an entry,
	// or an entry's length or starting position is not all digits.
	ErrDirectory = errors.New("bad directory")
	// ErrTag: a tag is not three ASCII letters or digits.
	ErrTag = errors.New("bad tag")
	// ErrFieldBounds: a directory entry points outside the record's data.
	ErrFieldBounds = errors.New("field outside the record")
	// ErrTerminator: a field does not end with a field terminator (0x1E),
	// a terminator occurs inside a field, or the record does not end with
	// the record terminator (0x1D).
	ErrTerminator = errors.New("missing or misplaced terminator")
	// ErrIndicator: a data field is too short for its two indicators or an
	// indicator is a structural byte or NUL.
	ErrIndicator = errors.New("bad indicator")
	// ErrSubfield: a data field's content does not start with a subfield
	// delimiter, or a delimiter is not followed by a subfield code.
	ErrSubfield = errors.New("bad subfield")
	// ErrFieldData: field data contains a byte that cannot be carried in
	// it: NUL, or a subfield delimiter inside a control field.
	ErrFieldData = errors.New("bad byte in field data")
	// ErrGarbage: bytes in a stream that are not a MARC record (reported
	// by Reader, with their offset).
	ErrGarbage = errors.New("not a MARC record")
	// ErrTruncated: the input ends inside a record.
	ErrTruncated = errors.New("truncated record")
	// ErrTooLong: a record would exceed 99,999 bytes, or a field 9,999
	// bytes, which ISO 2709's fixed-width lengths cannot express.
	ErrTooLong = errors.New("too long for ISO 2709")
)

// DecodeError says what is wrong with a record and where. Offset counts
// bytes from the start of the record (leader/00 is offset 0).
//
// errors.Is(err, ErrInvalidRecord) holds for every DecodeError, and
// errors.Is(err, e.Kind) for its particular kind.
type DecodeError struct {
	Offset int    // byte offset within the record
	Kind   error  // one of the ErrXxx kinds above
	Detail string // what is wrong, in words, without the offset
}

// Problem is one defect DecodeLenient found and worked around (or could not
// recover from); it has the same fields as a DecodeError.
type Problem = DecodeError

// Error returns "offset N: <kind>: <detail>".
func (e *DecodeError) Error() string {
	b := make([]byte, 0, 32+len(e.Detail))
	b = append(b, "offset "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	b = append(b, ": "...)
	if e.Kind != nil {
		b = append(b, e.Kind.Error()...)
		if e.Detail != "" {
			b = append(b, ": "...)
		}
	}
	b = append(b, e.Detail...)
	return string(b)
}

// Unwrap returns the error's kind.
func (e *DecodeError) Unwrap() error { return e.Kind }

// Is reports whether target is ErrInvalidRecord (the kind itself is matched
// through Unwrap).
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidRecord }

// ReadError reports a record (or a run of bytes that is not a record) that
// Reader could not deliver intact. Offset is the stream offset of its first
// byte; Err is a *DecodeError whose Offset is relative to that byte.
//
// A ReadError is not fatal: the Reader has already resynchronised and the
// next call returns the following record.
type ReadError struct {
	Offset int64
	Err    error
}

// Error returns "record at byte N: <err>".
func (e *ReadError) Error() string {
	return "record at byte " + strconv.FormatInt(e.Offset, 10) + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ReadError) Unwrap() error { return e.Err }

// EncodeError reports why a record cannot be written as ISO 2709. Field is
// the index in Record.Fields of the offending field, or -1 for the record
// as a whole (leader, total length).
type EncodeError struct {
	Field  int
	Tag    string // the field's tag, "" when Field is -1
	Kind   error  // ErrTooLong, ErrLeader, ErrTag, ErrIndicator, ErrSubfield, ErrFieldData
	Detail string
}

// Error returns "encode field N (TAG): <kind>: <detail>" or
// "encode record: <kind>: <detail>".
func (e *EncodeError) Error() string {
	s := "encode record: "
	if e.Field >= 0 {
		s = "encode field " + strconv.Itoa(e.Field) + " (" + printableTag(e.Tag) + "): "
	}
	return s + e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns the error's kind.
func (e *EncodeError) Unwrap() error { return e.Kind }

func decErr(off int, kind error, detail string) *DecodeError {
	return &DecodeError{Offset: off, Kind: kind, Detail: detail}
}

// printableTag quotes a tag for messages, showing unprintable bytes as
// Go escapes so a broken tag cannot garble a log line.
func printableTag(tag string) string {
	for i := 0; i < len(tag); i++ {
		if tag[i] < 0x20 || tag[i] > 0x7e {
			return strconv.Quote(tag)
		}
	}
	return tag
}

// quoteBytes renders a short byte string for a message.
func quoteBytes(b string) string { return strconv.Quote(b) }
