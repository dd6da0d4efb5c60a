package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// State is where a queue entry stands.
type State string

// States. queued and sending entries wait for delivery and keep newer
// records behind them; uncertain ones wait for an operator; delivered
// and dropped ones are history.
const (
	StateQueued    State = "queued"    // waiting for (re)delivery
	StateSending   State = "sending"   // on its way to the upstream now, or waiting for a late reply
	StateUncertain State = "uncertain" // the upstream may or may not have it: an operator decides
	StateDelivered State = "delivered" // the upstream said it imported it
	StateDropped   State = "dropped"   // an operator removed it; it must be exported again
)

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
	err := r.cfg.DB.Write(context.Background(), func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO relay_queue (queue, state, request_id, record_index, received_ns, queued_ns,
			remote_addr, user_name, fwd_user, fwd_local_user, oclc, title, hash, record, cause,
			attempts, last_error, last_attempt_ns, next_attempt_ns, upstream_reply, owner)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.queue, string(e.state), int64(e.requestID), e.index, db.TimeNS(e.received), db.TimeNS(r.now()),
			e.remote, e.user, fwdUser, fwdLocal, e.oclc, e.title, e.hash, e.record, e.cause,
			e.attempts, e.lastError, db.TimeNS(e.lastAttempt), db.TimeNS(e.next), e.reply, r.instance)
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

// pending returns how many entries wait for delivery (queued or
// sending).
func (r *Relay) pending(ctx context.Context) (int, error) {
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
	err := r.cfg.DB.Write(context.Background(), func(tx *sql.Tx) error {
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
// back to queued (with the time of the next attempt), or uncertain.
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
	case failed, abandoned:
		attempts := "attempts + 1"
		if a.outcome == abandoned {
			attempts = "attempts"
		}
		_, err := r.transition(id, StateSending, StateQueued,
			`attempts = `+attempts+`, last_attempt_ns = ?, next_attempt_ns = ?, last_error = ?, upstream_reply = ?`,
			db.TimeNS(now), db.TimeNS(next), a.err, a.reply)
		return StateQueued, err
	default: // uncertain, or unsendable (a bug: set it aside rather than block the queue)
		to := StateUncertain
		if r.cfg.ResendUncertain {
			to = StateQueued
		}
		_, err := r.transition(id, StateSending, to,
			`attempts = attempts + 1, last_attempt_ns = ?, next_attempt_ns = ?, last_error = ?, upstream_reply = ?`,
			db.TimeNS(now), db.TimeNS(next), a.err, a.reply)
		return to, err
	}
}
