package catalog

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/marc"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openDB opens a fresh database in a temporary directory.
func openDB(tb testing.TB, path string) *db.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "catalog.db")
	}
	d, err := db.Open(path, db.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// mustOpen opens a catalog with library code HVD01 on a fresh database.
func mustOpen(tb testing.TB, opt Options) (*Catalog, *clock) {
	tb.Helper()
	clk := newClock()
	if opt.Now == nil {
		opt.Now = clk.Now
	}
	if opt.LibraryCode == "" {
		opt.LibraryCode = "HVD01"
	}
	c, err := Open(context.Background(), openDB(tb, ""), opt)
	if err != nil {
		tb.Fatal(err)
	}
	return c, clk
}

// bib describes a test record.
type bib struct {
	oclc     string // 001 value, e.g. "ocm00012345"; "" for none
	extra035 []string
	f019     []string
	author   string
	title    string
	subjects []string
	holdings []string
	sta      bool
}

// record builds a UTF-8 bibliographic record as Connexion exports one.
func (b bib) record() *marc.Record {
	r := marc.NewRecord()
	if b.oclc != "" {
		r.AddField(marc.Field{Tag: "001", Value: b.oclc})
		r.AddField(marc.Field{Tag: "003", Value: "OCoLC"})
	}
	r.AddField(marc.Field{Tag: "005", Value: "20260302104200.0"})
	r.AddField(marc.Field{Tag: "008", Value: "850101s1985    nyu           000 0 eng d"})
	if len(b.f019) > 0 {
		f := marc.Field{Tag: "019", Ind1: ' ', Ind2: ' '}
		for _, n := range b.f019 {
			f.Subfields = append(f.Subfields, marc.Subfield{Code: 'a', Value: n})
		}
		r.AddField(f)
	}
	for _, v := range b.extra035 {
		r.AddField(marc.Field{Tag: "035", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: v}}})
	}
	r.AddField(marc.Field{Tag: "040", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "DLC"}, {Code: 'b', Value: "eng"}, {Code: 'c', Value: "DLC"}}})
	if len(b.holdings) > 0 {
		f := marc.Field{Tag: "049", Ind1: ' ', Ind2: ' '}
		for _, h := range b.holdings {
			f.Subfields = append(f.Subfields, marc.Subfield{Code: 'a', Value: h})
		}
		r.AddField(f)
	}
	if b.author != "" {
		r.AddField(marc.Field{Tag: "100", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: b.author + ","}, {Code: 'd', Value: "1950-"}}})
	}
	r.AddField(marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: b.title + " /"}, {Code: 'c', Value: "by " + b.author + "."}}})
	r.AddField(marc.Field{Tag: "260", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "New York :"}, {Code: 'b', Value: "Knopf,"}, {Code: 'c', Value: "1985."}}})
	for _, s := range b.subjects {
		r.AddField(marc.Field{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: s}, {Code: '2', Value: "lcsh"}}})
	}
	if b.sta {
		r.AddField(DeletedField())
	}
	return r
}

func (b bib) input() Input { return Input{Record: b.record()} }

// prepare prepares in, failing the test on error.
func prepare(tb testing.TB, c *Catalog, in Input) *Prepared {
	tb.Helper()
	p, err := c.Prepare(in)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// insert stores b as a new record.
func insert(tb testing.TB, c *Catalog, b bib) SystemNumber {
	tb.Helper()
	p := prepare(tb, c, b.input())
	var n SystemNumber
	err := c.Write(context.Background(), func(tx *Txn) error {
		var err error
		n, err = tx.Insert(context.Background(), p)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// overlay replaces record n with b.
func overlay(tb testing.TB, c *Catalog, n SystemNumber, b bib) int {
	tb.Helper()
	p := prepare(tb, c, b.input())
	var v int
	err := c.Write(context.Background(), func(tx *Txn) error {
		var err error
		v, err = tx.Overlay(context.Background(), n, p)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// rawExec runs a statement in a write transaction, bypassing the
// catalog: for tests that damage or inspect the tables.
func rawExec(tb testing.TB, c *Catalog, q string, args ...any) {
	tb.Helper()
	if err := c.DB().Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(q, args...)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
}

// mustCheck fails the test if the catalog is inconsistent.
func mustCheck(tb testing.TB, c *Catalog) {
	tb.Helper()
	probs, err := c.Check(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range probs {
		tb.Errorf("inconsistent catalog: %s", p)
	}
	if err := c.Write(context.Background(), func(tx *Txn) error { return tx.CheckIndex(context.Background()) }); err != nil {
		tb.Errorf("full-text index: %v", err)
	}
}

func sysnos(ss []Summary) []SystemNumber {
	out := make([]SystemNumber, len(ss))
	for i, s := range ss {
		out[i] = s.SystemNumber
	}
	return out
}

func hitNumbers(hs []Hit) []SystemNumber {
	out := make([]SystemNumber, len(hs))
	for i, h := range hs {
		out[i] = h.SystemNumber
	}
	return out
}

// sameRecord reports whether a and b have the same fields and leader,
// ignoring the leader positions Encode computes (lengths, base address).
func sameRecord(a, b *marc.Record) bool {
	x, y := *a, *b
	for _, i := range []int{0, 1, 2, 3, 4, 12, 13, 14, 15, 16} {
		x.Leader[i], y.Leader[i] = '0', '0'
	}
	return x.Equal(&y)
}
