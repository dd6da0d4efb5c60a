package marc

import (
	"strings"
	"unicode/utf8"
)

// MARCXMLNamespace is the MARC 21 slim schema namespace.
const MARCXMLNamespace = "http://www.loc.gov/MARC21/slim"

const (
	xmlRecordStandalone = `<record xmlns="` + MARCXMLNamespace + `">` + "\n"
	xmlRecordInner      = "<record>\n"
	xmlCollectionStart  = `<collection xmlns="` + MARCXMLNamespace + `">` + "\n"
	xmlCollectionEnd    = "</collection>\n"
)

// AppendMARCXML appends r as a standalone MARCXML (MARC 21 slim) <record>
// element carrying the namespace, in exactly the layout yaz-marcdump
// writes, and returns the extended buffer. For a file of records use a
// Writer with FormatMARCXML, which wraps them in <collection> as
// `yaz-marcdump -o marcxml` does.
//
// As yaz does, leader/09 is written as 'a' (MARCXML is Unicode by
// definition), a leader with non-digits in its structural positions gets
// yaz's comments and assumed values (see AppendLine), &, <, >, " and '
// are written as entities, and the C0
// control characters that XML 1.0 forbids (all but TAB, LF and CR) are
// dropped. Bytes 0x80-0xFF of a record whose leader/09 is 'a' must be
// UTF-8: invalid sequences and the non-characters U+FFFE and U+FFFF are
// written as U+FFFD, so the output is always well-formed (yaz copies them
// and is not). Records in MARC-8 (leader/09 not 'a') have their bytes
// copied raw, as yaz does: convert them to UTF-8 first to get XML that
// parsers accept.
func AppendMARCXML(dst []byte, r *Record) []byte {
	return appendXMLRecord(dst, r, xmlRecordStandalone)
}

func appendXMLRecord(dst []byte, r *Record, open string) []byte {
	u := utf8Leader(&r.Leader)
	dst = append(dst, open...)
	ldr, notes := yazLeader(&r.Leader)
	dst = appendYazNotes(dst, notes, "<!-- ", " -->\n")
	dst = append(dst, "  <leader>"...)
	for i, c := range ldr {
		if i == CharCodingPos {
			c = 'a'
		}
		dst = appendXMLByte(dst, c, false)
	}
	dst = append(dst, "</leader>\n"...)
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.IsControl() {
			dst = append(dst, `  <controlfield tag="`...)
			dst = appendXMLText(dst, f.Tag, u)
			dst = append(dst, `">`...)
			dst = appendXMLText(dst, f.Value, u)
			dst = append(dst, "</controlfield>\n"...)
			continue
		}
		dst = append(dst, `  <datafield tag="`...)
		dst = appendXMLText(dst, f.Tag, u)
		dst = append(dst, `" ind1="`...)
		dst = appendXMLByte(dst, indicator(f.Ind1), u)
		dst = append(dst, `" ind2="`...)
		dst = appendXMLByte(dst, indicator(f.Ind2), u)
		dst = append(dst, "\">\n"...)
		for _, sf := range f.Subfields {
			dst = append(dst, `    <subfield code="`...)
			dst = appendXMLByte(dst, sf.Code, u)
			dst = append(dst, `">`...)
			dst = appendXMLText(dst, sf.Value, u)
			dst = append(dst, "</subfield>\n"...)
		}
		dst = append(dst, "  </datafield>\n"...)
	}
	return append(dst, "</record>\n"...)
}

// Byte classes for XML text.
const (
	xmlPlain  = iota
	xmlEntity // & < > " '
	xmlDrop   // C0 controls other than TAB, LF, CR
	xmlHigh   // 0x80-0xFF
)

var xmlClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = xmlDrop
	}
	t['\t'], t['\n'], t['\r'] = xmlPlain, xmlPlain, xmlPlain
	for _, c := range `&<>"'` {
		t[c] = xmlEntity
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = xmlHigh
	}
	return t
}()

var xmlEntities = [256]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '"': "&quot;", '\'': "&apos;"}

// appendXMLText appends s escaped for XML text or an attribute value. With
// checkUTF8, bytes 0x80-0xFF must form valid UTF-8 XML characters;
// anything else becomes U+FFFD.
func appendXMLText(dst []byte, s string, checkUTF8 bool) []byte {
	if checkUTF8 && !validXMLUTF8(s) {
		return appendXMLTextInvalid(dst, s)
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if cls := xmlClass[c]; cls == xmlPlain || cls == xmlHigh {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, xmlEntities[c]...) // "" for the dropped controls
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// validXMLUTF8 reports whether s is valid UTF-8 without the
// non-characters U+FFFE and U+FFFF, which XML forbids.
func validXMLUTF8(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := strings.IndexByte(s, 0xEF); i >= 0 && i+2 < len(s); {
		if s[i+1] == 0xBF && (s[i+2] == 0xBE || s[i+2] == 0xBF) {
			return false
		}
		j := strings.IndexByte(s[i+1:], 0xEF)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return true
}

// appendXMLTextInvalid is appendXMLText for a string with invalid UTF-8
// or non-characters: each such byte or character becomes U+FFFD.
func appendXMLTextInvalid(dst []byte, s string) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1, r == 0xFFFE, r == 0xFFFF:
			dst = append(dst, "\uFFFD"...)
		case size == 1:
			dst = appendXMLByte(dst, s[0], false)
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

func appendXMLByte(dst []byte, c byte, checkUTF8 bool) []byte {
	switch xmlClass[c] {
	case xmlPlain:
		return append(dst, c)
	case xmlEntity:
		return append(dst, xmlEntities[c]...)
	case xmlDrop:
		return dst
	}
	if checkUTF8 {
		return append(dst, "\uFFFD"...)
	}
	return append(dst, c)
}
