package probe_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/exportlog"
)

func passing(context.Context) probe.Result { return probe.Pass("fine") }

func TestSchedulerRunsEachProbeAtItsInterval(t *testing.T) {
	var fastRuns, slowRuns atomic.Int32
	_, clock, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: "fast", Target: "listener", Interval: 10 * time.Second, Timeout: guard,
			Func: func(context.Context) probe.Result { fastRuns.Add(1); return probe.Pass("") }},
		{Name: "slow", Target: "listener", Interval: 30 * time.Second, Timeout: guard,
			Func: func(context.Context) probe.Result { slowRuns.Add(1); return probe.Pass("") }},
	}})

	// Both run at once when the scheduler starts.
	first := col.nextN(t, 2)
	for _, name := range []string{"fast", "slow"} {
		if o, ok := first[name]; !ok || !o.Time.Equal(t0) {
			t.Fatalf("first round: %s = %+v, want a run at %v", name, o, t0)
		}
	}
	// Then fast every 10 s and slow every 30 s.
	for i := 1; i <= 3; i++ {
		waitIdle(t, clock, 2)
		col.none(t)
		clock.Advance(10 * time.Second)
		want := 1
		if i == 3 {
			want = 2
		}
		got := col.nextN(t, want)
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		if o, ok := got["fast"]; !ok || !o.Time.Equal(at) {
			t.Fatalf("after %d s: fast = %+v, want a run at %v", i*10, o, at)
		}
		if _, ok := got["slow"]; ok != (i == 3) {
			t.Fatalf("after %d s: slow ran = %v, want %v", i*10, ok, i == 3)
		}
	}
	waitIdle(t, clock, 2)
	col.none(t)
	if f, s := fastRuns.Load(), slowRuns.Load(); f != 4 || s != 2 {
		t.Fatalf("runs: fast %d, slow %d; want 4 and 2", f, s)
	}
}

func TestSchedulerObservations(t *testing.T) {
	_, _, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: probe.NameListenerTCP, Target: probe.TargetListener, Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result {
				r := probe.Fail(probe.CauseRefused, "dial tcp 192.0.2.7:5500: connect: connection refused")
				r.Latency = 3 * time.Millisecond
				return r
			}},
		{Name: probe.NameCanary, Target: probe.TargetListener, Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result {
				r := probe.Pass("oclcbot canary ok")
				r.Latency = 7 * time.Millisecond
				return r
			}},
		{Name: "no-cause", Target: "catalog", Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result { return probe.Result{Message: "broken"} }},
		{Name: "ok-with-cause", Target: "catalog", Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result { return probe.Result{OK: true, Cause: "timeout"} }},
	}})
	got := col.nextN(t, 4)
	want := map[string]bot.Observation{
		probe.NameListenerTCP: {Time: t0, Target: probe.TargetListener, Source: bot.SourceProbe, Probe: probe.NameListenerTCP,
			Class: exportlog.ClassSystem, Cause: probe.CauseRefused, Message: "dial tcp 192.0.2.7:5500: connect: connection refused", Latency: 3 * time.Millisecond},
		probe.NameCanary: {Time: t0, Target: probe.TargetListener, Source: bot.SourceProbe, Probe: probe.NameCanary,
			OK: true, Message: "oclcbot canary ok", Latency: 7 * time.Millisecond},
		// A failure without a cause word gets CauseError.
		"no-cause": {Time: t0, Target: "catalog", Source: bot.SourceProbe, Probe: "no-cause",
			Class: exportlog.ClassSystem, Cause: probe.CauseError, Message: "broken"},
		// A success never carries a cause.
		"ok-with-cause": {Time: t0, Target: "catalog", Source: bot.SourceProbe, Probe: "ok-with-cause", OK: true},
	}
	for name, w := range want {
		if g := got[name]; g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

func TestSchedulerRunTimeout(t *testing.T) {
	var hadDeadline atomic.Bool
	_, _, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: "hangs", Target: "listener", Interval: time.Minute, Timeout: 20 * time.Millisecond,
			Func: func(ctx context.Context) probe.Result {
				_, ok := ctx.Deadline()
				hadDeadline.Store(ok)
				<-ctx.Done()
				return probe.FromError(ctx.Err())
			}},
	}})
	o := col.next(t)
	if o.OK || o.Cause != probe.CauseTimeout || o.Class != exportlog.ClassSystem {
		t.Fatalf("observation of a run past its timeout = %+v, want a system failure with cause %q", o, probe.CauseTimeout)
	}
	if !hadDeadline.Load() {
		t.Fatal("the probe's context carried no deadline")
	}
}

