package relay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
)

// Deliver forwards each item of exp to the upstream, one connection per
// record, and returns one Result per item in order (see the package
// comment). A Result that says the record is safe means the upstream
// accepted it (OutcomeRelayed, Reply = the upstream's reply verbatim),
// or it is committed to the queue (OutcomeQueued, Reply empty so the
// receiver's template tells the cataloger not to export it again), or it
// repeats an earlier export within the window (OutcomeDuplicate). A
// canary export is never forwarded: the upstream is probed instead.
func (r *Relay) Deliver(ctx context.Context, exp *receiver.Export) []receiver.Result {
	results := make([]receiver.Result, len(exp.Items))
	if !r.enter() {
		for i := range results {
			results[i] = receiver.Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem,
				Cause: exportlog.CauseInternal, Detail: "the relay is shut down"}
		}
		return results
	}
	defer r.active.Done()
	r.seenOnce.Do(func() { r.loadSeen(context.WithoutCancel(ctx)) })
	if exp.Canary {
		r.canary(ctx, results)
		return results
	}
	fwd := r.forwardFor(exp)
	for i, it := range exp.Items {
		results[i] = r.deliverOne(ctx, exp, it, fwd)
	}
	return results
}

// forwardFor returns the login to send with exp's records.
func (r *Relay) forwardFor(exp *receiver.Export) forward {
	if !r.cfg.Listener.sendsLogin() {
		return forward{}
	}
	if c := r.cfg.Credentials; c != nil {
		return forward{c.User, c.LocalUser, c.Password}
	}
	if req := exp.Request; req != nil {
		return forward{req.User, req.LocalUser, req.Password}
	}
	return forward{}
}

func (r *Relay) deliverOne(ctx context.Context, exp *receiver.Export, it *receiver.Item, fwd forward) receiver.Result {
	start := time.Now()
	e := r.entryFor(exp, it, fwd)
	if prev, err := r.duplicateOf(ctx, it); err != nil {
		r.log.Warn("cannot check for a repeated export; forwarding it", slog.Any("err", err))
	} else if prev != nil {
		// Skip, and mark-deleted acting as skip: nothing was changed.
		return receiver.Result{Outcome: exportlog.OutcomeDuplicate, Class: exportlog.ClassRecord, Cause: exportlog.CauseDuplicate,
			Policy:       receiver.DuplicateSkip,
			Detail:       fmt.Sprintf("the same record (OCLC number %q, same content) was sent to %s at %s; not forwarded again", it.OCLCNumber, r.cfg.Upstream, prev.Time.Format(time.RFC3339)),
			SystemNumber: prev.SystemNumber, Previous: prev, Elapsed: time.Since(start)}
	}
	if len(e.record) == 0 {
		return receiver.Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseInternal,
			Detail: "the record could not be prepared for forwarding", Elapsed: time.Since(start)}
	}
	if r.cfg.Policy == PolicyReject {
		return r.forwardOrReject(ctx, e, fwd, start)
	}
	n, err := r.pending(ctx)
	if err != nil {
		r.log.Warn("cannot read the queue; forwarding directly", slog.Any("err", err))
	}
	if n > 0 {
		// Keep the order: never overtake a record that waits.
		_, cause := r.failing()
		if cause == "" {
			cause = exportlog.CauseUpstreamDown
		}
		e.state, e.cause, e.next = StateQueued, cause, r.now()
		return r.queued(e, start, fmt.Sprintf("%d earlier record(s) are waiting for %s; this one was queued behind them", n, r.cfg.Upstream), "")
	}
	return r.forwardOrQueue(ctx, e, fwd, start)
}

// entryFor describes an item as a queue entry.
func (r *Relay) entryFor(exp *receiver.Export, it *receiver.Item, fwd forward) *newEntry {
	e := &newEntry{index: it.Index, user: exp.User, fwd: fwd, oclc: it.OCLCNumber, title: it.Title, hash: it.Hash, record: it.Raw}
	if req := exp.Request; req != nil {
		e.requestID, e.received = req.ID, req.Received
		if req.RemoteAddr != nil {
			e.remote = req.RemoteAddr.String()
		}
		if e.user == "" {
			e.user, _ = req.Credentials()
		}
	}
	if e.received.IsZero() {
		e.received = r.now()
	}
	if r.cfg.ForwardPrepared && it.Record != nil {
		if b, err := marc.Encode(it.Record); err == nil {
			e.record = b
		} else {
			r.log.Warn("cannot encode the prepared record; forwarding the record as received", slog.Any("err", err))
		}
	}
	return e
}

