package relay

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
)

// Export-log events for queued records. When a queued record is
// delivered, dropped, or set aside because the upstream refused it, the
// relay appends an attempt that follows the OutcomeQueued attempt the
// receiver recorded for it. The relay does not learn that attempt's ID
// when it queues the record (the receiver appends it after Deliver
// returns), so it finds it afterwards by what identifies it: the same
// request ID, record index and request time (Attempt.Time is the
// request's first byte, to the nanosecond, stored in the queue row as
// received_ns), with OutcomeQueued. The event is appended once that
// attempt is found, or, after followGrace, without Follows (its Detail
// then names the request). relay_queue.logged keeps the "appended" bit
// of the delivered or dropped event, and holds_logged counts the
// set-aside events appended (holds counts the times it was set aside),
// so an event is retried after an error or a restart and never lost; a
// record set aside twice before its event was appended gets one event.
// Run appends events in batches, every PollEvery, so that draining a
// long queue costs no extra commits per record; Drop appends its event
// at once.

// followGrace is how long an event waits for the queued attempt it
// follows to appear in the log.
const followGrace = time.Minute

// queueEvent is one export-log event of a queue entry, and what marks it
// appended.
type queueEvent struct {
	id       int64
	a        *exportlog.Attempt
	queuedAt time.Time
	holds    int64 // a set-aside event: holds_logged becomes this; 0: the delivered or dropped event
}

