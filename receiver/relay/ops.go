package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// Entry is one record in the relay queue, for oclcbot queue list and the
// status page. It never holds a password.
type Entry struct {
	ID           int64
	State        State
	Cause        string    // why it was queued (exportlog.Cause*)
	Attempts     int       // delivery attempts so far
	LastError    string    // why the latest attempt failed, "" after success
	LastAttempt  time.Time // zero when never tried
	NextAttempt  time.Time // when Run tries it next (queued entries)
	OCLCNumber   string
	Title        string
	User         string    // who exported it
	RemoteAddr   string    // from where
	Received     time.Time // when the export arrived
	Queued       time.Time
	RequestID    uint64
	RecordIndex  int
	Bytes        int       // size of the record
	Upstream     string    // the upstream's latest reply
	SystemNumber string    // the upstream's record number, when its reply named it
	Done         time.Time // when delivered or dropped
	DropReason   string
	// Refusals counts the upstream's refusals of the record itself in a
	// row (Rule.Refusal); MaxRefusals of them set it aside (StateHeld),
	// and a retry starts the count again.
	Refusals int
	// Held is when the entry was last set aside (zero when never); it
	// stays when the entry is retried.
	Held time.Time
}

// ListOptions selects entries for List.
type ListOptions struct {
	// States selects entries in these states; none means the entries
	// still needing something (queued, sending, uncertain, held).
	States []State
	// AfterID pages forward: only entries with a larger ID.
	AfterID int64
	// Limit bounds the number returned (100 when 0; no limit when
	// negative).
	Limit int
}

const entryColumns = `id, state, cause, attempts, last_error, last_attempt_ns, next_attempt_ns, oclc, title,
	user_name, remote_addr, received_ns, queued_ns, request_id, record_index, length(record), upstream_reply,
	system_number, done_ns, drop_reason, refusals, held_ns`

// List returns this relay's queue entries in queue order (oldest first).
func (r *Relay) List(ctx context.Context, opt ListOptions) ([]Entry, error) {
	states := opt.States
	if len(states) == 0 {
		states = []State{StateQueued, StateSending, StateUncertain, StateHeld}
	}
	args := []any{r.queue, opt.AfterID}
	marks := make([]string, len(states))
	for i, s := range states {
		marks[i] = "?"
		args = append(args, string(s))
	}
	q := `SELECT ` + entryColumns + ` FROM relay_queue WHERE queue = ? AND id > ? AND state IN (` + strings.Join(marks, ", ") + `) ORDER BY id`
	limit := opt.Limit
	if limit == 0 {
		limit = 100
	}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := r.cfg.DB.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("relay: list the queue: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("relay: list the queue: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: list the queue: %w", err)
	}
	return out, nil
}

// Get returns entry id, or an error wrapping ErrNotFound.
func (r *Relay) Get(ctx context.Context, id int64) (Entry, error) {
	rows, err := r.cfg.DB.Reader().QueryContext(ctx, `SELECT `+entryColumns+` FROM relay_queue WHERE id = ? AND queue = ?`, id, r.queue)
	if err != nil {
		return Entry{}, fmt.Errorf("relay: queue entry %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Entry{}, fmt.Errorf("relay: queue entry %d: %w", id, err)
		}
		return Entry{}, fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
	}
	e, err := scanEntry(rows)
	if err != nil {
		return Entry{}, fmt.Errorf("relay: queue entry %d: %w", id, err)
	}
	return e, nil
}

// Record returns the bytes of entry id's record (what is forwarded), for
// printouts.
func (r *Relay) Record(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	err := r.cfg.DB.Reader().QueryRowContext(ctx, `SELECT record FROM relay_queue WHERE id = ? AND queue = ?`, id, r.queue).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: queue entry %d: %w", id, err)
	}
	return b, nil
}

func scanEntry(rows *sql.Rows) (Entry, error) {
	var e Entry
	var state string
	var lastAttempt, next, received, queued, done, reqID, held int64
	err := rows.Scan(&e.ID, &state, &e.Cause, &e.Attempts, &e.LastError, &lastAttempt, &next, &e.OCLCNumber, &e.Title,
		&e.User, &e.RemoteAddr, &received, &queued, &reqID, &e.RecordIndex, &e.Bytes, &e.Upstream,
		&e.SystemNumber, &done, &e.DropReason, &e.Refusals, &held)
	e.State = State(state)
	e.LastAttempt, e.NextAttempt, e.Received, e.Queued, e.Done = db.NSTime(lastAttempt), db.NSTime(next), db.NSTime(received), db.NSTime(queued), db.NSTime(done)
	e.Held = db.NSTime(held)
	e.RequestID = uint64(reqID)
	return e, err
}