// forwardOrReject is PolicyReject: one try within ReplyTimeout.
func (r *Relay) forwardOrReject(ctx context.Context, e *newEntry, fwd forward, start time.Time) receiver.Result {
	a := r.send(ctx, r.rclient, e.record, fwd)
	if a.outcome == imported {
		r.noteSuccess()
		return r.relayed(e, a, start)
	}
	r.noteFailure(a.cause)
	detail := a.err
	maybe := a.outcome == uncertain
	if maybe {
		detail += "; it was not kept (policy reject): check the ILS before exporting it again"
	}
	r.log.Warn("upstream did not take a record; policy reject", slog.String("oclc", e.oclc), slog.String("cause", a.cause), slog.String("err", a.err))
	return receiver.Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: a.cause,
		Detail: detail, Uncertain: maybe, Upstream: a.reply, Elapsed: time.Since(start)}
}

// forwardOrQueue is PolicyQueue: forward, and queue what the upstream
// does not take within ReplyTimeout, then keep waiting for a late reply.
func (r *Relay) forwardOrQueue(ctx context.Context, e *newEntry, fwd forward, start time.Time) receiver.Result {
	done := make(chan attempt, 1)
	go func() { done <- r.send(r.base, r.client, e.record, fwd) }()
	timer := time.NewTimer(r.cfg.ReplyTimeout)
	defer timer.Stop()
	select {
	case a := <-done:
		return r.settleDirect(e, a, start)
	case <-timer.C:
	case <-ctx.Done():
	}
	// No reply yet: the record may still be imported, so it must not be
	// sent again; keep it as "sending" and let a goroutine wait for the
	// late reply on the original connection.
	e.state, e.cause, e.next = StateSending, exportlog.CauseUpstreamTimeout, r.now()
	e.attempts, e.lastAttempt = 0, r.now()
	r.noteFailure(exportlog.CauseUpstreamTimeout)
	r.bg.Add(1) // safe: Close waits for this Deliver before waiting for bg
	id, err := r.insert(e)
	if err != nil {
		go func() {
			defer r.bg.Done()
			a := <-done
			r.log.Error("a record that could not be queued got its late reply", slog.String("oclc", e.oclc),
				slog.String("verdict", a.outcomeName()), slog.String("reply", firstLine(a.reply)))
		}()
		return r.storageFailure(e, err, start, true)
	}
	r.own(id, e.fwd)
	go func() {
		defer r.bg.Done()
		r.lateReply(id, <-done)
	}()
	r.log.Warn("no reply in time; record queued while waiting for a late reply",
		slog.Int64("queue_id", id), slog.String("oclc", e.oclc), slog.Duration("reply_timeout", r.cfg.ReplyTimeout))
	return r.queuedResult(id, e, start,
		fmt.Sprintf("%s did not reply within %v; kept as relay queue item %d while the relay waits up to %v for a late reply (it is sent again only if the upstream says it failed)",
			r.cfg.Upstream, r.cfg.ReplyTimeout, id, r.cfg.LateReplyLimit), "")
}

// settleDirect handles an attempt that ended within ReplyTimeout.
func (r *Relay) settleDirect(e *newEntry, a attempt, start time.Time) receiver.Result {
	switch a.outcome {
	case imported:
		r.noteSuccess()
		return r.relayed(e, a, start)
	case unsendable:
		r.log.Error("record cannot be sent to the upstream", slog.String("oclc", e.oclc), slog.String("err", a.err))
		return receiver.Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: a.cause,
			Detail: a.err, Elapsed: time.Since(start)}
	}
	delay := r.noteFailure(a.cause)
	e.cause, e.lastError, e.reply = a.cause, a.err, a.reply
	e.lastAttempt = r.now()
	e.attempts = 1
	switch a.outcome {
	case failed:
		e.state, e.next = StateQueued, r.now().Add(delay)
		if a.refusal {
			e.refusals = 1
			if r.holdsAt(e.refusals) {
				e.state, e.next = StateHeld, time.Time{}
			}
		}
	case abandoned:
		e.state, e.next, e.attempts = StateQueued, r.now(), 0
	default:
		e.state, e.next = StateUncertain, r.now()
		if r.cfg.ResendUncertain {
			e.state = StateQueued
		}
	}
	return r.queued(e, start, a.err, a.reply)
}

