package bot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/templates"
)

// Tick judges the passing of time at now: recovery by healthy probes,
// coalesced updates, escalation, reminders, silences and maintenance
// windows that ended, list echoes that did not come, and changes other
// processes made (an acknowledgement from the CLI). Run calls it every
// TickEvery; tests call it with the injected clock's time.
func (e *Engine) Tick(ctx context.Context, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	if err := e.refresh(ctx, now); err != nil {
		errs = append(errs, err)
	}
	targets := slices.Sorted(maps.Keys(e.det))
	for _, target := range targets {
		v := e.det[target].tick(now)
		t := e.byTarget[target]
		switch {
		case t == nil || !t.inc.State.Active():
		case v.recover:
			errs = append(errs, e.recover(ctx, t, v.text, now))
		case v.healthy && t.inc.Reported:
			errs = append(errs, e.closeReport(ctx, t, now))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.byID)) {
		t := e.byID[id]
		if err := e.tickIncident(ctx, t, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		if e.forgettable(t, now) {
			delete(e.byID, id)
			if e.byTarget[t.inc.Target] == t {
				delete(e.byTarget, t.inc.Target)
			}
		}
	}
	errs = append(errs, e.checkEchoes(ctx, now))
	if e.cursor != e.cursorSav {
		errs = append(errs, e.save(ctx, e.newPlan(nil)))
	}
	return errors.Join(errs...)
}

// tickIncident does what time asks of one incident, in one decision.
func (e *Engine) tickIncident(ctx context.Context, t *tracked, now time.Time) error {
	reconciled := false
	err := e.decideIfChanged(ctx, t, func(p *plan) error {
		if t.dirty && !e.suppressed(t.inc.Target, now) {
			e.reconcile(p, now)
			reconciled = true
		}
		if err := e.updateIfDue(p, now); err != nil {
			return err
		}
		e.escalateIfDue(p, now)
		e.remindIfDue(p, now)
		return nil
	})
	if err == nil && reconciled && !e.suppressed(t.inc.Target, now) {
		t.dirty = false
	}
	return err
}

// decideIfChanged is decide that writes nothing when fn changed nothing.
func (e *Engine) decideIfChanged(ctx context.Context, t *tracked, fn func(p *plan) error) error {
	p := e.newPlan(t)
	if err := fn(p); err != nil {
		return err
	}
	if t.inc.PeekChanges().Empty() && len(p.notes) == 0 && len(p.annUpd) == 0 {
		t.dirty = t.dirty || p.dirty
		return nil
	}
	err := e.save(ctx, p)
	if err != nil && t.inc.Version > 0 {
		if rerr := e.reload(ctx, t); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

func (e *Engine) anyWants(k incidents.Kind) bool {
	for _, c := range e.chans {
		if c.wants(k) {
			return true
		}
	}
	return false
}

// escalateIfDue escalates an incident unacknowledged for too long after it
// was announced (at once for a critical one, by default).
func (e *Engine) escalateIfDue(p *plan, now time.Time) {
	inc := p.t.inc
	if inc.State != incidents.StateOpen || inc.Reported || !inc.Escalated.IsZero() || inc.AnnouncedAt.IsZero() || !e.anyWants(incidents.KindEscalation) {
		return
	}
	after := e.cfg.EscalateAfter
	if inc.Severity == incidents.SeverityCritical {
		after = e.cfg.EscalateCritical
	}
	if after < 0 || now.Sub(inc.AnnouncedAt) < after {
		return
	}
	if e.suppressed(inc.Target, now) {
		p.dirty = true
		return
	}
	inc.Escalated = now
	text := "not acknowledged after " + templates.HumanDuration(now.Sub(inc.AnnouncedAt)) + ": escalated to the OIS report"
	if after == 0 {
		text = "a " + inc.Severity.String() + " problem: reported to OIS at once"
	}
	ev := inc.Append(incidents.EventEscalated, incidents.System, now, text)
	e.announce(p, incidents.KindEscalation, ev.Seq, now, incidents.System, text, inc.Affected)
}

// remindIfDue reminds the channels of an unacknowledged incident every
// RemindEvery, inside working hours.
func (e *Engine) remindIfDue(p *plan, now time.Time) {
	inc := p.t.inc
	if e.cfg.RemindEvery < 0 || inc.State != incidents.StateOpen || inc.Reported || inc.AnnouncedAt.IsZero() || !e.anyWants(incidents.KindReminder) {
		return
	}
	last := inc.AnnouncedAt
	if inc.LastReminder.After(last) {
		last = inc.LastReminder
	}
	if now.Sub(last) < e.cfg.RemindEvery {
		return
	}
	if wh := e.cfg.WorkingHours; wh != nil && !wh.Active(now) {
		return
	}
	if e.suppressed(inc.Target, now) {
		return
	}
	inc.LastReminder = now
	text := "still failing after " + templates.HumanDuration(inc.Duration(now)) + ", and nobody has acknowledged it"
	ev := inc.Append(incidents.EventReminder, incidents.System, now, text)
	e.announce(p, incidents.KindReminder, ev.Seq, now, incidents.System, text, inc.Affected)
}

// forgettable reports whether a solved incident can leave memory: its
// reopen window has passed and every channel's story is complete.
func (e *Engine) forgettable(t *tracked, now time.Time) bool {
	if t.inc.State.Active() || t.dirty || now.Sub(t.inc.SolvedAt) <= e.cfg.ReopenWindow {
		return false
	}
	for _, a := range t.ann {
		if a == incidents.AnnouncedProblem || a == incidents.AnnouncedReported {
			return false
		}
	}
	return true
}

// refresh picks up changes other processes made: silences and windows
// added or lifted, incidents acknowledged, solved or annotated.
func (e *Engine) refresh(ctx context.Context, now time.Time) error {
	gen, err := e.st.SilenceGen(ctx)
	if err != nil {
		return err
	}
	if gen != e.silGen {
		if err := e.loadSilences(ctx, now); err != nil {
			return err
		}
		for _, t := range e.byID {
			t.dirty = true // a lifted silence may leave announcements to make
		}
	} else {
		e.silences = slices.DeleteFunc(e.silences, func(s incidents.Silence) bool { return !now.Before(s.Until) })
	}
	vers, err := e.st.ActiveVersions(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for id, t := range e.byID {
		v, ok := vers[id]
		if (ok && v != t.inc.Version) || (!ok && t.inc.State.Active()) {
			errs = append(errs, e.reload(ctx, t))
		}
	}
	for id := range vers {
		if _, ok := e.byID[id]; ok {
			continue
		}
		t, err := e.lookup(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.dirty = true
		e.track(t)
	}
	return errors.Join(errs...)
}

// checkEchoes raises an admin notice for every list post whose echo has
// not come back in time: the list probably holds it for moderation.
func (e *Engine) checkEchoes(ctx context.Context, now time.Time) error {
	late, err := e.st.EchoOverdue(ctx, now.Add(-e.cfg.EchoTimeout))
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range late {
		p := e.newPlan(nil)
		p.echo = []string{n.Key}
		a := &incidents.Admin{
			Topic:   incidents.AdminEchoMissing,
			Summary: fmt.Sprintf("the %s post %q has not come back through the list", n.Channel, n.Subject),
			Detail: fmt.Sprintf("oclcbot posted it at %s and has not seen it in its mailbox for %s since. "+
				"The list probably holds it for moderation: approve it, or allow oclcbot's address to post.",
				n.Sent.In(e.cfg.Location).Format("2006-01-02 15:04 MST"), templates.HumanDuration(now.Sub(n.Sent))),
			Ref: n.Key, Channel: n.Channel,
		}
		var sum *incidents.Summary
		if t := e.byID[n.Incident]; t != nil {
			sum = incidents.Summarize(t.inc, now, !e.cfg.NoTag)
		}
		for _, c := range e.chans {
			if c.Admin && c.Name != n.Channel {
				p.notes = append(p.notes, e.comp.admin(c, incidents.AdminKey(incidents.AdminEchoMissing, n.Key, c.Name), a, sum, now))
			}
		}
		e.log.Warn("list post did not come back", "key", n.Key, "channel", n.Channel, "sent", n.Sent)
		errs = append(errs, e.save(ctx, p))
	}
	return errors.Join(errs...)
}
