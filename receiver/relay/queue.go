package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// State is where a queue entry stands.
type State string

// States. queued and sending entries wait for delivery and keep newer
// records behind them; uncertain and held ones wait for an operator and
// do not hold up the records behind them; delivered and dropped ones are
// history.
const (
	StateQueued    State = "queued"    // waiting for (re)delivery
	StateSending   State = "sending"   // on its way to the upstream now, or waiting for a late reply
	StateUncertain State = "uncertain" // the upstream may or may not have it: an operator decides
	StateHeld      State = "held"      // the upstream refused the record itself Config.MaxRefusals times in a row: set aside for an operator (see the package comment)
	StateDelivered State = "delivered" // the upstream said it imported it
	StateDropped   State = "dropped"   // an operator removed it; it must be exported again
)

// States returns every State, in the order of a record's life, for
// listings and flag values (oclcbot queue list --state).
func States() []State {
	return []State{StateQueued, StateSending, StateUncertain, StateHeld, StateDelivered, StateDropped}
}

// newEntry is a record being put into the queue.
type newEntry struct {
	state       State
	requestID   uint64
	index       int
	received    time.Time
	remote      string
	user        string
	fwd         forward
	oclc, title string
	hash        string
	record      []byte
	cause       string
	attempts    int
	refusals    int // consecutive refusals of the record itself so far
	lastError   string
	lastAttempt time.Time
	next        time.Time
	reply       string
}

// insert commits e to the queue, with its relay_seen row, and returns its
// ID. It returns only after the commit: a record reported queued is on
// disk.
func (r *Relay) insert(e *newEntry) (int64, error) {
	// The login to forward is stored only when it is the cataloger's
	// (without its secrets): configured Credentials come from the config.
	fwdUser, fwdLocal := e.fwd.user, publicPart(e.fwd.localUser)
	if r.cfg.Credentials != nil {
		fwdUser, fwdLocal = "", ""
	}
	var id int64
	var heldNS, holds int64
	if e.state == StateHeld {
		heldNS, holds = db.TimeNS(r.now()), 1
	}
	if e.hash != "" {
		r.mu.Lock()
		r.seen.note(seenKey{e.oclc, e.hash}, db.TimeNS(e.received))
		r.mu.Unlock()
	}
	err := r.queueWrite(context.Background(), func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO relay_queue (queue, state, request_id, record_index, received_ns, queued_ns,
			remote_addr, user_name, fwd_user, fwd_local_user, oclc, title, hash, record, cause,
			attempts, last_error, last_attempt_ns, next_attempt_ns, upstream_reply, owner, refusals, held_ns, holds)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.queue, string(e.state), int64(e.requestID), e.index, db.TimeNS(e.received), db.TimeNS(r.now()),
			e.remote, e.user, fwdUser, fwdLocal, e.oclc, e.title, e.hash, e.record, e.cause,
			e.attempts, e.lastError, db.TimeNS(e.lastAttempt), db.TimeNS(e.next), e.reply, r.instance,
			e.refusals, heldNS, holds)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if e.hash != "" {
			_, err = tx.Exec(`INSERT INTO relay_seen (queue, oclc, hash, time_ns, queue_id) VALUES (?, ?, ?, ?, ?)`,
				r.queue, e.oclc, e.hash, db.TimeNS(e.received), id)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("relay: queue record: %w", err)
	}
	return id, nil
}

// queueWrite is DB.Write for a write that may put an entry in a state
// that waits for delivery (queued or sending). Before and after it, the
// queue stops being known to be empty (qstate): the forwarding path
// counts it again, and a Run that read it as empty meanwhile cannot
// record that, as its mark is older.
func (r *Relay) queueWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	r.queueChanged()
	defer r.queueChanged()
	return r.cfg.DB.Write(ctx, fn)
}

// queueChanged clears qstate's "known empty" bit and counts a change.
func (r *Relay) queueChanged() {
	for {
		old := r.qstate.Load()
		if r.qstate.CompareAndSwap(old, (old+2)&^1) {
			return
		}
	}
}

// pending returns how many entries wait for delivery (queued or
// sending). It reads nothing while Run knows the queue to be empty (it
// looks again every PollEvery, so an entry another process made due,
// with oclcbot queue retry, waits at most that long to be counted).
func (r *Relay) pending(ctx context.Context) (int, error) {
	if r.qstate.Load()&1 == 1 {
		return 0, nil
	}
	var n int
	err := r.pendingStmt.QueryRowContext(ctx, r.queue).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("relay: count queued records: %w", err)
	}
	return n, nil
}

// headEntry is the oldest entry waiting for delivery.
type headEntry struct {
	id       int64
	state    State
	next     time.Time
	record   []byte
	fwdUser  string
	fwdLocal string
}

// head returns the oldest entry waiting for delivery, or nil.
func (r *Relay) head(ctx context.Context) (*headEntry, error) {
	var h headEntry
	var state string
	var next int64
	err := r.cfg.DB.Reader().QueryRowContext(ctx,
		`SELECT id, state, next_attempt_ns, record, fwd_user, fwd_local_user FROM relay_queue
		 WHERE queue = ? AND state IN ('queued', 'sending') ORDER BY id LIMIT 1`, r.queue).
		Scan(&h.id, &state, &next, &h.record, &h.fwdUser, &h.fwdLocal)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: read the queue: %w", err)
	}
	h.state = State(state)
	h.next = db.NSTime(next)
	return &h, nil
}