// queued commits e and describes it as queued.
func (r *Relay) queued(e *newEntry, start time.Time, why, upstream string) receiver.Result {
	id, err := r.insert(e)
	if err != nil {
		return r.storageFailure(e, err, start, e.state == StateUncertain)
	}
	if e.state != StateUncertain {
		r.own(id, e.fwd)
	}
	r.notify()
	r.log.Warn("record queued", slog.Int64("queue_id", id), slog.String("state", string(e.state)),
		slog.String("oclc", e.oclc), slog.String("cause", e.cause), slog.String("why", why))
	detail := fmt.Sprintf("%s; kept as relay queue item %d, delivered automatically and in order when %s takes records again", why, id, r.cfg.Upstream)
	switch e.state {
	case StateUncertain:
		detail = fmt.Sprintf("%s; kept as relay queue item %d, marked uncertain: check the ILS, then retry or drop it (oclcbot queue)", why, id)
	case StateHeld:
		r.logHeld(id, e.oclc, e.refusals, attempt{reply: e.reply, err: e.lastError})
		detail = fmt.Sprintf("%s; kept as relay queue item %d and set aside, as the upstream refused the record itself: correct it, then retry it or drop it (oclcbot queue)", why, id)
	case StateQueued:
		if e.refusals > 0 && r.cfg.MaxRefusals > 0 {
			detail = fmt.Sprintf("%s; kept as relay queue item %d and tried again; if %s refuses it %d times in a row it is set aside, so that the records behind it go on",
				why, id, r.cfg.Upstream, r.cfg.MaxRefusals)
		}
	}
	return r.queuedResult(id, e, start, detail, upstream)
}

func (r *Relay) queuedResult(id int64, e *newEntry, start time.Time, detail, upstream string) receiver.Result {
	return receiver.Result{Outcome: exportlog.OutcomeQueued, Class: exportlog.ClassSystem, Cause: e.cause,
		Detail: detail, Upstream: upstream, Elapsed: time.Since(start)}
}

// relayed is a record the upstream took. Its repeat-detection row is
// written in the background (remember), and the receiver records its
// attempt while the reply goes out: the upstream has the record, so the
// cataloger waits for neither.
func (r *Relay) relayed(e *newEntry, a attempt, start time.Time) receiver.Result {
	r.remember(e, a.sysno)
	return receiver.Result{Outcome: exportlog.OutcomeRelayed, SystemNumber: a.sysno,
		Upstream: a.reply, Reply: a.reply, Elapsed: time.Since(start)}
}

// storageFailure is a record that could not be queued: nothing is kept.
func (r *Relay) storageFailure(e *newEntry, err error, start time.Time, maybeImported bool) receiver.Result {
	detail := "the record could not be queued: " + err.Error()
	if maybeImported {
		detail += "; the upstream may still import it, so check the ILS before exporting it again"
	}
	r.log.Error("cannot queue a record", slog.String("oclc", e.oclc), slog.Any("err", err))
	return receiver.Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseStorage,
		Detail: detail, Uncertain: maybeImported, Elapsed: time.Since(start)}
}

// lateReply settles a record queued while its reply was late.
func (r *Relay) lateReply(id int64, a attempt) {
	next := r.now()
	if a.outcome != imported {
		next = next.Add(r.noteFailure(a.cause))
	} else {
		r.noteSuccess()
	}
	state, err := r.settle(id, a, next)
	r.disown(id, state)
	if err != nil {
		r.log.Error("cannot record a late reply", slog.Int64("queue_id", id), slog.Any("err", err))
		return
	}
	r.log.Info("late reply settled a queued record", slog.Int64("queue_id", id), slog.String("state", string(state)),
		slog.String("reply", firstLine(a.reply)), slog.String("err", a.err))
	r.notify()
}

// own remembers the cataloger's login for a queued record (memory only).
func (r *Relay) own(id int64, f forward) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Credentials == nil {
		r.creds[id] = f
	}
}

// disown forgets an entry's login once it no longer waits for delivery
// (a held entry keeps it, for a retry).
func (r *Relay) disown(id int64, state State) {
	if state == StateQueued || state == StateSending || state == StateHeld {
		return
	}
	r.mu.Lock()
	delete(r.creds, id)
	r.mu.Unlock()
}

func (a attempt) outcomeName() string {
	switch a.outcome {
	case imported:
		return "imported"
	case failed:
		return "failed"
	case uncertain:
		return "uncertain"
	case unsendable:
		return "unsendable"
	case abandoned:
		return "abandoned"
	}
	return "unknown"
}
