package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/marc"
)

// ErrInvalidInput is returned (wrapped) by Prepare for a record the
// catalog cannot store: not UTF-8, not encodable as ISO 2709 (too long, a
// structural byte in a value), or with an OCLC number that is not one.
// It is the record's problem, not the catalog's.
var ErrInvalidInput = errors.New("record cannot be stored")

// Source says where a version of a record came from, for its history.
type Source struct {
	Time       time.Time // when it was received; zero: the catalog's clock at Prepare
	User       string    // the login that exported it ("" on an open listener)
	RequestID  uint64    // gateway request ID (0 outside the receiver)
	RemoteAddr string    // the exporting client's address
}

// Input is a record to store.
type Input struct {
	// Record is the record to store, in UTF-8 (leader/09 'a'). Required.
	Record *marc.Record
	// Original is the record exactly as received (MARC-8 or UTF-8), kept
	// with the version; nil means the encoded Record.
	Original []byte
	// OCLCNumber is the primary OCLC number and OCLCNumbers every OCLC
	// number the record carries (001/035/019), normalised or in any form
	// marc.NormalizeOCLCNumber accepts. They are what the OCLC-number
	// index holds for the record: pass the numbers of the record as
	// exported when the import rules removed 035s. When both are empty
	// they are taken from Record.
	OCLCNumber  string
	OCLCNumbers []string
	// Hash is the content hash repeated exports are recognised by; ""
	// means ContentHash(Record).
	Hash string
	// Source describes the export.
	Source Source
}

// Prepared is a record ready to be written: encoded, its index entries
// worked out. Prepare does that work outside the write transaction, so
// the single writer spends its time writing. A Prepared is immutable and
// may be written more than once (in different transactions).
type Prepared struct {
	raw      []byte
	original []byte
	oclc     string
	numbers  []string // primary first when there is one
	hash     string
	title    string
	author   string
	holdings string
	deleted  bool
	fts      ftsText
	src      Source
}

// ftsText is what the full-text index holds for a record, folded.
type ftsText struct{ author, title, subjects string }

// OCLCNumber returns the primary OCLC number ("" when none).
func (p *Prepared) OCLCNumber() string { return p.oclc }

// OCLCNumbers returns every OCLC number the record will be indexed under,
// primary first.
func (p *Prepared) OCLCNumbers() []string { return slices.Clone(p.numbers) }

// Hash returns the content hash stored with the record.
func (p *Prepared) Hash() string { return p.hash }

