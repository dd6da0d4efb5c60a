package marc

import (
	"bytes"
	"fmt"
	"strings"
)

// DecodeLenient decodes as much of a damaged record as it can and lists,
// with byte offsets, every problem it found and how it worked around it.
// For a record that Decode accepts it returns the same record and no
// problems.
//
// It returns a nil record only when data is shorter than a leader.
// Otherwise the record it returns passes Encode's checks on the leader,
// tags, indicators, codes and bytes (only a field or record too long for
// ISO 2709 can still fail): whatever could not be carried is dropped or
// replaced, and reported. Its recovery rules:
//
//   - leader/00-04 and leader/12-16 are advisory: the record is all of
//     data (a missing final record terminator is reported and tolerated),
//     and the data starts after the directory's terminator, or at the
//     leader's base address if more directory entries agree with that;
//   - leader bytes that are not printable ASCII become blanks, and
//     digits at leader/10-11 and 20-21 that contradict MARC 21 are set to
//     "22" and "45" (other bytes there are tolerated, as by Decode);
//   - a directory entry whose length or position is unusable (not
//     digits, outside the data, not ending on a field terminator) is
//     replaced by trusting the terminators: the field starts at the
//     entry's position if a field starts there, else just after the
//     previous field, and runs to the next terminator;
//   - a field whose tag is not three letters or digits is dropped;
//   - a data field missing indicators gets blanks; text before the first
//     subfield delimiter, and delimiters without a code, are dropped;
//   - NUL, stray record terminators, and subfield delimiters inside
//     control fields are removed from values.
func DecodeLenient(data []byte) (*Record, []Problem) {
	d := lenient{data: data, s: string(data), used: make([]uint64, (len(data)+63)/64)}
	rec := d.decode()
	return rec, d.probs
}

type lenient struct {
	data  []byte
	s     string
	probs []Problem
	used  []uint64 // bit i set: byte i belongs to a recovered field
}

func (d *lenient) isUsed(i int) bool { return d.used[i>>6]&(1<<(i&63)) != 0 }

// anyUsed reports whether a byte of [a, b) belongs to a recovered field.
func (d *lenient) anyUsed(a, b int) bool {
	for i := a; i < b; {
		if i&63 == 0 && i+64 <= b {
			if d.used[i>>6] != 0 {
				return true
			}
			i += 64
			continue
		}
		if d.isUsed(i) {
			return true
		}
		i++
	}
	return false
}

// markUsed records [a, b) as belonging to a recovered field.
func (d *lenient) markUsed(a, b int) {
	for i := a; i < b; i++ {
		d.used[i>>6] |= 1 << (i & 63)
	}
}

// nextFree returns the first byte at or after p that no recovered field
// holds, or last.
func (d *lenient) nextFree(p, last int) int {
	for p < last {
		if p&63 == 0 && d.used[p>>6] == ^uint64(0) {
			p += 64
			continue
		}
		if !d.isUsed(p) {
			return p
		}
		p++
	}
	return last
}

// maxProblems bounds the problems listed for one record; a record that
// bad is garbage, and the first problems say so.
const maxProblems = 200