func TestSchedulerProbeIgnoringItsContext(t *testing.T) {
	release := make(chan struct{})
	var calls, running, overlapped atomic.Int32
	_, clock, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: "stuck", Target: "listener", Interval: time.Minute, Timeout: 10 * time.Millisecond,
			Func: func(ctx context.Context) probe.Result {
				if running.Add(1) > 1 {
					overlapped.Add(1)
				}
				defer running.Add(-1)
				if calls.Add(1) == 1 {
					<-release // ignores ctx
				}
				return probe.Pass("")
			}},
	}})
	o := col.next(t)
	if o.OK || o.Cause != probe.CauseTimeout || !strings.Contains(o.Message, "did not finish within 10ms") {
		t.Fatalf("stuck run: %+v, want a timeout failure saying it did not finish", o)
	}
	// While it is still stuck, later runs fail without calling it again.
	waitIdle(t, clock, 1)
	clock.Advance(time.Minute)
	o = col.next(t)
	if o.OK || o.Cause != probe.CauseTimeout || !strings.Contains(o.Message, "has not returned") {
		t.Fatalf("run while the previous is stuck: %+v, want a timeout failure saying the previous run has not returned", o)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("Func called %d times while stuck, want 1", n)
	}
	// Once it returns, the probe runs normally again (its late result is
	// discarded, and runs never overlap).
	close(release)
	for i := 0; ; i++ {
		waitIdle(t, clock, 1)
		clock.Advance(time.Minute)
		if o = col.next(t); o.OK {
			break
		}
		if i == 1000 {
			t.Fatalf("probe never recovered after its stuck run returned: %+v", o)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("Func called %d times, want 2", n)
	}
	if overlapped.Load() != 0 {
		t.Fatal("runs overlapped")
	}
}

func TestSchedulerShutdownIsNotAFailure(t *testing.T) {
	started := make(chan struct{})
	col := newCollector()
	s, err := probe.NewScheduler(probe.Config{Emit: col.emit, Probes: []probe.Probe{
		{Name: "slow", Target: "listener", Interval: time.Minute, Timeout: time.Hour,
			Func: func(ctx context.Context) probe.Result {
				close(started)
				<-ctx.Done()
				return probe.FromError(ctx.Err())
			}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(guard):
		t.Fatal("Run did not return after cancellation")
	}
	col.none(t)
	if h := s.History(); h[0].Runs != 0 {
		t.Fatalf("history records %d runs, want none for a run cut short by shutdown", h[0].Runs)
	}
	if err := s.Run(t.Context()); !errors.Is(err, probe.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}

func TestSchedulerPanickingProbe(t *testing.T) {
	var calls atomic.Int32
	_, clock, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: "buggy", Target: "index", Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result {
				if calls.Add(1) == 1 {
					panic("secret-looking internal state")
				}
				return probe.Pass("")
			}},
	}})
	o := col.next(t)
	if o.OK || o.Cause != probe.CauseInternal || strings.Contains(o.Message, "secret-looking") {
		t.Fatalf("panicking run: %+v, want an internal failure that does not quote the panic", o)
	}
	waitIdle(t, clock, 1)
	clock.Advance(time.Minute)
	if o := col.next(t); !o.OK {
		t.Fatalf("run after the panic: %+v, want success", o)
	}
}

func TestSchedulerHistory(t *testing.T) {
	// Results in order: fail, ok, ok, ok, fail, ok, ok, ok.
	script := []bool{false, true, true, true, false, true, true, true}
	var i atomic.Int32
	s, clock, col := startScheduler(t, probe.Config{
		HistorySize:        3,
		FailureHistorySize: 2,
		Probes: []probe.Probe{
			{Name: "scripted", Target: "listener", Interval: time.Minute, Timeout: guard,
				Func: func(context.Context) probe.Result {
					n := int(i.Add(1)) - 1
					if script[n] {
						return probe.Pass("ok")
					}
					return probe.Fail(probe.CauseRefused, "failure "+string(rune('A'+n)))
				}},
			{Name: "idle", Target: "index", Interval: time.Hour, Timeout: guard, Func: passing},
		},
	})
	col.nextN(t, 2)
	for range len(script) - 1 {
		waitIdle(t, clock, 2)
		clock.Advance(time.Minute)
		col.next(t)
	}
	waitIdle(t, clock, 2)

	h := s.History()
	if len(h) != 2 || h[0].Probe != "scripted" || h[1].Probe != "idle" {
		t.Fatalf("History = %+v, want scripted then idle", h)
	}
	st := h[0]
	if st.Target != "listener" || st.Interval != time.Minute || st.Timeout != guard {
		t.Errorf("settings: %+v", st)
	}
	if st.Runs != 8 || st.Failures != 2 || st.ConsecutiveFailures != 0 {
		t.Errorf("Runs %d, Failures %d, ConsecutiveFailures %d; want 8, 2, 0", st.Runs, st.Failures, st.ConsecutiveFailures)
	}
	last := t0.Add(7 * time.Minute)
	if !st.Last.Time.Equal(last) || !st.Last.OK || !st.LastSuccess.Equal(last) {
		t.Errorf("Last %+v, LastSuccess %v; want a success at %v", st.Last, st.LastSuccess, last)
	}
	if len(st.Recent) != 3 {
		t.Fatalf("Recent has %d entries, want 3", len(st.Recent))
	}
	for k, e := range st.Recent {
		if at := t0.Add(time.Duration(5+k) * time.Minute); !e.Time.Equal(at) || !e.OK {
			t.Errorf("Recent[%d] = %+v, want a success at %v", k, e, at)
		}
	}
	// Both failures stay visible although Recent no longer reaches them.
	if len(st.RecentFailures) != 2 ||
		st.RecentFailures[0].Message != "failure A" || !st.RecentFailures[0].Time.Equal(t0) ||
		st.RecentFailures[1].Message != "failure E" || !st.RecentFailures[1].Time.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("RecentFailures = %+v, want failures A (at 0) and E (at 4 min)", st.RecentFailures)
	}
	if f, ok := st.LastFailure(); !ok || f.Message != "failure E" || f.Cause != probe.CauseRefused {
		t.Fatalf("LastFailure = %+v, %v; want failure E", f, ok)
	}
	if _, ok := h[1].LastFailure(); ok || h[1].Runs != 1 {
		t.Fatalf("idle probe: %+v, want one run and no failure", h[1])
	}

	// The snapshot is a copy.
	st.Recent[0].Message = "changed"
	if s.History()[0].Recent[0].Message == "changed" {
		t.Fatal("History shares its slices with the Scheduler")
	}
}

