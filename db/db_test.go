package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustOpen(tb testing.TB) *DB {
	tb.Helper()
	d, err := Open(filepath.Join(tb.TempDir(), "t.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if err := d.Migrate(context.Background(), "test", []Migration{{1, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`}}); err != nil {
		tb.Fatal(err)
	}
	return d
}

func count(tb testing.TB, d *DB) int {
	tb.Helper()
	var n int
	if err := d.Reader().QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestWriteIsVisibleAfterReturn(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Go(func() {
			errs[i] = d.Write(ctx, func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO t VALUES (?, ?)`, fmt.Sprint(i), i)
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if n := count(t, d); n != 200 {
		t.Fatalf("rows = %d, want 200", n)
	}
}

func TestFailedWriteRollsBackOnlyItself(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 50)
	for i := range results {
		wg.Go(func() {
			results[i] = d.Write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO t VALUES (?, ?)`, fmt.Sprint(i), i); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom // its insert must disappear
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range results {
		if (i%2 == 1) != errors.Is(err, boom) {
			t.Fatalf("write %d: err = %v", i, err)
		}
	}
	if n := count(t, d); n != 25 {
		t.Fatalf("rows = %d, want 25 (odd writes rolled back)", n)
	}
	var odd int
	d.Reader().QueryRow(`SELECT COUNT(*) FROM t WHERE v % 2 = 1`).Scan(&odd)
	if odd != 0 {
		t.Fatalf("%d rows of failed writes survived", odd)
	}
}

func TestPanicInWriteIsAnError(t *testing.T) {
	d := mustOpen(t)
	err := d.Write(context.Background(), func(tx *sql.Tx) error {
		tx.Exec(`INSERT INTO t VALUES ('x', 1)`)
		panic("bug")
	})
	if err == nil || !strings.Contains(err.Error(), "bug") {
		t.Fatalf("err = %v, want the panic reported", err)
	}
	if n := count(t, d); n != 0 {
		t.Fatalf("rows = %d, want 0", n)
	}
	// The writer survives.
	if err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t VALUES ('y', 2)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	d := mustOpen(t)
	d.Close()
	err := d.Write(context.Background(), func(*sql.Tx) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestCanceledBeforeStartDoesNotRun(t *testing.T) {
	d := mustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := d.Write(ctx, func(*sql.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("err = %v ran = %v", err, ran)
	}
}

func TestReaderIsReadOnly(t *testing.T) {
	d := mustOpen(t)
	if _, err := d.Reader().Exec(`INSERT INTO t VALUES ('z', 1)`); err == nil {
		t.Fatal("reader accepted a write")
	}
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := []Migration{{1, `CREATE TABLE a (x)`}}
	v2 := append(v1, Migration{2, `ALTER TABLE a ADD COLUMN y`})
	if err := d.Migrate(ctx, "c", v1); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, "c", v2); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, "c", v2); err != nil {
		t.Fatalf("re-running migrations: %v", err)
	}
	if v, err := d.SchemaVersion(ctx, "c"); err != nil || v != 2 {
		t.Fatalf("version = %d, %v", v, err)
	}
	if err := d.Migrate(ctx, "c", v1); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("downgrade: err = %v", err)
	}
	bad := []Migration{{1, `CREATE TABLE b (x)`}, {2, `NOT SQL`}}
	if err := d.Migrate(ctx, "d", bad); err == nil {
		t.Fatal("bad migration accepted")
	}
	// Nothing of the failed component's migration stays.
	if v, _ := d.SchemaVersion(ctx, "d"); v != 0 {
		t.Fatalf("failed migration left version %d", v)
	}
	if err := d.Migrate(ctx, "e", []Migration{{2, `SELECT 1`}}); err == nil {
		t.Fatal("gap in versions accepted")
	}
	d.Close()
	// Reopen: still at version 2.
	d, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, _ := d.SchemaVersion(ctx, "c"); v != 2 {
		t.Fatalf("after reopen version = %d", v)
	}
}

func BenchmarkWriteParallel(b *testing.B) {
	d := mustOpen(b)
	ctx := context.Background()
	var n sync.Mutex
	i := 0
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			i++
			k := i
			n.Unlock()
			if err := d.Write(ctx, func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO t VALUES (?, ?)`, fmt.Sprint(k), k)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
