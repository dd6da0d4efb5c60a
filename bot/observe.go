package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

// ObservationOf returns the observation of an export attempt. Request-level
// events with no target count against the listener.
func ObservationOf(a *exportlog.Attempt) Observation {
	t := a.Target
	if t == "" {
		t = incidents.TargetListener
	}
	at := a.Done
	if at.IsZero() {
		at = a.Time
	}
	return Observation{
		Time: at, Target: t, Source: SourceExport, OK: !a.Failed(),
		Class: a.Class, Cause: a.Cause, Message: a.Reply, Attempt: a, Latency: a.Elapsed,
	}
}

// ObserveAttempt judges one export attempt from the export log and
// remembers it as the last attempt judged (the cursor Run resumes from).
func (e *Engine) ObserveAttempt(ctx context.Context, a *exportlog.Attempt) error {
	if a.Outcome == exportlog.OutcomeCanary && !a.Failed() {
		e.mu.Lock()
		e.advance(a.ID)
		e.mu.Unlock()
		return nil // the canary probe reports its own result
	}
	return e.observe(ctx, ObservationOf(a), a.ID)
}

// Observe judges one observation: an export attempt (prefer
// ObserveAttempt for those) or a probe result. It returns once every
// decision it caused is committed, its notifications included.
func (e *Engine) Observe(ctx context.Context, o Observation) error {
	return e.observe(ctx, o, 0)
}

func (e *Engine) advance(id int64) {
	if id > e.cursor {
		e.cursor = id
	}
}

func (e *Engine) observe(ctx context.Context, o Observation, attemptID int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance(attemptID)
	now := e.now()
	if o.Time.IsZero() {
		o.Time = now
	}
	if o.Target == "" {
		o.Target = incidents.TargetListener
	}
	var errs []error
	if a := o.Attempt; a != nil && a.Follows != 0 {
		// A later event about an earlier attempt: a queued record was
		// delivered, dropped by an operator, or refused by the ILS on
		// its merits and set aside.
		switch {
		case a.Outcome == exportlog.OutcomeDelivered:
			errs = append(errs, e.followUp(ctx, a.Follows, incidents.StatusDelivered, now))
		case a.Cause == exportlog.CauseDropped:
			errs = append(errs, e.followUp(ctx, a.Follows, incidents.StatusReexport, now))
		case a.Outcome == exportlog.OutcomeFailed && a.Class == exportlog.ClassRecord:
			errs = append(errs, e.followUp(ctx, a.Follows, incidents.StatusRefused, now))
		}
		if !o.OK {
			return errors.Join(errs...) // says nothing new about the path
		}
	}
	d := e.detector(o.Target)
	v := d.observe(o, o.Time)
	t := e.byTarget[o.Target]
	failure := !o.OK && o.Class != exportlog.ClassRecord
	switch {
	case v.confirm:
		errs = append(errs, e.confirm(ctx, o.Target, v, now))
	case v.recover && t != nil && t.inc.State.Active():
		errs = append(errs, e.recover(ctx, t, v.text, now))
	case failure && t != nil && t.inc.State.Active():
		errs = append(errs, e.decide(ctx, t, func(p *plan) error {
			e.attach(p.t.inc, []Observation{o}, now)
			return e.updateIfDue(p, now)
		}))
	case v.healthy && t != nil && t.inc.State.Active() && t.inc.Reported:
		errs = append(errs, e.closeReport(ctx, t, now))
	}
	return errors.Join(errs...)
}

// confirm acts on a detector's confirmation: it confirms a reported
// incident, reopens a recently solved one, or opens a new one.
func (e *Engine) confirm(ctx context.Context, target string, v verdict, now time.Time) error {
	t := e.byTarget[target]
	if t == nil {
		// A staff report or list post that named no target is this
		// problem.
		for _, r := range e.byID {
			if r.inc.Target == incidents.TargetUnknown && r.inc.State.Active() {
				t = r
				break
			}
		}
	}
	switch {
	case t != nil && t.inc.State.Active():
		return e.decide(ctx, t, func(p *plan) error {
			inc := p.t.inc
			adopted := inc.Target != target
			if adopted {
				delete(e.byTarget, inc.Target)
				inc.Target = target
				e.byTarget[target] = t
			}
			e.attach(inc, v.evidence, now)
			ev, ok := inc.Confirm(now, v.cause, v.class, v.text)
			if !ok {
				return e.updateIfDue(p, now)
			}
			e.announce(p, incidents.KindAlert, ev.Seq, now, incidents.System, v.text, inc.Affected)
			inc.MarkAnnounced(attemptIDs(inc.Affected))
			e.escalateIfDue(p, now)
			return nil
		})
	case t != nil && now.Sub(t.inc.SolvedAt) <= e.cfg.ReopenWindow:
		return e.decide(ctx, t, func(p *plan) error {
			inc := p.t.inc
			ev, err := inc.Reopen(incidents.System, now, "failures again: "+v.text)
			if err != nil {
				return err
			}
			inc.Confirm(now, v.cause, v.class, v.text) // a report closed as unconfirmed is confirmed now
			e.attach(inc, v.evidence, now)
			e.announce(p, incidents.KindReopened, ev.Seq, now, incidents.System, v.text, inc.Affected)
			inc.MarkAnnounced(attemptIDs(inc.Affected))
			e.escalateIfDue(p, now)
			return nil
		})
	}
	id, err := e.nextID(ctx, now)
	if err != nil {
		return fmt.Errorf("open incident for %s: %w", target, err)
	}
	inc := incidents.New(incidents.Opening{ID: id, Target: target, Cause: v.cause, Class: v.class, Time: now, Text: v.text})
	nt := &tracked{inc: inc, ann: map[string]incidents.Announced{}}
	err = e.decide(ctx, nt, func(p *plan) error {
		e.attach(inc, v.evidence, now)
		e.announce(p, incidents.KindAlert, inc.EventSeq(), now, incidents.System, v.text, inc.Affected)
		inc.MarkAnnounced(attemptIDs(inc.Affected))
		e.escalateIfDue(p, now)
		return nil
	})
	if err != nil {
		e.forgetSeq(now)
		// The detector must confirm again rather than believe a problem
		// is on record.
		e.detector(target).reset()
		return fmt.Errorf("open incident for %s: %w", target, err)
	}
	e.log.Warn("incident opened", "incident", id, "target", target, "cause", v.cause, "why", v.text)
	return nil
}

