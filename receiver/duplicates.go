package receiver

import "time"

// DuplicatePolicy says what happens when the same record (same OCLC number,
// same content) is exported again within the window: Connexion's Retries
// setting resends a slow export, and catalogers press F5 twice.
type DuplicatePolicy string

// Duplicate policies.
const (
	// DuplicateSkip changes nothing and tells the cataloger the record was
	// already received (as record N at time T). The default.
	DuplicateSkip DuplicatePolicy = "skip"
	// DuplicateOverlay imports it again over the earlier copy.
	DuplicateOverlay DuplicatePolicy = "overlay"
	// DuplicateMarkDeleted stores the repeat as a new record and marks that
	// newer copy "STA 1_ $a DELETED", as the library's procedure says for an
	// accidental double export.
	DuplicateMarkDeleted DuplicatePolicy = "mark-deleted"
)

// Duplicates configures repeated-export handling.
type Duplicates struct {
	Policy DuplicatePolicy // default DuplicateSkip
	Window time.Duration   // default 24 h
}

// DefaultDuplicates is the policy used when none is configured.
var DefaultDuplicates = Duplicates{Policy: DuplicateSkip, Window: 24 * time.Hour}

// Valid reports whether p is one of the known policies.
func (p DuplicatePolicy) Valid() bool {
	switch p {
	case DuplicateSkip, DuplicateOverlay, DuplicateMarkDeleted:
		return true
	}
	return false
}
