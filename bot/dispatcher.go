package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/templates"
)

// RetryPolicy is the dispatcher's handling of temporary errors:
// exponential backoff with jitter, from Initial doubling up to Max between
// attempts, until the notification is MaxAge old; then it is dead.
type RetryPolicy struct {
	Initial time.Duration // default 10 s
	Max     time.Duration // default 30 min
	MaxAge  time.Duration // default 24 h
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Initial <= 0 {
		r.Initial = 10 * time.Second
	}
	if r.Max <= 0 {
		r.Max = 30 * time.Minute
	}
	if r.MaxAge <= 0 {
		r.MaxAge = 24 * time.Hour
	}
	return r
}

// backoff returns the wait before attempt n+1 after n failed attempts:
// Initial·2^(n-1) capped at Max, then jittered to between half and all of
// it (rnd in [0,1)).
func (r RetryPolicy) backoff(n int, rnd float64) time.Duration {
	d := r.Initial
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	if d > r.Max {
		d = r.Max
	}
	return d/2 + time.Duration(rnd*float64(d/2))
}

// DispatcherConfig configures a Dispatcher. Outbox, Channels and
// Templates are required.
type DispatcherConfig struct {
	Outbox   Outbox
	Channels []ChannelConfig
	// Templates render admin notices about dead letters.
	Templates *templates.Set
	Retry     RetryPolicy
	// SendTimeout bounds one Send (default 1 min).
	SendTimeout time.Duration
	// Poll is how often an idle worker looks for work it was not woken
	// for: notifications queued by another process (the CLI), retries
	// made by hand (default 5 s).
	Poll time.Duration
	// NoTag and Location as in Config (for admin notices).
	NoTag    bool
	Location *time.Location
	// Now is the clock (default time.Now); Rand returns jitter in [0,1)
	// (default math/rand/v2).
	Now    func() time.Time
	Rand   func() float64
	Logger *slog.Logger
}

// Dispatcher delivers the outbox: one worker per channel, so a failing or
// slow channel never delays the others; per channel, the notifications of
// one incident go out in the order they were made (a later one waits while
// an earlier one is pending), so SOLVED never overtakes its ALERT.
//
// Delivery is at least once: a notification is marked "sent" only after
// its channel accepted it; if oclcbot dies in between it is handed over
// once more after the restart (with the same Key, from which email derives
// its Message-ID, so receivers can drop the copy): at most one duplicate
// per crash. Nothing marked sent is ever sent again, and nothing unsent is
// lost. A first attempt goes out straight from "pending", so that an
// ALERT costs one commit (its own) before it reaches the channel; a retry
// is marked "sending" (with its attempt number) before it is handed over.
type Dispatcher struct {
	cfg     DispatcherConfig
	ob      Outbox
	comp    *composer
	log     *slog.Logger
	workers []*worker
	byName  map[string]*worker
	randMu  sync.Mutex
}

type worker struct {
	c         *channel
	pace      time.Duration
	wake      chan struct{}
	mu        sync.Mutex // serialises steps (RunDue against Run)
	notBefore time.Time  // pacing and Retry-After: no send before this
}

// NewDispatcher returns a dispatcher for the configured channels.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Outbox == nil || cfg.Templates == nil {
		return nil, errors.New("bot: dispatcher needs Outbox and Templates")
	}
	chans, err := compileChannels(cfg.Channels, true)
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		cfg: cfg, ob: cfg.Outbox, byName: map[string]*worker{},
		comp: &composer{t: cfg.Templates, tag: !cfg.NoTag, loc: cfg.Location, max: DefaultMaxRecords, log: cfg.Logger},
		log:  cfg.Logger.With("component", "dispatcher"),
	}
	for _, c := range chans {
		w := &worker{c: c, wake: make(chan struct{}, 1)}
		if p, ok := c.Channel.(Paced); ok {
			w.pace = p.MinInterval()
		}
		d.workers = append(d.workers, w)
		d.byName[c.Name] = w
	}
	return d, nil
}

