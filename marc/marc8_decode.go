package marc

import (
	"fmt"
	"unicode/utf8"
)

// MARC8ToUTF8 appends the UTF-8 form of the MARC-8 value src to dst and
// returns the extended buffer.
//
// src is one value: a control field's data or one subfield's data. It is
// read starting with the default sets (G0 ASCII, G1 ANSEL). Non-spacing
// marks are moved after the character they precede in MARC-8, keeping their
// order; the result is not composed (é stays e + U+0301), exactly as
// `yaz-marcdump -f MARC-8 -t UTF-8` writes it. NSB and NSE (0x88, 0x89)
// become U+0098 and U+009C, and the second halves of the ligature and
// double tilde (0xEC, 0xFB) are dropped since U+0361 and U+0360 span both
// characters, all as the Library of Congress table says.
//
// On bytes that are not MARC-8 text (an unknown or cut escape sequence, a
// byte not in the current set, an incomplete EACC character, a C0 control
// other than the ISO 2709 separators, marks with no character after them)
// it returns dst unchanged and a *MARC8Error locating the first of them.
func MARC8ToUTF8(dst, src []byte) ([]byte, error) {
	d := m8Decoder{dst: dst}
	if err := decodeMARC8(&d, src); err != nil {
		return dst, err
	}
	return d.dst, nil
}

// MARC8StringToUTF8 is MARC8ToUTF8 for a value held in a string, such as
// Subfield.Value, without copying it first.
func MARC8StringToUTF8(dst []byte, src string) ([]byte, error) {
	d := m8Decoder{dst: dst}
	if err := decodeMARC8(&d, src); err != nil {
		return dst, err
	}
	return d.dst, nil
}

// MARC8ToUTF8Lenient is MARC8ToUTF8 that converts everything it can: each
// problem becomes one U+FFFD REPLACEMENT CHARACTER in the output (the bytes
// of an unknown escape sequence, a byte not in its set, an incomplete EACC
// character; marks with no character after them are kept after a U+FFFD)
// and is appended to errs as a *MARC8Error. The output is always valid UTF-8.
func MARC8ToUTF8Lenient(dst, src []byte, errs []*MARC8Error) ([]byte, []*MARC8Error) {
	d := m8Decoder{dst: dst, lenient: true, errs: errs}
	decodeMARC8(&d, src)
	return d.dst, d.errs
}

// MARC8StringToUTF8Lenient is MARC8ToUTF8Lenient for a value held in a
// string.
func MARC8StringToUTF8Lenient(dst []byte, src string, errs []*MARC8Error) ([]byte, []*MARC8Error) {
	d := m8Decoder{dst: dst, lenient: true, errs: errs}
	decodeMARC8(&d, src)
	return d.dst, d.errs
}

// m8Decoder is the output side of one MARC-8 to UTF-8 conversion.
type m8Decoder struct {
	dst     []byte
	lenient bool
	errs    []*MARC8Error

	// marks is the length of dst when the first pending non-spacing mark
	// was written, or -1. Pending marks are written as they come and moved
	// after the next base character when it arrives.
	marks            int
	markOff, markEnd int // the source bytes of the pending marks
}

