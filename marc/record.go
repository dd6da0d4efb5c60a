// Package marc reads and writes MARC 21 bibliographic records in ISO 2709
// form, converts between MARC-8 and UTF-8, prints records in the formats
// catalogers and systems staff use (MARC mnemonic, yaz-marcdump line format,
// MARCXML, MARC-in-JSON) and extracts OCLC control numbers.
//
// The package uses the standard library only.
package marc

// Structural bytes of an ISO 2709 record.
const (
	RecordTerminator  = 0x1D // ends a record
	FieldTerminator   = 0x1E // ends the directory and every field
	SubfieldDelimiter = 0x1F // starts every subfield of a data field
)

// Sizes fixed by ISO 2709 as profiled by MARC 21.
const (
	LeaderLen         = 24
	DirEntryLen       = 12
	MaxRecordLen      = 99999 // the 5-digit record length cannot express more
	CharCodingPos     = 9     // leader/09: ' ' = MARC-8, 'a' = UTF-8 (UCS)
	EncodingLevelPos  = 17    // leader/17
	recordStatusPos   = 5
	baseAddressOffset = 12 // leader/12-16
)

// Leader is the fixed 24-byte record leader. Positions 00-04 (record length)
// and 12-16 (base address of data) are recomputed by Encode.
type Leader [LeaderLen]byte

// Record is one MARC record: its leader and its fields in directory order.
//
// Field values are kept in the record's own character coding (MARC-8 bytes
// when leader/09 is blank, UTF-8 when it is 'a'); see ToUTF8 for conversion.
type Record struct {
	Leader Leader
	Fields []Field
}

// Field is a control field (tags 001-009: Value set, no indicators or
// subfields) or a data field (indicators and subfields, Value empty).
type Field struct {
	Tag       string // always 3 bytes
	Value     string // control field data, without the field terminator
	Ind1      byte
	Ind2      byte
	Subfields []Subfield
}

// Subfield is one coded element of a data field.
type Subfield struct {
	Code  byte
	Value string
}

// IsControlTag reports whether tag names a control field (001-009, "00"
// followed by any character other than "0" counts, as in yaz and MARC 21).
func IsControlTag(tag string) bool {
	return len(tag) == 3 && tag[0] == '0' && tag[1] == '0'
}

// IsControl reports whether f is a control field.
func (f *Field) IsControl() bool { return IsControlTag(f.Tag) }
