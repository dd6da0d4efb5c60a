package marc

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
)

// Decode parses one ISO 2709 record strictly: data must be exactly one
// record, from leader/00 to and including the record terminator, and
// every structural rule of MARC 21 must hold. On failure it returns a
// *DecodeError that says what is wrong and at which byte offset;
// errors.Is(err, ErrInvalidRecord) holds, and so does errors.Is with the
// error's kind (ErrRecordLength, ErrBaseAddress, ErrDirectory, ...).
//
// Rules checked: leader/00-04 are digits equal to len(data); leader bytes
// are printable ASCII; leader/10-11 and 20-21 do not contradict MARC 21's
// "22" and "45" (a blank or other non-digit there is taken, as yaz-marcdump
// takes it, to mean MARC 21's value, and kept; leader/22-23 may hold
// anything);
// leader/12-16 are digits equal to 24 + 12 x entries + 1; the directory is
// terminated by 0x1E at an entry boundary; each entry has an alphanumeric
// tag and digit-only length and starting position; every field lies
// inside the data area and ends with exactly one field terminator; data
// fields have two indicators and subfields each introduced by a delimiter
// and a code; no field holds NUL, a record terminator, or (control
// fields) a subfield delimiter; no two fields share bytes (their order in
// the data may differ from the directory's); the record ends with 0x1D.
//
// Field values share one string copy of data, so the record does not
// alias data and data may be reused. Decode never panics, and allocates
// at most a small multiple of len(data).
func Decode(data []byte) (*Record, error) {
	r := new(Record)
	if err := r.decode(data); err != nil {
		return nil, err
	}
	return r, nil
}

// UnmarshalBinary decodes data strictly into r, as Decode does, reusing
// the capacity of r.Fields. On error r holds the leader bytes read so far
// and no fields.
func (r *Record) UnmarshalBinary(data []byte) error {
	err := r.decode(data)
	if err != nil {
		clear(r.Fields)
		r.Fields = r.Fields[:0]
	}
	return err
}

// special marks the bytes that may not appear inside field data.
var special = [256]bool{0x00: true, RecordTerminator: true, FieldTerminator: true, SubfieldDelimiter: true}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isTagByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// validTag reports whether tag is three ASCII letters or digits.
func validTag(tag string) bool {
	return len(tag) == 3 && isTagByte(tag[0]) && isTagByte(tag[1]) && isTagByte(tag[2])
}

// atoiDigits returns the value of b if it is all ASCII digits, else the
// index of the first non-digit and ok=false.
func atoiDigits(b []byte) (v int, bad int, ok bool) {
	for i, c := range b {
		if !isDigit(c) {
			return 0, i, false
		}
		v = v*10 + int(c-'0')
	}
	return v, 0, true
}

