package marc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMnemonic is the kind of every *MnemonicError.
var ErrMnemonic = errors.New("bad MARC mnemonic")

// MnemonicError reports a line of mnemonic text that could not be read.
type MnemonicError struct {
	Line   int // 1-based line number
	Detail string
}

// Error returns "mnemonic line N: <detail>".
func (e *MnemonicError) Error() string { return fmt.Sprintf("mnemonic line %d: %s", e.Line, e.Detail) }

// Unwrap returns ErrMnemonic.
func (e *MnemonicError) Unwrap() error { return ErrMnemonic }

// maxMnemonicLine bounds one line: a 9,999-byte field with every byte
// escaped as {xHH} is under 50,000 bytes.
const maxMnemonicLine = 64 << 10

// MnemonicReader reads records in MARC mnemonic form (MarcEdit .mrk), as
// AppendMnemonic writes them: lines "=TAG  data", records separated by
// blank lines, lines starting with '#' ignored, CR LF accepted. `\` in the
// leader, in indicators and in control fields means a blank. The
// mnemonics {dollar}, {lcub}, {rcub}, {bsol}, {esc} and {xHH} are decoded;
// any other {name} (such as MarcEdit's MARC-8 character mnemonics) is
// kept as written.
type MnemonicReader struct {
	sc   *bufio.Scanner
	line int
	err  error
}

// NewMnemonicReader returns a reader of mnemonic records from r.
func NewMnemonicReader(r io.Reader) *MnemonicReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxMnemonicLine)
	return &MnemonicReader{sc: sc}
}

// Read returns the next record, or io.EOF after the last one. A
// *MnemonicError reports a record that could not be read; the reader
// skips to the end of that record, so calling Read again continues with
// the next. Other errors are from the underlying reader and are final.
func (m *MnemonicReader) Read() (*Record, error) {
	if m.err != nil {
		return nil, m.err
	}
	var rec *Record
	var perr error
	first := 0 // line of the record's first field
	for m.sc.Scan() {
		m.line++
		line := bytes.TrimSuffix(m.sc.Bytes(), []byte{'\r'})
		if len(line) == 0 {
			if rec != nil || perr != nil {
				break
			}
			continue
		}
		if line[0] == '#' || perr != nil {
			continue
		}
		if rec == nil {
			rec = &Record{}
			first = m.line
		}
		perr = m.parseLine(rec, line)
	}
	if err := m.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = &MnemonicError{Line: m.line + 1, Detail: fmt.Sprintf("line longer than %d bytes", maxMnemonicLine)}
		}
		m.err = err
		return nil, err
	}
	if perr != nil {
		return nil, perr
	}
	if rec == nil {
		m.err = io.EOF
		return nil, io.EOF
	}
	if rec.Leader == (Leader{}) {
		return nil, &MnemonicError{Line: first, Detail: "record has no =LDR line"}
	}
	return rec, nil
}

func (m *MnemonicReader) parseLine(rec *Record, line []byte) error {
	fail := func(format string, args ...any) error {
		return &MnemonicError{Line: m.line, Detail: fmt.Sprintf(format, args...)}
	}
	if len(line) < 6 || line[0] != '=' || line[4] != ' ' || line[5] != ' ' {
		return fail("line does not start with \"=TAG  \" (equals sign, three-character tag, two spaces)")
	}
	tag, data := string(line[1:4]), line[6:]
	if tag == "LDR" {
		if rec.Leader != (Leader{}) {
			return fail("second =LDR in one record")
		}
		v := unescapeMnemonic(data, true)
		if len(v) != LeaderLen {
			return fail("leader is %d bytes after decoding, not 24", len(v))
		}
		for i := 0; i < LeaderLen; i++ {
			if c := v[i]; c < 0x20 || c > 0x7e {
				return fail("leader/%02d is byte 0x%02X, not printable ASCII", i, c)
			}
		}
		copy(rec.Leader[:], v)
		return nil
	}
	f := Field{Tag: tag}
	if f.IsControl() {
		f.Value = unescapeMnemonic(data, true)
	} else {
		var ok1, ok2 bool
		rest := data
		f.Ind1, rest, ok1 = mnemonicIndicatorAt(rest)
		f.Ind2, rest, ok2 = mnemonicIndicatorAt(rest)
		if !ok1 || !ok2 {
			return fail("data field %s has no indicators", printableTag(tag))
		}
		f.Ind1, f.Ind2 = indicator(f.Ind1), indicator(f.Ind2) // NUL means blank
		if len(rest) > 0 && rest[0] != '$' {
			return fail("data field %s: %q after the indicators is not a subfield ($)", printableTag(tag), rest[0])
		}
		for len(rest) > 0 {
			rest = rest[1:] // the '$'
			end := bytes.IndexByte(rest, '$')
			if end < 0 {
				end = len(rest)
			}
			sf := unescapeMnemonic(rest[:end], false)
			rest = rest[end:]
			if sf == "" {
				return fail("data field %s: '$' without a subfield code", printableTag(tag))
			}
			f.Subfields = append(f.Subfields, Subfield{Code: sf[0], Value: sf[1:]})
		}
	}
	if _, err := checkField(&f, len(rec.Fields)); err != nil {
		var ee *EncodeError
		if errors.As(err, &ee) {
			return fail("field %s: %v: %s", printableTag(tag), ee.Kind, ee.Detail)
		}
		return fail("%v", err)
	}
	rec.Fields = append(rec.Fields, f)
	return nil
}

// mnemonicIndicatorAt decodes the indicator at the start of s: `\` for a
// blank, a mnemonic, or one byte.
func mnemonicIndicatorAt(s []byte) (byte, []byte, bool) {
	if len(s) == 0 {
		return 0, s, false
	}
	if s[0] == '{' {
		if end := bytes.IndexByte(s, '}'); end > 0 {
			if v := unescapeMnemonic(s[:end+1], false); len(v) == 1 {
				return v[0], s[end+1:], true
			}
		}
	}
	if s[0] == '\\' {
		return ' ', s[1:], true
	}
	return s[0], s[1:], true
}

var mnemonicNames = map[string]byte{
	"{dollar}": '$', "{lcub}": '{', "{rcub}": '}', "{bsol}": '\\', "{esc}": 0x1b,
}

// unescapeMnemonic decodes mnemonics in s; with blanks, `\` means a blank.
func unescapeMnemonic(s []byte, blanks bool) string {
	if bytes.IndexByte(s, '{') < 0 && (!blanks || bytes.IndexByte(s, '\\') < 0) {
		return string(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if blanks && c == '\\' {
			b.WriteByte(' ')
			continue
		}
		if c == '{' {
			if end := bytes.IndexByte(s[i:], '}'); end > 0 {
				name := s[i : i+end+1]
				if v, ok := mnemonicNames[string(name)]; ok {
					b.WriteByte(v)
					i += end
					continue
				}
				if len(name) == 5 && name[1] == 'x' {
					if v, ok := unhex(name[2], name[3]); ok {
						b.WriteByte(v)
						i += end
						continue
					}
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unhex(a, b byte) (byte, bool) {
	x, ok1 := hexVal(a)
	y, ok2 := hexVal(b)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
