package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

// Errors of the people-facing API.
var (
	// ErrBadSilence is returned (wrapped) for a silence or window that
	// cannot work: no target, a bad pattern, an end in the past, no reason.
	ErrBadSilence = errors.New("bad silence")
)

// Ack records that actor is working on incident id (as people type it:
// "ois-2026-42" works too). It stops reminders and escalation and tells
// the channels that want acknowledgements. It returns
// incidents.ErrAlreadyAcknowledged, ErrAlreadySolved or ErrNotFound
// (wrapped) when it cannot.
func (e *Engine) Ack(ctx context.Context, id, actor string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.lookup(ctx, id)
	if err != nil {
		return err
	}
	now := e.now()
	return e.decide(ctx, t, func(p *plan) error {
		ev, err := p.t.inc.Acknowledge(actor, now)
		if err != nil {
			return err
		}
		e.announce(p, incidents.KindAck, ev.Seq, now, actor, ev.Text, nil)
		return nil
	})
}

// Solve records that actor solved incident id. SOLVED goes to every
// channel that was told of the problem. The target's detector starts over,
// so failures that go on confirm the problem again and reopen the incident
// (re-alerting) within the reopen window.
func (e *Engine) Solve(ctx context.Context, id, actor string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.solve(ctx, id, actor, "")
}

func (e *Engine) solve(ctx context.Context, id, actor, why string) error {
	t, err := e.lookup(ctx, id)
	if err != nil {
		return err
	}
	now := e.now()
	if why == "" {
		why = "solved by " + actor
	}
	err = e.decide(ctx, t, func(p *plan) error {
		ev, err := p.t.inc.Solve(actor, now, why)
		if err != nil {
			return err
		}
		e.announce(p, incidents.KindSolved, ev.Seq, now, actor, why, p.t.inc.Affected)
		return nil
	})
	if err != nil {
		return err
	}
	if e.byTarget[t.inc.Target] == t {
		e.detector(t.inc.Target).reset()
	}
	return nil
}

// Note adds actor's note to incident id's timeline. Notes notify nobody.
func (e *Engine) Note(ctx context.Context, id, actor, text string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.lookup(ctx, id)
	if err != nil {
		return err
	}
	now := e.now()
	return e.decide(ctx, t, func(p *plan) error {
		_, err := p.t.inc.AddNote(actor, now, text)
		return err
	})
}

// Silence holds back announcements about target (a target, "*" or a
// pattern such as "upstream:*") until until. Everything is still
// recorded; when the silence ends, what changed is announced.
func (e *Engine) Silence(ctx context.Context, target string, until time.Time, reason, actor string) (*incidents.Silence, error) {
	now := e.now()
	switch {
	case !incidents.ValidPattern(target):
		return nil, fmt.Errorf("%w: target %q is not a target or pattern", ErrBadSilence, target)
	case !until.After(now):
		return nil, fmt.Errorf("%w: it would end at %s, which is not in the future", ErrBadSilence, until.Format(time.RFC3339))
	case strings.TrimSpace(reason) == "":
		return nil, fmt.Errorf("%w: give a reason, so that others know why nothing is announced", ErrBadSilence)
	case strings.TrimSpace(actor) == "":
		return nil, incidents.ErrNoActor
	}
	s := &incidents.Silence{Target: target, Until: until, Reason: reason, Actor: actor, Created: now}
	if err := e.st.AddSilence(ctx, s); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return s, e.loadSilences(ctx, now)
}

// Unsilence lifts the running silences on exactly target and announces at
// once what changed while they held. It returns how many it lifted.
func (e *Engine) Unsilence(ctx context.Context, target, actor string) (int, error) {
	now := e.now()
	n, err := e.st.EndSilences(ctx, target, now)
	if err != nil {
		return 0, err
	}
	e.log.Info("silence lifted", "target", target, "by", actor, "silences", n)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadSilences(ctx, now); err != nil {
		return n, err
	}
	var errs []error
	for _, t := range e.byID {
		if t.dirty {
			errs = append(errs, e.tickIncident(ctx, t, now))
		}
	}
	return n, errors.Join(errs...)
}

// AddWindow stores a recurring maintenance window for target (a target,
// "*" or a pattern).
func (e *Engine) AddWindow(ctx context.Context, target string, s incidents.Schedule, reason, actor string) (*incidents.Window, error) {
	if !incidents.ValidPattern(target) {
		return nil, fmt.Errorf("%w: target %q is not a target or pattern", ErrBadSilence, target)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("%w: give a reason", ErrBadSilence)
	}
	w := &incidents.Window{Target: target, Schedule: s, Reason: reason, Actor: actor, Created: e.now()}
	if err := e.st.AddWindow(ctx, w); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return w, e.loadSilences(ctx, e.now())
}

// DeleteWindow removes maintenance window id.
func (e *Engine) DeleteWindow(ctx context.Context, id int64) error {
	if err := e.st.DeleteWindow(ctx, id); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loadSilences(ctx, e.now())
}
