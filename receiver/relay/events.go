package relay

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
)

// Export-log events for queued records. When a queued record is
// delivered (or dropped), the relay appends an attempt that follows the
// OutcomeQueued attempt the receiver recorded for it. The relay does not
// learn that attempt's ID when it queues the record (the receiver
// appends it after Deliver returns), so it finds it afterwards by what
// identifies it: the same request ID, record index and request time
// (Attempt.Time is the request's first byte, to the nanosecond, stored
// in the queue row as received_ns), with OutcomeQueued. The event is
// appended once that attempt is found, or, after followGrace, without
// Follows (its Detail then names the request); relay_queue.logged keeps
// the "appended" bit, so an event is retried after an error or a
// restart and never lost. Run appends events in batches, every
// PollEvery, so that draining a long queue costs no extra commits per
// record; Drop appends its event at once.

// followGrace is how long an event waits for the queued attempt it
// follows to appear in the log.
const followGrace = time.Minute

// flushEvents appends the events not yet in the export log.
func (r *Relay) flushEvents(ctx context.Context) {
	if r.cfg.Log == nil {
		return
	}
	r.eventsMu.Lock()
	defer r.eventsMu.Unlock()
	rows, err := r.cfg.DB.Reader().QueryContext(ctx, `SELECT id, state, request_id, record_index, received_ns, queued_ns,
		remote_addr, user_name, oclc, title, record, attempts, upstream_reply, system_number, done_ns, drop_reason,
		last_attempt_ns
		FROM relay_queue WHERE queue = ? AND logged = 0 AND state IN ('delivered', 'dropped') ORDER BY id LIMIT 100`, r.queue)
	if err != nil {
		r.log.Warn("cannot read queue events", slog.Any("err", err))
		return
	}
	type event struct {
		id       int64
		a        *exportlog.Attempt
		queuedAt time.Time
	}
	var events []event
	for rows.Next() {
		var (
			id, reqID, received, queued, done, lastAttempt int64
			index, attempts                                int
			state, remote, user, oclc, title               string
			reply, sysno, reason                           string
			record                                         []byte
		)
		if err := rows.Scan(&id, &state, &reqID, &index, &received, &queued, &remote, &user, &oclc, &title, &record,
			&attempts, &reply, &sysno, &done, &reason, &lastAttempt); err != nil {
			r.log.Warn("cannot read queue events", slog.Any("err", err))
			break
		}
		a := &exportlog.Attempt{
			RequestID: uint64(reqID), Time: db.NSTime(received), Done: db.NSTime(done), RemoteAddr: remote, User: user,
			Target: r.name, RecordIndex: index, OCLCNumber: oclc, Title: title, SystemNumber: sysno,
			Upstream: reply, Elapsed: db.NSTime(done).Sub(db.NSTime(received)), Record: record,
		}
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
		events = append(events, event{id, a, db.NSTime(queued)})
	}
	rows.Close()

	var ready []*exportlog.Attempt
	var ids []any
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
		ids = append(ids, ev.id)
	}
	if len(ready) == 0 {
		return
	}
	if err := r.cfg.Log.Append(ctx, ready...); err != nil {
		r.log.Warn("cannot append to the export log; will retry", slog.Int("events", len(ready)), slog.Any("err", err))
		return
	}
	err = r.cfg.DB.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE relay_queue SET logged = 1 WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, ids...)
		return err
	})
	if err != nil {
		r.log.Warn("cannot mark queue events logged", slog.Int("events", len(ids)), slog.Any("err", err))
	}
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