// flushEvents appends the events not yet in the export log.
func (r *Relay) flushEvents(ctx context.Context) {
	if r.cfg.Log == nil {
		return
	}
	r.eventsMu.Lock()
	defer r.eventsMu.Unlock()
	events, err := r.pendingEvents(ctx)
	if err != nil {
		r.log.Warn("cannot read queue events", slog.Any("err", err))
		return
	}
	var ready []*exportlog.Attempt
	var marks []queueEvent
	for _, ev := range events {
		follows, err := r.findQueued(ctx, ev.a)
		if err != nil {
			r.log.Warn("cannot look up the queued attempt", slog.Int64("queue_id", ev.id), slog.Any("err", err))
			return
		}
		if follows == 0 && r.now().Sub(ev.queuedAt) < followGrace {
			continue // the receiver may not have logged it yet
		}
		ev.a.Follows = follows
		if follows == 0 {
			ev.a.Detail += fmt.Sprintf(" (request %d, record %d, received %s)", ev.a.RequestID, ev.a.RecordIndex+1, ev.a.Time.Format(time.RFC3339Nano))
		}
		ready = append(ready, ev.a)
		marks = append(marks, ev)
	}
	if len(ready) == 0 {
		return
	}
	if err := r.cfg.Log.Append(ctx, ready...); err != nil {
		r.log.Warn("cannot append to the export log; will retry", slog.Int("events", len(ready)), slog.Any("err", err))
		return
	}
	err = r.cfg.DB.Write(context.Background(), func(tx *sql.Tx) error {
		for _, ev := range marks {
			var err error
			if ev.holds > 0 {
				_, err = tx.Exec(`UPDATE relay_queue SET holds_logged = max(holds_logged, ?) WHERE id = ?`, ev.holds, ev.id)
			} else {
				_, err = tx.Exec(`UPDATE relay_queue SET logged = 1 WHERE id = ?`, ev.id)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.log.Warn("cannot mark queue events logged", slog.Int("events", len(marks)), slog.Any("err", err))
	}
}

// pendingEvents reads the events not yet appended, oldest entry first,
// and each entry's set-aside event before its delivered or dropped one.
func (r *Relay) pendingEvents(ctx context.Context) ([]queueEvent, error) {
	rows, err := r.cfg.DB.Reader().QueryContext(ctx, `SELECT id, state, request_id, record_index, received_ns, queued_ns,
		remote_addr, user_name, oclc, title, record, attempts, upstream_reply, system_number, done_ns, drop_reason,
		last_attempt_ns, logged, holds, holds_logged, held_ns, refusals, last_error
		FROM relay_queue WHERE queue = ?1 AND logged = 0 AND state IN ('delivered', 'dropped')
		UNION
		SELECT id, state, request_id, record_index, received_ns, queued_ns,
		remote_addr, user_name, oclc, title, record, attempts, upstream_reply, system_number, done_ns, drop_reason,
		last_attempt_ns, logged, holds, holds_logged, held_ns, refusals, last_error
		FROM relay_queue WHERE queue = ?1 AND holds > holds_logged
		ORDER BY id LIMIT 100`, r.queue)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []queueEvent
	for rows.Next() {
		var (
			id, reqID, received, queued, done, lastAttempt int64
			holds, holdsLogged, held                       int64
			index, attempts, refusals                      int
			logged                                         bool
			state, remote, user, oclc, title               string
			reply, sysno, reason, lastErr                  string
			record                                         []byte
		)
		if err := rows.Scan(&id, &state, &reqID, &index, &received, &queued, &remote, &user, &oclc, &title, &record,
			&attempts, &reply, &sysno, &done, &reason, &lastAttempt, &logged, &holds, &holdsLogged, &held, &refusals, &lastErr); err != nil {
			return nil, err
		}
		base := func() *exportlog.Attempt {
			return &exportlog.Attempt{
				RequestID: uint64(reqID), Time: db.NSTime(received), RemoteAddr: remote, User: user,
				Target: r.name, RecordIndex: index, OCLCNumber: oclc, Title: title, Upstream: reply, Record: record,
			}
		}
		if holds > holdsLogged {
			a := base()
			a.Outcome, a.Class, a.Cause = exportlog.OutcomeFailed, exportlog.ClassRecord, exportlog.CauseUpstreamError
			a.Done = db.NSTime(held)
			a.Elapsed = a.Done.Sub(a.Time)
			if refusals <= 0 { // retried since: the count started again
				refusals = r.cfg.MaxRefusals
			}
			a.Detail = fmt.Sprintf("relay queue item %d was set aside: %s refused the record itself %d time(s) in a row (%s); "+
				"it is not retried automatically, and the records queued after it are delivered without it. "+
				"Correct it and retry it (oclcbot queue retry %d), or drop it: it must then be exported again",
				id, r.cfg.Upstream, refusals, lastErr, id)
			events = append(events, queueEvent{id: id, a: a, queuedAt: db.NSTime(queued), holds: holds})
		}
		if logged || (State(state) != StateDelivered && State(state) != StateDropped) {
			continue
		}
		a := base()
		a.Done, a.SystemNumber = db.NSTime(done), sysno
		a.Elapsed = db.NSTime(done).Sub(db.NSTime(received))
		if State(state) == StateDelivered {
			a.Outcome = exportlog.OutcomeDelivered
			a.Detail = fmt.Sprintf("relay queue item %d delivered to %s after %d attempt(s), %s after it was queued",
				id, r.cfg.Upstream, attempts, db.NSTime(done).Sub(db.NSTime(queued)).Round(time.Second))
			a.Store = db.NSTime(done).Sub(db.NSTime(lastAttempt))
		} else {
			a.Outcome = exportlog.OutcomeFailed
			a.Class = exportlog.ClassRecord
			a.Cause = exportlog.CauseDropped
			a.Detail = fmt.Sprintf("relay queue item %d was dropped by an operator (%s); it was not delivered to %s and must be exported again",
				id, reason, r.cfg.Upstream)
		}
		events = append(events, queueEvent{id: id, a: a, queuedAt: db.NSTime(queued)})
	}
	return events, rows.Err()
}

// findQueued returns the ID of the OutcomeQueued attempt a's record was
// queued with, or 0 when the log does not have it (yet).
func (r *Relay) findQueued(ctx context.Context, a *exportlog.Attempt) (int64, error) {
	as, err := r.cfg.Log.List(ctx, exportlog.Filter{
		Since: a.Time, Until: a.Time.Add(time.Nanosecond), Outcome: exportlog.OutcomeQueued, Limit: -1,
	})
	if err != nil {
		return 0, err
	}
	for _, q := range as {
		if q.RequestID == a.RequestID && q.RecordIndex == a.RecordIndex {
			return q.ID, nil
		}
	}
	return 0, nil
}