// Retry makes entries due now and wakes Run (in this process; a Run in
// another process sees it within its PollEvery). With no ids it retries
// every queued and every held entry (held ones were refused, so the
// upstream does not have them); uncertain entries are retried only when
// named, because the upstream may already have them: name one after
// checking the ILS. A retried held entry goes back into the queue in its
// original place, ahead of the records queued after it, and gets
// MaxRefusals more tries. Retrying also resets the backoff. A retry made
// in another process counts for the daemon's forwarding from its Run's
// next look at the queue: an export that arrives before that (within
// PollEvery) is forwarded at once instead of waiting behind the retried
// entry, as it would have while the entry was set aside. It returns
// how many entries it made due, and for each id that could not be
// retried an error wrapping ErrNotFound or ErrWrongState (joined).
func (r *Relay) Retry(ctx context.Context, ids ...int64) (int, error) {
	now := db.TimeNS(r.now())
	var n int64
	var errs []error
	// A held entry starts a new run of refusals; a queued one keeps its
	// count (retrying it only says "now").
	const set = `state = 'queued', next_attempt_ns = ?, refusals = CASE WHEN state = 'held' THEN 0 ELSE refusals END`
	err := r.queueWrite(ctx, func(tx *sql.Tx) error {
		if len(ids) == 0 {
			res, err := tx.Exec(`UPDATE relay_queue SET `+set+` WHERE queue = ? AND state IN ('queued', 'held')`, now, r.queue)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		}
		for _, id := range ids {
			res, err := tx.Exec(`UPDATE relay_queue SET `+set+`
				WHERE id = ? AND queue = ? AND state IN ('queued', 'uncertain', 'held')`, now, id, r.queue)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if k == 0 {
				errs = append(errs, r.stateError(tx, id, "retry"))
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("relay: retry: %w", err)
	}
	r.noteSuccess() // reset the backoff: the operator says try now
	r.notify()
	return int(n), errors.Join(errs...)
}

// Drop removes entry id from delivery, keeping it (state dropped, with
// reason and time) for the record: it was never delivered and must be
// exported again, which the export log notes for the incident's SOLVED
// notice. Only queued, uncertain and held entries can be dropped; an
// entry being sent now cannot (try again when its attempt ends). reason
// is required.
func (r *Relay) Drop(ctx context.Context, id int64, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return errors.New("relay: drop: a reason is required")
	}
	var opErr error
	err := r.cfg.DB.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE relay_queue SET state = 'dropped', done_ns = ?, drop_reason = ?
			WHERE id = ? AND queue = ? AND state IN ('queued', 'uncertain', 'held')`, db.TimeNS(r.now()), reason, id, r.queue)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if k == 0 {
			opErr = r.stateError(tx, id, "drop")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("relay: drop queue entry %d: %w", id, err)
	}
	if opErr != nil {
		return opErr
	}
	r.disown(id, StateDropped)
	r.flushEvents(ctx)
	r.notify()
	return nil
}

// stateError explains why op could not apply to entry id.
func (r *Relay) stateError(tx *sql.Tx, id int64, op string) error {
	var state string
	err := tx.QueryRow(`SELECT state FROM relay_queue WHERE id = ? AND queue = ?`, id, r.queue).Scan(&state)
	if err != nil {
		return fmt.Errorf("relay: %s queue entry %d: %w", op, id, ErrNotFound)
	}
	why := map[State]string{
		StateSending:   "it is being sent now; try again in a moment",
		StateDelivered: "it was already delivered",
		StateDropped:   "it was already dropped",
		StateQueued:    "it is already queued",
	}[State(state)]
	return fmt.Errorf("relay: %s queue entry %d: %s: %w", op, id, why, ErrWrongState)
}

// Stats summarises the queue for the bot and the status page.
type Stats struct {
	Waiting     int           // queued or sending: will be delivered
	Sending     int           // of which being sent now or awaiting a late reply
	Uncertain   int           // waiting for an operator: the upstream may have them
	Held        int           // waiting for an operator: the upstream refused them (set aside)
	Oldest      time.Time     // when the oldest waiting record was exported (zero when none)
	OldestAge   time.Duration // Now minus Oldest
	NextAttempt time.Time     // when the oldest waiting record is tried next
	LastError   string        // why the oldest waiting record's latest attempt failed
}

// Stats returns the queue's current figures.
func (r *Relay) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	var oldest, next sql.NullInt64
	var lastErr sql.NullString
	err := r.cfg.DB.Reader().QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM relay_queue WHERE queue = ?1 AND state IN ('queued', 'sending')),
		(SELECT COUNT(*) FROM relay_queue WHERE queue = ?1 AND state = 'sending'),
		(SELECT COUNT(*) FROM relay_queue WHERE queue = ?1 AND state = 'uncertain'),
		(SELECT COUNT(*) FROM relay_queue WHERE queue = ?1 AND state = 'held'),
		h.received_ns, h.next_attempt_ns, h.last_error
		FROM (SELECT 1) LEFT JOIN (SELECT received_ns, next_attempt_ns, last_error FROM relay_queue
			WHERE queue = ?1 AND state IN ('queued', 'sending') ORDER BY id LIMIT 1) h`, r.queue).
		Scan(&s.Waiting, &s.Sending, &s.Uncertain, &s.Held, &oldest, &next, &lastErr)
	if err != nil {
		return Stats{}, fmt.Errorf("relay: queue stats: %w", err)
	}
	if oldest.Valid {
		s.Oldest = db.NSTime(oldest.Int64)
		s.OldestAge = r.now().Sub(s.Oldest)
		s.NextAttempt = db.NSTime(next.Int64)
		s.LastError = lastErr.String
	}
	return s, nil
}
