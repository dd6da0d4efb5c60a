package probe_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/bot/probe/probetest"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
)

// fakeFinder is a catalog search whose answers the test decides: a
// record is findable once the test says its title is indexed.
type fakeFinder struct {
	mu      sync.Mutex
	indexed map[string]string // system number -> indexed title
	err     error             // every search fails
	errFor  map[string]error  // searches for these system numbers fail
	block   bool              // wait for the context to end
	calls   []string
}

func newFakeFinder() *fakeFinder {
	return &fakeFinder{indexed: make(map[string]string), errFor: make(map[string]error)}
}

func (f *fakeFinder) index(sn, title string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.indexed[sn] = title
}

func (f *fakeFinder) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeFinder) Findable(ctx context.Context, sn, title string) (bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, sn+"|"+title)
	err, block := f.err, f.block
	if e := f.errFor[sn]; e != nil {
		err = e
	}
	found := f.indexed[sn] == title
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return found, err
}

func (f *fakeFinder) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// noAttempts is an AttemptSource for tests that call Add directly.
type noAttempts struct{}

func (noAttempts) Next(ctx context.Context) (*exportlog.Attempt, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func newIndexCheck(t *testing.T, clock *probetest.Clock, f probe.Finder, mod func(*probe.IndexConfig)) *probe.IndexCheck {
	t.Helper()
	cfg := probe.IndexConfig{Attempts: noAttempts{}, Finder: f, Clock: clock}
	if mod != nil {
		mod(&cfg)
	}
	c, err := probe.NewIndexCheck(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func imported(id int64, sn, title string, done time.Time) *exportlog.Attempt {
	return &exportlog.Attempt{ID: id, Time: done, Done: done, Target: "catalog", Outcome: exportlog.OutcomeAdded, SystemNumber: sn, Title: title}
}

func expect(t *testing.T, r probe.Result, ok bool, cause, message string) {
	t.Helper()
	if r.OK != ok || r.Cause != cause || r.Message != message {
		t.Fatalf("result %+v\nwant OK=%v cause %q message %q", r, ok, cause, message)
	}
}

func TestIndexRecordFindableLate(t *testing.T) {
	clock := probetest.NewClock(t0)
	f := newFakeFinder()
	c := newIndexCheck(t, clock, f, nil)
	ctx := t.Context()

	expect(t, c.Check(ctx), true, "", "no imported records waiting to be findable")
	c.Add(imported(1, "000000101", "Moby Dick", t0))
	expect(t, c.Check(ctx), true, "", "1 record waiting to be findable, none late")
	clock.Advance(time.Minute + 59*time.Second)
	expect(t, c.Check(ctx), true, "", "1 record waiting to be findable, none late")

	f.index("000000101", "Moby Dick")
	clock.Advance(time.Second)
	expect(t, c.Check(ctx), true, "", "1 record findable by title: 000000101; 0 waiting")
	expect(t, c.Check(ctx), true, "", "no imported records waiting to be findable")
	if got := f.takeCalls(); len(got) != 3 || got[2] != "000000101|Moby Dick" {
		t.Fatalf("searches %q, want three for 000000101 by its title", got)
	}
	if st := c.Stats(); st.Found != 1 || st.Pending != 0 || st.Overdue != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestIndexRecordNeverFindable(t *testing.T) {
	clock := probetest.NewClock(t0)
	f := newFakeFinder()
	c := newIndexCheck(t, clock, f, func(cfg *probe.IndexConfig) { cfg.GiveUp = 10 * time.Minute })
	ctx := t.Context()

	c.Add(imported(1, "000000101", "Moby Dick", t0))
	clock.Advance(30 * time.Second)
	c.Add(imported(2, "000000102", "Typee", clock.Now()))
	clock.Advance(90 * time.Second)
	expect(t, c.Check(ctx), false, probe.CauseIndexStalled,
		"1 record not findable by title within 2m0s of import: 000000101")
	clock.Advance(30 * time.Second)
	expect(t, c.Check(ctx), false, probe.CauseIndexStalled,
		"2 records not findable by title within 2m0s of import: 000000101, 000000102")
	if st := c.Stats(); st.Overdue != 2 || st.Pending != 2 {
		t.Fatalf("stats %+v, want 2 overdue of 2 pending", st)
	}

	// One comes through; the other keeps the index failing.
	f.index("000000102", "Typee")
	clock.Advance(time.Minute)
	expect(t, c.Check(ctx), false, probe.CauseIndexStalled,
		"1 record not findable by title within 2m0s of import: 000000101")

	// After GiveUp the last one is dropped, logged and counted.
	clock.Set(t0.Add(10 * time.Minute))
	expect(t, c.Check(ctx), true, "", "no imported records waiting to be findable")
	if st := c.Stats(); st.Abandoned != 1 || st.Found != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v, want 1 abandoned and 1 found", st)
	}
}

func TestIndexOnlyImportedRecords(t *testing.T) {
	clock := probetest.NewClock(t0)
	f := newFakeFinder()
	c := newIndexCheck(t, clock, f, nil)
	for i, o := range []exportlog.Outcome{
		exportlog.OutcomeDuplicate, exportlog.OutcomeRelayed, exportlog.OutcomeQueued, exportlog.OutcomeDelivered,
		exportlog.OutcomeCanary, exportlog.OutcomeRejected, exportlog.OutcomeFailed,
	} {
		a := imported(int64(i+1), fmt.Sprintf("00000020%d", i), "Omoo", t0)
		a.Outcome = o
		c.Add(a)
	}
	merged := imported(20, "000000300", "Mardi", t0)
	merged.Outcome = exportlog.OutcomeMerged
	c.Add(merged)
	c.Add(imported(21, "", "No number", t0))
	c.Add(imported(22, "000000301", "  ", t0))
	// An import older than GiveUp (a subscription replaying history) is
	// not checked.
	c.Add(imported(23, "000000302", "Redburn", t0.Add(-probe.DefaultIndexGiveUp)))
	if st := c.Stats(); st.Pending != 1 || st.Untitled != 2 || st.Stale != 1 {
		t.Fatalf("stats %+v, want only the merged record pending, 2 untitled, 1 stale", st)
	}
	clock.Advance(time.Hour)
	expect(t, c.Check(t.Context()), false, probe.CauseIndexStalled,
		"1 record not findable by title within 2m0s of import: 000000300")
}

func TestIndexLaterImportReplaces(t *testing.T) {
	clock := probetest.NewClock(t0)
	f := newFakeFinder()
	c := newIndexCheck(t, clock, f, nil)
	c.Add(imported(1, "000000101", "Moby Dick", t0))
	clock.Advance(90 * time.Second)
	overlay := imported(2, "000000101", "Moby-Dick; or, The whale", clock.Now())
	overlay.Outcome = exportlog.OutcomeMerged
	c.Add(overlay)
	// The index may never show the old title again: the new one counts,
	// and so does its import time.
	clock.Advance(time.Minute)
	expect(t, c.Check(t.Context()), true, "", "1 record waiting to be findable, none late")
	if got := f.takeCalls(); len(got) != 1 || got[0] != "000000101|Moby-Dick; or, The whale" {
		t.Fatalf("searches %q, want one by the new title", got)
	}
	f.index("000000101", "Moby-Dick; or, The whale")
	expect(t, c.Check(t.Context()), true, "", "1 record findable by title: 000000101; 0 waiting")
}

func TestIndexBoundedMemory(t *testing.T) {
	clock := probetest.NewClock(t0)
	f := newFakeFinder()
	c := newIndexCheck(t, clock, f, func(cfg *probe.IndexConfig) { cfg.MaxPending = 2 })
	for i := range 5 {
		c.Add(imported(int64(i+1), fmt.Sprintf("00000010%d", i), "Title", t0))
	}
	// A record already waiting may be replaced when full; oldest import
	// first, so the replaced one comes last.
	c.Add(imported(9, "000000100", "Title, revised", t0))
	if st := c.Stats(); st.Pending != 2 || st.Untracked != 3 {
		t.Fatalf("stats %+v, want 2 pending and 3 untracked", st)
	}
	clock.Advance(5 * time.Minute)
	expect(t, c.Check(t.Context()), false, probe.CauseIndexStalled,
		"2 records not findable by title within 2m0s of import: 000000101, 000000100 (3 imports since the last check not checked: more than 2 records were waiting)")
	// The note covers one check; the total stays in the stats.
	c.Add(imported(10, "000000199", "Title", clock.Now()))
	expect(t, c.Check(t.Context()), false, probe.CauseIndexStalled,
		"2 records not findable by title within 2m0s of import: 000000101, 000000100 (1 import since the last check not checked: more than 2 records were waiting)")
	expect(t, c.Check(t.Context()), false, probe.CauseIndexStalled,
		"2 records not findable by title within 2m0s of import: 000000101, 000000100")
	if st := c.Stats(); st.Untracked != 4 {
		t.Fatalf("stats %+v, want 4 untracked in all", st)
	}
}

func TestIndexListsAtMostTwentyRecords(t *testing.T) {
	clock := probetest.NewClock(t0)
	c := newIndexCheck(t, clock, newFakeFinder(), nil)
	var want []string
	for i := range 25 {
		sn := fmt.Sprintf("%09d", 500+i)
		c.Add(imported(int64(i+1), sn, "Title", t0.Add(time.Duration(i)*time.Millisecond)))
		want = append(want, sn)
	}
	clock.Advance(time.Hour)
	expect(t, c.Check(t.Context()), false, probe.CauseIndexStalled,
		"25 records not findable by title within 2m0s of import: "+strings.Join(want[:20], ", ")+" and 5 more")
}

func TestIndexSearchFailures(t *testing.T) {
	clock := probetest.NewClock(t0)
	f := newFakeFinder()
	c := newIndexCheck(t, clock, f, nil)
	c.Add(imported(1, "000000101", "Moby Dick", t0))

	f.fail(errors.New("catalog: database is locked"))
	expect(t, c.Check(t.Context()), false, probe.CauseSearch, "catalog search failed: catalog: database is locked")

	// Overdue records outrank a search error on others.
	f.fail(nil)
	c.Add(imported(2, "000000102", "Typee", t0.Add(3*time.Minute)))
	clock.Advance(3 * time.Minute)
	f.mu.Lock()
	f.errFor["000000102"] = errors.New("catalog: database is locked")
	f.mu.Unlock()
	expect(t, c.Check(t.Context()), false, probe.CauseIndexStalled,
		"1 record not findable by title within 2m0s of import: 000000101")

	// A search too slow to finish within the probe's timeout.
	f.mu.Lock()
	f.block = true
	f.mu.Unlock()
	r := c.Check(shortCtx(t, 50*time.Millisecond))
	if r.OK || r.Cause != probe.CauseTimeout || !strings.Contains(r.Message, "catalog search too slow: checked 0 of 2 waiting records") {
		t.Fatalf("slow search: %+v", r)
	}
	if st := c.Stats(); st.Pending != 2 {
		t.Fatalf("records were dropped by a failed search: %+v", st)
	}
}

func TestNewIndexCheckConfig(t *testing.T) {
	f := newFakeFinder()
	for _, tc := range []struct {
		name string
		cfg  probe.IndexConfig
	}{
		{"no attempts", probe.IndexConfig{Finder: f}},
		{"no finder", probe.IndexConfig{Attempts: noAttempts{}}},
		{"negative", probe.IndexConfig{Attempts: noAttempts{}, Finder: f, Within: -time.Second}},
		{"give up before due", probe.IndexConfig{Attempts: noAttempts{}, Finder: f, Within: time.Hour, GiveUp: time.Minute}},
	} {
		if _, err := probe.NewIndexCheck(tc.cfg); !errors.Is(err, probe.ErrConfig) {
			t.Errorf("%s: NewIndexCheck = %v, want ErrConfig", tc.name, err)
		}
	}
	c, err := probe.NewIndexCheck(probe.IndexConfig{Attempts: noAttempts{}, Finder: f})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Probe()
	if p.Name != probe.NameIndex || p.Target != probe.TargetIndex || p.Interval != probe.DefaultIndexInterval ||
		p.Timeout != probe.DefaultIndexTimeout || p.Func == nil || p.Watch == nil {
		t.Fatalf("index probe: %+v", p)
	}
}

// signallingSource wraps the export log's subscription and reports, each
// time Next is called again, how many attempts have been handed over and
// handled (the caller only calls Next again after handling the last one).
type signallingSource struct {
	sub     *exportlog.Subscription
	handled chan int
	n       int
}

func (s *signallingSource) Next(ctx context.Context) (*exportlog.Attempt, error) {
	// Replace any count not yet read: the buffer holds the latest.
	select {
	case <-s.handled:
	default:
	}
	s.handled <- s.n
	a, err := s.sub.Next(ctx)
	if err == nil {
		s.n++
	}
	return a, err
}

func (s *signallingSource) waitHandled(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(guard)
	for {
		select {
		case got := <-s.handled:
			if got >= n {
				return
			}
		case <-timeout:
			t.Fatalf("the index check did not take %d attempts from the export log", n)
		}
	}
}

func TestIndexCheckFollowsTheExportLog(t *testing.T) {
	d, err := db.Open(filepath.Join(t.TempDir(), "oclcbot.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	log, err := exportlog.Open(t.Context(), d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })

	clock := probetest.NewClock(t0)
	src := &signallingSource{sub: log.Subscribe(0), handled: make(chan int, 1)}
	f := newFakeFinder()
	c, err := probe.NewIndexCheck(probe.IndexConfig{Attempts: src, Finder: f, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	_, _, col := startSchedulerWithClock(t, clock, probe.Config{Probes: []probe.Probe{c.Probe()}})

	o := col.next(t)
	if !o.OK || o.Target != probe.TargetIndex || o.Probe != probe.NameIndex || o.Message != "no imported records waiting to be findable" {
		t.Fatalf("first index observation: %+v", o)
	}

	// Two records imported; a rejected attempt is not the index's business.
	rejected := &exportlog.Attempt{Time: t0, Done: t0, Outcome: exportlog.OutcomeRejected, Class: exportlog.ClassRecord, Cause: exportlog.CauseRule, Title: "Pierre"}
	a1 := imported(0, "000000101", "Moby Dick", t0)
	a2 := imported(0, "000000102", "Typee", t0)
	if err := log.Append(t.Context(), rejected, a1, a2); err != nil {
		t.Fatal(err)
	}
	src.waitHandled(t, 3)

	step := func() bot.Observation {
		waitIdle(t, clock, 1)
		clock.Advance(probe.DefaultIndexInterval)
		return col.next(t)
	}
	for clock.Now().Before(t0.Add(probe.DefaultIndexWithin - probe.DefaultIndexInterval)) {
		if o := step(); !o.OK || o.Message != "2 records waiting to be findable, none late" {
			t.Fatalf("at %v: %+v", clock.Now(), o)
		}
	}
	f.index("000000102", "Typee")
	o = step() // at Within: 000000101 is late
	if o.OK || o.Class != exportlog.ClassSystem || o.Cause != probe.CauseIndexStalled ||
		o.Message != "1 record not findable by title within 2m0s of import: 000000101" || !o.Time.Equal(t0.Add(probe.DefaultIndexWithin)) {
		t.Fatalf("stalled index observation: %+v", o)
	}
	if o := step(); o.OK {
		t.Fatalf("index recovered by itself: %+v", o)
	}
	f.index("000000101", "Moby Dick")
	if o := step(); !o.OK || o.Message != "1 record findable by title: 000000101; 0 waiting" {
		t.Fatalf("recovered index observation: %+v", o)
	}
	if st := c.Stats(); st.Found != 2 || st.Pending != 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// flakySource fails its first read, then delivers one attempt, then
// signals that the attempt was handled and waits.
type flakySource struct {
	calls   int
	handled chan struct{}
	a       *exportlog.Attempt
}

func (s *flakySource) Next(ctx context.Context) (*exportlog.Attempt, error) {
	s.calls++
	switch s.calls {
	case 1:
		return nil, errors.New("exportlog: database is locked")
	case 2:
		return s.a, nil
	}
	close(s.handled)
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestIndexWatchRetriesAFailingSubscription(t *testing.T) {
	clock := probetest.NewClock(t0)
	src := &flakySource{handled: make(chan struct{}), a: imported(1, "000000101", "Moby Dick", t0)}
	c, err := probe.NewIndexCheck(probe.IndexConfig{Attempts: src, Finder: newFakeFinder(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); c.Watch(ctx) }()
	defer func() { cancel(); <-done }()

	waitIdle(t, clock, 1) // waiting to retry
	if st := c.Stats(); st.Errors != 1 || st.Pending != 0 {
		t.Fatalf("after a failed read: %+v", st)
	}
	clock.Advance(time.Second)
	select {
	case <-src.handled:
	case <-time.After(guard):
		t.Fatal("Watch did not read again after its retry delay")
	}
	if st := c.Stats(); st.Errors != 1 || st.Pending != 1 {
		t.Fatalf("after the retry: %+v, want the attempt pending", st)
	}
}
