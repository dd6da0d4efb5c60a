package marc

import "strconv"

// AppendLine appends r in the "line" format that yaz-marcdump prints by
// default and returns the extended buffer. For a record that Decode
// accepts, the output is byte for byte what `yaz-marcdump FILE` prints for
// it:
//
//	00388cam a2200145 a 4500
//	001 ocm12345678
//	245 10 $a Title : $b subtitle / $c Author.
//	500   $a Note.
//	(blank line)
//
// The leader is printed as is, except that when its structural positions
// hold something other than digits (see Decode) yaz's comments come first
// and its assumed values are printed, as yaz does:
//
//	(Indicator length at offset 10 should hold a number 1-9. Assuming 2)
//
// A control field is printed as tag, space, value; a
// data field as tag, space, the two indicators, then " $", code, space and
// value for each subfield (an empty subfield prints as "$a " with nothing
// after it, a data field without subfields as just its indicators). Values
// are copied byte for byte: MARC-8 and invalid UTF-8 pass through raw, as
// in yaz. A zero indicator prints as a blank.
//
// One yaz-marcdump bug is not copied: it misreads an empty control field
// followed by a data field (it looks two bytes past the field for a
// subfield delimiter, as for Danish 00X fields with subfields, and prints
// the next field's indicators as the control field's); AppendLine prints
// the record as it is.
func AppendLine(dst []byte, r *Record) []byte {
	if ldr, notes := yazLeader(&r.Leader); notes != 0 {
		dst = appendYazNotes(dst, notes, "(", ")\n")
		dst = append(dst, ldr[:]...)
	} else {
		dst = append(dst, r.Leader[:]...)
	}
	dst = append(dst, '\n')
	for i := range r.Fields {
		f := &r.Fields[i]
		dst = append(dst, f.Tag...)
		dst = append(dst, ' ')
		if f.IsControl() {
			dst = append(dst, f.Value...)
		} else {
			dst = append(dst, indicator(f.Ind1), indicator(f.Ind2))
			for _, sf := range f.Subfields {
				dst = append(dst, ' ', '$', sf.Code, ' ')
				dst = append(dst, sf.Value...)
			}
		}
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// AppendSkipComments appends the comments yaz-marcdump prints, in every
// output format, for bytes it skips between records because they cannot
// start one (such as the CR LF some files put after each record), one line
// per byte:
//
//	<!-- Skipping bad byte 13 (0x0D) at offset 71 (0x47) -->
//
// offset is the stream offset of skipped[0]; atEnd says the bytes are the
// last of the input, of which yaz-marcdump does not report the final four
// (it reads five bytes at a time and stops at a short read). Use it with
// Reader.Skipped to reproduce yaz-marcdump's output for such files.
func AppendSkipComments(dst []byte, offset int64, skipped []byte, atEnd bool) []byte {
	if atEnd {
		skipped = skipped[:max(0, len(skipped)-4)]
	}
	for i, c := range skipped {
		off := offset + int64(i)
		dst = append(dst, "<!-- Skipping bad byte "...)
		dst = strconv.AppendInt(dst, int64(c), 10)
		dst = append(dst, " (0x"...)
		dst = append(dst, upperHex[c>>4], upperHex[c&15])
		dst = append(dst, ") at offset "...)
		dst = strconv.AppendInt(dst, off, 10)
		dst = append(dst, " (0x"...)
		dst = strconv.AppendInt(dst, off, 16)
		dst = append(dst, ") -->\n"...)
	}
	return dst
}

const upperHex = "0123456789ABCDEF"
