package marc

import "unicode/utf8"

// AppendJSON appends r in MARC-in-JSON (the Code4Lib format proposed by
// Ross Singer) and returns the extended buffer:
//
//	{"leader": "...", "fields": [{"001": "..."},
//	  {"245": {"subfields": [{"a": "..."}], "ind1": "1", "ind2": "0"}}]}
//
// The layout (indentation, key order, line breaks) is byte for byte what
// `yaz-marcdump -o json` prints for one record, so a stream of records
// written one after another is a sequence of JSON texts, exactly as yaz
// prints it (json.Decoder reads such a stream value by value).
//
// As in yaz, non-digits in the leader's structural positions are printed
// as the values assumed for them (see AppendLine). Strings are escaped as
// yaz does: \" \\ \b \f \n \r \t, other bytes
// below 0x20 as \u00XX; everything else is copied. In a record whose
// leader/09 is 'a', invalid UTF-8 is written as U+FFFD so the output is
// valid JSON (yaz copies it); MARC-8 records are copied raw, as in yaz:
// convert them to UTF-8 first.
func AppendJSON(dst []byte, r *Record) []byte {
	u := utf8Leader(&r.Leader)
	dst = append(dst, "{\n  \"leader\": \""...)
	ldr, _ := yazLeader(&r.Leader)
	for _, c := range ldr {
		dst = appendJSONByte(dst, c, false)
	}
	dst = append(dst, "\",\n  \"fields\": ["...)
	if len(r.Fields) == 0 {
		return append(dst, "]\n}\n"...)
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, "\n    {\n      \""...)
		dst = appendJSONText(dst, f.Tag, u)
		if f.IsControl() {
			dst = append(dst, "\": \""...)
			dst = appendJSONText(dst, f.Value, u)
			dst = append(dst, "\"\n    }"...)
			continue
		}
		dst = append(dst, "\": {\n        \"subfields\": ["...)
		for j, sf := range f.Subfields {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, "\n          {\n            \""...)
			dst = appendJSONByte(dst, sf.Code, u)
			dst = append(dst, "\": \""...)
			dst = appendJSONText(dst, sf.Value, u)
			dst = append(dst, "\"\n          }"...)
		}
		if len(f.Subfields) == 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, "\n        ],\n        \"ind1\": \""...)
		dst = appendJSONByte(dst, indicator(f.Ind1), u)
		dst = append(dst, "\",\n        \"ind2\": \""...)
		dst = appendJSONByte(dst, indicator(f.Ind2), u)
		dst = append(dst, "\"\n      }\n    }"...)
	}
	return append(dst, "\n  ]\n}\n"...)
}

// jsonEscape holds the escape for each byte that needs one.
var jsonEscape = func() (t [256]string) {
	const hex = "0123456789abcdef"
	for c := 0; c < 0x20; c++ {
		t[c] = `\u00` + string(hex[c>>4]) + string(hex[c&15])
	}
	t['\b'], t['\f'], t['\n'], t['\r'], t['\t'] = `\b`, `\f`, `\n`, `\r`, `\t`
	t['"'], t['\\'] = `\"`, `\\`
	return t
}()

// jsonNeeds marks the bytes that jsonEscape replaces.
var jsonNeeds = func() (t [256]bool) {
	for c := range t {
		t[c] = jsonEscape[c] != ""
	}
	return t
}()

// appendJSONText appends s escaped for a JSON string. With checkUTF8,
// invalid UTF-8 becomes U+FFFD.
func appendJSONText(dst []byte, s string, checkUTF8 bool) []byte {
	if checkUTF8 && !utf8.ValidString(s) {
		return appendJSONTextInvalid(dst, s)
	}
	start := 0
	for i := 0; i < len(s); i++ {
		if jsonNeeds[s[i]] {
			dst = append(dst, s[start:i]...)
			dst = append(dst, jsonEscape[s[i]]...)
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}

// appendJSONTextInvalid is appendJSONText for a string that is not valid
// UTF-8: each byte that is not part of a valid sequence becomes U+FFFD.
func appendJSONTextInvalid(dst []byte, s string) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\uFFFD"...)
		case size == 1:
			dst = appendJSONByte(dst, s[0], false)
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

func appendJSONByte(dst []byte, c byte, checkUTF8 bool) []byte {
	if e := jsonEscape[c]; e != "" {
		return append(dst, e...)
	}
	if c >= 0x80 && checkUTF8 {
		return append(dst, "\uFFFD"...)
	}
	return append(dst, c)
}
