package relay

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/receiver"
)

// The forwarding path reads neither relay_seen for a record never
// exported nor the queue while Run knows it is empty (seenIndex,
// qstate). These tests check that what those reads decided is still
// decided the same way.

// TestRepeatsFoundWhenTheSeenIndexIsFull: past maxSeenIndex keys, in a
// running relay and in one opened on a full relay_seen, every repeat is
// still found (relay_seen answers), and a record exported longer ago
// than the window is no repeat.
func TestRepeatsFoundWhenTheSeenIndexIsFull(t *testing.T) {
	defer func(n int) { maxSeenIndex = n }(maxSeenIndex)
	maxSeenIndex = 2
	ils := newFakeILS(t, "koha")
	d, _ := newDB(t)
	cfg := testConfig(d, ils.addr)
	clock := &testClock{}
	cfg.Now = clock.Now
	cfg.Duplicates = receiver.Duplicates{Policy: receiver.DuplicateSkip, Window: time.Hour}
	r := openRelay(t, cfg)
	var raws [][]byte
	for i := range 4 {
		raw := makeRecord(t, 7300+i, fmt.Sprintf("Index %d", i))
		raws = append(raws, raw)
		if res := deliver1(t, r, raw); res.Outcome != exportlog.OutcomeRelayed {
			t.Fatalf("record %d: %+v", i, res)
		}
	}
	r.mu.Lock()
	full := r.seen.m == nil
	r.mu.Unlock()
	if !full {
		t.Fatalf("the index holds %d keys with a limit of %d", len(r.seen.m), maxSeenIndex)
	}
	check := func(when string, r *Relay, want exportlog.Outcome) {
		t.Helper()
		for i, raw := range raws {
			if res := deliver1(t, r, raw); res.Outcome != want {
				t.Fatalf("%s: record %d exported again: %s, want %s", when, i, res.Outcome, want)
			}
		}
	}
	check("index full", r, exportlog.OutcomeDuplicate)
	r.Close() // its relay_seen rows are written
	r = openRelay(t, cfg)
	defer r.Close()
	check("reopened on a full relay_seen", r, exportlog.OutcomeDuplicate)
	clock.Advance(2 * time.Hour)
	check("after the window", r, exportlog.OutcomeRelayed)
	if n := len(ils.importsCopy()); n != 8 {
		t.Fatalf("the ILS has %d imports, want the 4 records twice", n)
	}
}

// TestSeenIndex: the index answers "maybe" for what it noted within the
// window and "no" otherwise, and prune forgets only what is older.
func TestSeenIndex(t *testing.T) {
	x := &seenIndex{seed: maphash.MakeSeed(), m: map[uint64]int64{}}
	a, b := seenKey{"1", "aa"}, seenKey{"2", "bb"}
	x.note(a, 100)
	x.note(a, 50) // an older export does not move it back
	x.note(b, 200)
	for _, tc := range []struct {
		k     seenKey
		since int64
		want  bool
	}{
		{a, 100, true}, {a, 101, false}, {b, 150, true}, {seenKey{"1", "bb"}, 0, false}, {seenKey{"3", "aa"}, 0, false},
	} {
		if got := x.mayHave(tc.k, tc.since); got != tc.want {
			t.Errorf("mayHave(%v, %d) = %v, want %v", tc.k, tc.since, got, tc.want)
		}
	}
	x.prune(150)
	if x.mayHave(a, 0) || !x.mayHave(b, 0) {
		t.Errorf("after prune(150): a %v b %v, want only b", x.mayHave(a, 0), x.mayHave(b, 0))
	}
}

// TestQueueRetriedElsewhereIsCountedAtTheNextPoll: while Run finds the
// queue empty, the forwarding path does not count it; an entry another
// process makes due again (oclcbot queue retry) is seen at Run's next
// poll, and from then on a new export waits behind it.
func TestQueueRetriedElsewhereIsCountedAtTheNextPoll(t *testing.T) {
	ils := newFakeILS(t, "koha")
	d, _ := newDB(t)
	cfg := testConfig(d, ils.addr)
	cfg.MaxRefusals = 1
	r := openRelay(t, cfg)
	defer r.Close()
	bad := makeRecord(t, 7400, "Refused")
	ils.refuseRecord(bad)
	if res := deliver1(t, r, bad); res.Outcome != exportlog.OutcomeQueued {
		t.Fatalf("refused record: %+v, want queued and set aside", res)
	}
	held := listAll(t, r)[0]
	if held.State != StateHeld {
		t.Fatalf("entry %+v, want held", held)
	}
	runRelay(t, r)
	known := func() bool { return r.qstate.Load()&1 == 1 }
	waitFor(t, 5*time.Second, "Run to find nothing waiting", known)
	if res := deliver1(t, r, makeRecord(t, 7401, "Goes on")); res.Outcome != exportlog.OutcomeRelayed {
		t.Fatalf("export with only a held entry in the queue: %+v, want relayed", res)
	}

	// Another process (the queue command) retries the held entry; the
	// ILS now hangs, so that it stays "sending" once Run takes it.
	ils.acceptRecord(bad)
	ils.set(modeHang, 0)
	other := openRelay(t, cfg)
	if n, err := other.Retry(context.Background(), held.ID); err != nil || n != 1 {
		t.Fatalf("retry from another relay: %d, %v", n, err)
	}
	other.Close()
	waitFor(t, 5*time.Second, "Run to see the retried entry", func() bool { return !known() })
	res := deliver1(t, r, makeRecord(t, 7402, "Behind"))
	if res.Outcome != exportlog.OutcomeQueued || !strings.Contains(res.Detail, "earlier record(s) are waiting") {
		t.Fatalf("export behind a retried entry: %+v, want queued behind it", res)
	}
	ils.set(modeOK, 0)
	imp := ils.waitImports(3, 10*time.Second)
	if imp[1].record != string(bad) || imp[2].record != string(makeRecord(t, 7402, "Behind")) {
		t.Fatal("the retried record did not reach the ILS before the export queued behind it")
	}
}

// TestQueueWriteSpoilsAStaleEmptyMark: Run's "empty" mark, taken before
// a write that queues, does not stick.
func TestQueueWriteSpoilsAStaleEmptyMark(t *testing.T) {
	d, _ := newDB(t)
	r := openRelay(t, testConfig(d, closedPort(t)))
	defer r.Close()
	mark := r.qstate.Load()
	if res := deliver1(t, r, makeRecord(t, 7500, "Queued")); res.Outcome != exportlog.OutcomeQueued {
		t.Fatal(res)
	}
	if r.qstate.CompareAndSwap(mark, mark|1) {
		t.Fatal("a mark taken before a record was queued still says the queue is empty")
	}
	n, err := r.pending(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("pending = %d, %v; want 1", n, err)
	}
}
