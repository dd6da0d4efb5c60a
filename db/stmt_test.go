package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

func TestStmtIsPreparedOnceOnTheWriter(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	const q = `INSERT INTO t (k, v) VALUES (?, ?)`
	for i := range 5 {
		err := d.Write(ctx, func(tx *sql.Tx) error {
			s, err := d.Stmt(ctx, tx, q)
			if err != nil {
				return err
			}
			_, err = s.Exec(fmt.Sprint("k", i), i)
			return err
		})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		d.stmts.mu.Lock()
		_, cached := d.stmts.m[q]
		d.stmts.mu.Unlock()
		if !cached {
			t.Fatalf("after write %d the statement is not prepared on the writer's connection", i)
		}
	}
	if n := count(t, d); n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}
}

func TestStmtReportsBadSQL(t *testing.T) {
	d := mustOpen(t)
	err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := d.Stmt(context.Background(), tx, `INSERT INTO no_such_table VALUES (1)`)
		return err
	})
	if err == nil {
		t.Fatal("a statement on a missing table prepared without error")
	}
}

func TestBeforeCommitRunsAfterTheWritesAndCommitsWithThem(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	var order []string
	err := d.Write(ctx, func(tx *sql.Tx) error {
		for _, k := range []string{"a", "b"} {
			if err := d.BeforeCommit(tx, func(tx *sql.Tx) error {
				order = append(order, k)
				_, err := tx.Exec(`INSERT INTO t (k, v) VALUES (?, 1)`, k)
				return err
			}); err != nil {
				return err
			}
		}
		order = append(order, "write")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(order) != "[write a b]" {
		t.Fatalf("ran in order %v, want the write, then a, then b", order)
	}
	if n := count(t, d); n != 2 {
		t.Fatalf("%d rows committed, want 2", n)
	}
}

func TestBeforeCommitOfAFailedWriteIsDropped(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	ran := false
	boom := errors.New("boom")
	err := d.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO t (k, v) VALUES ('x', 1)`); err != nil {
			return err
		}
		if err := d.BeforeCommit(tx, func(*sql.Tx) error { ran = true; return nil }); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want the write's error", err)
	}
	if ran {
		t.Fatal("the failed write's queued function ran")
	}
	if n := count(t, d); n != 0 {
		t.Fatalf("%d rows committed, want 0", n)
	}
	// The writer goes on: a later write still commits.
	if err := d.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t (k, v) VALUES ('y', 1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d); n != 1 {
		t.Fatalf("%d rows committed, want 1", n)
	}
}

func TestFailingBeforeCommitFailsTheWholeBatch(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	boom := errors.New("index broken")
	err := d.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO t (k, v) VALUES ('x', 1)`); err != nil {
			return err
		}
		return d.BeforeCommit(tx, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO t (k, v) VALUES ('y', 1)`); err != nil {
				return err
			}
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want the queued function's error", err)
	}
	if n := count(t, d); n != 0 {
		t.Fatalf("%d rows committed after the batch failed, want 0", n)
	}
	var panicked = d.Write(ctx, func(tx *sql.Tx) error {
		return d.BeforeCommit(tx, func(*sql.Tx) error { panic("bug") })
	})
	if panicked == nil {
		t.Fatal("a panicking queued function did not fail the write")
	}
}

func TestBeforeCommitOutsideAWrite(t *testing.T) {
	d := mustOpen(t)
	if err := d.BeforeCommit(nil, func(*sql.Tx) error { return nil }); err == nil {
		t.Fatal("BeforeCommit without a write's transaction returned no error")
	}
}
