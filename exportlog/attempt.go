// Package exportlog records every Connexion export attempt, successful or
// not, and delivers each one, as it is recorded, to whoever watches (the
// bot). It is the single source of truth for "what happened to the record
// I exported at 10:42".
package exportlog

import "time"

// Class says who has to act on a failure (see DESIGN.md, failure classes).
type Class string

// Failure classes. A successful attempt has ClassNone.
const (
	ClassNone      Class = ""          // success
	ClassSystem    Class = "system"    // the path is broken: counts toward an incident
	ClassTransport Class = "transport" // the connection failed: counts only when frequent
	ClassRecord    Class = "record"    // the record or the login was refused: the cataloger's business
)

// Outcome says what happened to one record (or, for a request that never
// yielded a record, to the request).
type Outcome string

// Outcomes.
const (
	OutcomeAdded     Outcome = "added"     // stored as a new catalog record
	OutcomeMerged    Outcome = "merged"    // overlaid an existing catalog record
	OutcomeDuplicate Outcome = "duplicate" // repeated export within the window (policy decides what was done)
	OutcomeRelayed   Outcome = "relayed"   // delivered to the upstream ILS, which accepted it
	OutcomeQueued    Outcome = "queued"    // stored durably, to be delivered to the upstream later
	OutcomeDelivered Outcome = "delivered" // a queued record reached the upstream later
	OutcomeCanary    Outcome = "canary"    // probe export: went through the path, not stored
	OutcomeRejected  Outcome = "rejected"  // refused; nothing was stored
	OutcomeFailed    Outcome = "failed"    // could not be handled; nothing was stored
)

// Succeeded reports whether o means the record is safe (stored, relayed,
// queued or deliberately skipped as a duplicate).
func (o Outcome) Succeeded() bool {
	switch o {
	case OutcomeAdded, OutcomeMerged, OutcomeDuplicate, OutcomeRelayed, OutcomeQueued, OutcomeDelivered, OutcomeCanary:
		return true
	}
	return false
}

// Causes: a short, stable machine word for why an attempt failed. Detectors
// and templates switch on these; Detail carries the human text.
const (
	CauseInvalidRecord   = "invalid-record"   // MARC did not decode
	CauseCharset         = "charset"          // MARC-8 bytes with no Unicode mapping
	CauseRule            = "rule"             // an import rule refused the record
	CauseTargetNotFound  = "target-not-found" // 035 names a local record that does not exist
	CauseTargetNotOurs   = "target-not-ours"  // the targeted record's 049 is another library's
	CauseAmbiguousMatch  = "ambiguous-match"  // several catalog records share the OCLC number
	CauseDuplicate       = "duplicate"        // repeated export refused by policy
	CauseAuth            = "auth"             // wrong user or password
	CauseRateLimited     = "rate-limited"     // too many failed logins from the address
	CauseStorage         = "storage"          // the catalog could not commit
	CauseUpstreamDown    = "upstream-down"    // relay upstream refused or unreachable
	CauseUpstreamTimeout = "upstream-timeout" // relay upstream did not answer in time
	CauseUpstreamError   = "upstream-error"   // relay upstream answered with an error
	CauseDropped         = "dropped"          // an operator dropped a queued record: it was never delivered and must be exported again
	CauseClientGone      = "client-gone"      // the client went away before the reply
	CauseIncomplete      = "incomplete"       // the request ended before a whole record arrived
	CauseReadTimeout     = "read-timeout"     // the client stopped sending
	CauseProtocol        = "protocol"         // the bytes were not a Connexion request
	CauseTooLarge        = "too-large"        // the request exceeded the size or record limits
	CauseBusy            = "busy"             // refused: too many connections
	CauseInternal        = "internal"         // a bug; logged with details
)

// Attempt is one export attempt of one record (RecordIndex >= 0), or a
// request-level event that concerns no single record (RecordIndex == -1:
// a protocol error, a failed login, a client that vanished).
//
// Attempt never holds a password: Request is the raw request with every
// secret overwritten (gateway.Request.Raw).
type Attempt struct {
	ID          int64     // assigned by the log, increasing
	RequestID   uint64    // gateway.Request.ID, shared by the records of one request
	Time        time.Time // when the request's first byte arrived
	Done        time.Time // when the outcome was decided (reply ready)
	RemoteAddr  string
	User        string // login used (never the password)
	Target      string // what handled it: "catalog", "upstream:HOST:PORT", "listener"
	RecordIndex int    // position of the record in the request, from 0; -1 for request-level events
	Follows     int64  // for a later event about an earlier attempt (a queued record delivered), that attempt's ID; 0 otherwise

	OCLCNumber   string // normalised, "" when none
	Title        string // 245 for people, "" when the record did not decode
	SystemNumber string // local system number stored or overlaid, "" when none

	Outcome Outcome
	Class   Class
	Cause   string // one of the Cause constants, "" on success
	Detail  string // human explanation of a failure, for OIS (never secrets)

	Reply    string // the line sent to the cataloger for this record
	Upstream string // the upstream ILS's reply, verbatim, in relay mode

	// Timings, measured by the receiver. An attempt written in the
	// transaction that stores its record (a one-record export to the
	// embedded catalog) is composed just before that transaction
	// commits: its Done, Store and Elapsed leave out the commit itself.
	Decode  time.Duration // parse and convert
	Store   time.Duration // catalog write or upstream round trip
	Elapsed time.Duration // first byte to reply ready

	Record  []byte // the record as received (raw ISO 2709), nil for request-level events
	Request []byte // the whole request as received, secrets overwritten; may be nil for records after the first of a request
}

// Failed reports whether the attempt is a failure of any class.
func (a *Attempt) Failed() bool { return a.Class != ClassNone }
