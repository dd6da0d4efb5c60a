package exportlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)

func mustOpen(tb testing.TB, opt Options) (*Log, *db.DB) {
	tb.Helper()
	d, err := db.Open(filepath.Join(tb.TempDir(), "log.db"), db.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	l, err := Open(context.Background(), d, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l, d
}

func sample(i int) *Attempt {
	rec := []byte(fmt.Sprintf("00026nam a2200025   4500%d\x1d", i%10))
	req := append(append([]byte("UDcat1PC***"), rec...), 0)
	return &Attempt{
		RequestID:    uint64(100 + i),
		Time:         t0.Add(time.Duration(i) * time.Second),
		Done:         t0.Add(time.Duration(i)*time.Second + 3*time.Millisecond),
		RemoteAddr:   "192.0.2.7:50123",
		User:         "cat1",
		Target:       "catalog",
		OCLCNumber:   fmt.Sprint(1000 + i),
		Title:        "Pères et fils",
		SystemNumber: fmt.Sprintf("%09d", i+1),
		Outcome:      OutcomeAdded,
		Reply:        "Record added as 000000001.",
		Decode:       40 * time.Microsecond,
		Store:        2 * time.Millisecond,
		Elapsed:      3 * time.Millisecond,
		Record:       rec,
		Request:      req,
	}
}

func TestAppendGetRoundTrip(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	inReq := sample(1) // record inside its request: stored once
	apart := sample(2) // record not in its request: stored separately
	apart.Request = []byte("UDcat1PC***\x00")
	failed := &Attempt{
		RequestID: 9, Time: t0, Done: t0.Add(time.Second), RemoteAddr: "192.0.2.8:1", User: "cat2",
		Target: "listener", RecordIndex: -1, Follows: 3, Outcome: OutcomeRejected, Class: ClassRecord,
		Cause: CauseAuth, Detail: "wrong password for cat2", Reply: "Login refused.", Upstream: "Error: x",
	}
	if err := l.Append(ctx, inReq, apart, failed); err != nil {
		t.Fatal(err)
	}
	if inReq.ID == 0 || apart.ID <= inReq.ID || failed.ID <= apart.ID {
		t.Fatalf("IDs not increasing: %d %d %d", inReq.ID, apart.ID, failed.ID)
	}
	for _, want := range []*Attempt{inReq, apart, failed} {
		got, err := l.Get(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	}
	if _, err := l.Get(ctx, failed.ID+1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func assertEqual(t *testing.T, got, want *Attempt) {
	t.Helper()
	if !got.Time.Equal(want.Time) || !got.Done.Equal(want.Done) {
		t.Errorf("attempt %d: times %v/%v, want %v/%v", want.ID, got.Time, got.Done, want.Time, want.Done)
	}
	if !bytes.Equal(got.Record, want.Record) || !bytes.Equal(got.Request, want.Request) {
		t.Errorf("attempt %d: record %q request %q, want %q %q", want.ID, got.Record, got.Request, want.Record, want.Request)
	}
	g, w := *got, *want
	g.Time, g.Done, g.Record, g.Request = time.Time{}, time.Time{}, nil, nil
	w.Time, w.Done, w.Record, w.Request = time.Time{}, time.Time{}, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("attempt %d:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func TestAppendRefusesBadAttempts(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	good := sample(1)
	for name, bad := range map[string]*Attempt{
		"unknown outcome": {Outcome: "stored"},
		"unknown class":   {Outcome: OutcomeFailed, Class: "network"},
		"already logged":  {ID: 7, Outcome: OutcomeAdded},
		"nil":             nil,
	} {
		if err := l.Append(ctx, good, bad); err == nil {
			t.Errorf("%s: Append succeeded", name)
		}
		if good.ID != 0 {
			t.Fatalf("%s: good attempt got ID %d although the append failed", name, good.ID)
		}
	}
	if n, _ := l.LastID(ctx); n != 0 {
		t.Fatalf("log holds attempts up to %d after refused appends", n)
	}
}

func TestAppendFillsZeroTime(t *testing.T) {
	c := &clock{t: t0}
	l, _ := mustOpen(t, Options{Now: c.Now})
	a := &Attempt{Outcome: OutcomeDelivered, Follows: 1, Target: "upstream:ils:5500"}
	if err := l.Append(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got, err := l.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(t0) || !a.Time.Equal(t0) {
		t.Fatalf("Time = %v (attempt %v), want %v", got.Time, a.Time, t0)
	}
}

func TestListFilters(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	var all []*Attempt
	for i := range 10 {
		a := sample(i)
		if i%3 == 0 {
			a.User = "cat2"
		}
		if i == 4 || i == 7 {
			a.Outcome, a.Class, a.Cause = OutcomeFailed, ClassSystem, CauseStorage
		}
		if i == 5 {
			a.Outcome, a.Class, a.Cause, a.Target = OutcomeRejected, ClassRecord, CauseAuth, "listener"
		}
		all = append(all, a)
	}
	if err := l.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	ids := func(as []*Attempt) []int64 {
		var out []int64
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	id := func(i ...int) []int64 {
		var out []int64
		for _, x := range i {
			out = append(out, all[x].ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []int64
	}{
		{"everything newest first", Filter{}, id(9, 8, 7, 6, 5, 4, 3, 2, 1, 0)},
		{"limit", Filter{Limit: 2}, id(9, 8)},
		{"since until", Filter{Since: all[2].Time, Until: all[5].Time}, id(4, 3, 2)},
		{"user", Filter{User: "cat2"}, id(9, 6, 3, 0)},
		{"outcome", Filter{Outcome: OutcomeFailed}, id(7, 4)},
		{"class", Filter{Class: ClassRecord}, id(5)},
		{"failed", Filter{Failed: true}, id(7, 5, 4)},
		{"oclc", Filter{OCLC: "1006"}, id(6)},
		{"target", Filter{Target: "listener"}, id(5)},
		{"paging", Filter{BeforeID: all[5].ID, Limit: 3}, id(4, 3, 2)},
		{"after", Filter{AfterID: all[7].ID}, id(9, 8)},
		{"combined", Filter{User: "cat2", Failed: true}, nil},
	} {
		got, err := l.List(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: IDs %v, want %v", tc.name, ids(got), tc.want)
		}
	}
}

func TestPruneByRetention(t *testing.T) {
	c := &clock{t: t0}
	l, _ := mustOpen(t, Options{Retention: 24 * time.Hour, Now: c.Now})
	ctx := context.Background()
	var as []*Attempt
	for i := range 5 {
		a := sample(i)
		a.Time = t0.Add(time.Duration(i) * time.Hour)
		as = append(as, a)
	}
	if err := l.Append(ctx, as...); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("Prune within retention = %d, %v; want 0", n, err)
	}
	c.Set(t0.Add(26*time.Hour + 30*time.Minute)) // attempts 0, 1 and 2 are older than a day
	if n, err := l.Prune(ctx); err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3", n, err)
	}
	left, err := l.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].ID != as[4].ID || left[1].ID != as[3].ID {
		t.Fatalf("left after pruning: %d attempts", len(left))
	}
	// IDs are never reused, so a subscriber's cursor stays valid.
	a := sample(9)
	if err := l.Append(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID <= as[4].ID {
		t.Fatalf("ID %d reused after pruning (last was %d)", a.ID, as[4].ID)
	}
}

func TestPruneLargeBacklogInBatches(t *testing.T) {
	c := &clock{t: t0}
	l, _ := mustOpen(t, Options{Retention: time.Hour, Now: c.Now})
	ctx := context.Background()
	var as []*Attempt
	for i := range pruneBatch*2 + 10 {
		a := sample(i)
		a.Time = t0
		as = append(as, a)
	}
	if err := l.Append(ctx, as...); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(2 * time.Hour))
	if n, err := l.Prune(ctx); err != nil || n != int64(len(as)) {
		t.Fatalf("Prune = %d, %v; want %d", n, err, len(as))
	}
}

func TestNegativeRetentionKeepsEverything(t *testing.T) {
	c := &clock{t: t0}
	l, _ := mustOpen(t, Options{Retention: -1, Now: c.Now})
	if err := l.Append(context.Background(), sample(1)); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(10 * 365 * 24 * time.Hour))
	if n, err := l.Prune(context.Background()); err != nil || n != 0 {
		t.Fatalf("Prune = %d, %v; want 0", n, err)
	}
}

func TestRunPrunerPrunesAtStart(t *testing.T) {
	c := &clock{t: t0}
	l, _ := mustOpen(t, Options{Retention: time.Hour, Now: c.Now})
	if err := l.Append(context.Background(), sample(1)); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(3 * time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	pruned := make(chan int64, 1)
	l.afterPrune = func(n int64) {
		select {
		case pruned <- n:
		default:
		}
	}
	done := make(chan error)
	go func() { done <- l.RunPruner(ctx) }()
	if n := <-pruned; n != 1 {
		t.Fatalf("first pruning deleted %d, want 1", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunPruner = %v, want context.Canceled", err)
	}
}

func TestSubscriptionSlowReaderGetsEveryAttemptInOrder(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	sub := l.Subscribe(0)

	// 8 writers append 1,000 attempts while nobody reads: Append must not
	// wait for the subscriber.
	const writers, each = 8, 125
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				a := sample(w*each + i)
				if err := l.Append(ctx, a); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d appends failed", failed.Load())
	}

	// The reader then reads slowly, interleaved with more appends.
	seen := map[int64]bool{}
	var last int64
	appended := 0
	for n := 0; n < writers*each+50; n++ {
		if n%20 == 0 && appended < 50 { // keep appending while reading
			if err := l.Append(ctx, sample(n)); err != nil {
				t.Fatal(err)
			}
			appended++
		}
		a, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d: %v", n, err)
		}
		if a.ID <= last || seen[a.ID] {
			t.Fatalf("attempt %d delivered after %d (out of order or twice)", a.ID, last)
		}
		seen[a.ID] = true
		last = a.ID
		if sub.Cursor() != a.ID {
			t.Fatalf("Cursor = %d, want %d", sub.Cursor(), a.ID)
		}
	}
	lastID, err := l.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last != lastID || len(seen) != writers*each+50 {
		t.Fatalf("read %d attempts up to %d; log has up to %d", len(seen), last, lastID)
	}
}

func TestSubscriptionWakesOnAppend(t *testing.T) {
	l, _ := mustOpen(t, Options{PollEvery: time.Hour}) // only the wake-up can deliver it
	ctx := context.Background()
	start, err := l.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(start)
	got := make(chan *Attempt)
	errc := make(chan error, 1)
	go func() {
		a, err := sub.Next(ctx)
		if err != nil {
			errc <- err
			return
		}
		got <- a
	}()
	a := sample(3)
	if err := l.Append(ctx, a); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g.ID != a.ID || g.OCLCNumber != a.OCLCNumber {
			t.Fatalf("got attempt %d (%s), want %d", g.ID, g.OCLCNumber, a.ID)
		}
	case err := <-errc:
		t.Fatal(err)
	}
}

func TestSubscribeFromLastIDSkipsHistory(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	if err := l.Append(ctx, sample(1), sample(2)); err != nil {
		t.Fatal(err)
	}
	last, err := l.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(last)
	a := sample(3)
	if err := l.Append(ctx, a); err != nil {
		t.Fatal(err)
	}
	g, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != a.ID {
		t.Fatalf("first attempt after LastID is %d, want %d", g.ID, a.ID)
	}
}

func TestSubscriptionEndsOnCloseAndContext(t *testing.T) {
	l, _ := mustOpen(t, Options{PollEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	sub := l.Subscribe(0)
	errc := make(chan error)
	go func() { _, err := sub.Next(ctx); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel = %v", err)
	}
	go func() { _, err := sub.Next(context.Background()); errc <- err }()
	l.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	if err := l.Append(context.Background(), sample(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
}

// BenchmarkAppend measures appends/s from concurrent receivers (group
// commit shares one fsync among the appends waiting together).
func BenchmarkAppend(b *testing.B) {
	l, _ := mustOpen(b, Options{})
	ctx := context.Background()
	b.SetParallelism(16) // 32 appenders on 2 cores, like 32 Connexion connections
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := l.Append(ctx, sample(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkAppendLatency measures one Append at a time: the time an
// export waits for its attempt to be recorded when nothing else is
// being written.
func BenchmarkAppendLatency(b *testing.B) {
	l, _ := mustOpen(b, Options{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := l.Append(ctx, sample(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
