package incidents

import (
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// Journal is what changed in an incident since the last TakeChanges: the
// store writes exactly this (plus the incident's own fields) in one
// transaction.
type Journal struct {
	Events   []Event    // appended timeline events
	Messages []Message  // captured messages added or updated (by Seq)
	Dropped  []int      // Seq of captured messages dropped to stay bounded
	Affected []Affected // affected attempts added or changed (by AttemptID)
}

// Empty reports whether nothing changed.
func (j Journal) Empty() bool {
	return len(j.Events) == 0 && len(j.Messages) == 0 && len(j.Dropped) == 0 && len(j.Affected) == 0
}

// Opening describes a new incident for New.
type Opening struct {
	ID       string
	Target   string
	Cause    string
	Class    exportlog.Class
	Severity Severity // 0: SeverityOf(Target, Cause, Class)
	Time     time.Time
	Actor    string // System, or who reported it
	Reported bool   // a person's report, not (yet) confirmed by the detectors
	Text     string // first timeline entry, plain words
}

// New returns a new open incident whose timeline starts with an "opened"
// (or, for a report, "reported") event.
func New(o Opening) *Incident {
	if o.Severity == 0 {
		o.Severity = SeverityOf(o.Target, o.Cause, o.Class)
	}
	if o.Actor == "" {
		o.Actor = System
	}
	inc := &Incident{
		ID: o.ID, Target: o.Target, Cause: o.Cause, Class: o.Class, Severity: o.Severity,
		State: StateOpen, Reported: o.Reported, Opened: o.Time, Since: o.Time,
	}
	kind := EventOpened
	if o.Reported {
		kind = EventReported
	}
	inc.Append(kind, o.Actor, o.Time, o.Text)
	return inc
}

// Append adds an event to the timeline and returns it. Events that change
// the state have their own methods; Append is for the others (update,
// reminder, escalated, announced, suppressed, mail).
func (inc *Incident) Append(kind EventKind, actor string, at time.Time, text string) Event {
	if actor == "" {
		actor = System
	}
	e := Event{Seq: inc.EventSeq() + 1, Time: at, Kind: kind, Actor: actor, Text: text}
	inc.Timeline = append(inc.Timeline, e)
	inc.journal.Events = append(inc.journal.Events, e)
	return e
}

// Failed records one more failed export at at.
func (inc *Incident) Failed(at time.Time) { inc.failed(at) }

// CheckFailed records one more failed check (a probe: a connection test,
// a canary export, the index check) at at.
func (inc *Incident) CheckFailed(at time.Time) {
	inc.CheckFailures++
	inc.failed(at)
}

func (inc *Incident) failed(at time.Time) {
	inc.Failures++
	if inc.FirstFailure.IsZero() || at.Before(inc.FirstFailure) {
		inc.FirstFailure = at
	}
	if at.After(inc.LastFailure) {
		inc.LastFailure = at
	}
}

// Confirm turns a reported incident into a confirmed one: the detectors
// now see the problem the person reported. It records a "confirmed" event
// and returns it; it returns false when the incident was not a report.
func (inc *Incident) Confirm(at time.Time, cause string, class exportlog.Class, text string) (Event, bool) {
	if !inc.Reported {
		return Event{}, false
	}
	inc.Reported = false
	inc.Cause, inc.Class = cause, class
	inc.Severity = SeverityOf(inc.Target, cause, class)
	return inc.Append(EventConfirmed, System, at, text), true
}

// Acknowledge records that actor is working on the incident. It stops
// reminders and escalation. It fails with ErrAlreadyAcknowledged or
// ErrAlreadySolved.
func (inc *Incident) Acknowledge(actor string, at time.Time) (Event, error) {
	if strings.TrimSpace(actor) == "" {
		return Event{}, ErrNoActor
	}
	switch inc.State {
	case StateAcknowledged:
		return Event{}, fmt.Errorf("%s: %w by %s", inc.ID, ErrAlreadyAcknowledged, inc.AckedBy)
	case StateSolved:
		return Event{}, fmt.Errorf("%s: %w", inc.ID, ErrAlreadySolved)
	}
	inc.State = StateAcknowledged
	inc.AckedAt, inc.AckedBy = at, actor
	return inc.Append(EventAcknowledged, actor, at, "acknowledged by "+actor), nil
}

// Solve records that the incident is over: actor is System when the
// recovery rule held, else the person who solved it; text says why. Every
// affected record still marked failed becomes NeedsReexport. It fails
// with ErrAlreadySolved.
func (inc *Incident) Solve(actor string, at time.Time, text string) (Event, error) {
	if strings.TrimSpace(actor) == "" {
		return Event{}, ErrNoActor
	}
	if inc.State == StateSolved {
		return Event{}, fmt.Errorf("%s: %w", inc.ID, ErrAlreadySolved)
	}
	inc.State = StateSolved
	inc.SolvedAt, inc.SolvedBy = at, actor
	for i := range inc.Affected {
		if inc.Affected[i].Status == StatusFailed {
			inc.Affected[i].Status = StatusReexport
			inc.Affected[i].Updated = at
			inc.journal.Affected = append(inc.journal.Affected, inc.Affected[i])
		}
	}
	if text == "" {
		text = "solved by " + actor
	}
	return inc.Append(EventSolved, actor, at, text), nil
}

// Reopen makes a solved incident open again (failures came back within the
// reopen window): same id, a new episode whose acknowledgement, escalation
// and reminders start afresh. It fails with ErrNotSolved.
func (inc *Incident) Reopen(actor string, at time.Time, text string) (Event, error) {
	if inc.State != StateSolved {
		return Event{}, fmt.Errorf("%s: %w", inc.ID, ErrNotSolved)
	}
	inc.State = StateOpen
	inc.Reopens++
	inc.Since = at
	inc.SolvedAt, inc.SolvedBy = time.Time{}, ""
	inc.AckedAt, inc.AckedBy = time.Time{}, ""
	inc.Escalated, inc.LastReminder, inc.AnnouncedAt = time.Time{}, time.Time{}, time.Time{}
	if text == "" {
		text = "reopened"
	}
	return inc.Append(EventReopened, actor, at, text), nil
}

// AddNote records a person's note. Notes are allowed in every state.
func (inc *Incident) AddNote(actor string, at time.Time, text string) (Event, error) {
	if strings.TrimSpace(actor) == "" {
		return Event{}, ErrNoActor
	}
	if strings.TrimSpace(text) == "" {
		return Event{}, ErrEmptyNote
	}
	return inc.Append(EventNote, actor, at, text), nil
}

// TakeChanges returns the journal of changes since the previous call and
// starts a new one.
func (inc *Incident) TakeChanges() Journal {
	j := inc.journal
	inc.journal = Journal{}
	return j
}

// PeekChanges returns the journal without resetting it.
func (inc *Incident) PeekChanges() *Journal { return &inc.journal }