func TestSchedulerConsecutiveFailures(t *testing.T) {
	var ok atomic.Bool
	s, clock, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: "p", Target: "listener", Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result {
				if ok.Load() {
					return probe.Pass("")
				}
				return probe.Fail(probe.CauseTimeout, "")
			}},
	}})
	col.next(t)
	for range 2 {
		waitIdle(t, clock, 1)
		clock.Advance(time.Minute)
		col.next(t)
	}
	if n := s.History()[0].ConsecutiveFailures; n != 3 {
		t.Fatalf("ConsecutiveFailures = %d after 3 failures, want 3", n)
	}
	ok.Store(true)
	waitIdle(t, clock, 1)
	clock.Advance(time.Minute)
	col.next(t)
	if st := s.History()[0]; st.ConsecutiveFailures != 0 || !st.LastSuccess.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("after a success: %+v", st)
	}
}

func TestNewSchedulerRejectsBadConfig(t *testing.T) {
	good := probe.Probe{Name: "p", Target: "listener", Interval: time.Second, Timeout: guard, Func: passing}
	with := func(f func(*probe.Probe)) []probe.Probe { p := good; f(&p); return []probe.Probe{p} }
	emit := func(bot.Observation) {}
	for _, tc := range []struct {
		name string
		cfg  probe.Config
		want string
	}{
		{"no probes", probe.Config{Emit: emit}, "no probes"},
		{"no emit", probe.Config{Probes: []probe.Probe{good}}, "Emit is nil"},
		{"no name", probe.Config{Emit: emit, Probes: with(func(p *probe.Probe) { p.Name = "" })}, "probe 0 has no name"},
		{"no target", probe.Config{Emit: emit, Probes: with(func(p *probe.Probe) { p.Target = "" })}, "probe p has no target"},
		{"no func", probe.Config{Emit: emit, Probes: with(func(p *probe.Probe) { p.Func = nil })}, "probe p (listener) has no Func"},
		{"zero interval", probe.Config{Emit: emit, Probes: with(func(p *probe.Probe) { p.Interval = 0 })}, "interval 0s is not positive"},
		{"negative timeout", probe.Config{Emit: emit, Probes: with(func(p *probe.Probe) { p.Timeout = -time.Second })}, "timeout -1s is not positive"},
		{"duplicate", probe.Config{Emit: emit, Probes: []probe.Probe{good, good}}, "probe p (listener) configured twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := probe.NewScheduler(tc.cfg)
			if !errors.Is(err, probe.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewScheduler = %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
	// The same name on another target is a different probe.
	other := good
	other.Target = "upstream:ils:5500"
	if _, err := probe.NewScheduler(probe.Config{Emit: emit, Probes: []probe.Probe{good, other}}); err != nil {
		t.Fatalf("same name, two targets: %v", err)
	}
}

func TestSchedulerRunsWatch(t *testing.T) {
	var mu sync.Mutex
	var watched bool
	stopped := make(chan struct{})
	s, err := probe.NewScheduler(probe.Config{Emit: func(bot.Observation) {}, Probes: []probe.Probe{
		{Name: "p", Target: "index", Interval: time.Hour, Timeout: guard, Func: passing,
			Watch: func(ctx context.Context) {
				mu.Lock()
				watched = true
				mu.Unlock()
				<-ctx.Done()
				close(stopped)
			}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	<-done
	select {
	case <-stopped:
	default:
		t.Fatal("Run returned before Watch did")
	}
	mu.Lock()
	defer mu.Unlock()
	if !watched {
		t.Fatal("Watch never ran")
	}
}