// Prepare checks and encodes in.Record and works out its index entries.
// Errors wrap ErrInvalidInput and describe the record's problem.
func (c *Catalog) Prepare(in Input) (*Prepared, error) {
	r := in.Record
	if r == nil {
		return nil, fmt.Errorf("%w: no record", ErrInvalidInput)
	}
	if r.Leader[marc.CharCodingPos] != 'a' {
		return nil, fmt.Errorf("%w: record is not in UTF-8 (leader/09 is %q, want 'a')", ErrInvalidInput, r.Leader[marc.CharCodingPos])
	}
	if err := checkUTF8(r); err != nil {
		return nil, err
	}
	raw, err := marc.Encode(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	p := &Prepared{
		raw:      raw,
		original: in.Original,
		hash:     in.Hash,
		title:    r.Title(),
		author:   r.Author(),
		holdings: strings.Join(holdingCodes(r), " "),
		deleted:  markedDeleted(r),
		fts:      indexText(r),
		src:      in.Source,
	}
	if p.original == nil {
		p.original = raw
	}
	if p.hash == "" {
		p.hash = ContentHash(r)
	}
	if p.src.Time.IsZero() {
		p.src.Time = c.now()
	}
	if in.OCLCNumber == "" && len(in.OCLCNumbers) == 0 {
		in.OCLCNumber, in.OCLCNumbers = marc.OCLCNumber(r), marc.OCLCNumbers(r)
	}
	if in.OCLCNumber != "" {
		n, ok := marc.NormalizeOCLCNumber(in.OCLCNumber)
		if !ok {
			return nil, fmt.Errorf("%w: %q is not an OCLC number", ErrInvalidInput, in.OCLCNumber)
		}
		p.oclc = n
		p.numbers = append(p.numbers, n)
	}
	for _, s := range in.OCLCNumbers {
		n, ok := marc.NormalizeOCLCNumber(s)
		if !ok {
			return nil, fmt.Errorf("%w: %q is not an OCLC number", ErrInvalidInput, s)
		}
		if !slices.Contains(p.numbers, n) {
			p.numbers = append(p.numbers, n)
		}
	}
	return p, nil
}

// checkUTF8 refuses a record with a value that is not valid UTF-8: the
// index and every printout assume it is.
func checkUTF8(r *marc.Record) error {
	for i := range r.Fields {
		f := &r.Fields[i]
		if !utf8.ValidString(f.Value) {
			return fmt.Errorf("%w: field %d (%s) is not valid UTF-8", ErrInvalidInput, i+1, f.Tag)
		}
		for _, sf := range f.Subfields {
			if !utf8.ValidString(sf.Value) {
				return fmt.Errorf("%w: field %d (%s) $%c is not valid UTF-8", ErrInvalidInput, i+1, f.Tag, sf.Code)
			}
		}
	}
	return nil
}

// ContentHash returns the SHA-256 (hex) of r encoded as ISO 2709 without
// its 005 (date and time of latest transaction), which Connexion changes
// on every export of an otherwise identical record. It returns "" for a
// record that cannot be encoded.
func ContentHash(r *marc.Record) string {
	c := &marc.Record{Leader: r.Leader, Fields: make([]marc.Field, 0, len(r.Fields))}
	for _, f := range r.Fields {
		if f.Tag != "005" {
			c.Fields = append(c.Fields, f)
		}
	}
	b, err := marc.Encode(c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// holdingCodes returns the record's 049 $a values, trimmed and upper
// case, without repeats.
func holdingCodes(r *marc.Record) []string {
	var out []string
	for _, f := range r.FieldsByTag("049") {
		for _, v := range f.SubfieldValues('a') {
			v = normalizeHolding(v)
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// normalizeHolding returns a 049 $a code as compared: trimmed, upper
// case, without blanks inside.
func normalizeHolding(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// Deletion mark: the field the library's procedure adds to a record that
// must not be used ("STA 1_ $a DELETED").
const (
	staTag     = "STA"
	staInd1    = '1'
	staInd2    = ' '
	staDeleted = "DELETED"
)

// markedDeleted reports whether r carries an STA field whose $a says
// DELETED (any case, any indicators).
func markedDeleted(r *marc.Record) bool {
	for _, f := range r.FieldsByTag(staTag) {
		for _, v := range f.SubfieldValues('a') {
			if strings.EqualFold(strings.TrimSpace(v), staDeleted) {
				return true
			}
		}
	}
	return false
}

// indexText extracts the words the full-text index holds: names (1XX,
// 7XX name fields, 245 $c) as author; titles (245, 246, 240, 130, 730,
// 740, series 490/830, 7XX $t) as title; 6XX as subjects; and each 880
// (vernacular script) under the field its $6 links to.
func indexText(r *marc.Record) ftsText {
	var a, t, s strings.Builder
	add := func(b *strings.Builder, v string) {
		v = strings.TrimSpace(v)
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.IsControl() {
			continue
		}
		tag := f.Tag
		if tag == "880" {
			link := f.SubfieldValue('6')
			if len(link) < 3 {
				continue
			}
			tag = link[:3]
		}
		for _, sf := range f.Subfields {
			if !isTextSubfield(sf.Code) {
				continue
			}
			switch fieldClass(tag, sf.Code) {
			case classAuthor:
				add(&a, sf.Value)
			case classTitle:
				add(&t, sf.Value)
			case classSubject:
				add(&s, sf.Value)
			}
		}
	}
	return ftsText{author: fold(a.String()), title: fold(t.String()), subjects: fold(s.String())}
}

type textClass int

const (
	classNone textClass = iota
	classAuthor
	classTitle
	classSubject
)

// fieldClass says which index column subfield code of a field tagged
// tag belongs to.
func fieldClass(tag string, code byte) textClass {
	switch tag {
	case "100", "110", "111", "700", "710", "711", "720":
		switch code {
		case 't', 'p', 'k', 's', 'o':
			return classTitle // name/title entry: the title part
		case 'n':
			if tag[1:] == "11" {
				return classAuthor // number of a meeting belongs to its name
			}
			return classNone
		case 'e', 'j', 'i', 'l', 'f', 'm', 'r', 'h', 'x':
			return classNone // relators ("translator"), relationship, language, dates of a work, medium, key, ISSN
		}
		return classAuthor
	case "245":
		switch code {
		case 'c':
			return classAuthor // statement of responsibility
		case 'h':
			return classNone // medium
		}
		return classTitle
	case "130", "240", "243", "246", "247", "730", "740", "490", "830", "440":
		switch code {
		case 'x', 'v', 'i', 'w', 'h':
			return classNone // ISSN, numbering, display text, control numbers, medium
		}
		return classTitle
	case "800", "810", "811":
		if code == 't' || code == 'p' {
			return classTitle
		}
		return classNone
	}
	if len(tag) == 3 && tag[0] == '6' && tag[1] >= '0' && tag[1] <= '9' && tag[2] >= '0' && tag[2] <= '9' {
		return classSubject
	}
	return classNone
}

// isTextSubfield reports whether a subfield code carries words: letters
// do; digits carry links, sources and control numbers ($0, $2, $6, $8).
func isTextSubfield(code byte) bool {
	return code >= 'a' && code <= 'z' && code != 'w' || code >= 'A' && code <= 'Z'
}
