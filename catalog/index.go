package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/marc"
)

// IndexDelay bounds how long a stored record waits for its words to
// reach the full-text index while nobody searches: the words of every
// record stored meanwhile are written together, at most IndexDelay after
// the first of them. A search in this process (Search, Findable) first
// indexes whatever is waiting, so it finds every record stored before it.
const IndexDelay = 200 * time.Millisecond

// orphanBatch is how many records without an in-memory entry one indexing
// pass takes from the queue (after a crash, or stored by another
// process).
const orphanBatch = 500

// The full-text index is written apart from the record, in passes.
//
// FTS5 writes its index as segments, a new one at every flush, and
// flushes at the end of every transaction that touched it. Written in
// the record's own transaction, every group commit wrote a small segment
// (and later merged it), rewrote the index's structure record, its
// averages and the last page of four tables: about a seventh of the
// daemon's CPU at a few thousand exports per second.
//
// Instead, the record's transaction adds a row to catalog_fts_pending
// (the record and the version whose words are due) and remembers the
// words in memory. An indexing pass, on its own write, writes the words of
// every record waiting and deletes their queue rows: one FTS5 flush for
// hundreds of records. The queue row is what makes it safe:
//
//   - a pass indexes a remembered entry only if the queue still holds
//     that record at that version, so the words of a write that was
//     rolled back, or of a version since overlaid, are never indexed;
//   - a queue row with no entry in memory (the process stopped before the
//     pass, or another process stored the record) is indexed from the
//     stored record, by the next pass and at Open.
//
// So the index always catches up, and Check counts a queued record as
// indexed.
type indexer struct {
	mu        sync.Mutex
	mem       []pendingWords
	scheduled bool
}

// pendingWords are the words due for version of record sysno.
type pendingWords struct {
	sysno   SystemNumber
	version int
	words   ftsText
}

// queueWords records, inside the record's transaction, that version of
// record n has words due, and schedules a pass.
func (t *Txn) queueWords(ctx context.Context, n SystemNumber, version int, words ftsText) error {
	if _, err := t.exec(ctx, `INSERT INTO catalog_fts_pending (sysno, version) VALUES (?, ?)
		ON CONFLICT (sysno) DO UPDATE SET version = excluded.version`, n, version); err != nil {
		return fmt.Errorf("queue record %s for the full-text index: %w", n, err)
	}
	c := t.c
	c.idx.mu.Lock()
	c.idx.mem = append(c.idx.mem, pendingWords{sysno: n, version: version, words: words})
	schedule := !c.idx.scheduled
	c.idx.scheduled = true
	c.idx.mu.Unlock()
	if schedule {
		time.AfterFunc(IndexDelay, c.indexLater)
	}
	return nil
}

// indexLater is the scheduled pass.
func (c *Catalog) indexLater() {
	c.idx.mu.Lock()
	c.idx.scheduled = false
	c.idx.mu.Unlock()
	err := c.IndexPending(context.Background())
	switch {
	case err == nil, errors.Is(err, db.ErrClosed):
	default:
		c.log.Error("write the full-text index; trying again", "err", err)
		c.idx.mu.Lock()
		again := !c.idx.scheduled
		c.idx.scheduled = true
		c.idx.mu.Unlock()
		if again {
			time.AfterFunc(IndexDelay, c.indexLater)
		}
	}
}

// IndexPending writes the words of every record waiting for the
// full-text index (see IndexDelay), including records queued by another
// process or before a crash, and returns once they are committed.
// Search and Findable call it; an operator's tool reading the index
// directly may too.
func (c *Catalog) IndexPending(ctx context.Context) error {
	for {
		var orphans int
		err := c.d.WriteCommitted(ctx, func(tx *sql.Tx) error {
			var err error
			orphans, err = c.Tx(tx).indexPass(context.Background())
			return err
		})
		if err != nil {
			return fmt.Errorf("write the full-text index: %w", err)
		}
		if orphans < orphanBatch {
			return nil
		}
	}
}

// hasPending reports whether words are waiting in memory.
func (c *Catalog) hasPending() bool {
	c.idx.mu.Lock()
	defer c.idx.mu.Unlock()
	return len(c.idx.mem) > 0
}