func (r *Record) decode(data []byte) error {
	n := len(data)
	if n < LeaderLen {
		return decErr(0, ErrRecordLength, fmt.Sprintf("record is %d bytes, shorter than the 24-byte leader", n))
	}
	copy(r.Leader[:], data)
	reclen, bad, ok := atoiDigits(data[0:5])
	if !ok {
		return decErr(bad, ErrRecordLength, fmt.Sprintf("leader/00-04 %s is not five digits", quoteBytes(string(data[0:5]))))
	}
	if reclen != n {
		return decErr(0, ErrRecordLength, fmt.Sprintf("leader/00-04 says %d bytes, the record has %d", reclen, n))
	}
	for i := 5; i < LeaderLen; i++ {
		if c := data[i]; c < 0x20 || c > 0x7e {
			return decErr(i, ErrLeader, fmt.Sprintf("leader/%02d is byte 0x%02X, not printable ASCII", i, c))
		}
	}
	for i := range structRules {
		if s := &structRules[i]; s.contradicts(data[s.pos]) {
			return decErr(s.pos, ErrLeader, fmt.Sprintf("leader/%02d (%s) is %q, MARC 21 requires %q", s.pos, s.what, data[s.pos], s.want))
		}
	}
	base, bad, ok := atoiDigits(data[12:17])
	if !ok {
		return decErr(12+bad, ErrBaseAddress, fmt.Sprintf("leader/12-16 %s is not five digits", quoteBytes(string(data[12:17]))))
	}
	if data[n-1] != RecordTerminator {
		return decErr(n-1, ErrTerminator, fmt.Sprintf("record ends with byte 0x%02X, not the record terminator 0x1D", data[n-1]))
	}
	last := n - 1 // offset of the record terminator

	// Find the end of the directory: a field terminator at an entry boundary.
	dirEnd := LeaderLen
	for ; dirEnd < last && data[dirEnd] != FieldTerminator; dirEnd += DirEntryLen {
	}
	if dirEnd >= last {
		return directoryError(data, base, last)
	}
	entries := (dirEnd - LeaderLen) / DirEntryLen
	if base != dirEnd+1 {
		return decErr(12, ErrBaseAddress, fmt.Sprintf("leader/12-16 says data starts at %d, but the directory of %d entries ends at %d, so it must be %d", base, entries, dirEnd, dirEnd+1))
	}

	// First pass: every entry must frame a field inside the data, and no
	// two fields may share bytes. This bounds the second pass to one look
	// at each byte of the data.
	ordered, prevEnd := true, base
	for e := LeaderLen; e < dirEnd; e += DirEntryLen {
		start, end, err := entrySpan(data, e, base, last)
		if err != nil {
			return err
		}
		if start < prevEnd {
			ordered = false
		}
		prevEnd = end
	}
	if !ordered {
		if err := checkOverlap(data, base, last, dirEnd); err != nil {
			return err
		}
	}

	// Fast path: with no NUL or record terminator in the data area and one
	// field terminator per field (fields do not overlap and each ends
	// with one), no field can hold a forbidden byte but a misplaced
	// subfield delimiter, and fields are split without looking at every
	// byte. Otherwise every field is checked byte by byte.
	area := data[base:last]
	check := bytes.IndexByte(area, 0) >= 0 || bytes.IndexByte(area, RecordTerminator) >= 0 ||
		bytes.Count(area, []byte{FieldTerminator}) != entries

	s := string(data) // the one copy all values slice into
	subs := make([]Subfield, bytes.Count(area, []byte{SubfieldDelimiter}))
	fields := r.Fields[:0]
	if cap(fields) < entries {
		fields = make([]Field, 0, entries)
	}
	for e := LeaderLen; e < dirEnd; e += DirEntryLen {
		foff, _, _ := atoiDigits(data[e+7 : e+12])
		flen, _, _ := atoiDigits(data[e+3 : e+7])
		start := base + foff
		var f Field
		var used int
		var err error
		if check {
			f, used, err = decodeField(data, s, s[e:e+3], start, start+flen, subs)
		} else {
			f, used, err = splitField(data, s, s[e:e+3], start, start+flen, subs)
		}
		if err != nil {
			clear(fields)
			r.Fields = fields[:0]
			return err
		}
		subs = subs[used:]
		fields = append(fields, f)
	}
	r.Fields = fields
	return nil
}

