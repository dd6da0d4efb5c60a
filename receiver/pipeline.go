package receiver

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/marc"
)

// refusal is a record the pipeline refused before the sink: nothing was
// stored.
type refusal struct {
	outcome exportlog.Outcome
	class   exportlog.Class
	cause   string
	problem string // plain words for the cataloger (ReplyData.Problem)
	detail  string // for the export log and the systems office
}

func refuse(cause, problem, detail string) *refusal {
	return &refusal{outcome: exportlog.OutcomeRejected, class: exportlog.ClassRecord, cause: cause, problem: problem, detail: detail}
}

// prepare runs the per-record pipeline up to the sink: strict decoding,
// MARC-8 to UTF-8, identifiers, the account's 049 check, the import rules
// and the content hash. It returns the item, notes on what the rules did
// (for the export log), or a refusal. raw is not modified or retained
// beyond Item.Raw.
func (r *Receiver) prepare(raw []byte, index int, acct *account) (*Item, string, *refusal) {
	item := &Item{Index: index, Raw: raw}
	orig, err := marc.Decode(raw)
	if err != nil {
		return item, "", refuse(exportlog.CauseInvalidRecord, decodeProblem(err), "invalid MARC record: "+err.Error())
	}
	item.Original = orig
	// Identifiers come from the record as received, before any rule can
	// delete the fields that carry them.
	item.OCLCNumber = marc.OCLCNumber(orig)
	item.OCLCNumbers = marc.OCLCNumbers(orig)

	rec, rf := toUTF8(orig)
	if rf != nil {
		return item, "", rf
	}
	item.Title, item.Author = rec.Title(), rec.Author()

	if acct != nil {
		if err := CheckAllowed049(rec, acct.allowed); err != nil {
			return item, "", refuse(exportlog.CauseRule, err.Error(), fmt.Sprintf("login %q: %v", acct.user, err))
		}
	}
	target, err := TargetNumber(rec, r.cfg.TargetPrefix)
	if err != nil {
		return item, "", refuse(exportlog.CauseRule, err.Error(), "targeting: "+err.Error())
	}
	var notes []string
	item.Target = target
	if target != "" { // TargetNumber found no targeting 035 otherwise
		n := RemoveTargeting(rec, r.cfg.TargetPrefix)
		notes = append(notes, fmt.Sprintf("targets %s%s: removed %d targeting 035", r.cfg.TargetPrefix, target, n))
	}
	if note := ApplyCatalogingLanguage(rec); note != "" {
		notes = append(notes, note)
	}
	item.Record = rec

	hash, err := ContentHash(rec)
	if err != nil {
		var ee *marc.EncodeError
		problem := "it cannot be stored as MARC after conversion to UTF-8"
		if errors.As(err, &ee) && errors.Is(ee.Kind, marc.ErrTooLong) {
			problem = "it is too long once converted to UTF-8 (MARC allows 99,999 bytes per record and 9,999 per field)"
		}
		return item, "", refuse(exportlog.CauseInvalidRecord, problem, "encode prepared record: "+err.Error())
	}
	item.Hash = hash
	return item, strings.Join(notes, "; "), nil
}

