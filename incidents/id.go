package incidents

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultPrefix is the incident id prefix used when none is configured:
// ids read "OIS-2026-0042".
const DefaultPrefix = "OIS"

// ErrBadID is returned (wrapped) by ParseID for text that is not an
// incident id.
var ErrBadID = errors.New("not an incident id")

// ValidPrefix reports whether p can start an incident id: 1 to 16
// characters, an ASCII capital letter first, then capitals and digits. Ids
// are read aloud on the phone and typed into mail subjects, so nothing
// else is allowed.
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > 16 || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// FormatID returns the id of the seq-th incident of year: "OIS-2026-0042".
// The sequence has at least four digits and grows when it needs more.
func FormatID(prefix string, year, seq int) string {
	return fmt.Sprintf("%s-%04d-%04d", prefix, year, seq)
}

// ParseID splits an incident id into its prefix, year and sequence. It
// accepts lower case (people type ids from the phone) and returns the
// canonical upper-case form's parts.
func ParseID(s string) (prefix string, year, seq int, err error) {
	parts := strings.Split(strings.ToUpper(strings.TrimSpace(s)), "-")
	if len(parts) != 3 || !ValidPrefix(parts[0]) || len(parts[1]) != 4 || len(parts[2]) < 1 || len(parts[2]) > 9 {
		return "", 0, 0, fmt.Errorf("%q: %w (want PREFIX-YYYY-NNNN, e.g. OIS-2026-0042)", clip(s, 40), ErrBadID)
	}
	year, err1 := strconv.Atoi(parts[1])
	seq, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || !allDigits(parts[1]) || !allDigits(parts[2]) || seq == 0 {
		return "", 0, 0, fmt.Errorf("%q: %w (want PREFIX-YYYY-NNNN, e.g. OIS-2026-0042)", clip(s, 40), ErrBadID)
	}
	return parts[0], year, seq, nil
}

// CanonicalID returns s as a canonical incident id (upper case, trimmed),
// or an error wrapping ErrBadID.
func CanonicalID(s string) (string, error) {
	p, y, n, err := ParseID(s)
	if err != nil {
		return "", err
	}
	return FormatID(p, y, n), nil
}

// Tag returns the stable subject tag of an incident: "[OIS-2026-0042]".
func Tag(id string) string { return "[" + id + "]" }

// FindTag returns the first incident id written as a tag ("[OIS-2026-0042]")
// in s, a mail subject or body line, in canonical form. When prefix is not
// empty only ids with that prefix count.
func FindTag(s, prefix string) (string, bool) {
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			return "", false
		}
		s = s[i+1:]
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return "", false
		}
		if j <= 32 {
			if p, y, n, err := ParseID(s[:j]); err == nil && (prefix == "" || p == prefix) {
				return FormatID(p, y, n), true
			}
		}
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