// base appends the base character r, moving any pending marks after it.
func (d *m8Decoder) base(r rune) {
	if d.marks < 0 {
		d.dst = utf8.AppendRune(d.dst, r)
		return
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	d.dst = append(d.dst, buf[:n]...)
	copy(d.dst[d.marks+n:], d.dst[d.marks:len(d.dst)-n])
	copy(d.dst[d.marks:], buf[:n])
	d.marks = -1
}

// mark appends the non-spacing mark r read from src[off:end].
func (d *m8Decoder) mark(r rune, off, end int) {
	if d.marks < 0 {
		d.marks = len(d.dst)
		d.markOff = off
	}
	d.markEnd = end
	d.dst = utf8.AppendRune(d.dst, r)
}

// m8Bad records that src[off:end] could not be converted. In lenient mode it
// writes U+FFFD in their place and returns nil; otherwise it returns the
// error, which ends the conversion.
func m8Bad[S ~string | ~[]byte](d *m8Decoder, src S, off, end int, reason string) *MARC8Error {
	e := &MARC8Error{Offset: off, Bytes: append([]byte(nil), src[off:end]...), Reason: reason}
	if !d.lenient {
		return e
	}
	d.errs = append(d.errs, e)
	d.base(utf8.RuneError)
	return nil
}

// decodeMARC8 converts src into d. It returns the first error in strict
// mode; in lenient mode it always returns nil.
func decodeMARC8[S ~string | ~[]byte](d *m8Decoder, src S) error {
	g0, g1 := setASCII, setANSEL
	d.marks = -1
	n := len(src)
	for i := 0; i < n; {
		b := src[i]
		if g0 == setASCII && b-0x20 < 0x5F {
			// The common case: a run of ASCII graphic characters.
			j := m8ASCIIRun(src, i+1)
			if d.marks >= 0 {
				d.base(rune(b))
				i++
			}
			d.dst = append(d.dst, src[i:j]...)
			i = j
			continue
		}
		var e *MARC8Error
		switch {
		case b == 0x1B:
			j := i + 1
			for j < n && src[j]-0x20 < 0x10 { // intermediate bytes
				j++
			}
			switch {
			case j == n:
				e = m8Bad(d, src, i, n, "incomplete escape sequence at end of value")
				i = n
			case src[j] < 0x30 || src[j] > 0x7E:
				e = m8Bad(d, src, i, j, "incomplete escape sequence")
				i = j
			default:
				set, toG1, ok := marc8Designation(src[i+1:j], src[j])
				switch {
				case !ok:
					e = m8Bad(d, src, i, j+1, "unknown escape sequence")
				case toG1:
					g1 = set
				default:
					g0 = set
				}
				i = j + 1
			}
		case b == 0x20:
			d.base(' ')
			i++
		case b < 0x20 || b == 0x7F:
			if b >= 0x1D && b <= 0x1F {
				// ISO 2709 separators inside a value: kept as they are.
				d.base(rune(b))
			} else {
				e = m8Bad(d, src, i, i+1, fmt.Sprintf("control character 0x%02X is not MARC-8 text", b))
			}
			i++
		default:
			set, high := g0, b >= 0x80
			if high {
				set = g1
			}
			if set == setEACC {
				i, e = m8DecodeEACC(d, src, i, high)
				break
			}
			v := m8Packed[set][b&0x7F]
			switch {
			case v != 0 && v&(m8Combining|m8NoUnicode) == 0 && d.marks < 0:
				d.dst = appendPacked(d.dst, v) // a character, with no marks pending
			case v == 0:
				e = m8Bad(d, src, i, i+1, fmt.Sprintf("byte 0x%02X is not in %s (%s)", b, marc8SetNames[set], m8GName(high)))
			case v&m8NoUnicode != 0:
				// Second half of a double diacritic: U+0361 or U+0360,
				// written for the first half, spans both characters.
			case v&m8Combining != 0:
				d.mark(rune(marc8Single[set][b&0x7F]&m8RuneMask), i, i+1)
			default:
				d.base(rune(marc8Single[set][b&0x7F] & m8RuneMask))
			}
			i++
		}
		if e != nil {
			return e
		}
	}
	if d.marks >= 0 {
		off, end := d.markOff, d.markEnd
		e := &MARC8Error{Offset: off, Bytes: append([]byte(nil), src[off:end]...),
			Reason: "non-spacing mark with no character after it"}
		if !d.lenient {
			return e
		}
		d.errs = append(d.errs, e)
		d.base(utf8.RuneError)
	}
	return nil
}

// m8DecodeEACC converts the EACC character starting at src[i] (a G1 one when
// high is set) and returns the index after it.
func m8DecodeEACC[S ~string | ~[]byte](d *m8Decoder, src S, i int, high bool) (int, *MARC8Error) {
	// All three bytes come from the same half of the code table; the
	// second and third may be 0x20 (0x212320 is IDEOGRAPHIC SPACE).
	hb := byte(0)
	if high {
		hb = 0x80
	}
	n := len(src)
	j := i + 1
	for j < n && j < i+3 && src[j]&0x80 == hb && src[j]&0x7F >= 0x20 && src[j]&0x7F < 0x7F {
		j++
	}
	if j < i+3 {
		reason := "incomplete EACC character"
		if j == n {
			reason = "incomplete EACC character at end of value"
		}
		return j, m8Bad(d, src, i, j, reason)
	}
	r, ok := eaccLookup(src[i]&0x7F, src[i+1]&0x7F, src[i+2]&0x7F)
	if !ok {
		return j, m8Bad(d, src, i, j, fmt.Sprintf("not an EACC character (%s)", m8GName(high)))
	}
	d.base(r)
	return j, nil
}

func m8GName(high bool) string {
	if high {
		return "G1"
	}
	return "G0"
}

// m8Packed holds marc8Single with each rune already in UTF-8: bytes 0-2
// hold the encoding (all single-byte sets map into the BMP), bits 24-25 its
// length, and the m8Combining and m8NoUnicode flags stay where they are.
var m8Packed = func() (t [setEACC][128]uint32) {
	for set := range t {
		for b, v := range marc8Single[set] {
			if v == 0 {
				continue
			}
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], rune(v&m8RuneMask))
			if v&m8NoUnicode != 0 {
				n = 0
			}
			t[set][b] = v&(m8Combining|m8NoUnicode) | uint32(n)<<24 | uint32(buf[2])<<16 | uint32(buf[1])<<8 | uint32(buf[0])
		}
	}
	return t
}()

// appendPacked appends the UTF-8 bytes of a m8Packed entry.
func appendPacked(dst []byte, v uint32) []byte {
	dst = append(dst, byte(v), byte(v>>8), byte(v>>16))
	return dst[:len(dst)-3+int(v>>24&3)]
}

// m8ASCIIRun returns the end of the run of ASCII graphic characters and
// spaces (0x20-0x7E) that starts at src[i], looking at eight bytes at a
// time.
func m8ASCIIRun[S ~string | ~[]byte](src S, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(src); i += 8 {
		w := uint64(src[i]) | uint64(src[i+1])<<8 | uint64(src[i+2])<<16 | uint64(src[i+3])<<24 |
			uint64(src[i+4])<<32 | uint64(src[i+5])<<40 | uint64(src[i+6])<<48 | uint64(src[i+7])<<56
		del := w ^ 0x7F*lo
		if (w|(w-0x20*lo)&^w|(del-lo)&^del)&hi != 0 {
			break // a byte below 0x20, 0x7F or above: find it below
		}
	}
	for i < len(src) && src[i]-0x20 < 0x5F {
		i++
	}
	return i
}
