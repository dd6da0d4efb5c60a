package marc

// AppendMnemonic appends r in MARC mnemonic form, as MarcEdit's
// MarcBreaker writes .mrk files, followed by the blank line that ends a
// record, and returns the extended buffer:
//
//	=LDR  00714cam a2200205 a 4500
//	=001  ocm12345678\
//	=245  10$aTitle /$cAuthor.
//
// Each field is "=", the tag, two spaces and the data. The leader is
// printed as is (a backslash in it as {bsol}). In control fields a blank
// is printed as `\`; in data
// fields the indicators are printed with `\` for blank, then "$", code and
// value for each subfield. Because `$`, `{` and `}` carry meaning, they
// are written as MarcEdit's mnemonics {dollar}, {lcub} and {rcub}; ESC
// (which starts MARC-8 escape sequences) as {esc}; a backslash in a
// control field as {bsol}. Other control characters, which would break
// the line structure, are written {xHH} (two hex digits), an escape of
// this package that MnemonicReader reads back. All other bytes, MARC-8 or
// UTF-8, are copied.
func AppendMnemonic(dst []byte, r *Record) []byte {
	dst = append(dst, "=LDR  "...)
	for _, c := range r.Leader {
		if c == '\\' {
			dst = append(dst, "{bsol}"...)
			continue
		}
		dst = appendMnemonicByte(dst, c, false)
	}
	dst = append(dst, '\n')
	for i := range r.Fields {
		f := &r.Fields[i]
		dst = append(dst, '=')
		dst = append(dst, f.Tag...)
		dst = append(dst, ' ', ' ')
		if f.IsControl() {
			for j := 0; j < len(f.Value); j++ {
				dst = appendMnemonicByte(dst, f.Value[j], true)
			}
		} else {
			dst = appendMnemonicIndicator(dst, f.Ind1)
			dst = appendMnemonicIndicator(dst, f.Ind2)
			for _, sf := range f.Subfields {
				dst = append(dst, '$')
				dst = appendMnemonicByte(dst, sf.Code, false)
				dst = appendMnemonicText(dst, sf.Value)
			}
		}
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// appendMnemonicIndicator appends an indicator: `\` for a blank, a
// mnemonic for a byte that would be read otherwise (`\`, `$`, `{`, `}`,
// controls).
func appendMnemonicIndicator(dst []byte, c byte) []byte {
	switch c {
	case ' ', 0:
		return append(dst, '\\')
	case '\\':
		return append(dst, "{bsol}"...)
	}
	return appendMnemonicByte(dst, c, false)
}

// mnemonicNeeds marks bytes that are not copied as they are into data
// field text.
var mnemonicNeeds = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t[0x7f], t['$'], t['{'], t['}'] = true, true, true, true
	return t
}()

func appendMnemonicText(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if mnemonicNeeds[s[i]] {
			dst = append(dst, s[start:i]...)
			dst = appendMnemonicByte(dst, s[i], false)
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}

// appendMnemonicByte appends c escaped; in control fields (control set)
// blanks become `\` and backslashes {bsol}.
func appendMnemonicByte(dst []byte, c byte, control bool) []byte {
	switch {
	case c == '$':
		return append(dst, "{dollar}"...)
	case c == '{':
		return append(dst, "{lcub}"...)
	case c == '}':
		return append(dst, "{rcub}"...)
	case c == 0x1b:
		return append(dst, "{esc}"...)
	case c < 0x20 || c == 0x7f:
		return append(dst, '{', 'x', upperHex[c>>4], upperHex[c&15], '}')
	case control && c == ' ':
		return append(dst, '\\')
	case control && c == '\\':
		return append(dst, "{bsol}"...)
	}
	return append(dst, c)
}