// toUTF8 returns a UTF-8 copy of orig, converting MARC-8 (leader/09
// blank) and checking that a UTF-8 record ('a') really is UTF-8.
func toUTF8(orig *marc.Record) (*marc.Record, *refusal) {
	if orig.Leader[marc.CharCodingPos] == 'a' {
		if p := invalidUTF8(orig); p != "" {
			return nil, refuse(exportlog.CauseCharset, p, "leader/09 says UTF-8 but "+p)
		}
		return orig.Clone(), nil
	}
	rec, err := marc.ToUTF8(orig)
	if err == nil {
		return rec, nil
	}
	var ce *marc.ConvertError
	var m8 *marc.MARC8Error
	switch {
	case errors.Is(err, marc.ErrUnknownCharCoding):
		c := orig.Leader[marc.CharCodingPos]
		return nil, refuse(exportlog.CauseCharset,
			fmt.Sprintf("its character coding (leader/09) is %q, but must be blank (MARC-8) or \"a\" (UTF-8)", c),
			"MARC-8 conversion: "+err.Error())
	case errors.As(err, &ce) && errors.As(err, &m8):
		return nil, refuse(exportlog.CauseCharset,
			fmt.Sprintf("%s holds MARC-8 characters that cannot be converted to Unicode (bytes % X)", place(ce), m8.Bytes),
			"MARC-8 conversion: "+err.Error())
	}
	return nil, refuse(exportlog.CauseCharset, "some of its characters cannot be converted from MARC-8 to Unicode",
		"MARC-8 conversion: "+err.Error())
}

// place names a field (and subfield) for a cataloger: "field 245 $a".
func place(ce *marc.ConvertError) string {
	if ce.Subfield < 0 || ce.Code == 0 {
		return "field " + printable(ce.Tag)
	}
	return "field " + printable(ce.Tag) + " $" + printable(string(ce.Code))
}

// invalidUTF8 names the first value of r that is not UTF-8, or "".
func invalidUTF8(r *marc.Record) string {
	bad := func(v string) string {
		if utf8.ValidString(v) {
			return ""
		}
		i := 0
		for i < len(v) {
			c, n := utf8.DecodeRuneInString(v[i:])
			if c == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Sprintf("% X", v[i:min(i+4, len(v))])
	}
	for _, f := range r.Fields {
		if b := bad(f.Value); b != "" {
			return fmt.Sprintf("field %s is not valid UTF-8 (bytes %s)", printable(f.Tag), b)
		}
		for _, sf := range f.Subfields {
			if b := bad(sf.Value); b != "" {
				return fmt.Sprintf("field %s $%s is not valid UTF-8 (bytes %s)", printable(f.Tag), printable(string(sf.Code)), b)
			}
		}
	}
	return ""
}

// printable keeps tags and codes from garbling a reply.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// decodeProblem says in plain words what is wrong with a record that
// does not decode, followed by the decoder's precise description.
func decodeProblem(err error) string {
	var de *marc.DecodeError
	if !errors.As(err, &de) {
		return "it could not be read"
	}
	phrase := "it is damaged"
	for _, k := range []struct {
		kind   error
		phrase string
	}{
		{marc.ErrRecordLength, "its length (the first five characters of the leader) does not match its size"},
		{marc.ErrLeader, "its leader is not a MARC 21 leader"},
		{marc.ErrBaseAddress, "its leader's base address of data is wrong"},
		{marc.ErrDirectory, "its directory (the list of fields) is damaged"},
		{marc.ErrTag, "a field has a tag that is not three letters or digits"},
		{marc.ErrFieldBounds, "a field lies outside the record"},
		{marc.ErrTerminator, "a field or the record does not end where it should"},
		{marc.ErrIndicator, "a field has bad indicators"},
		{marc.ErrSubfield, "a field has a malformed subfield"},
		{marc.ErrFieldData, "a field contains a character MARC does not allow"},
	} {
		if errors.Is(de, k.kind) {
			phrase = k.phrase
			break
		}
	}
	if de.Detail == "" {
		return phrase
	}
	return phrase + " (" + de.Detail + ")"
}

// ContentHash is the hex SHA-256 of r encoded as ISO 2709 without its 005
// fields (the date and time of latest transaction, which Connexion
// updates on every export). Two exports of the same record, unchanged,
// hash the same.
func ContentHash(r *marc.Record) (string, error) {
	tmp := *r
	tmp.Fields = make([]marc.Field, 0, len(r.Fields))
	for _, f := range r.Fields {
		if f.Tag != "005" {
			tmp.Fields = append(tmp.Fields, f)
		}
	}
	b, err := marc.Encode(&tmp)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
