package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/exportlog"
)

// Probe is one scheduled check.
type Probe struct {
	// Name says what kind of check this is (Name* constants); it becomes
	// bot.Observation.Probe. Name and Target together must be unique
	// within a Scheduler.
	Name string
	// Target is the detector target the results count toward
	// (bot.Observation.Target): TargetListener, TargetIndex, or
	// UpstreamTarget(addr).
	Target string
	// Interval is the time from the start of one run to the start of the
	// next. A run that takes longer delays the next; runs never overlap.
	Interval time.Duration
	// Timeout bounds one run: the Func's context carries this deadline.
	Timeout time.Duration
	// Func performs the check.
	Func Func
	// Watch, when not nil, runs in its own goroutine for as long as the
	// Scheduler runs, to gather what Func checks (the index check follows
	// the export log this way). It must return once ctx is done.
	Watch func(ctx context.Context)
}

// Config configures a Scheduler.
type Config struct {
	// Probes to run. At least one.
	Probes []Probe
	// Emit receives one bot.Observation per completed run. The Scheduler
	// never calls it concurrently; it should return quickly, since the
	// probe's next run waits for it.
	Emit func(bot.Observation)
	// Clock decides when runs are due and stamps them; nil means
	// SystemClock.
	Clock Clock
	// Logger receives probe failures at debug level and probe panics at
	// error level; nil discards.
	Logger *slog.Logger
	// HistorySize is how many recent runs History keeps per probe
	// (default DefaultHistorySize); FailureHistorySize how many recent
	// failures (default DefaultFailureHistorySize).
	HistorySize        int
	FailureHistorySize int
}

// Errors from the constructors and Run.
var (
	// ErrConfig is wrapped by every error NewScheduler, NewCanary and
	// NewIndexCheck return.
	ErrConfig = errors.New("probe: invalid configuration")
	// ErrRunning is returned by Run when the Scheduler is already running
	// or has run.
	ErrRunning = errors.New("probe: scheduler already started")
)

// stuckGrace is how long after its deadline a run may take to report its
// own error before the Scheduler records a timeout without it.
const stuckGrace = 200 * time.Millisecond

// Scheduler runs probes at their intervals and reports every result. It is
// safe for concurrent use; History may be called at any time.
type Scheduler struct {
	emit   func(bot.Observation)
	clock  Clock
	log    *slog.Logger
	probes []*scheduled

	mu      sync.Mutex // guards started and every history
	started bool
	emitMu  sync.Mutex // serialises emit
}

// scheduled is one probe and its state.
type scheduled struct {
	Probe
	hist *history
	// stuck, when not nil, receives the result of an earlier run that
	// outlived its deadline and the grace period; no new run starts until
	// it does, so a Func that ignores its context holds one goroutine at
	// most.
	stuck chan Result
}

// NewScheduler checks cfg and returns a Scheduler ready to Run.
func NewScheduler(cfg Config) (*Scheduler, error) {
	if len(cfg.Probes) == 0 {
		return nil, fmt.Errorf("%w: no probes", ErrConfig)
	}
	if cfg.Emit == nil {
		return nil, fmt.Errorf("%w: Emit is nil", ErrConfig)
	}
	size, failSize := cfg.HistorySize, cfg.FailureHistorySize
	if size <= 0 {
		size = DefaultHistorySize
	}
	if failSize <= 0 {
		failSize = DefaultFailureHistorySize
	}
	s := &Scheduler{emit: cfg.Emit, clock: cfg.Clock, log: cfg.Logger}
	if s.clock == nil {
		s.clock = SystemClock
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "probe")
	seen := make(map[[2]string]bool)
	for i, p := range cfg.Probes {
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("%w: probe %d has no name", ErrConfig, i)
		case p.Target == "":
			return nil, fmt.Errorf("%w: probe %s has no target", ErrConfig, p.Name)
		case p.Func == nil:
			return nil, fmt.Errorf("%w: probe %s (%s) has no Func", ErrConfig, p.Name, p.Target)
		case p.Interval <= 0:
			return nil, fmt.Errorf("%w: probe %s (%s): interval %v is not positive", ErrConfig, p.Name, p.Target, p.Interval)
		case p.Timeout <= 0:
			return nil, fmt.Errorf("%w: probe %s (%s): timeout %v is not positive", ErrConfig, p.Name, p.Target, p.Timeout)
		}
		key := [2]string{p.Name, p.Target}
		if seen[key] {
			return nil, fmt.Errorf("%w: probe %s (%s) configured twice", ErrConfig, p.Name, p.Target)
		}
		seen[key] = true
		s.probes = append(s.probes, &scheduled{Probe: p, hist: newHistory(&p, size, failSize)})
	}
	return s, nil
}

