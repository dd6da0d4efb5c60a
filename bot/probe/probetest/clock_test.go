package probetest

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case t := <-ch:
		return t, true
	default:
		return time.Time{}, false
	}
}

func TestClockFiresInOrderWhenDue(t *testing.T) {
	c := NewClock(t0)
	late := c.After(10 * time.Second)
	early := c.After(5 * time.Second)
	if got := c.Waiters(); got != 2 {
		t.Fatalf("Waiters = %d, want 2", got)
	}
	c.Advance(4 * time.Second)
	if _, ok := fired(early); ok {
		t.Fatal("5 s timer fired after 4 s")
	}
	c.Advance(time.Second)
	if at, ok := fired(early); !ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("5 s timer after 5 s: fired %v at %v", ok, at)
	}
	if _, ok := fired(late); ok {
		t.Fatal("10 s timer fired after 5 s")
	}
	c.Set(t0.Add(time.Hour))
	if at, ok := fired(late); !ok || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("10 s timer after 1 h: fired %v at %v", ok, at)
	}
	if got := c.Waiters(); got != 0 {
		t.Fatalf("Waiters = %d after all fired, want 0", got)
	}
	c.Set(t0) // backwards: ignored
	if got := c.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Now after a backwards Set = %v, want %v", got, t0.Add(time.Hour))
	}
}

func TestClockAfterNonPositiveFiresAtOnce(t *testing.T) {
	c := NewClock(t0)
	for _, d := range []time.Duration{0, -time.Second} {
		if at, ok := fired(c.After(d)); !ok || !at.Equal(t0) {
			t.Errorf("After(%v): fired %v at %v, want at once at %v", d, ok, at, t0)
		}
	}
	if got := c.Waiters(); got != 0 {
		t.Fatalf("Waiters = %d, want 0", got)
	}
}

func TestClockBlockUntil(t *testing.T) {
	c := NewClock(t0)
	c.After(time.Second)
	short, cancelShort := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancelShort()
	if err := c.BlockUntil(short, 2); err != context.DeadlineExceeded {
		t.Fatalf("BlockUntil(2) with one waiter = %v, want the context's deadline error", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.BlockUntil(t.Context(), 2) }()
	c.After(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("BlockUntil(2) with two waiters: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.BlockUntil(ctx, 3); err != context.Canceled {
		t.Fatalf("BlockUntil on a cancelled context = %v, want context.Canceled", err)
	}
}
