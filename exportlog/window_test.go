package exportlog

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// blobOptions are the Blobs settings a Subscription can have.
var blobOptions = []Blobs{BlobsAll, BlobsFailed, BlobsNone}

// next reads one attempt, failing the test rather than waiting forever.
func next(t *testing.T, sub *Subscription) *Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next after %d: %v", sub.Cursor(), err)
	}
	return a
}

// stored returns attempt id as a Subscription with blobs b must deliver
// it: as the database has it, with Record and Request only where b says.
func stored(t *testing.T, l *Log, id int64, b Blobs) *Attempt {
	t.Helper()
	a, err := l.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return withBlobs(a, b)
}

// withBlobs returns a with Record and Request only where b delivers them.
func withBlobs(a *Attempt, b Blobs) *Attempt {
	if b == BlobsNone || b == BlobsFailed && a.Class == ClassNone && a.Outcome != OutcomeQueued {
		c := *a
		c.Record, c.Request = nil, nil
		return &c
	}
	return a
}

// readAll reads from sub until it has delivered want (attempts as the
// database has them, whole), checking that it delivers exactly those, in
// order, each as the database has it with the blobs b selects.
func readAll(t *testing.T, sub *Subscription, b Blobs, want []*Attempt) {
	t.Helper()
	for _, w := range want {
		a := next(t, sub)
		if a.ID != w.ID {
			t.Fatalf("delivered attempt %d, want %d (a skip or a repeat)", a.ID, w.ID)
		}
		if w := withBlobs(w, b); !reflect.DeepEqual(a, w) {
			t.Fatalf("attempt %d delivered as\n %+v\nstored as\n %+v", a.ID, a, w)
		}
	}
}

