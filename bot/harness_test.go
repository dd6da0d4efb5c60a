package bot

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/templates"
)

// fakeClock is the injected clock: time moves only when a test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// recorder is a channel that keeps what it is handed, in order, and can be
// told to fail.
type recorder struct {
	mu   sync.Mutex
	got  []incidents.Notification
	fail func(n *incidents.Notification) error
	pace time.Duration
	sent chan string // when not nil, receives each key delivered
}

func (r *recorder) Send(ctx context.Context, n *incidents.Notification) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.got = append(r.got, *n)
	r.mu.Unlock()
	if r.sent != nil {
		r.sent <- n.Key
	}
	return nil
}

func (r *recorder) setFail(f func(n *incidents.Notification) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

// pacedRecorder is a recorder that declares a minimum interval.
type pacedRecorder struct{ *recorder }

func (p pacedRecorder) MinInterval() time.Duration { return p.pace }

// summary lists what the channel got as "kind incident" strings.
func (r *recorder) summary() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, string(n.Kind)+" "+n.Incident)
	}
	return out
}

func (r *recorder) last() incidents.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

type harness struct {
	t     testing.TB
	ctx   context.Context
	clk   *fakeClock
	d     *db.DB
	st    *sqlite.Store
	eng   *Engine
	disp  *Dispatcher
	ch    map[string]*recorder
	cfg   Config
	dcfg  DispatcherConfig
	seq   int64
	tmpls *templates.Set
}

// harnessStart is a Monday, 10:00 UTC: inside working hours.
var harnessStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newHarness opens a store in a temporary database and builds an engine
// and a dispatcher over three recording channels: "listserv" (email),
// "slack" and "ois" (report, admin notices).
func newHarness(t testing.TB, tweak func(*Config, *DispatcherConfig)) *harness {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(filepath.Join(t.TempDir(), "bot.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := sqlite.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	set := templates.MustLoadDefaults()
	h := &harness{t: t, ctx: ctx, clk: &fakeClock{t: harnessStart}, d: d, st: st, tmpls: set,
		ch: map[string]*recorder{"listserv": {}, "slack": {}, "ois": {}}}
	chans := []ChannelConfig{
		{Name: "listserv", Channel: h.ch["listserv"], Templates: FamilyEmail},
		{Name: "slack", Channel: h.ch["slack"], Templates: FamilySlack},
		{Name: "ois", Channel: h.ch["ois"], Templates: FamilyReport, Admin: true},
	}
	h.cfg = Config{Store: st, Templates: set, Channels: chans, Now: h.clk.Now, Location: time.UTC}
	h.dcfg = DispatcherConfig{Outbox: st, Channels: chans, Templates: set, Now: h.clk.Now, Rand: func() float64 { return 0.5 }, Location: time.UTC}
	if tweak != nil {
		tweak(&h.cfg, &h.dcfg)
	}
	h.start()
	return h
}

// start (re)builds the engine and the dispatcher from the stored state,
// as a restarted daemon would.
func (h *harness) start() {
	h.t.Helper()
	disp, err := NewDispatcher(h.dcfg)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Wake = disp.Wake
	eng, err := New(h.ctx, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.eng, h.disp = eng, disp
}

// attempt returns a new export attempt to target.
func (h *harness) attempt(target string, ok bool, class exportlog.Class, cause string) *exportlog.Attempt {
	h.seq++
	a := &exportlog.Attempt{
		ID: h.seq, RequestID: uint64(h.seq), Time: h.clk.Now(), Done: h.clk.Now(), User: "cataloger" + fmt.Sprint(h.seq%3),
		Target: target, RecordIndex: 0, OCLCNumber: fmt.Sprint(1000 + h.seq), Title: fmt.Sprintf("Record %d", h.seq),
		Record: sampleRecord(), Outcome: exportlog.OutcomeAdded,
	}
	if !ok {
		a.Outcome, a.Class, a.Cause = exportlog.OutcomeFailed, class, cause
		a.Reply = "Waiting for local system response: " + cause
		a.Detail = "detail " + cause
	}
	return a
}

// export judges one export attempt, then lets the dispatcher deliver.
func (h *harness) export(target string, ok bool) *exportlog.Attempt {
	h.t.Helper()
	cause := ""
	if !ok {
		cause = exportlog.CauseUpstreamDown
		if target == incidents.TargetCatalog {
			cause = exportlog.CauseStorage
		}
	}
	a := h.attempt(target, ok, exportlog.ClassSystem, cause)
	if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
		h.t.Fatal(err)
	}
	h.flush()
	return a
}

func (h *harness) probe(target string, ok bool) {
	h.t.Helper()
	o := Observation{Time: h.clk.Now(), Target: target, Source: SourceProbe, Probe: "tcp", OK: ok}
	if !ok {
		o.Class, o.Cause, o.Message = exportlog.ClassSystem, incidents.CauseListenerDown, "dial tcp 127.0.0.1:5500: connection refused"
	}
	if err := h.eng.Observe(h.ctx, o); err != nil {
		h.t.Fatal(err)
	}
	h.flush()
}

// step advances the clock by d, ticks and delivers.
func (h *harness) step(d time.Duration) {
	h.t.Helper()
	now := h.clk.Advance(d)
	if err := h.eng.Tick(h.ctx, now); err != nil {
		h.t.Fatal(err)
	}
	h.flush()
}

func (h *harness) flush() {
	h.t.Helper()
	if _, err := h.disp.RunDue(h.ctx, h.clk.Now()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) incidents() []*incidents.Incident {
	h.t.Helper()
	list, err := h.st.List(h.ctx, sqlite.Filter{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func (h *harness) want(channel string, want ...string) {
	h.t.Helper()
	got := h.ch[channel].summary()
	if !slices.Equal(got, want) {
		h.t.Fatalf("%s got\n  %s\nwant\n  %s", channel, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
