package relay

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// Run delivers queued records to the upstream, oldest first, one at a
// time, until ctx ends or the relay is closed; then it returns nil. Only
// one Run may be active per queue (the server runs it; a CLI does not).
//
// While the upstream fails, attempts are spaced by exponential backoff
// with jitter (InitialBackoff doubling up to MaxBackoff), and after a
// failure the upstream is probed (RoundTrip, which imports nothing)
// before another record is risked on it. A record the upstream refuses
// on its merits MaxRefusals times in a row is set aside (StateHeld), and
// the records behind it go on; uncertain and held records are skipped.
// Run wakes at once when a record is queued or Retry is called in this
// process, and every PollEvery to see changes another process (oclcbot
// queue retry) made.
//
// When it starts, Run settles the rows an earlier process left in state
// sending: that process may have delivered them before it stopped, so
// they become uncertain (queued, with ResendUncertain).
func (r *Relay) Run(ctx context.Context) error {
	if err := r.recoverSending(ctx); err != nil {
		r.log.Error("cannot settle records left sending by an earlier run", slog.Any("err", err))
	}
	defer r.queueChanged() // nobody keeps "known empty" true any more
	for {
		if ctx.Err() != nil || r.isClosed() {
			return nil
		}
		r.housekeeping(ctx)
		mark := r.qstate.Load()
		h, err := r.head(ctx)
		if err == nil && h == nil {
			// Empty, unless a write of this process queued
			// something since mark (then mark is stale).
			r.qstate.CompareAndSwap(mark, mark|1)
		} else if err == nil {
			r.queueChanged() // perhaps made due by another process
		}
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error("cannot read the queue", slog.Any("err", err))
			r.sleep(ctx, r.cfg.PollEvery)
			continue
		case h == nil, h.state == StateSending:
			// Empty, or the oldest record waits for a late reply:
			// whatever it turns out to be decides what comes next.
			r.sleep(ctx, r.cfg.PollEvery)
			continue
		}
		if wait := h.next.Sub(r.now()); wait > 0 {
			r.sleep(ctx, wait)
			continue
		}
		if streak, _ := r.failing(); streak > 0 {
			if err := r.RoundTrip(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				cause := probeCause(err)
				delay := r.noteFailure(cause)
				r.log.Info("upstream still failing; delivery postponed", slog.Int64("queue_id", h.id),
					slog.Duration("retry_in", delay), slog.Any("err", err))
				if _, err := r.transition(h.id, StateQueued, StateQueued, `next_attempt_ns = ?, last_error = ?`,
					db.TimeNS(r.now().Add(delay)), "probe before delivery: "+err.Error()); err != nil {
					r.log.Error("cannot update the queue", slog.Any("err", err))
					r.sleep(ctx, delay)
				}
				continue
			}
		}
		r.deliverHead(ctx, h)
	}
}

// attemptCtx is the context of one delivery attempt. Stopping in the
// middle of an attempt whose request was sent leaves the record
// uncertain, so an attempt outlives the end of Run's ctx by up to
// ReplyTimeout, and ends at once only when Close gives up waiting.
func (r *Relay) attemptCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(r.base)
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.cfg.ReplyTimeout, cancel)
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	return sctx, func() { stop(); cancel() }
}

// deliverHead makes one delivery attempt of the oldest queued record.
func (r *Relay) deliverHead(ctx context.Context, h *headEntry) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.attempting.Add(1)
	r.mu.Unlock()
	defer r.attempting.Done()
	ok, err := r.transition(h.id, StateQueued, StateSending, `last_attempt_ns = ?, owner = ?`, db.TimeNS(r.now()), r.instance)
	if err != nil {
		r.log.Error("cannot update the queue", slog.Any("err", err))
		r.sleep(ctx, r.cfg.PollEvery)
		return
	}
	if !ok {
		return // dropped or retried by an operator meanwhile: look again
	}
	sctx, cancel := r.attemptCtx(ctx)
	a := r.send(sctx, r.client, h.record, r.forwardForRow(h))
	cancel()
	next := r.now()
	switch a.outcome {
	case imported:
		r.noteSuccess()
	case abandoned:
	default:
		next = next.Add(r.noteFailure(a.cause))
	}
	state, err := r.settle(h.id, a, next)
	r.disown(h.id, state)
	if err != nil {
		r.log.Error("cannot record a delivery attempt", slog.Int64("queue_id", h.id), slog.Any("err", err))
		return
	}
	level := slog.LevelInfo
	if state != StateDelivered {
		level = slog.LevelWarn
	}
	r.log.Log(ctx, level, "delivery attempt", slog.Int64("queue_id", h.id), slog.String("state", string(state)),
		slog.String("reply", firstLine(a.reply)), slog.String("err", a.err), slog.Duration("elapsed", a.elapsed))
}

