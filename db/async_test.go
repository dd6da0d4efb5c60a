package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestWriteCommittedAsync: each write is answered once, after its
// commit (a reader then sees it), and a failing one only with its own
// error.
func TestWriteCommittedAsync(t *testing.T) {
	d := mustOpen(t)
	const n = 300
	var wg sync.WaitGroup
	var calls [n]atomic.Int32
	errs := make([]error, n)
	seen := make([]int, n)
	wg.Add(n)
	for i := range n {
		d.WriteCommittedAsync(func(tx *sql.Tx) error {
			if i%100 == 7 {
				return fmt.Errorf("write %d refused", i)
			}
			_, err := tx.Exec(`INSERT INTO t VALUES (?, ?)`, fmt.Sprint(i), i)
			return err
		}, func(err error) {
			if calls[i].Add(1) == 1 {
				errs[i] = err
				if err == nil {
					var v int
					if qerr := d.Reader().QueryRow(`SELECT v FROM t WHERE k = ?`, fmt.Sprint(i)).Scan(&v); qerr == nil {
						seen[i] = v
					}
				}
			}
			wg.Done()
		})
	}
	wg.Wait()
	for i := range n {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("write %d answered %d times", i, c)
		}
		if i%100 == 7 {
			if errs[i] == nil || errs[i].Error() != fmt.Sprintf("write %d refused", i) {
				t.Fatalf("write %d: err %v, want its own refusal", i, errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
		if seen[i] != i {
			t.Fatalf("write %d: a reader saw %d when it was answered, want the committed row", i, seen[i])
		}
	}
	if got := count(t, d); got != n-3 {
		t.Fatalf("rows = %d, want %d", got, n-3)
	}
}

// TestWriteCommittedAsyncAndClose: writes queued while the database
// closes are each answered exactly once, committed or with ErrClosed,
// and what was answered as committed is in the file.
func TestWriteCommittedAsyncAndClose(t *testing.T) {
	for round := range 20 {
		d, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{MaxBatch: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Migrate(context.Background(), "test", []Migration{{1, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`}}); err != nil {
			t.Fatal(err)
		}
		const n = 200
		var answered, ok, closedErrs atomic.Int32
		var senders sync.WaitGroup
		for g := range 4 {
			senders.Go(func() {
				for i := range n / 4 {
					d.WriteCommittedAsync(func(tx *sql.Tx) error {
						_, err := tx.Exec(`INSERT INTO t VALUES (?, ?)`, fmt.Sprint(g, "-", i), i)
						return err
					}, func(err error) {
						answered.Add(1)
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, ErrClosed):
							closedErrs.Add(1)
						default:
							t.Errorf("round %d: unexpected error %v", round, err)
						}
					})
				}
			})
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		senders.Wait()
		// Writes sent after Close are answered at once, on the sender.
		if a := answered.Load(); a != n {
			t.Fatalf("round %d: %d of %d writes answered", round, a, n)
		}
		if ok.Load()+closedErrs.Load() != n {
			t.Fatalf("round %d: %d committed + %d closed != %d", round, ok.Load(), closedErrs.Load(), n)
		}
		// What was answered as committed is in the file.
		d2, err := Open(d.Path(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := d2.Reader().QueryRow(`SELECT COUNT(*) FROM t`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		d2.Close()
		if rows != int(ok.Load()) {
			t.Fatalf("round %d: %d rows in the database, %d writes answered as committed", round, rows, ok.Load())
		}
	}
}

// TestWriteCommittedAsyncCallbackPanic: a callback that panics on the
// writer is logged, and the database goes on.
func TestWriteCommittedAsyncCallbackPanic(t *testing.T) {
	d := mustOpen(t)
	d.WriteCommittedAsync(func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t VALUES ('a', 1)`)
		return err
	}, func(error) { panic("a bug in a callback") })
	if err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t VALUES ('b', 2)`)
		return err
	}); err != nil {
		t.Fatalf("write after a callback panicked: %v", err)
	}
	if n := count(t, d); n != 2 {
		t.Fatalf("rows = %d, want 2", n)
	}
}