// transition moves entry id from state from to state to, setting the
// given extra columns, and reports whether it did (false: the entry was
// not in state from, for example because an operator dropped it).
func (r *Relay) transition(id int64, from, to State, set string, args ...any) (bool, error) {
	q := `UPDATE relay_queue SET state = ?`
	if set != "" {
		q += ", " + set
	}
	q += ` WHERE id = ? AND queue = ? AND state = ?`
	all := append([]any{string(to)}, args...)
	all = append(all, id, r.queue, string(from))
	var n int64
	err := r.queueWrite(context.Background(), func(tx *sql.Tx) error {
		res, err := tx.Exec(q, all...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("relay: queue entry %d %s -> %s: %w", id, from, to, err)
	}
	return n == 1, nil
}

// settle records the result of an attempt on a sending entry: delivered,
// back to queued (with the time of the next attempt), held (the
// MaxRefusals-th refusal of the record itself in a row), or uncertain.
func (r *Relay) settle(id int64, a attempt, next time.Time) (State, error) {
	now := r.now()
	switch a.outcome {
	case imported:
		var ok bool
		err := r.cfg.DB.Write(context.Background(), func(tx *sql.Tx) error {
			res, err := tx.Exec(`UPDATE relay_queue SET state = 'delivered', attempts = attempts + 1, last_attempt_ns = ?,
				done_ns = ?, upstream_reply = ?, system_number = ?, last_error = ''
				WHERE id = ? AND queue = ? AND state = 'sending'`,
				db.TimeNS(now), db.TimeNS(now), a.reply, a.sysno, id, r.queue)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil || n == 0 {
				return err
			}
			ok = true
			_, err = tx.Exec(`UPDATE relay_seen SET system_number = ? WHERE queue_id = ?`, a.sysno, id)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("relay: mark queue entry %d delivered: %w", id, err)
		}
		if !ok {
			return "", fmt.Errorf("relay: queue entry %d delivered but no longer sending: %w", id, ErrWrongState)
		}
		return StateDelivered, nil
	case failed:
		return r.settleFailed(id, a, now, next)
	case abandoned: // nothing happened: not an attempt, and no refusal
		_, err := r.transition(id, StateSending, StateQueued,
			`last_attempt_ns = ?, next_attempt_ns = ?, last_error = ?, upstream_reply = ?`,
			db.TimeNS(now), db.TimeNS(next), a.err, a.reply)
		return StateQueued, err
	default: // uncertain, or unsendable (a bug: set it aside rather than block the queue)
		to := StateUncertain
		if r.cfg.ResendUncertain {
			to = StateQueued
		}
		_, err := r.transition(id, StateSending, to,
			`attempts = attempts + 1, last_attempt_ns = ?, next_attempt_ns = ?, last_error = ?, upstream_reply = ?, refusals = 0`,
			db.TimeNS(now), db.TimeNS(next), a.err, a.reply)
		return to, err
	}
}

// settleFailed records a failed attempt on a sending entry: it goes back
// to queued, or, when it is the MaxRefusals-th refusal of the record
// itself in a row, it is held. Any other failure (the upstream down, a
// login refused) ends the run of refusals.
func (r *Relay) settleFailed(id int64, a attempt, now, next time.Time) (State, error) {
	to := StateQueued
	var refusals int
	var oclc string
	err := r.queueWrite(context.Background(), func(tx *sql.Tx) error {
		err := tx.QueryRow(`SELECT refusals, oclc FROM relay_queue WHERE id = ? AND queue = ? AND state = 'sending'`,
			id, r.queue).Scan(&refusals, &oclc)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // dropped or settled meanwhile, as transition would find
		}
		if err != nil {
			return err
		}
		if a.refusal {
			refusals++
		} else {
			refusals = 0
		}
		if a.refusal && r.holdsAt(refusals) {
			to = StateHeld
			_, err = tx.Exec(`UPDATE relay_queue SET state = 'held', attempts = attempts + 1, refusals = refusals + 1,
				last_attempt_ns = ?, next_attempt_ns = 0, last_error = ?, upstream_reply = ?, held_ns = ?, holds = holds + 1
				WHERE id = ?`, db.TimeNS(now), a.err, a.reply, db.TimeNS(now), id)
			return err
		}
		_, err = tx.Exec(`UPDATE relay_queue SET state = 'queued', attempts = attempts + 1,
			refusals = CASE WHEN ? THEN refusals + 1 ELSE 0 END,
			last_attempt_ns = ?, next_attempt_ns = ?, last_error = ?, upstream_reply = ?
			WHERE id = ?`, a.refusal, db.TimeNS(now), db.TimeNS(next), a.err, a.reply, id)
		return err
	})
	if err != nil {
		// As transition's callers: the entry is still sending, and
		// waits for delivery.
		return StateQueued, fmt.Errorf("relay: queue entry %d sending -> %s: %w", id, to, err)
	}
	if to == StateHeld {
		r.logHeld(id, oclc, refusals, a)
	}
	return to, nil
}

// holdsAt reports whether a record refused this many times in a row is
// set aside.
func (r *Relay) holdsAt(refusals int) bool {
	return r.cfg.MaxRefusals > 0 && refusals >= r.cfg.MaxRefusals
}

// logHeld reports a record set aside.
func (r *Relay) logHeld(id int64, oclc string, refusals int, a attempt) {
	r.log.Warn("the upstream refused a record on its merits; it is set aside and the records behind it go on: correct it and retry it, or drop it",
		slog.Int64("queue_id", id), slog.String("oclc", oclc), slog.Int("refusals", refusals),
		slog.String("reply", clipReply(a.reply)), slog.String("err", a.err))
}
