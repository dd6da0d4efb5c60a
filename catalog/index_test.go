package catalog

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ftsRow returns the title words the full-text index holds for n, read
// straight from the table (no indexing first), and whether it has a row.
func ftsRow(t *testing.T, c *Catalog, n SystemNumber) (string, bool) {
	t.Helper()
	var title string
	err := c.DB().Reader().QueryRow(`SELECT title FROM catalog_fts WHERE rowid = ?`, n).Scan(&title)
	if err != nil {
		return "", false
	}
	return title, true
}

func pendingRows(t *testing.T, c *Catalog) int {
	t.Helper()
	var k int
	if err := c.DB().Reader().QueryRow(`SELECT count(*) FROM catalog_fts_pending`).Scan(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

// A search finds a record stored just before it, whose words were still
// waiting for the index.
func TestSearchFindsWordsStillQueued(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	n := insert(t, c, bib{oclc: "ocm11", title: "Zymurgy for beginners"})
	hits, err := c.Search(ctx, "zymurgy", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].SystemNumber != n {
		t.Fatalf("search = %+v, want record %s", hits, n)
	}
	if ok, err := c.Findable(ctx, n.String(), "Zymurgy"); err != nil || !ok {
		t.Fatalf("Findable = %v, %v", ok, err)
	}
	if k := pendingRows(t, c); k != 0 {
		t.Errorf("%d records still queued after the search", k)
	}
}

// Without any search the words reach the index on their own.
func TestWordsAreIndexedWithoutASearch(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	n := insert(t, c, bib{oclc: "ocm12", title: "Apiculture today"})
	deadline := time.Now().Add(20 * IndexDelay)
	for {
		if title, ok := ftsRow(t, c, n); ok {
			if !strings.HasPrefix(title, "Apiculture today") {
				t.Errorf("indexed title %q", title)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %s not indexed %v after it was stored", n, 20*IndexDelay)
		}
		time.Sleep(IndexDelay / 4)
	}
	if k := pendingRows(t, c); k != 0 {
		t.Errorf("%d records still queued", k)
	}
}

// A write that is rolled back leaves no words; an overlay before the
// pass leaves only the newest words.
func TestIndexTakesOnlyCommittedNewestWords(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	n := insert(t, c, bib{oclc: "ocm13", title: "First title"})
	overlay(t, c, n, bib{oclc: "ocm13", title: "Second title"})
	boom := errors.New("boom")
	p := prepare(t, c, bib{oclc: "ocm14", title: "Phantom record"}.input())
	var ghost SystemNumber
	err := c.Write(ctx, func(tx *Txn) error {
		var err error
		if ghost, err = tx.Insert(ctx, p); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("write = %v", err)
	}
	if err := c.IndexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if title, _ := ftsRow(t, c, n); !strings.HasPrefix(title, "Second title") {
		t.Errorf("record %s indexed as %q, want its second title", n, title)
	}
	if _, ok := ftsRow(t, c, ghost); ok {
		t.Errorf("the rolled-back record %s has words in the index", ghost)
	}
	for _, q := range []string{"first", "phantom"} {
		if hits, err := c.Search(ctx, q, 10); err != nil || len(hits) != 0 {
			t.Errorf("search %q = %+v, %v; want nothing", q, hits, err)
		}
	}
	mustCheck(t, c)
}

// Words queued by a process that stopped before indexing them are
// indexed when the catalog is opened again, from the stored record.
func TestQueuedWordsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	d := openDB(t, path)
	c, err := Open(ctx, d, Options{Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	n := insert(t, c, bib{oclc: "ocm15", title: "Orphaned words"})
	// What a crash before the pass leaves: the queue row, nothing in the
	// index, nothing in memory.
	c.idx.mu.Lock()
	c.idx.mem = nil
	c.idx.mu.Unlock()
	if _, ok := ftsRow(t, c, n); ok {
		t.Fatal("indexed already; the test needs the words still queued")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(context.Background(), openDB(t, path), Options{Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if title, ok := ftsRow(t, c2, n); !ok || !strings.HasPrefix(title, "Orphaned words") {
		t.Fatalf("after reopening, record %s indexed as %q (%v)", n, title, ok)
	}
	if k := pendingRows(t, c2); k != 0 {
		t.Errorf("%d records still queued", k)
	}
	mustCheck(t, c2)
}

// The bytes as received are kept once when they are the record's own:
// read back whole, through the current version, the history and a
// deletion mark.
func TestOriginalSameAsRecordIsStoredOnce(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	b := bib{oclc: "ocm16", title: "Unchanged export"}
	p := prepare(t, c, b.input()) // Original nil: the encoded record
	var n SystemNumber
	if err := c.Write(ctx, func(tx *Txn) error {
		var err error
		n, err = tx.Insert(ctx, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := c.DB().Reader().QueryRow(`SELECT length(original) FROM catalog_versions WHERE sysno = ?`, n).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("original stored again (%d bytes)", stored)
	}
	e, err := c.Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Raw) == 0 || !bytes.Equal(e.Original, e.Raw) {
		t.Fatalf("original read back as %d bytes, record %d bytes", len(e.Original), len(e.Raw))
	}
	if err := c.Write(ctx, func(tx *Txn) error {
		_, err := tx.MarkDeleted(ctx, n, Source{User: "jdoe"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h, err := c.History(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || !bytes.Equal(h[0].Original, e.Raw) || !bytes.Equal(h[1].Original, e.Raw) || bytes.Equal(h[1].Raw, e.Raw) {
		t.Fatalf("history originals do not all read as the bytes received")
	}
}
