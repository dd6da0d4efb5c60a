// Package incidents is oclcbot's vocabulary for problems with the export
// path: the Incident and its lifecycle (open, acknowledged, solved,
// reopened), its timeline, the messages captured verbatim while it lasted,
// the export attempts it affected, the notifications it caused (the outbox
// rows) and the data the notification templates and the OIS report are
// rendered from.
//
// The package does no I/O: the bot decides, this package records the
// decision, and incidents/sqlite stores it. Channels (email, Slack, the
// OIS report) import this package for Notification and Notice and nothing
// else of the bot.
package incidents

import (
	"errors"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// State is where an incident is in its lifecycle. A reopened incident is
// open again; it keeps its id.
type State string

// Incident states.
const (
	StateOpen         State = "open"         // failing, nobody has acknowledged it
	StateAcknowledged State = "acknowledged" // failing, someone is working on it
	StateSolved       State = "solved"       // over (recovered, or solved by a person)
)

// Active reports whether s is open or acknowledged.
func (s State) Active() bool { return s == StateOpen || s == StateAcknowledged }

// Severity ranks incidents. A listener that cannot be reached is the
// highest: catalogers see "Unable to open the TCP/IP connection" and
// nothing at all arrives.
type Severity int

// Severities, lowest first.
const (
	SeverityMinor    Severity = 1 // a degraded path (frequent transport errors, slow indexing)
	SeverityMajor    Severity = 2 // records are not being stored or delivered
	SeverityCritical Severity = 3 // the listener is unreachable
)

// String returns "minor", "major" or "critical".
func (s Severity) String() string {
	switch s {
	case SeverityMinor:
		return "minor"
	case SeverityMajor:
		return "major"
	case SeverityCritical:
		return "critical"
	}
	return "unknown"
}

// Well-known targets (see bot.Observation). Upstreams are "upstream:HOST:PORT".
const (
	TargetListener = "listener"
	TargetCatalog  = "catalog"
	TargetIndex    = "index"
	TargetUnknown  = "unknown" // a staff report that names no target
)

// Cause words for problems that no export attempt carries (exportlog.Cause*
// cover the rest).
const (
	CauseReported     = "reported"      // a person reported it; no check has confirmed it yet
	CauseListenerDown = "listener-down" // the listener probe cannot connect
	CauseIndexStalled = "index-stalled" // imported records do not become searchable
	CauseProbe        = "probe-failed"  // another probe failed
	CauseTransport    = "transport"     // many connections fail before the reply
)

// SeverityOf returns the severity of a problem with target caused by cause.
func SeverityOf(target, cause string, class exportlog.Class) Severity {
	switch {
	case target == TargetListener || cause == CauseListenerDown:
		return SeverityCritical
	case class == exportlog.ClassTransport || target == TargetIndex || cause == CauseIndexStalled:
		return SeverityMinor
	}
	return SeverityMajor
}

// Errors returned by the lifecycle methods. Callers test them with
// errors.Is; the CLI shows them as they are.
var (
	ErrAlreadyAcknowledged = errors.New("incident is already acknowledged")
	ErrAlreadySolved       = errors.New("incident is already solved")
	ErrNotSolved           = errors.New("incident is not solved")
	ErrEmptyNote           = errors.New("a note needs some text")
	ErrNoActor             = errors.New("who did it must be recorded (empty actor)")
)

// Incident is one problem with one target, from the first failure that
// confirmed it to its solution, including any reopening within the reopen
// window. Its methods change it and record each change in the timeline
// and in a journal that TakeChanges hands to the store.
//
// An Incident is not safe for concurrent use.
type Incident struct {
	ID       string          // "OIS-2026-0042"
	Target   string          // "listener", "catalog", "upstream:HOST:PORT", "index", "unknown"
	Cause    string          // exportlog.Cause* or one of this package's Cause* words
	Class    exportlog.Class // class of the failures that confirmed it
	Severity Severity
	State    State
	// Reported is true while the incident rests only on a person's report
	// (a staff mail): the detectors have not confirmed it.
	Reported bool

	Opened       time.Time // when it was opened
	Since        time.Time // start of the current episode: Opened, or the last reopening
	FirstFailure time.Time // first failure recorded (zero for a bare report)
	LastFailure  time.Time // latest failure recorded
	AckedAt      time.Time // zero unless acknowledged in the current episode
	AckedBy      string
	SolvedAt     time.Time // zero unless solved
	SolvedBy     string
	Reopens      int // times reopened
	// Failures counts the failures recorded: failed exports (Failed) and
	// failed checks (CheckFailed). CheckFailures of them were checks.
	Failures      int
	CheckFailures int

	// AnnouncedAt is when the current episode was first announced on some
	// channel (zero while silences hold it back): reminders and escalation
	// count from it.
	AnnouncedAt  time.Time
	Escalated    time.Time // when escalated in the current episode; zero: not yet
	LastReminder time.Time // latest reminder in the current episode
	LastNotice   time.Time // latest alert, update or reminder: paces updates

	Timeline     []Event    // every event, oldest first
	Messages     []Message  // distinct captured messages kept (see Limits), in order of first appearance
	MessageCount int        // distinct messages ever captured; MessageCount - len(Messages) were omitted
	Affected     []Affected // export attempts it affected, oldest first

	// Version is the store's optimistic-concurrency counter: 0 for an
	// incident never stored. The store refuses to save a change made to a
	// stale copy.
	Version int

	journal Journal
}

// Omitted returns how many distinct captured messages were dropped from
// the middle to keep the incident bounded.
func (inc *Incident) Omitted() int { return inc.MessageCount - len(inc.Messages) }

// ExportFailures returns how many of Failures were failed exports.
func (inc *Incident) ExportFailures() int { return inc.Failures - inc.CheckFailures }

// Duration returns how long the incident lasted (until now if it is not
// solved), measured from the first failure (or the opening when there was
// none) to the solution.
func (inc *Incident) Duration(now time.Time) time.Duration {
	start := inc.FirstFailure
	if start.IsZero() || inc.Opened.Before(start) {
		start = inc.Opened
	}
	end := now
	if inc.State == StateSolved {
		end = inc.SolvedAt
	}
	if end.Before(start) {
		return 0
	}
	return end.Sub(start)
}

// EventSeq returns the sequence number of the latest timeline event (0
// when there is none).
func (inc *Incident) EventSeq() int {
	if len(inc.Timeline) == 0 {
		return 0
	}
	return inc.Timeline[len(inc.Timeline)-1].Seq
}

// EventKind names a timeline event.
type EventKind string

// Timeline event kinds.
const (
	EventOpened       EventKind = "opened"       // the detectors confirmed a problem
	EventReported     EventKind = "reported"     // a person reported a problem (opens a reported incident)
	EventConfirmed    EventKind = "confirmed"    // the detectors confirmed a reported incident
	EventAcknowledged EventKind = "acknowledged" // someone is working on it
	EventSolved       EventKind = "solved"       // recovered, or solved by a person
	EventReopened     EventKind = "reopened"     // failures again within the reopen window
	EventNote         EventKind = "note"         // a person's note
	EventUpdate       EventKind = "update"       // more records failed; an update was announced
	EventReminder     EventKind = "reminder"     // still unacknowledged: a reminder was announced
	EventEscalated    EventKind = "escalated"    // unacknowledged too long: escalated to the OIS report
	EventAnnounced    EventKind = "announced"    // a silence ended: what changed inside it was announced
	EventSuppressed   EventKind = "suppressed"   // an announcement was held back by a silence or maintenance window
	EventMail         EventKind = "mail"         // a mail about it arrived (staff report, list post)
)

// Event is one entry of an incident's timeline.
type Event struct {
	Seq   int       `json:"seq"`  // 1, 2, ... within the incident; notification keys use it
	Time  time.Time `json:"time"` // when it happened
	Kind  EventKind `json:"kind"`
	Actor string    `json:"actor"` // "oclcbot" for the bot's own decisions, else a person or address
	Text  string    `json:"text"`  // plain words: "3 exports to the catalog failed in a row"
}

// System is the actor recorded for the bot's own decisions.
const System = "oclcbot"

// ErrNotFound is returned (wrapped) when no incident, notification or
// silence has the id or key asked for.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) by a store asked to save a change made
// to an incident that someone else changed since it was read (another
// process acknowledged it from the CLI, say). Reload and decide again.
var ErrConflict = errors.New("incident changed since it was read")
