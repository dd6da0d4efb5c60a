package exportlog

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TestPublishWholeTransactionOnce checks that the attempts the Appends of
// one transaction staged reach the window together, when the first of
// them returns committed, and never when the transaction failed.
func TestPublishWholeTransactionOnce(t *testing.T) {
	l, _ := mustOpen(t, Options{PollEvery: time.Hour})
	prepared := func(id int64) *entry {
		e := l.win.prepare(sample(int(id)), t0)
		e.a.ID = id
		return e
	}
	tx := new(sql.Tx) // stands for a transaction of the writer
	first := l.stage(tx, []*entry{prepared(1), prepared(2)})
	second := l.stage(tx, []*entry{prepared(3)})
	if first != second {
		t.Fatal("the Appends of one transaction staged in two batches")
	}
	if l.appended.Load() != 0 || l.win.lookup(1, BlobsAll) != nil {
		t.Fatal("attempts published before their transaction committed")
	}
	l.unstage(second, true) // the later Append returns first
	for id := int64(1); id <= 3; id++ {
		if l.win.lookup(id, BlobsAll) == nil {
			t.Fatalf("attempt %d not published with its transaction", id)
		}
	}
	if got := l.appended.Load(); got != 3 {
		t.Fatalf("appended = %d after publishing up to 3", got)
	}
	l.unstage(first, true)
	sub := l.Subscribe(0)
	for id := int64(1); id <= 3; id++ {
		if a := next(t, sub); a.ID != id {
			t.Fatalf("delivered %d, want %d", a.ID, id)
		}
	}
	if sub.reads != 0 {
		t.Fatalf("%d database reads for published attempts", sub.reads)
	}

	failed := new(sql.Tx)
	es := []*entry{prepared(4), prepared(5)}
	b := l.stage(failed, es[:1])
	l.stage(failed, es[1:])
	l.unstage(b, false)
	l.unstage(b, false)
	if l.win.lookup(4, BlobsNone) != nil || l.win.lookup(5, BlobsNone) != nil || l.appended.Load() != 3 {
		t.Fatal("the attempts of a failed transaction were published")
	}
	if len(l.staged) != 0 {
		t.Fatalf("%d batches still staged after every Append returned", len(l.staged))
	}
}

// TestFailedAppendHoldsNoMemory checks that an Append that records
// nothing leaves nothing in the window, not even its bytes' count.
func TestFailedAppendHoldsNoMemory(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := sample(1)
	if err := l.Append(ctx, a, sample(2)); err == nil {
		t.Fatal("Append with a cancelled context succeeded")
	}
	if a.ID != 0 {
		t.Fatalf("failed Append gave ID %d", a.ID)
	}
	if n := l.win.bytes.Load(); n != 0 {
		t.Fatalf("window counts %d bytes after a failed Append", n)
	}
	if l.win.lookup(1, BlobsNone) != nil || l.appended.Load() != 0 {
		t.Fatal("a failed Append published an attempt")
	}
}

// TestAppendFailingAtCommitLeavesNothing makes a transaction fail at its
// commit (a deferred foreign key, checked only then): the Append must
// return an error with its attempts as they were, and nothing of them
// may reach a subscriber, though their IDs are given again to the next
// attempts.
func TestAppendFailingAtCommitLeavesNothing(t *testing.T) {
	l, d := mustOpen(t, Options{PollEvery: time.Hour})
	ctx := context.Background()
	err := d.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE doom_parent (id INTEGER PRIMARY KEY);
			CREATE TABLE doom_child (pid INTEGER REFERENCES doom_parent (id) DEFERRABLE INITIALLY DEFERRED);
			CREATE TRIGGER doom AFTER INSERT ON export_attempts WHEN NEW.title = 'doom'
				BEGIN INSERT INTO doom_child VALUES (-1); END;`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(0)
	doomed, other := sample(1), sample(2)
	doomed.Title, doomed.Time = "doom", time.Time{}
	if err := l.Append(ctx, doomed, other); err == nil {
		t.Fatal("Append succeeded although its commit failed")
	}
	if doomed.ID != 0 || other.ID != 0 || !doomed.Time.IsZero() {
		t.Fatalf("failed Append left IDs %d, %d and time %v", doomed.ID, other.ID, doomed.Time)
	}
	if n := l.win.bytes.Load(); n != 0 || l.appended.Load() != 0 || len(l.staged) != 0 {
		t.Fatalf("failed Append left %d bytes, appended %d, %d batches", n, l.appended.Load(), len(l.staged))
	}
	next1 := sample(3)
	if err := l.Append(ctx, next1); err != nil {
		t.Fatal(err)
	}
	readAll(t, sub, BlobsAll, []*Attempt{stored(t, l, next1.ID, BlobsAll)})
}

// TestAppendAtCommitCommitsWithCallersWrite records attempts inside
// another component's write: they are there exactly when that write
// committed, and composed only then.
func TestAppendAtCommitCommitsWithCallersWrite(t *testing.T) {
	l, d := mustOpen(t, Options{PollEvery: time.Hour})
	ctx := context.Background()
	if err := d.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE things (name TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(0)
	// write inserts a row and a, composed at the commit; the write
	// then fails with fail.
	write := func(a *Attempt, fail error) (p *Pending, composed bool, err error) {
		err = d.Write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO things (name) VALUES (?)`, a.Title); err != nil {
				return err
			}
			var err error
			p, err = l.AppendAtCommit(tx, func() []*Attempt { composed = true; return []*Attempt{a} })
			if err != nil {
				return err
			}
			return fail
		})
		return p, composed, err
	}
	things := func() int {
		var n int
		if err := d.Reader().QueryRow(`SELECT count(*) FROM things`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	lost := sample(1)
	lost.Title = "lost"
	p, composed, err := write(lost, errors.New("the caller's write failed"))
	if p == nil || err == nil || composed {
		t.Fatalf("write: pending %v, composed %v, err %v", p, composed, err)
	}
	if derr := p.Done(err); derr == nil || lost.ID != 0 {
		t.Fatalf("Done(failure) = %v, ID %d", derr, lost.ID)
	}
	if n := l.win.bytes.Load(); n != 0 || l.appended.Load() != 0 || things() != 0 {
		t.Fatalf("a rolled-back write left %d window bytes, appended %d, %d rows", n, l.appended.Load(), things())
	}

	kept := sample(2)
	kept.Title = "kept"
	p, composed, err = write(kept, nil)
	if err != nil || !composed {
		t.Fatalf("write: composed %v, err %v", composed, err)
	}
	if err := p.Done(err); err != nil || kept.ID == 0 || things() != 1 {
		t.Fatalf("Done = %v, ID %d, %d rows", err, kept.ID, things())
	}
	readAll(t, sub, BlobsAll, []*Attempt{stored(t, l, kept.ID, BlobsAll)})

	// An attempt Append would refuse is not recorded, and the write
	// that carried it still commits.
	bad := sample(3)
	bad.Title, bad.Outcome = "refused attempt", "lost"
	p, _, err = write(bad, nil)
	if err != nil || things() != 2 {
		t.Fatalf("write with a bad attempt: %v, %d rows", err, things())
	}
	if err := p.Done(nil); err == nil || bad.ID != 0 {
		t.Fatalf("Done = %v, ID %d: a refused attempt was recorded", err, bad.ID)
	}
	if id, err := l.LastID(ctx); err != nil || id != kept.ID {
		t.Fatalf("LastID = %d, %v; want %d", id, err, kept.ID)
	}
}
