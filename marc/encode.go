package marc

import (
	"fmt"
	"slices"
)

// MaxFieldLen is the longest field, terminator included, that a 4-digit
// directory length can express.
const MaxFieldLen = 9999

// Encode returns r as one ISO 2709 record. See AppendEncode.
func Encode(r *Record) ([]byte, error) { return AppendEncode(nil, r) }

// MarshalBinary returns r as one ISO 2709 record (see AppendEncode); it
// makes *Record an encoding.BinaryMarshaler.
func (r *Record) MarshalBinary() ([]byte, error) { return AppendEncode(nil, r) }

// AppendEncode appends r as one ISO 2709 record to dst and returns the
// extended buffer. On error dst is returned unchanged (same length) with
// an *EncodeError.
//
// Encode writes the fields in order and recomputes what the structure
// determines: the record length (leader/00-04), the base address
// (leader/12-16) and the directory. Every other leader byte is kept and
// must be printable ASCII, except that a digit at leader/10-11 or 20-21
// contradicting MARC 21's "22" and "45" is replaced by it (blanks there
// are kept, as Decode tolerates them). A zero indicator byte is written
// as a blank.
//
// It refuses, with an *EncodeError naming the field: a tag that is not
// three ASCII letters or digits (ErrTag); a control field with subfields
// or a data field with a Value (ErrFieldData); NUL, 0x1D, 0x1E or 0x1F in
// a value, or 0x1F in a control field (ErrFieldData); such bytes as
// indicators (ErrIndicator) or subfield codes (ErrSubfield); a field over
// 9,999 bytes or a record over 99,999 bytes (ErrTooLong).
//
// For every record it accepts, Decode(Encode(r)) equals r.
func AppendEncode(dst []byte, r *Record) ([]byte, error) {
	for i := 5; i < LeaderLen; i++ {
		if c := r.Leader[i]; (c < 0x20 || c > 0x7e) && !leaderComputed(i) {
			return dst, &EncodeError{Field: -1, Kind: ErrLeader, Detail: fmt.Sprintf("leader/%02d is byte 0x%02X, not printable ASCII", i, c)}
		}
	}
	dataLen := 0
	for i := range r.Fields {
		n, err := checkField(&r.Fields[i], i)
		if err != nil {
			return dst, err
		}
		dataLen += n
	}
	base := LeaderLen + DirEntryLen*len(r.Fields) + 1
	total := base + dataLen + 1
	if total > MaxRecordLen {
		return dst, &EncodeError{Field: -1, Kind: ErrTooLong, Detail: fmt.Sprintf("record would be %d bytes, more than %d", total, MaxRecordLen)}
	}

	dst = slices.Grow(dst, total)
	start := len(dst)
	dst = dst[:start+total]
	out := dst[start:]
	copy(out, r.Leader[:])
	putDigits(out[0:5], total)
	putDigits(out[12:17], base)
	for i := range structRules {
		if s := &structRules[i]; s.contradicts(out[s.pos]) {
			out[s.pos] = s.want
		}
	}

	dir := out[LeaderLen:base]
	data := out[base:]
	off := 0
	for i := range r.Fields {
		f := &r.Fields[i]
		w := data[off:]
		n := 0
		if f.IsControl() {
			n = copy(w, f.Value)
		} else {
			w[0], w[1] = indicator(f.Ind1), indicator(f.Ind2)
			n = 2
			for _, sf := range f.Subfields {
				w[n], w[n+1] = SubfieldDelimiter, sf.Code
				n += 2 + copy(w[n+2:], sf.Value)
			}
		}
		w[n] = FieldTerminator
		n++
		d := dir[i*DirEntryLen:]
		copy(d[0:3], f.Tag)
		putDigits(d[3:7], n)
		putDigits(d[7:12], off)
		off += n
	}
	dir[len(dir)-1] = FieldTerminator
	data[off] = RecordTerminator
	return dst, nil
}

// leaderComputed reports whether Encode overwrites leader position i.
func leaderComputed(i int) bool { return i < 5 || (i >= 12 && i < 17) }

// indicator maps the zero byte (an indicator never set) to a blank.
func indicator(c byte) byte {
	if c == 0 {
		return ' '
	}
	return c
}

// checkField validates f for encoding and returns its encoded length,
// terminator included.
func checkField(f *Field, i int) (int, error) {
	fail := func(kind error, format string, args ...any) (int, error) {
		return 0, &EncodeError{Field: i, Tag: f.Tag, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	if !validTag(f.Tag) {
		return fail(ErrTag, "tag %s is not three ASCII letters or digits", quoteBytes(f.Tag))
	}
	n := 0
	if f.IsControl() {
		if len(f.Subfields) > 0 {
			return fail(ErrFieldData, "control field has %d subfields; control fields hold only Value", len(f.Subfields))
		}
		if j := badByte(f.Value); j >= 0 {
			return fail(ErrFieldData, "value has byte 0x%02X at index %d", f.Value[j], j)
		}
		n = len(f.Value) + 1
	} else {
		if f.Value != "" {
			return fail(ErrFieldData, "data field has a Value (%d bytes); data fields hold only subfields", len(f.Value))
		}
		for k, c := range [2]byte{f.Ind1, f.Ind2} {
			if c != 0 && special[c] {
				return fail(ErrIndicator, "indicator %d is byte 0x%02X", k+1, c)
			}
		}
		n = 3
		for k, sf := range f.Subfields {
			if special[sf.Code] {
				return fail(ErrSubfield, "subfield %d has code byte 0x%02X", k, sf.Code)
			}
			if j := badByte(sf.Value); j >= 0 {
				return fail(ErrFieldData, "subfield %d ($%c) has byte 0x%02X at index %d", k, sf.Code, sf.Value[j], j)
			}
			n += 2 + len(sf.Value)
		}
	}
	if n > MaxFieldLen {
		return fail(ErrTooLong, "field would be %d bytes, more than %d", n, MaxFieldLen)
	}
	return n, nil
}

// badByte returns the index of the first byte of v that may not appear in
// field data (NUL, terminators, and the subfield delimiter), or -1.
func badByte(v string) int {
	for j := 0; j < len(v); j++ {
		if special[v[j]] {
			return j
		}
	}
	return -1
}

// putDigits writes v zero-padded into all of b.
func putDigits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}
