// Package catalog is oclcbot's embedded catalog: the records catalogers
// export from Connexion, stored in the shared SQLite database (package
// db), where they can be found by author, title, subject, OCLC number or
// system number.
//
// # Records and versions
//
// A record is stored as UTF-8 MARC (the ISO 2709 bytes of the converted
// record, import rules applied) together with the bytes exactly as
// received. It is known by its system number, nine digits in the
// library's style ("000000042"), shown with the library code
// ("HVD01 000000042"); numbers are given out in increasing order and
// never reused. Every change (an overlay, a deletion mark) adds a
// version and keeps every earlier one, with when, who, which export
// request and why (added, overlay, mark-deleted): nothing is ever lost.
// Records are never removed; a record marked "STA 1_ $a DELETED" (the
// library's procedure for an accidental double export) is flagged
// deleted and left out of matching.
//
// # Indexes
//
// Every OCLC number a record carries (001, 035 (OCoLC), 019; normalised,
// the primary one marked) is indexed for matching and for the duplicates
// view; the 049 $a holding codes for "is this record ours" checks; the
// content hash and received time for recognising a repeated export; and
// author, title and subject words in an SQLite FTS5 index that ignores
// case and diacritics ("Muller" finds "Müller"). The words are written
// a moment after the record (within IndexDelay, hundreds of records at a
// time, from a durable queue), and a search first writes whatever is
// waiting, so it finds every record stored before it.
//
// # Transactions
//
// All writes go through the database's single writer (db.Write): a
// record's row, its version, its OCLC numbers and its place in the
// full-text index's queue are written in one transaction, so after a
// crash a record is either fully there or not at all. Write methods live on Txn, which wraps the *sql.Tx of a
// db.Write; the read methods exist both on Txn (reading inside the write,
// which is what makes match-then-store race free) and on Catalog (the
// read-only pool, committed data only).
package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// Component is the name under which the catalog migrates its tables in
// the shared database.
const Component = "catalog"

// Errors.
var (
	// ErrNotFound: no record has that system number.
	ErrNotFound = errors.New("catalog: no such record")
	// ErrExhausted: every nine-digit system number has been given out.
	ErrExhausted = errors.New("catalog: no system numbers left")
	// ErrEmptyQuery: a search with nothing to search for.
	ErrEmptyQuery = errors.New("catalog: empty search")
)

// Options configures Open. The zero value is usable.
type Options struct {
	// LibraryCode is shown before system numbers ("HVD01 000000042") and
	// accepted before them in searches; "" shows the digits alone.
	LibraryCode string
	// FirstSystemNumber is the lowest number given to a new record
	// (default 1); raise it to keep clear of numbers another system
	// already uses. Numbers already given out are never reused either way.
	FirstSystemNumber SystemNumber
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives the catalog's logs (component=catalog); nil
	// discards them.
	Logger *slog.Logger
}

// Catalog is the embedded catalog in a shared database. Its read methods
// (Get, Search, FindByOCLC and the rest, which Txn has too) use the
// database's read-only pool and see committed data only. It is safe for
// concurrent use.
type Catalog struct {
	view
	d     *db.DB
	opt   Options
	log   *slog.Logger
	stmts stmtCache
	idx   indexer
}

// Open migrates the catalog's tables in d (component "catalog") and
// returns the catalog. d stays the caller's to close, after the last use
// of the Catalog.
func Open(ctx context.Context, d *db.DB, opt Options) (*Catalog, error) {
	if opt.FirstSystemNumber == 0 {
		opt.FirstSystemNumber = 1
	}
	if opt.FirstSystemNumber < 1 || opt.FirstSystemNumber > MaxSystemNumber {
		return nil, fmt.Errorf("open catalog: first system number %d is out of range 1-%d", opt.FirstSystemNumber, MaxSystemNumber)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := d.Migrate(ctx, Component, migrations); err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	if err := d.Write(ctx, func(tx *sql.Tx) error {
		// Make the next number at least FirstSystemNumber.
		_, err := tx.Exec(`INSERT INTO sqlite_sequence (name, seq) SELECT 'catalog_records', 0
				WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'catalog_records');
			UPDATE sqlite_sequence SET seq = ? WHERE name = 'catalog_records' AND seq < ?`,
			int64(opt.FirstSystemNumber-1), int64(opt.FirstSystemNumber-1))
		return err
	}); err != nil {
		return nil, fmt.Errorf("open catalog: set the first system number: %w", err)
	}
	c := &Catalog{d: d, opt: opt, log: opt.Logger.With(slog.String("component", Component)), stmts: stmtCache{d: d}}
	c.view = view{c: c, q: d.Reader()}
	// Words queued by a process that stopped before indexing them: a
	// write only when there are some.
	queued, err := c.hasQueued(ctx)
	if err == nil && queued {
		err = c.IndexPending(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	return c, nil
}

// DB returns the database the catalog lives in.
func (c *Catalog) DB() *db.DB { return c.d }

// LibraryCode returns Options.LibraryCode.
func (c *Catalog) LibraryCode() string { return c.opt.LibraryCode }

// Display returns n as catalogers see it, with the library code
// ("HVD01 000000042").
func (c *Catalog) Display(n SystemNumber) string { return n.Display(c.opt.LibraryCode) }

// ParseSystemNumber reads a system number with or without this
// catalog's library code (see the package function ParseSystemNumber).
func (c *Catalog) ParseSystemNumber(s string) (SystemNumber, error) {
	return ParseSystemNumber(s, c.opt.LibraryCode)
}

func (c *Catalog) now() time.Time { return c.opt.Now() }

// Tx returns the catalog's view of tx, the transaction of a db.Write on
// the catalog's database, for reading and writing inside it. The Txn is
// valid only until the write function returns.
func (c *Catalog) Tx(tx *sql.Tx) *Txn {
	t := &Txn{tx: tx}
	t.view = view{c: c, q: txQuerier{t}, inWrite: true}
	return t
}

// SQL returns the database transaction t reads and writes in, for the
// writes of other components that must commit with the catalog's, such
// as the export log's attempt for the record stored. It is valid only
// until the write function returns. Whatever is written through it is
// all or nothing with the Txn's own writes.
func (t *Txn) SQL() *sql.Tx { return t.tx }

// Write runs fn in a write transaction of the catalog's database (see
// db.Write): when fn returns nil every change it made is committed by
// the time Write returns nil; when fn returns an error none of its
// changes remain. fn must not call Write.
func (c *Catalog) Write(ctx context.Context, fn func(tx *Txn) error) error {
	return c.d.Write(ctx, func(tx *sql.Tx) error { return fn(c.Tx(tx)) })
}