// entrySpan validates the directory entry at e and returns where its
// field starts and ends (exclusive; data[end-1] is the field terminator).
func entrySpan(data []byte, e, base, last int) (start, end int, err error) {
	tag := data[e : e+3]
	if !isTagByte(tag[0]) || !isTagByte(tag[1]) || !isTagByte(tag[2]) {
		return 0, 0, decErr(e, ErrTag, fmt.Sprintf("directory entry at offset %d has tag %s, not three ASCII letters or digits", e, quoteBytes(string(tag))))
	}
	flen, bad, ok := atoiDigits(data[e+3 : e+7])
	if !ok {
		return 0, 0, decErr(e+3+bad, ErrDirectory, fmt.Sprintf("field %s: length %s in the directory is not four digits", tag, quoteBytes(string(data[e+3:e+7]))))
	}
	foff, bad, ok := atoiDigits(data[e+7 : e+12])
	if !ok {
		return 0, 0, decErr(e+7+bad, ErrDirectory, fmt.Sprintf("field %s: starting position %s in the directory is not five digits", tag, quoteBytes(string(data[e+7:e+12]))))
	}
	if flen == 0 {
		return 0, 0, decErr(e+3, ErrDirectory, fmt.Sprintf("field %s: length 0000 leaves no room for the field terminator", tag))
	}
	start = base + foff
	end = start + flen
	if end > last {
		return 0, 0, decErr(e, ErrFieldBounds, fmt.Sprintf("field %s: directory entry at offset %d places it at %d..%d, past the end of the data at %d", tag, e, start, end-1, last-1))
	}
	if data[end-1] != FieldTerminator {
		return 0, 0, decErr(end-1, ErrTerminator, fmt.Sprintf("field %s (at %d, %d bytes) ends with byte 0x%02X, not the field terminator 0x1E", tag, start, flen, data[end-1]))
	}
	return start, end, nil
}