// attach records failures in inc: the count and times (failed checks
// apart from failed exports), the captured messages (a message identical
// to one captured before only counts; the first is captured at once), and
// the affected records.
func (e *Engine) attach(inc *incidents.Incident, obs []Observation, now time.Time) {
	for _, o := range obs {
		at := o.Time
		if at.IsZero() {
			at = now
		}
		from := o.Target
		src := incidents.SourceReply
		if o.Source == SourceProbe {
			src, from = incidents.SourceProbe, o.Probe
			inc.CheckFailed(at)
		} else {
			inc.Failed(at)
		}
		if a := o.Attempt; a != nil && a.User != "" {
			from = a.User
		}
		if o.Message != "" {
			inc.Capture(incidents.Message{Time: at, Source: src, From: from, Text: o.Message}, e.cfg.Limits)
		}
		if a := o.Attempt; a != nil {
			if a.Upstream != "" {
				inc.Capture(incidents.Message{Time: at, Source: incidents.SourceUpstream, From: a.Target, Text: a.Upstream}, e.cfg.Limits)
			}
			if a.Detail != "" {
				inc.Capture(incidents.Message{Time: at, Source: incidents.SourceDetail, From: a.Target, Text: a.Detail}, e.cfg.Limits)
			}
			if aff, ok := incidents.NewAffected(a, now); ok {
				inc.AddAffected(aff)
			}
		}
	}
}

// updateIfDue announces the records not announced yet, at most once per
// UpdateEvery.
func (e *Engine) updateIfDue(p *plan, now time.Time) error {
	inc := p.t.inc
	if !inc.State.Active() || inc.Reported {
		return nil
	}
	recs := inc.Unannounced()
	if len(recs) == 0 || now.Sub(inc.LastNotice) < e.cfg.UpdateEvery {
		return nil
	}
	text := fmt.Sprintf("%d more %s failed", len(recs), plural(len(recs), "record", "records"))
	ev := inc.Append(incidents.EventUpdate, incidents.System, now, text)
	e.announce(p, incidents.KindUpdate, ev.Seq, now, incidents.System, text, recs)
	inc.MarkAnnounced(attemptIDs(recs))
	inc.LastNotice = now
	return nil
}

// recover solves t's incident: the recovery rule held.
func (e *Engine) recover(ctx context.Context, t *tracked, why string, now time.Time) error {
	err := e.decide(ctx, t, func(p *plan) error {
		inc := p.t.inc
		ev, err := inc.Solve(incidents.System, now, "recovered: "+why)
		if err != nil {
			return err
		}
		e.announce(p, incidents.KindSolved, ev.Seq, now, incidents.System, why, inc.Affected)
		return nil
	})
	if err == nil {
		e.log.Info("incident solved", "incident", t.inc.ID, "target", t.inc.Target, "why", why)
	}
	return err
}

// closeReport closes a staff report the detectors did not confirm, once it
// is old enough and the target looks healthy.
func (e *Engine) closeReport(ctx context.Context, t *tracked, now time.Time) error {
	if now.Sub(t.inc.Opened) < e.cfg.ReportGrace {
		return nil
	}
	return e.decide(ctx, t, func(p *plan) error {
		inc := p.t.inc
		why := "not confirmed: oclcbot's checks of " + incidents.TargetWords(inc.Target) + " pass"
		ev, err := inc.Solve(incidents.System, now, why)
		if err != nil {
			return err
		}
		e.announce(p, incidents.KindSolved, ev.Seq, now, incidents.System, why, inc.Affected)
		return nil
	})
}

// followUp changes the status of the record of attempt id in whichever
// incident lists it.
func (e *Engine) followUp(ctx context.Context, id int64, st incidents.Status, now time.Time) error {
	var t *tracked
find:
	for _, x := range e.byID {
		for _, r := range x.inc.Affected {
			if r.AttemptID == id {
				t = x
				break find
			}
		}
	}
	if t == nil {
		iid, err := e.st.IncidentOfAttempt(ctx, id)
		if err != nil || iid == "" {
			return err
		}
		if t, err = e.lookup(ctx, iid); err != nil {
			return err
		}
	}
	return e.decideIfChanged(ctx, t, func(p *plan) error {
		p.t.inc.SetStatus(id, st, now)
		return nil
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
