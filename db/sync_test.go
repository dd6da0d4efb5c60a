package db

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setSync replaces the syncer's flush of the WAL file.
func setSync(d *DB, f func(*os.File) error) {
	d.syncs.mu.Lock()
	d.syncs.sync = f
	d.syncs.mu.Unlock()
}

func insert(k string) func(*sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t VALUES (?, 1)`, k)
		return err
	}
}

func rowExists(t *testing.T, d *DB, k string) bool {
	t.Helper()
	var n int
	if err := d.Reader().QueryRow(`SELECT count(*) FROM t WHERE k = ?`, k).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// A Write with SyncFull returns only after the WAL file has been flushed;
// WriteCommitted returns at the commit, while the flush is still going on.
func TestWriteReturnsAfterTheWALIsFlushed(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	entered := make(chan string, 10)
	release := make(chan struct{})
	setSync(d, func(f *os.File) error {
		entered <- f.Name()
		<-release
		return datasync(f)
	})

	durable := make(chan error, 1)
	go func() { durable <- d.Write(ctx, insert("durable")) }()
	var name string
	select {
	case name = <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the commit was never flushed")
	}
	if want := d.Path() + "-wal"; name != want {
		t.Errorf("flushed %s, want the WAL file %s", name, want)
	}
	if !rowExists(t, d, "durable") {
		t.Error("the committed row is not visible to readers during its flush")
	}
	select {
	case err := <-durable:
		t.Fatalf("Write returned (%v) before the WAL was flushed", err)
	default:
	}

	// The writer goes on while the flush runs: a WriteCommitted commits
	// and returns without waiting for it.
	if err := d.WriteCommitted(ctx, insert("committed")); err != nil {
		t.Fatal(err)
	}
	if !rowExists(t, d, "committed") {
		t.Error("WriteCommitted returned before its row was visible")
	}
	select {
	case err := <-durable:
		t.Fatalf("Write returned (%v) before the WAL was flushed", err)
	default:
	}

	close(release)
	if err := <-durable; err != nil {
		t.Fatal(err)
	}
}

// After a failed flush no write is acknowledged: the kernel may have
// dropped what it could not write.
func TestFailedFlushFailsEveryLaterWrite(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	eio := &os.PathError{Op: "fdatasync", Path: "wal", Err: syscall.EIO}
	calls := 0
	setSync(d, func(*os.File) error {
		calls++
		return eio
	})
	err := d.Write(ctx, insert("a"))
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Write = %v, want ErrNotDurable wrapping EIO", err)
	}
	if !strings.Contains(err.Error(), "-wal") {
		t.Errorf("error %q does not name the WAL file", err)
	}
	setSync(d, datasync)
	for _, w := range []func(context.Context, func(*sql.Tx) error) error{d.Write, d.WriteCommitted} {
		if err := w(ctx, insert("b")); !errors.Is(err, ErrNotDurable) {
			t.Errorf("write after the failed flush = %v, want ErrNotDurable", err)
		}
	}
	if rowExists(t, d, "b") {
		t.Error("a write after the failed flush was committed")
	}
	if calls != 1 {
		t.Errorf("flush tried %d times, want 1", calls)
	}
}

// Close answers a Write whose flush is under way only once it is done.
func TestCloseWaitsForTheFlush(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Migrate(ctx, "test", []Migration{{1, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`}}); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	setSync(d, func(f *os.File) error {
		close(entered)
		<-release
		return datasync(f)
	})
	res := make(chan error, 1)
	go func() { res <- d.Write(ctx, insert("x")) }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case err := <-res:
		t.Fatalf("Write returned %v during its flush", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-res; err != nil {
		t.Fatalf("Write = %v, want nil once flushed", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// With SyncNormal there is no flush of our own: both kinds of write
// return at the commit.
func TestSyncNormalHasNoSyncer(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{Synchronous: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.syncs != nil {
		t.Fatal("SyncNormal started a syncer")
	}
	ctx := context.Background()
	if err := d.Migrate(ctx, "test", []Migration{{1, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(ctx, insert("a")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteCommitted(ctx, insert("b")); err != nil {
		t.Fatal(err)
	}
	if !rowExists(t, d, "a") || !rowExists(t, d, "b") {
		t.Fatal("rows missing")
	}
}