// logged returns every attempt in the database after afterID, oldest
// first.
func logged(t *testing.T, l *Log, afterID int64) []*Attempt {
	t.Helper()
	as, err := l.List(context.Background(), Filter{AfterID: afterID, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(as)
	return as
}

// blobsName names the Blobs options in subtests.
var blobsName = map[Blobs]string{BlobsAll: "all", BlobsFailed: "failed", BlobsNone: "none"}

// variety returns attempts covering what a delivery must reproduce:
// the record inside its request or apart, no bytes or empty ones,
// successes and failures, a time in another zone with a monotonic
// reading, and a zero Time that Append fills.
func variety() []*Attempt {
	ok := sample(1)
	failed := sample(2)
	failed.Outcome, failed.Class, failed.Cause = OutcomeFailed, ClassSystem, CauseStorage
	queued := sample(3)
	queued.Outcome = OutcomeQueued
	apart := sample(4)
	apart.Outcome, apart.Class, apart.Cause = OutcomeRejected, ClassRecord, CauseRule
	apart.Request = []byte("UDcat1PC***\x00")
	event := &Attempt{RequestID: 5, Time: time.Now().In(time.FixedZone("CET", 3600)), RemoteAddr: "192.0.2.8:1",
		Target: "listener", RecordIndex: -1, Outcome: OutcomeFailed, Class: ClassTransport, Cause: CauseClientGone,
		Request: []byte("UDcat1PC***")}
	delivered := &Attempt{Outcome: OutcomeDelivered, Follows: 3, Target: "upstream:ils:5500", Record: []byte{}, Request: []byte{}}
	later := sample(7) // a later record of a request: no Request of its own
	later.Request = nil
	return []*Attempt{ok, failed, queued, apart, event, delivered, later}
}

// TestSubscriptionWindowMatchesDatabase checks that an attempt delivered
// from memory is exactly what the database delivers, with each Blobs
// option.
func TestSubscriptionWindowMatchesDatabase(t *testing.T) {
	l, d := mustOpen(t, Options{PollEvery: time.Hour})
	other, err := Open(context.Background(), d, Options{PollEvery: time.Hour}) // another process: its window is empty
	if err != nil {
		t.Fatal(err)
	}
	as := variety()
	if err := l.Append(context.Background(), as...); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobOptions {
		t.Run(blobsName[b], func(t *testing.T) {
			mem, disk := l.Subscribe(0, WithBlobs(b)), other.Subscribe(0, WithBlobs(b))
			for _, a := range as {
				m, o := next(t, mem), next(t, disk)
				if m.ID != a.ID || o.ID != a.ID {
					t.Fatalf("delivered %d from memory and %d from the database, want %d", m.ID, o.ID, a.ID)
				}
				if !reflect.DeepEqual(m, o) {
					t.Fatalf("attempt %d from memory\n %+v\nfrom the database\n %+v", a.ID, m, o)
				}
			}
			if mem.reads != 0 {
				t.Fatalf("the subscription read the database %d times for attempts it had in memory", mem.reads)
			}
		})
	}
}

// TestSubscriptionCopiesAreIndependent checks that what a subscriber does
// with a delivered attempt, and what Append's caller does with its
// attempt afterwards, changes nothing another subscriber gets.
func TestSubscriptionCopiesAreIndependent(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	as := variety()
	want := make([]*Attempt, len(as))
	if err := l.Append(ctx, as...); err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		want[i] = stored(t, l, a.ID, BlobsAll)
		// Append's caller reuses its buffers.
		clear(a.Record)
		clear(a.Request)
		a.Title = "changed by the caller"
	}
	first, second := l.Subscribe(0), l.Subscribe(0, WithBlobs(BlobsFailed))
	for i := range as {
		g := next(t, first)
		clear(g.Record)
		clear(g.Request)
		g.Title, g.Outcome, g.Time = "changed by a subscriber", OutcomeFailed, time.Time{}
		h := next(t, second)
		w := stored(t, l, as[i].ID, BlobsFailed)
		if !reflect.DeepEqual(h, w) {
			t.Fatalf("attempt %d: the other subscriber got\n %+v\nwant\n %+v", as[i].ID, h, w)
		}
		clear(h.Request)
	}
	third := l.Subscribe(0)
	for i := range as {
		if g := next(t, third); !reflect.DeepEqual(g, want[i]) {
			t.Fatalf("attempt %d after the others changed theirs:\n %+v\nwant\n %+v", as[i].ID, g, want[i])
		}
	}
}

// TestSubscriptionAcrossWindowAndDatabase follows a log that another
// process appends to as well, with a subscriber that starts before the
// first attempt, falls far behind the window, catches up and then follows
// live: it must deliver every attempt once, in order, whichever source it
// comes from.
func TestSubscriptionAcrossWindowAndDatabase(t *testing.T) {
	l, d := mustOpen(t, Options{PollEvery: 5 * time.Millisecond})
	other, err := Open(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	appendTo := func(l *Log, k int) {
		t.Helper()
		var as []*Attempt
		for range k {
			a := sample(n)
			if n%5 == 0 {
				a.Outcome, a.Class, a.Cause = OutcomeFailed, ClassSystem, CauseStorage
			}
			as = append(as, a)
			n++
		}
		if err := l.Append(ctx, as...); err != nil {
			t.Fatal(err)
		}
	}
	subs := map[Blobs]*Subscription{}
	for _, b := range blobOptions {
		subs[b] = l.Subscribe(0, WithBlobs(b))
	}
	var read int64
	readUpToDate := func() {
		t.Helper()
		as := logged(t, l, read)
		for _, b := range blobOptions {
			readAll(t, subs[b], b, as)
		}
		if len(as) > 0 {
			read = as[len(as)-1].ID
		}
	}

	// Interleaved, then read.
	appendTo(l, 3)
	appendTo(other, 2)
	appendTo(l, 1)
	appendTo(other, 1)
	appendTo(l, 2)
	readUpToDate()

	// Far behind: the first of these have left the window by the time
	// the subscribers read them.
	for i := range 2*windowSize/50 + 3 {
		appendTo(l, 50)
		if i%7 == 3 {
			appendTo(other, 1)
		}
	}
	appendTo(other, 2) // another process's attempts last: found by the poll
	readUpToDate()

	// Live: each attempt read as soon as it is appended comes from memory.
	reads := map[Blobs]int{}
	for _, b := range blobOptions {
		reads[b] = subs[b].reads
	}
	for range 20 {
		appendTo(l, 1)
		readUpToDate()
	}
	for _, b := range blobOptions {
		if subs[b].reads != reads[b] {
			t.Errorf("%s: %d database reads to follow attempts appended through the Log", blobsName[b], subs[b].reads-reads[b])
		}
	}
	// And another process's attempt between two of ours is read from
	// the database, once.
	appendTo(l, 1)
	appendTo(other, 1)
	appendTo(l, 1)
	readUpToDate()
}

// TestSubscriptionConcurrentAppendsAndFollowers appends from many
// goroutines and from another process while subscribers with every Blobs
// option follow, each writing over what it receives.
func TestSubscriptionConcurrentAppendsAndFollowers(t *testing.T) {
	l, d := mustOpen(t, Options{PollEvery: 5 * time.Millisecond})
	other, err := Open(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const writers, each, otherEach = 6, 250, 60
	total := writers*each + otherEach
	got := make([][]*Attempt, len(blobOptions))
	sums := make([]int, len(blobOptions))
	var readers sync.WaitGroup
	for i, b := range blobOptions {
		sub := l.Subscribe(0, WithBlobs(b))
		readers.Go(func() {
			var last int64
			for len(got[i]) < total {
				a, err := sub.Next(ctx)
				if err != nil {
					t.Errorf("%s: Next after %d: %v", blobsName[b], last, err)
					return
				}
				if a.ID <= last {
					t.Errorf("%s: attempt %d delivered after %d", blobsName[b], a.ID, last)
					return
				}
				last = a.ID
				got[i] = append(got[i], a)
				if i == 0 { // write over a copy while the others read theirs
					clear(a.Record)
					clear(a.Request)
					a.Title = ""
				} else {
					sums[i] += bytes.Count(a.Request, []byte{'4'}) + len(a.Title)
				}
			}
		})
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := 0; i < each; {
				k := 1 + (w+i)%3
				k = min(k, each-i)
				var as []*Attempt
				for j := range k {
					a := sample(w*each + i + j)
					if (i+j)%4 == 0 {
						a.Outcome, a.Class, a.Cause = OutcomeFailed, ClassRecord, CauseRule
					}
					as = append(as, a)
				}
				if err := l.Append(ctx, as...); err != nil {
					t.Error(err)
					return
				}
				i += k
			}
		})
	}
	writersWG.Go(func() {
		for i := range otherEach {
			if err := other.Append(ctx, sample(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	writersWG.Wait()
	readers.Wait()
	if t.Failed() {
		return
	}
	all := logged(t, l, 0)
	if len(all) != total {
		t.Fatalf("log holds %d attempts, want %d", len(all), total)
	}
	for i, b := range blobOptions {
		for j, a := range got[i] {
			if a.ID != all[j].ID {
				t.Fatalf("%s: delivery %d is attempt %d, want %d", blobsName[b], j, a.ID, all[j].ID)
			}
			if i == 0 {
				continue // written over above
			}
			if want := withBlobs(all[j], b); !reflect.DeepEqual(a, want) {
				t.Fatalf("%s: attempt %d delivered as\n %+v\nstored as\n %+v", blobsName[b], a.ID, a, want)
			}
		}
	}
}

// TestSubscriptionReadsWhatTheWindowLacks checks the gaps a subscriber
// finds while attempts after its cursor are in memory: an attempt
// committed but not yet in the window (the Appends of the next
// transaction may return and publish theirs first), and a place that
// holds another attempt. The subscriber must read it from the database at
// once, not wait for a wake-up or a poll.
func TestSubscriptionReadsWhatTheWindowLacks(t *testing.T) {
	l, _ := mustOpen(t, Options{PollEvery: time.Hour})
	as := []*Attempt{sample(1), sample(2), sample(3), sample(4), sample(5)}
	if err := l.Append(context.Background(), as...); err != nil {
		t.Fatal(err)
	}
	l.win.slots[as[1].ID&(windowSize-1)].Store(nil) // not there yet
	stale := *l.win.slots[as[3].ID&(windowSize-1)].Load()
	stale.a.ID += windowSize // a later attempt in its place
	l.win.slots[as[3].ID&(windowSize-1)].Store(&stale)
	sub := l.Subscribe(0)
	for i, a := range as {
		g := next(t, sub)
		if g.ID != a.ID {
			t.Fatalf("delivered attempt %d, want %d", g.ID, a.ID)
		}
		if want := stored(t, l, a.ID, BlobsAll); !reflect.DeepEqual(g, want) {
			t.Fatalf("attempt %d delivered as\n %+v\nstored as\n %+v", a.ID, g, want)
		}
		if wantReads := []int{0, 1, 1, 2, 2}[i]; sub.reads != wantReads {
			t.Fatalf("after attempt %d: %d database reads, want %d (each gap read alone)", i+1, sub.reads, wantReads)
		}
	}
}

// TestSubscriptionSkipsAttemptsPrunedFromMemory checks that an attempt
// still in memory but pruned from the database is skipped, as one read
// from the database would be.
func TestSubscriptionSkipsAttemptsPrunedFromMemory(t *testing.T) {
	for _, b := range blobOptions {
		t.Run(blobsName[b], func(t *testing.T) {
			c := &clock{t: t0}
			l, _ := mustOpen(t, Options{Retention: 24 * time.Hour, Now: c.Now, PollEvery: time.Hour})
			ctx := context.Background()
			old, recent, older := sample(1), sample(2), sample(3)
			old.Time, older.Time = t0.Add(-48*time.Hour), t0.Add(-72*time.Hour) // relayed late, say
			for _, a := range []*Attempt{old, recent, older} {
				a.Outcome, a.Class, a.Cause = OutcomeFailed, ClassSystem, CauseStorage // wanted by BlobsFailed too
			}
			if err := l.Append(ctx, old, recent, older); err != nil {
				t.Fatal(err)
			}
			sub := l.Subscribe(0, WithBlobs(b))
			if n, err := l.Prune(ctx); err != nil || n != 2 {
				t.Fatalf("Prune = %d, %v; want 2", n, err)
			}
			late := sample(4)
			if err := l.Append(ctx, late); err != nil {
				t.Fatal(err)
			}
			readAll(t, sub, b, []*Attempt{stored(t, l, recent.ID, BlobsAll), stored(t, l, late.ID, BlobsAll)})
		})
	}
}

// TestSubscriptionLargeAttemptFromDatabase checks an attempt whose bytes
// are too large to be held in memory: it is delivered whole, from the
// database, to those that want its bytes, and from memory to the others.
func TestSubscriptionLargeAttemptFromDatabase(t *testing.T) {
	l, _ := mustOpen(t, Options{PollEvery: time.Hour})
	big := sample(1)
	big.Request = append(bytes.Repeat([]byte{'x'}, windowBytes), big.Record...)
	small := sample(2)
	if err := l.Append(context.Background(), big, small); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b     Blobs
		reads int
	}{{BlobsAll, 1}, {BlobsFailed, 0}, {BlobsNone, 0}} {
		sub := l.Subscribe(0, WithBlobs(tc.b))
		readAll(t, sub, tc.b, []*Attempt{stored(t, l, big.ID, BlobsAll), stored(t, l, small.ID, BlobsAll)})
		if sub.reads != tc.reads {
			t.Errorf("%s: %d database reads, want %d", blobsName[tc.b], sub.reads, tc.reads)
		}
	}
	if n := l.win.bytes.Load(); n > windowBytes {
		t.Fatalf("window holds %d bytes, over its bound of %d", n, windowBytes)
	}
}

// TestWindowAccountsBytes checks the window's count of the bytes it holds
// as attempts of every size come and go.
func TestWindowAccountsBytes(t *testing.T) {
	var w window
	sizes := []int{0, 10, 1500, windowBytes / 3, 5, windowBytes + 1, 70_000}
	buf := make([]byte, windowBytes+1)
	for id := int64(1); id <= 2*windowSize+100; id++ {
		n := sizes[int(id)%len(sizes)]
		a := &Attempt{ID: id, Outcome: OutcomeAdded, Request: buf[:n]}
		w.put(w.prepare(a, t0))
		var sum int64
		for i := range w.slots {
			if e := w.slots[i].Load(); e != nil {
				sum += int64(len(e.a.Request))
				if e.size != int64(len(e.a.Request)) {
					t.Fatalf("entry %d counts %d bytes, holds %d", e.a.ID, e.size, len(e.a.Request))
				}
			}
		}
		if got := w.bytes.Load(); got != sum || got > windowBytes {
			t.Fatalf("after attempt %d: window counts %d bytes, holds %d (bound %d)", id, got, sum, windowBytes)
		}
		if held := w.lookup(id, BlobsAll) != nil; held != (n == 0 || w.slots[id&(windowSize-1)].Load().blobs) {
			t.Fatalf("attempt %d: lookup says held=%v", id, held)
		}
		if w.lookup(id, BlobsNone) == nil {
			t.Fatalf("attempt %d not deliverable without its bytes", id)
		}
	}
	dropped := false
	for i := range w.slots {
		if e := w.slots[i].Load(); e != nil && !e.blobs {
			dropped = true
		}
	}
	if !dropped {
		t.Fatal("no attempt was ever kept without its bytes: the bound was not exercised")
	}
}

// TestSubscriptionReadsHistoryInBatches checks a subscriber that starts
// after a restart, behind more attempts than one database read returns,
// none of which the new Log appended: it must read them all at once, not
// wait for an Append or the poll.
func TestSubscriptionReadsHistoryInBatches(t *testing.T) {
	before, d := mustOpen(t, Options{}) // the previous run
	var as []*Attempt
	for i := range 2*subscriptionBatch + 10 {
		as = append(as, sample(i))
	}
	if err := before.Append(context.Background(), as...); err != nil {
		t.Fatal(err)
	}
	before.Close()
	l, err := Open(context.Background(), d, Options{PollEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(0, WithBlobs(BlobsFailed))
	readAll(t, sub, BlobsFailed, logged(t, l, 0))
	live := sample(1)
	if err := l.Append(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	readAll(t, sub, BlobsFailed, []*Attempt{stored(t, l, live.ID, BlobsAll)})
}