// Run runs every probe at once and then at its interval, and every
// probe's Watch, until ctx is done. It returns nil once every run has
// finished, or ErrRunning if the Scheduler was started before. A run cut
// short because ctx ended is neither recorded nor emitted: shutting down
// is not a failure of the listener.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return ErrRunning
	}
	s.started = true
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range s.probes {
		if p.Watch != nil {
			wg.Go(func() { p.Watch(ctx) })
		}
		wg.Go(func() { s.loop(ctx, p) })
	}
	wg.Wait()
	return nil
}

// loop runs p until ctx is done.
func (s *Scheduler) loop(ctx context.Context, p *scheduled) {
	for ctx.Err() == nil {
		start := s.clock.Now()
		res := s.runOnce(ctx, p)
		if ctx.Err() != nil {
			return
		}
		if res.Latency <= 0 {
			res.Latency = s.clock.Now().Sub(start)
		}
		s.report(p, start, res)

		wait := start.Add(p.Interval).Sub(s.clock.Now())
		if wait <= 0 {
			continue // the run overran its interval: start the next at once
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(wait):
		}
	}
}

// runOnce calls p.Func under the probe's timeout. It returns the Func's
// result, or a timeout failure when the Func does not return within the
// timeout and a short grace (it is then left to finish on its own, and
// the next run waits for it).
func (s *Scheduler) runOnce(parent context.Context, p *scheduled) Result {
	if p.stuck != nil {
		select {
		case <-p.stuck:
			p.stuck = nil
		default:
			return Fail(CauseTimeout, fmt.Sprintf("the previous %s run has not returned since its %v timeout", p.Name, p.Timeout))
		}
	}
	ctx, cancel := context.WithTimeout(parent, p.Timeout)
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- s.call(ctx, p) }()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
	}
	// Let the Func report its own, more precise, error first.
	grace := time.NewTimer(stuckGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		return r
	case <-grace.C:
		p.stuck = done
		s.log.Error("probe did not return after its timeout", "probe", p.Name, "target", p.Target, "timeout", p.Timeout)
		return Fail(CauseTimeout, fmt.Sprintf("%s did not finish within %v", p.Name, p.Timeout))
	}
}

// call runs p.Func, turning a panic into a failed result.
func (s *Scheduler) call(ctx context.Context, p *scheduled) (res Result) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("probe panicked", "probe", p.Name, "target", p.Target, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = Fail(CauseInternal, fmt.Sprintf("%s probe failed with an internal error (see the oclcbot log)", p.Name))
		}
	}()
	return p.Func(ctx)
}

// report records res in p's history and emits it.
func (s *Scheduler) report(p *scheduled, start time.Time, res Result) {
	if !res.OK && res.Cause == "" {
		res.Cause = CauseError
	}
	if res.OK {
		res.Cause = ""
	}
	s.mu.Lock()
	p.hist.add(Entry{Time: start, Result: res})
	s.mu.Unlock()

	obs := bot.Observation{
		Time:    start,
		Target:  cmp.Or(res.Target, p.Target),
		Source:  bot.SourceProbe,
		Probe:   p.Name,
		OK:      res.OK,
		Cause:   res.Cause,
		Message: res.Message,
		Latency: res.Latency,
	}
	if !res.OK {
		obs.Class = exportlog.ClassSystem
		s.log.Debug("probe failed", "probe", p.Name, "target", p.Target, "cause", res.Cause, "message", res.Message)
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.emit(obs)
}

// History returns the status of every probe, in configuration order. The
// result is a copy the caller may keep.
func (s *Scheduler) History() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, len(s.probes))
	for i, p := range s.probes {
		out[i] = p.hist.snapshot()
	}
	return out
}