// Wake tells channel's worker there is work (Config.Wake). It never
// blocks.
func (d *Dispatcher) Wake(channel string) {
	if w := d.byName[channel]; w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// RunDue delivers, channel after channel, every notification due at now,
// as far as pacing allows, and returns how many were handed over. It is
// the dispatcher's step for tests driven by an injected clock; Run is the
// production loop.
func (d *Dispatcher) RunDue(ctx context.Context, now time.Time) (int, error) {
	var total int
	var errs []error
	for _, w := range d.workers {
		n, _, err := d.step(ctx, w, func() time.Time { return now })
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// Run runs one worker per channel until ctx ends. A worker sleeps until it
// is woken (Wake), its next notification is due, or Poll passes.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { d.loop(ctx, w) })
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) loop(ctx context.Context, w *worker) {
	for {
		_, next, err := d.step(ctx, w, d.cfg.Now)
		if err != nil && ctx.Err() == nil {
			d.log.Error("deliver notifications", "channel", w.c.Name, "err", err)
		}
		wait := d.cfg.Poll
		if !next.IsZero() {
			if dt := next.Sub(d.cfg.Now()); dt < wait {
				wait = max(dt, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// step delivers w's due notifications and returns how many it handed over
// and when it should look again (zero: nothing pending).
func (d *Dispatcher) step(ctx context.Context, w *worker, now func() time.Time) (int, time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sent := 0
	for ctx.Err() == nil {
		t := now()
		if t.Before(w.notBefore) {
			return sent, w.notBefore, nil
		}
		due, err := d.ob.Due(ctx, w.c.Name, t, 16)
		if err != nil {
			return sent, t.Add(d.cfg.Poll), err
		}
		if len(due) == 0 {
			next, ok, err := d.ob.NextDue(ctx, w.c.Name)
			if err != nil || !ok {
				return sent, time.Time{}, err
			}
			return sent, next, nil
		}
		for i := range due {
			t = now()
			if t.Before(w.notBefore) {
				return sent, w.notBefore, nil
			}
			if err := d.deliver(ctx, w, &due[i], t); err != nil {
				return sent, t.Add(d.cfg.Poll), err
			}
			sent++
			if w.pace > 0 {
				w.notBefore = maxTime(w.notBefore, t.Add(w.pace))
			}
		}
	}
	return sent, time.Time{}, ctx.Err()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deliver hands n to its channel once and records the outcome. It returns
// an error only when the outbox could not be updated.
func (d *Dispatcher) deliver(ctx context.Context, w *worker, n *incidents.Notification, now time.Time) error {
	if n.Attempts > 0 || n.State == incidents.DeliverySending {
		if err := d.ob.MarkSending(ctx, n.Key, n.Attempts+1); err != nil {
			return err
		}
	}
	n.Attempts++
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	err := safeSend(sctx, w.c.Channel, n)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Shutting down: leave it "sending"; it goes again after the
		// restart.
		return ctx.Err()
	}
	// The outcome is recorded even when shutdown began during Send: a
	// delivery that happened must not be repeated after a clean restart.
	ctx = context.WithoutCancel(ctx)
	done := d.cfg.Now()
	if done.Before(now) {
		done = now
	}
	if err == nil {
		awaitEcho := w.c.AwaitEcho && n.Kind != incidents.KindAdmin
		if err := d.ob.MarkSent(ctx, n.Key, done, n.Attempts, awaitEcho); err != nil {
			return err
		}
		d.log.Info("notification sent", "key", n.Key, "channel", w.c.Name, "attempt", n.Attempts)
		return nil
	}
	msg := clipErr(err.Error())
	ageFrom := n.AgeFrom
	if ageFrom.IsZero() {
		ageFrom = n.Created
	}
	switch {
	case IsPermanent(err):
		return d.dead(ctx, w, n, "permanent error: "+msg, now)
	case now.Sub(ageFrom) >= d.cfg.Retry.MaxAge:
		return d.dead(ctx, w, n, fmt.Sprintf("gave up after %d attempts in %s: %s", n.Attempts, templates.HumanDuration(now.Sub(ageFrom)), msg), now)
	}
	d.randMu.Lock()
	wait := d.cfg.Retry.backoff(n.Attempts, d.cfg.Rand())
	d.randMu.Unlock()
	if ra, ok := RetryAfterOf(err); ok {
		wait = max(wait, ra)
		w.notBefore = maxTime(w.notBefore, now.Add(ra))
	}
	d.log.Warn("notification not delivered; will retry", "key", n.Key, "channel", w.c.Name, "attempt", n.Attempts, "retry_in", wait, "err", msg)
	return d.ob.MarkRetry(ctx, n.Key, now.Add(wait), n.Attempts, msg)
}

// dead gives n up and tells the admin channels (other than n's own).
func (d *Dispatcher) dead(ctx context.Context, w *worker, n *incidents.Notification, why string, now time.Time) error {
	d.log.Error("notification given up (dead letter)", "key", n.Key, "channel", w.c.Name, "attempts", n.Attempts, "why", why)
	var notices []incidents.Notification
	if n.Kind != incidents.KindAdmin {
		a := &incidents.Admin{
			Topic:   incidents.AdminDead,
			Summary: fmt.Sprintf("the %s notification %q could not be delivered on %s", n.Kind, n.Subject, w.c.Name),
			Detail: fmt.Sprintf("oclcbot gave it up after %d %s. Fix the channel, then run `oclcbot outbox retry %s`.",
				n.Attempts, plural(n.Attempts, "attempt", "attempts"), n.Key),
			Ref: n.Key, Channel: w.c.Name, Error: why,
		}
		var sum *incidents.Summary
		if nn, err := n.Notice(); err == nil {
			sum = nn.Incident
		}
		for _, o := range d.workers {
			if o.c.Admin && o != w {
				notices = append(notices, d.comp.admin(o.c, incidents.AdminKey(incidents.AdminDead, n.Key, o.c.Name), a, sum, now))
			}
		}
	}
	if err := d.ob.MarkDead(ctx, n.Key, n.Attempts, why, notices); err != nil {
		return err
	}
	for _, nn := range notices {
		d.Wake(nn.Channel)
	}
	return nil
}

// safeSend calls ch.Send, turning a panic into a permanent error: a bug in
// one channel must not take the dispatcher down in a crash loop.
func safeSend(ctx context.Context, ch Channel, n *incidents.Notification) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("channel panicked: %v", p))
		}
	}()
	return ch.Send(ctx, n)
}

func clipErr(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}