// checkOverlap reports two fields that share bytes, for a directory whose
// fields are not in ascending order (legal, but rare).
func checkOverlap(data []byte, base, last, dirEnd int) error {
	type span struct{ start, end, entry int }
	spans := make([]span, 0, (dirEnd-LeaderLen)/DirEntryLen)
	for e := LeaderLen; e < dirEnd; e += DirEntryLen {
		start, end, _ := entrySpan(data, e, base, last)
		spans = append(spans, span{start, end, e})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(spans); i++ {
		if a, b := spans[i-1], spans[i]; b.start < a.end {
			first, second := min(a.entry, b.entry), max(a.entry, b.entry)
			return decErr(second, ErrFieldBounds, fmt.Sprintf("field %s (directory entry at %d) overlaps field %s (entry at %d) at %d..%d",
				data[second:second+3], second, data[first:first+3], first, b.start, min(a.end, b.end)-1))
		}
	}
	return nil
}

// decodeField decodes the field tag in data[start:end], taking its
// subfields from the front of subs.
func decodeField(data []byte, s, tag string, start, end int, subs []Subfield) (Field, int, error) {
	flen := end - start
	stop := end - 1
	if IsControlTag(tag) {
		for j := start; j < stop; j++ {
			if c := data[j]; special[c] {
				return Field{}, 0, fieldByteError(tag, j, c, true)
			}
		}
		return Field{Tag: tag, Value: s[start:stop]}, 0, nil
	}
	if flen < 3 {
		return Field{}, 0, decErr(start, ErrIndicator, fmt.Sprintf("data field %s at %d is %d bytes, too short for two indicators and the field terminator", tag, start, flen))
	}
	for j := start; j < start+2; j++ {
		if c := data[j]; special[c] {
			return Field{}, 0, decErr(j, ErrIndicator, fmt.Sprintf("data field %s: indicator %d is byte 0x%02X", tag, j-start+1, c))
		}
	}
	f := Field{Tag: tag, Ind1: data[start], Ind2: data[start+1]}
	j := start + 2
	if j == stop {
		return f, 0, nil
	}
	if data[j] != SubfieldDelimiter {
		return Field{}, 0, decErr(j, ErrSubfield, fmt.Sprintf("data field %s: data after the indicators starts with byte 0x%02X, not a subfield delimiter", tag, data[j]))
	}
	k := 0
	for j < stop { // data[j] is a subfield delimiter
		if j+1 == stop || data[j+1] == SubfieldDelimiter {
			return Field{}, 0, decErr(j, ErrSubfield, fmt.Sprintf("data field %s: subfield delimiter at %d has no subfield code", tag, j))
		}
		code := data[j+1]
		if special[code] {
			return Field{}, 0, fieldByteError(tag, j+1, code, false)
		}
		v := j + 2
		for j = v; j < stop; j++ {
			if c := data[j]; special[c] {
				if c == SubfieldDelimiter {
					break
				}
				return Field{}, 0, fieldByteError(tag, j, c, false)
			}
		}
		if k >= len(subs) { // cannot happen: subs counts every delimiter
			return Field{}, 0, decErr(j, ErrSubfield, "internal error: subfield count")
		}
		subs[k] = Subfield{Code: code, Value: s[v:j]}
		k++
	}
	f.Subfields = subs[:k:k]
	return f, k, nil
}

// splitField decodes the field tag in data[start:end] (validated by
// entrySpan) of a data area known to hold no NUL, no record terminator
// and no field terminator but at the ends of fields.
func splitField(data []byte, s, tag string, start, end int, subs []Subfield) (Field, int, error) {
	stop := end - 1
	if IsControlTag(tag) {
		if j := bytes.IndexByte(data[start:stop], SubfieldDelimiter); j >= 0 {
			return Field{}, 0, fieldByteError(tag, start+j, SubfieldDelimiter, true)
		}
		return Field{Tag: tag, Value: s[start:stop]}, 0, nil
	}
	if stop-start < 2 || data[start] == SubfieldDelimiter || data[start+1] == SubfieldDelimiter {
		return decodeField(data, s, tag, start, end, subs) // for the exact error
	}
	f := Field{Tag: tag, Ind1: data[start], Ind2: data[start+1]}
	j := start + 2
	if j == stop {
		return f, 0, nil
	}
	if data[j] != SubfieldDelimiter {
		return decodeField(data, s, tag, start, end, subs)
	}
	k := 0
	for j < stop { // data[j] is a subfield delimiter
		if j+1 == stop || data[j+1] == SubfieldDelimiter || k >= len(subs) {
			return decodeField(data, s, tag, start, end, subs)
		}
		v := j + 2
		next := stop
		if n := bytes.IndexByte(data[v:stop], SubfieldDelimiter); n >= 0 {
			next = v + n
		}
		subs[k] = Subfield{Code: data[j+1], Value: s[v:next]}
		k++
		j = next
	}
	f.Subfields = subs[:k:k]
	return f, k, nil
}

func fieldByteError(tag string, off int, c byte, control bool) error {
	switch c {
	case FieldTerminator, RecordTerminator:
		return decErr(off, ErrTerminator, fmt.Sprintf("field %s: terminator byte 0x%02X inside the field at %d", tag, c, off))
	case SubfieldDelimiter:
		if control {
			return decErr(off, ErrFieldData, fmt.Sprintf("control field %s: subfield delimiter 0x1F at %d", tag, off))
		}
	}
	return decErr(off, ErrFieldData, fmt.Sprintf("field %s: NUL byte at %d", tag, off))
}

// directoryError explains why no field terminator ends the directory at
// an entry boundary.
func directoryError(data []byte, base, last int) error {
	if last <= LeaderLen {
		return decErr(LeaderLen, ErrDirectory, "record ends after its leader: no directory")
	}
	ft := bytes.IndexByte(data[LeaderLen:last], FieldTerminator)
	if ft >= 0 {
		ft += LeaderLen
	}
	atBoundary := func(p int) bool { return p > LeaderLen && p < last && (p-LeaderLen)%DirEntryLen == 0 }
	switch {
	case ft >= 0 && (ft < base-1 || !atBoundary(base-1)):
		return decErr(ft, ErrDirectory, fmt.Sprintf("the first field terminator, at %d, is not at the end of a 12-byte directory entry (24 + 12 x n)", ft))
	case atBoundary(base - 1):
		return decErr(base-1, ErrDirectory, fmt.Sprintf("directory does not end with a field terminator at %d, just before the base address %d: found byte 0x%02X", base-1, base, data[base-1]))
	}
	return decErr(LeaderLen, ErrDirectory, "directory has no field terminator 0x1E")
}
