package exportlog

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestSubscribeWithBlobs(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	ok := sample(1)
	failed := sample(2)
	failed.Outcome, failed.Class, failed.Cause = OutcomeFailed, ClassSystem, CauseStorage
	queued := sample(3)
	queued.Outcome = OutcomeQueued
	apart := sample(4) // a record that is not a part of its request is stored on its own
	apart.Outcome, apart.Class, apart.Cause = OutcomeRejected, ClassRecord, CauseRule
	apart.Request = []byte("UDcat1PC***\x00")
	want := []*Attempt{ok, failed, queued, apart}
	if err := l.Append(ctx, want...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  []SubscribeOption
		blobs []bool // per attempt: delivered with Record and Request
	}{
		{"default", nil, []bool{true, true, true, true}},
		{"all", []SubscribeOption{WithBlobs(BlobsAll)}, []bool{true, true, true, true}},
		{"failed", []SubscribeOption{WithBlobs(BlobsFailed)}, []bool{false, true, true, true}},
		{"none", []SubscribeOption{WithBlobs(BlobsNone)}, []bool{false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := l.Subscribe(0, tc.opts...)
			for i, w := range want {
				g, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if g.ID != w.ID || g.Outcome != w.Outcome || g.Class != w.Class || g.Reply != w.Reply || g.Title != w.Title {
					t.Fatalf("attempt %d: got %+v, want %+v", i, g, w)
				}
				if tc.blobs[i] {
					if !bytes.Equal(g.Record, w.Record) || !bytes.Equal(g.Request, w.Request) {
						t.Fatalf("attempt %d (%s): record %q request %q, want %q and %q", i, w.Outcome, g.Record, g.Request, w.Record, w.Request)
					}
				} else if g.Record != nil || g.Request != nil {
					t.Fatalf("attempt %d (%s) delivered with its blobs (record %q)", i, w.Outcome, g.Record)
				}
			}
			full, err := l.Get(ctx, ok.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(full.Record, ok.Record) {
				t.Fatalf("Get returned record %q, want %q", full.Record, ok.Record)
			}
		})
	}
}

// TestSubscriptionFindsAppendsItWasNotWokenFor checks that a caught-up
// subscription still delivers attempts appended by another process
// (here another Log on the same database, which cannot wake it) at its
// next poll.
func TestSubscriptionFindsAppendsItWasNotWokenFor(t *testing.T) {
	l, d := mustOpen(t, Options{PollEvery: 10 * time.Millisecond})
	other, err := Open(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Append(ctx, sample(1)); err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(0)
	if _, err := sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	a := sample(2)
	if err := other.Append(ctx, a); err != nil {
		t.Fatal(err)
	}
	g, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != a.ID {
		t.Fatalf("got attempt %d, want %d", g.ID, a.ID)
	}
}