func (d *lenient) problem(off int, kind error, format string, args ...any) {
	switch {
	case len(d.probs) < maxProblems:
		d.probs = append(d.probs, Problem{Offset: off, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	case len(d.probs) == maxProblems:
		d.probs = append(d.probs, Problem{Offset: off, Kind: kind, Detail: fmt.Sprintf("more than %d problems; the rest are not listed", maxProblems)})
	}
}

func (d *lenient) decode() *Record {
	data := d.data
	n := len(data)
	if n < LeaderLen {
		d.problem(0, ErrRecordLength, "record is %d bytes, shorter than the 24-byte leader", n)
		return nil
	}
	r := &Record{}
	copy(r.Leader[:], data)
	if reclen, bad, ok := atoiDigits(data[0:5]); !ok {
		d.problem(bad, ErrRecordLength, "leader/00-04 %s is not five digits; using the %d bytes given", quoteBytes(d.s[0:5]), n)
		copy(r.Leader[0:5], "00000")
	} else if reclen != n {
		d.problem(0, ErrRecordLength, "leader/00-04 says %d bytes, the record has %d; using the %d bytes given", reclen, n, n)
	}
	for i := 5; i < LeaderLen; i++ {
		if c := data[i]; c < 0x20 || c > 0x7e {
			d.problem(i, ErrLeader, "leader/%02d is byte 0x%02X, not printable ASCII; set to blank", i, c)
			r.Leader[i] = ' '
		}
	}
	for i := range structRules {
		if s := &structRules[i]; s.contradicts(r.Leader[s.pos]) {
			d.problem(s.pos, ErrLeader, "leader/%02d (%s) is %q; MARC 21 requires %q, which is used", s.pos, s.what, r.Leader[s.pos], s.want)
			r.Leader[s.pos] = s.want
		}
	}
	ldrBase, bad, baseOK := atoiDigits(data[12:17])
	if !baseOK {
		d.problem(12+bad, ErrBaseAddress, "leader/12-16 %s is not five digits", quoteBytes(d.s[12:17]))
		copy(r.Leader[12:17], "00000")
	}

	last := n // end of the data area: the record terminator, or the end
	if data[n-1] == RecordTerminator {
		last = n - 1
	} else {
		d.problem(n-1, ErrTerminator, "record ends with byte 0x%02X, not the record terminator 0x1D", data[n-1])
	}

	dirEnd := d.directoryEnd(last, ldrBase, baseOK)
	if dirEnd < 0 {
		return r
	}
	base := dirEnd + 1
	if baseOK && ldrBase != base {
		if ldrBase < last && d.agreeing(dirEnd, ldrBase, last) > d.agreeing(dirEnd, base, last) {
			d.problem(12, ErrBaseAddress, "leader/12-16 says data starts at %d, the directory ends at %d; more directory entries agree with %d, which is used", ldrBase, dirEnd, ldrBase)
			base = ldrBase
		} else {
			d.problem(12, ErrBaseAddress, "leader/12-16 says data starts at %d, but the directory ends at %d; using %d", ldrBase, dirEnd, base)
		}
	}

	prevEnd := base - 1 // position of the previous field's terminator
	for e := LeaderLen; e+DirEntryLen <= dirEnd; e += DirEntryLen {
		start, stop, ok := d.extent(e, base, last, prevEnd, dirEnd)
		if !ok {
			continue
		}
		prevEnd = stop
		tag := d.s[e : e+3]
		if !validTag(tag) {
			d.problem(e, ErrTag, "directory entry at %d has tag %s, not three ASCII letters or digits; field dropped", e, quoteBytes(tag))
			continue
		}
		if f, ok := d.field(tag, start, stop); ok {
			r.Fields = append(r.Fields, f)
		}
	}
	return r
}

// directoryEnd finds the directory's terminator, or returns -1 if the
// record has no usable directory.
func (d *lenient) directoryEnd(last, ldrBase int, baseOK bool) int {
	data := d.data
	if last <= LeaderLen {
		d.problem(LeaderLen, ErrDirectory, "record ends after its leader: no directory, no fields")
		return -1
	}
	for e := LeaderLen; e < last; e += DirEntryLen {
		if data[e] == FieldTerminator {
			return e
		}
	}
	if ft := bytes.IndexByte(data[LeaderLen:last], FieldTerminator); ft >= 0 {
		ft += LeaderLen
		d.problem(ft, ErrDirectory, "directory terminator at %d is not at the end of a 12-byte entry; the %d bytes of the partial entry before it are ignored", ft, (ft-LeaderLen)%DirEntryLen)
		return ft
	}
	if baseOK && ldrBase > LeaderLen && ldrBase <= last {
		d.problem(LeaderLen, ErrDirectory, "directory has no terminator; taking it to end before the base address %d", ldrBase)
		return ldrBase - 1
	}
	d.problem(LeaderLen, ErrDirectory, "directory has no terminator and the base address is unusable; no fields recovered")
	return -1
}

// agreeing counts the directory entries that, with the given base, point
// at a field ending on a field terminator.
func (d *lenient) agreeing(dirEnd, base, last int) int {
	k := 0
	for e := LeaderLen; e+DirEntryLen <= dirEnd; e += DirEntryLen {
		flen, _, ok1 := atoiDigits(d.data[e+3 : e+7])
		foff, _, ok2 := atoiDigits(d.data[e+7 : e+12])
		if end := base + foff + flen - 1; ok1 && ok2 && flen > 0 && end < last && d.data[end] == FieldTerminator {
			k++
		}
	}
	return k
}

// extent returns where the field of the directory entry at e starts and
// the position of its terminator (or of the end of the data). Each byte
// goes to at most one field, which bounds the work to the record's size.
func (d *lenient) extent(e, base, last, prevEnd, dirEnd int) (start, stop int, ok bool) {
	data := d.data
	tag := printableTag(d.s[e : e+3])
	flen, _, ok1 := atoiDigits(data[e+3 : e+7])
	foff, _, ok2 := atoiDigits(data[e+7 : e+12])
	if ok1 && ok2 && flen > 0 && base+foff+flen-1 < last && !d.anyUsed(base+foff, base+foff+flen) {
		start = base + foff
		stop = start + flen - 1
		if data[stop] == FieldTerminator && !hasTerminator(data[start:stop]) {
			d.markUsed(start, stop+1)
			return start, stop, true
		}
		// The directory is consistent with the next field (or the end of
		// the data): trust it over a damaged terminator. Stray terminators
		// inside are removed from the values later.
		if d.nextStart(e, base, dirEnd, last) == stop+1 {
			if data[stop] != FieldTerminator {
				d.problem(stop, ErrTerminator, "field %s ends with byte 0x%02X, not the field terminator 0x1E; the directory entry is consistent, so the byte is dropped", tag, data[stop])
			}
			d.markUsed(start, stop+1)
			return start, stop, true
		}
	}
	// Trust the terminators instead: start where the directory says if a
	// field starts there, else after the previous field.
	start = prevEnd + 1
	if c := base + foff; ok2 && c < last && (foff == 0 || data[c-1] == FieldTerminator) && !d.isUsed(c) {
		start = c
	}
	start = d.nextFree(start, last)
	if start >= last {
		d.problem(e, ErrFieldBounds, "field %s: directory entry %s points past the data or at another field, and no data follows; field lost", tag, quoteBytes(d.s[e+3:e+12]))
		return 0, 0, false
	}
	stop = start
	for stop < last && data[stop] != FieldTerminator && data[stop] != RecordTerminator && !d.isUsed(stop) {
		stop++
	}
	d.markUsed(start, min(stop+1, last))
	kind := ErrDirectory
	switch {
	case !ok1 || !ok2 || flen == 0:
	case base+foff+flen-1 >= last:
		kind = ErrFieldBounds
	default:
		kind = ErrTerminator
	}
	d.problem(e, kind, "field %s: directory entry %s does not frame a field; using the %d bytes at %d up to the next terminator", tag, quoteBytes(d.s[e+3:e+12]), stop-start, start)
	return start, stop, true
}

// nextStart returns where the directory says the field after the entry
// at e starts: the next entry's position, or the end of the data for the
// last entry; -1 if the next entry's position is not digits.
func (d *lenient) nextStart(e, base, dirEnd, last int) int {
	n := e + DirEntryLen
	if n+DirEntryLen > dirEnd {
		return last
	}
	foff, _, ok := atoiDigits(d.data[n+7 : n+12])
	if !ok {
		return -1
	}
	return base + foff
}

func hasTerminator(b []byte) bool {
	return bytes.IndexByte(b, FieldTerminator) >= 0 || bytes.IndexByte(b, RecordTerminator) >= 0
}

// field decodes the content data[start:stop] of a field.
func (d *lenient) field(tag string, start, stop int) (Field, bool) {
	if IsControlTag(tag) {
		return Field{Tag: tag, Value: d.clean(tag, start, stop)}, true
	}
	data := d.data
	f := Field{Tag: tag}
	i := start
	for k, ind := range []*byte{&f.Ind1, &f.Ind2} {
		switch {
		case i < stop && !special[data[i]]:
			*ind = data[i]
			i++
		case i < stop && data[i] != SubfieldDelimiter:
			d.problem(i, ErrIndicator, "data field %s: indicator %d is byte 0x%02X; set to blank", tag, k+1, data[i])
			*ind = ' '
			i++
		default:
			d.problem(i, ErrIndicator, "data field %s: indicator %d is missing; set to blank", tag, k+1)
			*ind = ' '
		}
	}
	if i < stop && data[i] != SubfieldDelimiter {
		j := bytes.IndexByte(data[i:stop], SubfieldDelimiter)
		if j < 0 {
			j = stop - i
		}
		d.problem(i, ErrSubfield, "data field %s: %d bytes after the indicators are not in a subfield; dropped", tag, j)
		i += j
	}
	noCode, firstNoCode := 0, 0
	for i < stop { // data[i] is a subfield delimiter
		j := i + 1
		for j < stop && data[j] != SubfieldDelimiter {
			j++
		}
		if j == i+1 || special[data[i+1]] {
			if noCode == 0 {
				firstNoCode = i
			}
			noCode++
			i = j
			continue
		}
		f.Subfields = append(f.Subfields, Subfield{Code: data[i+1], Value: d.clean(tag, i+2, j)})
		i = j
	}
	if noCode > 0 {
		d.problem(firstNoCode, ErrSubfield, "data field %s: %d subfield delimiters without a code dropped, the first at %d", tag, noCode, firstNoCode)
	}
	return f, true
}

// clean returns data[start:stop] without the bytes a value cannot carry,
// reporting them once per value.
func (d *lenient) clean(tag string, start, stop int) string {
	v := d.s[start:stop]
	first := badByte(v)
	if first < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	removed, term := 0, false
	for i := 0; i < len(v); i++ {
		if c := v[i]; special[c] {
			removed++
			term = term || c == FieldTerminator || c == RecordTerminator
			continue
		}
		b.WriteByte(v[i])
	}
	kind := ErrFieldData
	if term {
		kind = ErrTerminator
	}
	d.problem(start+first, kind, "field %s: %d bytes (NUL, terminators, subfield delimiters) removed from a value, the first (0x%02X) at %d", tag, removed, v[first], start+first)
	return b.String()
}