// indexPass runs in a write of its own, on the database's writer, so no
// record write runs meanwhile: every queue row present now either has its
// entry in memory (written earlier on the writer) or is an orphan. It
// returns how many orphans it indexed.
func (t *Txn) indexPass(ctx context.Context) (int, error) {
	c := t.c
	c.idx.mu.Lock()
	mem := c.idx.mem
	c.idx.mem = nil
	c.idx.mu.Unlock()
	done := false
	defer func() {
		if !done {
			// The pass failed: its changes are rolled back, so put the
			// entries back (before any added since) for the next one.
			c.idx.mu.Lock()
			c.idx.mem = append(mem, c.idx.mem...)
			c.idx.mu.Unlock()
		}
	}()
	for _, e := range mem {
		// Off the queue if it is still there at this version.
		res, err := t.exec(ctx, `DELETE FROM catalog_fts_pending WHERE sysno = ? AND version = ?`, e.sysno, e.version)
		if err != nil {
			return 0, fmt.Errorf("take record %s off the index queue: %w", e.sysno, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("take record %s off the index queue: %w", e.sysno, err)
		}
		if n == 0 {
			continue // rolled back, indexed already, or overlaid since
		}
		if err := t.putWords(ctx, e.sysno, e.version, e.words); err != nil {
			return 0, err
		}
	}
	orphans, err := t.indexOrphans(ctx)
	if err != nil {
		return 0, err
	}
	done = true
	return orphans, nil
}

// indexOrphans indexes, from the stored records, up to orphanBatch queue
// rows that no entry in memory accounts for.
func (t *Txn) indexOrphans(ctx context.Context) (int, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT p.sysno, p.version, v.record FROM catalog_fts_pending p
		JOIN catalog_versions v ON v.sysno = p.sysno AND v.version = p.version
		ORDER BY p.sysno LIMIT ?`, orphanBatch)
	if err != nil {
		return 0, fmt.Errorf("read the index queue: %w", err)
	}
	type orphan struct {
		n       SystemNumber
		version int
		raw     []byte
	}
	var list []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.n, &o.version, &o.raw); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read the index queue: %w", err)
		}
		list = append(list, o)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("read the index queue: %w", err)
	}
	for _, o := range list {
		var words ftsText
		if r, err := marc.Decode(o.raw); err != nil {
			// Stored records were encoded by Prepare: this is damage,
			// and the record is still found by number.
			t.c.log.Error("cannot index a stored record's words", "record", o.n, "err", err)
		} else {
			words = indexText(r)
		}
		if err := t.writeWords(ctx, o.n, o.version, words); err != nil {
			return 0, err
		}
	}
	// A queue row whose version row is missing would never be indexed;
	// Check reports such a record ("no row for its current version").
	return len(list), nil
}

// writeWords replaces record n's words in the index with those of
// version and takes it off the queue.
func (t *Txn) writeWords(ctx context.Context, n SystemNumber, version int, w ftsText) error {
	if err := t.putWords(ctx, n, version, w); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM catalog_fts_pending WHERE sysno = ?`, n); err != nil {
		return fmt.Errorf("index words of record %s: %w", n, err)
	}
	return nil
}

// putWords replaces record n's words in the index with those of version.
// Version 1 is a record just added (system numbers are never reused): it
// has no words to replace.
func (t *Txn) putWords(ctx context.Context, n SystemNumber, version int, w ftsText) error {
	if version > 1 {
		if _, err := t.exec(ctx, `DELETE FROM catalog_fts WHERE rowid = ?`, n); err != nil {
			return fmt.Errorf("index words of record %s: %w", n, err)
		}
	}
	if _, err := t.exec(ctx, `INSERT INTO catalog_fts (rowid, author, title, subjects) VALUES (?, ?, ?, ?)`,
		n, w.author, w.title, w.subjects); err != nil {
		return fmt.Errorf("index words of record %s: %w", n, err)
	}
	return nil
}

// hasQueued reports whether any record waits for the full-text index in
// the database (queued by a process that stopped, or by another one).
func (c *Catalog) hasQueued(ctx context.Context) (bool, error) {
	var queued bool
	err := c.d.Reader().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM catalog_fts_pending)`).Scan(&queued)
	if err != nil {
		return false, fmt.Errorf("read the index queue: %w", err)
	}
	return queued, nil
}
