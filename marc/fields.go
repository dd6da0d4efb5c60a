package marc

import (
	"slices"
	"strings"
)

// NewRecord returns an empty record whose leader is
// "00000nam a2200000   4500": a new (n) language material (a) monograph
// (m) in UTF-8 (leader/09 'a'). Encode fills in the lengths.
func NewRecord() *Record {
	r := &Record{}
	copy(r.Leader[:], "00000nam a2200000   4500")
	return r
}

// String returns the leader as text.
func (l Leader) String() string { return string(l[:]) }

// utf8Leader reports whether leader/09 declares UTF-8 ('a'); anything
// else is taken as MARC-8.
func utf8Leader(l *Leader) bool { return l[CharCodingPos] == 'a' }

// Field returns the first field with the given tag, or nil. The pointer
// points into r.Fields and is valid until r.Fields is changed.
func (r *Record) Field(tag string) *Field {
	for i := range r.Fields {
		if r.Fields[i].Tag == tag {
			return &r.Fields[i]
		}
	}
	return nil
}

// FieldsByTag returns the fields whose tag is one of tags, in record
// order, as pointers into r.Fields (valid until r.Fields is changed).
func (r *Record) FieldsByTag(tags ...string) []*Field {
	var out []*Field
	for i := range r.Fields {
		if slices.Contains(tags, r.Fields[i].Tag) {
			out = append(out, &r.Fields[i])
		}
	}
	return out
}

// ControlValue returns the value of the first control field with the given
// tag, or "" if there is none.
func (r *Record) ControlValue(tag string) string {
	if f := r.Field(tag); f != nil {
		return f.Value
	}
	return ""
}

// SubfieldValue returns the first $code of the first field with the given
// tag that has one, or "" if none does.
func (r *Record) SubfieldValue(tag string, code byte) string {
	for i := range r.Fields {
		if r.Fields[i].Tag == tag {
			if v, ok := r.Fields[i].Subfield(code); ok {
				return v
			}
		}
	}
	return ""
}

// Subfield returns the value of f's first subfield with the given code and
// whether there was one.
func (f *Field) Subfield(code byte) (string, bool) {
	for _, sf := range f.Subfields {
		if sf.Code == code {
			return sf.Value, true
		}
	}
	return "", false
}

// SubfieldValue returns the value of f's first subfield with the given
// code, or "".
func (f *Field) SubfieldValue(code byte) string {
	v, _ := f.Subfield(code)
	return v
}

// SubfieldValues returns the values of all of f's subfields with any of
// the given codes, in field order.
func (f *Field) SubfieldValues(codes ...byte) []string {
	var out []string
	for _, sf := range f.Subfields {
		if slices.Contains(codes, sf.Code) {
			out = append(out, sf.Value)
		}
	}
	return out
}

// AddField inserts f keeping tags in ascending order: after every field
// whose tag sorts at or before f.Tag and before the first that sorts
// after it (so repeated tags keep the order in which they were added).
// Fields already out of order stay where they are.
func (r *Record) AddField(f Field) {
	i := len(r.Fields)
	for i > 0 && r.Fields[i-1].Tag > f.Tag {
		i--
	}
	r.Fields = slices.Insert(r.Fields, i, f)
}

// AppendField adds f after all other fields.
func (r *Record) AppendField(f Field) { r.Fields = append(r.Fields, f) }

// RemoveFields deletes every field whose tag is one of tags, keeping the
// others in order, and returns how many it removed.
func (r *Record) RemoveFields(tags ...string) int {
	return r.RemoveFieldsFunc(func(f *Field) bool { return slices.Contains(tags, f.Tag) })
}

// RemoveFieldsFunc deletes every field for which del returns true, keeping
// the others in order, and returns how many it removed.
func (r *Record) RemoveFieldsFunc(del func(*Field) bool) int {
	n := len(r.Fields)
	r.Fields = slices.DeleteFunc(r.Fields, func(f Field) bool { return del(&f) })
	return n - len(r.Fields)
}

// Clone returns a deep copy of r: changing the copy's fields or subfields
// never changes r.
func (r *Record) Clone() *Record {
	c := &Record{Leader: r.Leader}
	if r.Fields == nil {
		return c
	}
	c.Fields = make([]Field, len(r.Fields))
	n := 0
	for i := range r.Fields {
		n += len(r.Fields[i].Subfields)
	}
	subs := make([]Subfield, n)
	for i, f := range r.Fields {
		if f.Subfields != nil {
			k := copy(subs, f.Subfields)
			f.Subfields = subs[:k:k]
			subs = subs[k:]
		}
		c.Fields[i] = f
	}
	return c
}

// Equal reports whether r and o have the same leader and the same fields
// in the same order. A nil and an empty Subfields or Fields slice are
// equal.
func (r *Record) Equal(o *Record) bool {
	if r.Leader != o.Leader || len(r.Fields) != len(o.Fields) {
		return false
	}
	for i := range r.Fields {
		if !r.Fields[i].Equal(&o.Fields[i]) {
			return false
		}
	}
	return true
}

// Equal reports whether f and o have the same tag, value, indicators and
// subfields.
func (f *Field) Equal(o *Field) bool {
	return f.Tag == o.Tag && f.Value == o.Value && f.Ind1 == o.Ind1 && f.Ind2 == o.Ind2 &&
		slices.Equal(f.Subfields, o.Subfields)
}

// Title returns the title proper and its remainder from the first 245:
// subfields $a, $b, $n and $p joined by single spaces, with the ISBD
// punctuation that ends the statement (" /", " :", " ;", " =", ",", ".")
// trimmed. It returns "" when there is no 245.
func (r *Record) Title() string {
	f := r.Field("245")
	if f == nil {
		return ""
	}
	var b strings.Builder
	for _, sf := range f.Subfields {
		switch sf.Code {
		case 'a', 'b', 'n', 'p':
			v := strings.TrimSpace(sf.Value)
			if v == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(v)
		}
	}
	return trimISBD(b.String())
}

// Author returns the main entry name: $a of the first 100, 110 or 111,
// with trailing ISBD punctuation trimmed (a period after an initial such
// as "Smith, John A." is kept). It returns "" when there is no main entry.
func (r *Record) Author() string {
	for i := range r.Fields {
		switch r.Fields[i].Tag {
		case "100", "110", "111":
			v := strings.TrimSpace(r.Fields[i].SubfieldValue('a'))
			v = strings.TrimRight(v, " ,:;/=")
			if strings.HasSuffix(v, ".") && !endsWithInitial(v) {
				v = strings.TrimRight(v[:len(v)-1], " ,:;/=")
			}
			return v
		}
	}
	return ""
}

// trimISBD removes the punctuation ISBD puts between and after areas from
// the end of s.
func trimISBD(s string) string {
	for {
		t := strings.TrimRight(s, " /:;=,")
		if strings.HasSuffix(t, ".") && !strings.HasSuffix(t, "...") && !endsWithInitial(t) {
			t = t[:len(t)-1]
		}
		if t == s {
			return s
		}
		s = t
	}
}

// endsWithInitial reports whether s ends with a single capital letter and
// a period, as in "Smith, John A.".
func endsWithInitial(s string) bool {
	n := len(s)
	if n < 2 || s[n-1] != '.' {
		return false
	}
	c := s[n-2]
	if c < 'A' || c > 'Z' {
		return false
	}
	return n == 2 || s[n-3] == ' ' || s[n-3] == '.' || s[n-3] == ','
}
