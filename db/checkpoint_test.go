package db

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCommitsDoNotCheckpoint checks that the writer leaves checkpoints to
// the background: SQLite's automatic checkpoint, which runs inside a
// commit, is off on its connection.
func TestCommitsDoNotCheckpoint(t *testing.T) {
	d := mustOpen(t)
	var pages int
	if err := d.w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d, want 0 (checkpoints run in the background)", pages)
	}
}

// TestBackgroundCheckpoint checks that committed writes reach the
// database file without a checkpoint in any commit: the file grows only
// when a checkpoint copies the WAL into it.
func TestBackgroundCheckpoint(t *testing.T) {
	d := mustOpen(t)
	ctx := context.Background()
	fi, err := os.Stat(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	const rows, size = 512, 4096 // 2 MiB: over SQLite's 1000-page threshold
	pad := strings.Repeat("x", size)
	for i := range rows {
		if err := d.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO t VALUES (?, ?)`, fmt.Sprint(i, pad), i)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointer runs at most every CheckpointEvery: wait for it
	// (generously, for a loaded machine) rather than for a fixed time.
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(d.Path())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= before+rows*size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes 30 s after %d bytes were committed: no checkpoint ran", fi.Size(), rows*size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, d); n != rows {
		t.Fatalf("rows = %d, want %d", n, rows)
	}
}