// forwardForRow returns the login for a queued record: none when the
// listener takes none, the configured Credentials, or the cataloger's if
// this process still has them, or the stored login name without a
// password.
func (r *Relay) forwardForRow(h *headEntry) forward {
	if !r.cfg.Listener.sendsLogin() {
		return forward{}
	}
	if c := r.cfg.Credentials; c != nil {
		return forward{c.User, c.LocalUser, c.Password}
	}
	r.mu.Lock()
	f, ok := r.creds[h.id]
	r.mu.Unlock()
	if ok {
		return f
	}
	return forward{user: h.fwdUser, localUser: h.fwdLocal}
}

// recoverSending settles rows another process left sending.
func (r *Relay) recoverSending(ctx context.Context) error {
	to := StateUncertain
	if r.cfg.ResendUncertain {
		to = StateQueued
	}
	var n int64
	err := r.queueWrite(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE relay_queue SET state = ?, next_attempt_ns = ?, refusals = 0,
			last_error = 'oclcbot stopped while sending it; the upstream may have imported it'
			WHERE queue = ? AND state = 'sending' AND owner <> ?`, string(to), db.TimeNS(r.now()), r.queue, r.instance)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if n > 0 {
		r.log.Warn("records were being sent when oclcbot stopped; the upstream may have them", slog.Int64("records", n), slog.String("now", string(to)))
	}
	return err
}

// sleep waits for d, a wake-up, ctx or Close, whichever comes first; it
// never waits longer than PollEvery.
func (r *Relay) sleep(ctx context.Context, d time.Duration) {
	d = min(d, r.cfg.PollEvery)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.wake:
	case <-ctx.Done():
	case <-r.quit:
	}
}

func (r *Relay) isClosed() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// housekeeping, at most once per PollEvery: export-log events still to
// append, and pruning.
func (r *Relay) housekeeping(ctx context.Context) {
	now := time.Now()
	if now.Sub(r.lastHouse) < r.cfg.PollEvery {
		return
	}
	r.lastHouse = now
	r.flushEvents(ctx)
	r.forgetSettledCreds(ctx)
	if err := r.pruneSeen(ctx); err != nil && !errors.Is(err, context.Canceled) {
		r.log.Warn("cannot prune repeated-export records", slog.Any("err", err))
	}
	if r.cfg.Retention > 0 {
		cutoff := db.TimeNS(r.now().Add(-r.cfg.Retention))
		err := r.cfg.DB.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM relay_queue WHERE id IN (SELECT id FROM relay_queue
				WHERE queue = ? AND state IN ('delivered', 'dropped') AND done_ns <> 0 AND done_ns < ?
				AND ((logged = 1 AND holds_logged >= holds) OR ?) LIMIT 2000)`,
				r.queue, cutoff, r.cfg.Log == nil)
			return err
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("cannot prune the relay queue", slog.Any("err", err))
		}
	}
}

// forgetSettledCreds drops cataloger logins kept for entries that no
// longer wait for delivery or a retry (settled by another process:
// dropped by oclcbot queue, or recovered as uncertain).
func (r *Relay) forgetSettledCreds(ctx context.Context) {
	r.mu.Lock()
	n := len(r.creds)
	r.mu.Unlock()
	if n == 0 {
		return
	}
	rows, err := r.cfg.DB.Reader().QueryContext(ctx,
		`SELECT id FROM relay_queue WHERE queue = ? AND state IN ('queued', 'sending', 'held')`, r.queue)
	if err != nil {
		return
	}
	waiting := make(map[int64]bool)
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			waiting[id] = true
		}
	}
	if rows.Close() != nil || rows.Err() != nil {
		return
	}
	r.mu.Lock()
	for id := range r.creds {
		if !waiting[id] {
			delete(r.creds, id)
		}
	}
	r.mu.Unlock()
}
