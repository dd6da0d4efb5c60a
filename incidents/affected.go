package incidents

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/marc"
)

// Status says what became of a record an incident affected. It is what
// the SOLVED notice tells catalogers about each record.
type Status string

// Statuses of affected records.
const (
	StatusFailed    Status = "failed"          // not stored; the incident is still going on
	StatusQueued    Status = "queued"          // kept by oclcbot, waiting for the upstream ILS; do not export again
	StatusDelivered Status = "delivered-later" // was queued, reached the upstream later; nothing to do
	StatusReexport  Status = "needs-re-export" // lost: the cataloger must export it again
	StatusRefused   Status = "refused-by-ils"  // was queued; the ILS refused it on its merits and it was set aside for the systems office
)

// Words returns the status in plain words for catalogers.
func (s Status) Words() string {
	switch s {
	case StatusFailed:
		return "did not arrive"
	case StatusQueued:
		return "kept by oclcbot, will be delivered (do not export again)"
	case StatusDelivered:
		return "delivered later (nothing to do)"
	case StatusReexport:
		return "did not arrive: export it again"
	case StatusRefused:
		return "refused by the local system: the systems office will correct it (do not export again unless asked)"
	}
	return string(s)
}

// Affected is one export attempt an incident affected, with its record.
type Affected struct {
	AttemptID  int64             `json:"attempt_id"`
	Time       time.Time         `json:"time"`   // when the export arrived
	User       string            `json:"user"`   // the login that exported it
	Target     string            `json:"target"` // what was to store it
	OCLCNumber string            `json:"oclc_number"`
	Title      string            `json:"title"`
	Outcome    exportlog.Outcome `json:"outcome"`
	Cause      string            `json:"cause"`
	Reply      string            `json:"reply"`    // what the cataloger saw
	Upstream   string            `json:"upstream"` // the upstream's reply, verbatim
	Detail     string            `json:"detail"`   // for the systems office
	Status     Status            `json:"status"`
	Updated    time.Time         `json:"updated"` // when Status last changed
	// Announced is true once a notification has listed the record; records
	// not yet announced go into the next update.
	Announced bool `json:"announced"`
	// Printout is the record in MARC mnemonic form (UTF-8), for people.
	Printout string `json:"printout,omitempty"`
	// Raw is the record exactly as received (ISO 2709); only the OIS
	// report carries it.
	Raw []byte `json:"raw,omitempty"`
}

// StatusWords returns Status.Words, for templates.
func (a Affected) StatusWords() string { return a.Status.Words() }

// NewAffected returns the affected-record entry for a failed or queued
// attempt. Attempts that carry no record (request-level events) are not
// affected records: ok is false for them.
func NewAffected(a *exportlog.Attempt, at time.Time) (aff Affected, ok bool) {
	if a == nil || a.RecordIndex < 0 || len(a.Record) == 0 {
		return Affected{}, false
	}
	st := StatusFailed
	if a.Outcome == exportlog.OutcomeQueued {
		st = StatusQueued
	}
	return Affected{
		AttemptID: a.ID, Time: a.Time, User: a.User, Target: a.Target,
		OCLCNumber: a.OCLCNumber, Title: a.Title, Outcome: a.Outcome, Cause: a.Cause,
		Reply: a.Reply, Upstream: a.Upstream, Detail: a.Detail,
		Status: st, Updated: at,
		Printout: Printout(a.Record),
		Raw:      append([]byte(nil), a.Record...),
	}, true
}

// AddAffected adds a to the incident unless an entry for the same attempt
// is already there; it reports whether it was added.
func (inc *Incident) AddAffected(a Affected) bool {
	for i := range inc.Affected {
		if inc.Affected[i].AttemptID == a.AttemptID {
			return false
		}
	}
	if inc.State == StateSolved && a.Status == StatusFailed {
		a.Status = StatusReexport
	}
	inc.Affected = append(inc.Affected, a)
	inc.journal.Affected = append(inc.journal.Affected, a)
	return true
}

// SetStatus changes the status of the affected record of attempt id (a
// queued record delivered later, for one). It reports whether the
// incident has that record and its status changed.
func (inc *Incident) SetStatus(attemptID int64, st Status, at time.Time) bool {
	for i := range inc.Affected {
		a := &inc.Affected[i]
		if a.AttemptID != attemptID || a.Status == st {
			continue
		}
		a.Status, a.Updated = st, at
		inc.journal.Affected = append(inc.journal.Affected, *a)
		return true
	}
	return false
}

// MarkAnnounced marks the records of the given attempts as listed in a
// notification.
func (inc *Incident) MarkAnnounced(ids []int64) {
	for _, id := range ids {
		for i := range inc.Affected {
			a := &inc.Affected[i]
			if a.AttemptID == id && !a.Announced {
				a.Announced = true
				inc.journal.Affected = append(inc.journal.Affected, *a)
			}
		}
	}
}

// Unannounced returns the affected records no notification has listed yet.
func (inc *Incident) Unannounced() []Affected {
	var out []Affected
	for _, a := range inc.Affected {
		if !a.Announced {
			out = append(out, a)
		}
	}
	return out
}

// Counts tallies the affected records by status.
type Counts struct {
	Records   int `json:"records"`   // affected records
	Failed    int `json:"failed"`    // StatusFailed
	Queued    int `json:"queued"`    // StatusQueued
	Delivered int `json:"delivered"` // StatusDelivered
	Reexport  int `json:"reexport"`  // StatusReexport
	Refused   int `json:"refused"`   // StatusRefused
}

// CountRecords tallies the incident's affected records.
func (inc *Incident) CountRecords() Counts {
	var c Counts
	for _, a := range inc.Affected {
		c.Records++
		switch a.Status {
		case StatusFailed:
			c.Failed++
		case StatusQueued:
			c.Queued++
		case StatusDelivered:
			c.Delivered++
		case StatusReexport:
			c.Reexport++
		case StatusRefused:
			c.Refused++
		}
	}
	return c
}

// Printout returns raw (one ISO 2709 record) in MARC mnemonic form with
// field data in UTF-8, for people to read. A record that does not decode
// is shown as text with its control characters made visible, after a line
// saying why.
func Printout(raw []byte) string {
	r, err := marc.Decode(raw)
	if err != nil {
		return fmt.Sprintf("(the record could not be decoded: %v; the bytes received were:)\n%s\n", err, visible(raw))
	}
	if r.Leader[marc.CharCodingPos] != 'a' {
		if u, _ := marc.ToUTF8Lenient(r); u != nil {
			r = u
		}
	}
	return string(marc.AppendMnemonic(nil, r))
}

// visible makes control bytes and invalid UTF-8 readable: ISO 2709
// terminators as ^^ ^^ and ^_ (yaz's convention), others as <HH>.
func visible(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		c := b[0]
		switch {
		case c == marc.RecordTerminator:
			s.WriteString("^]")
		case c == marc.FieldTerminator:
			s.WriteString("^^\n")
		case c == marc.SubfieldDelimiter:
			s.WriteString("$")
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&s, "<%02X>", c)
		case c < 0x80:
			s.WriteByte(c)
		default:
			r, n := utf8.DecodeRune(b)
			if r == utf8.RuneError && n <= 1 {
				fmt.Fprintf(&s, "<%02X>", c)
				n = 1
			} else {
				s.Write(b[:n])
			}
			b = b[n:]
			continue
		}
		b = b[1:]
	}
	return s.String()
}
