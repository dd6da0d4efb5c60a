package exportlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestAppendAsync: attempts appended without waiting are recorded in
// order with their IDs set when done is called, reach Subscriptions, and
// mix with Append's in ID order.
func TestAppendAsync(t *testing.T) {
	l, _ := mustOpen(t, Options{PollEvery: time.Hour}) // only the wake-up can deliver
	ctx := context.Background()
	start, err := l.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(start)
	var wg sync.WaitGroup
	const n = 50
	attempts := make([]*Attempt, n)
	ids := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		attempts[i] = sample(i)
		if i%10 == 5 {
			if err := l.Append(ctx, attempts[i]); err != nil {
				t.Fatal(err)
			}
			ids[i] = attempts[i].ID
			continue
		}
		wg.Add(1)
		l.AppendAsync([]*Attempt{attempts[i]}, func(err error) {
			defer wg.Done()
			errs[i], ids[i] = err, attempts[i].ID
		})
	}
	wg.Wait()
	byID := map[int64]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		if ids[i] == 0 {
			t.Fatalf("attempt %d has no ID when done is called", i)
		}
		byID[ids[i]] = i
		got, err := l.Get(ctx, ids[i])
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		assertEqual(t, got, attempts[i])
	}
	if len(byID) != n {
		t.Fatalf("%d distinct IDs for %d attempts", len(byID), n)
	}
	for range n {
		a, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byID[a.ID]; !ok {
			t.Fatalf("subscription delivered attempt %d, not one of ours", a.ID)
		}
		delete(byID, a.ID)
	}
}

// TestAppendAsyncRefusesAndCloses: a bad attempt is refused at once,
// Close waits for the writes already queued, and after Close done gets
// ErrClosed.
func TestAppendAsyncRefusesAndCloses(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	bad := sample(1)
	bad.Outcome = "lost"
	var badErr error
	l.AppendAsync([]*Attempt{bad}, func(err error) { badErr = err })
	if badErr == nil {
		t.Fatal("an attempt with an unknown outcome was accepted")
	}
	const n = 100
	var mu sync.Mutex
	answered := 0
	attempts := make([]*Attempt, n)
	for i := range n {
		attempts[i] = sample(i)
		l.AppendAsync([]*Attempt{attempts[i]}, func(err error) {
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
			}
			mu.Lock()
			answered++
			mu.Unlock()
		})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := answered
	mu.Unlock()
	if got != n {
		t.Fatalf("Close returned with %d of %d writes answered", got, n)
	}
	for i, a := range attempts {
		if _, err := l.Get(context.Background(), a.ID); err != nil {
			t.Fatalf("attempt %d (ID %d) not recorded: %v", i, a.ID, err)
		}
	}
	var after error
	l.AppendAsync([]*Attempt{sample(200)}, func(err error) { after = err })
	if !errors.Is(after, ErrClosed) {
		t.Fatalf("AppendAsync after Close: %v, want ErrClosed", after)
	}
}
