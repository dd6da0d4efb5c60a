package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/marc"
)

// querier is what reads need: *sql.DB (the read-only pool) or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// view holds the read methods, shared by Catalog (reading the committed
// data through the read-only pool) and Txn (reading inside a write).
type view struct {
	c       *Catalog
	q       querier
	inWrite bool
}

// ctx returns the context for a statement. Inside a write transaction a
// cancelled context must not interrupt a statement: SQLite answers an
// interrupted write by rolling back the whole transaction, which the
// database's writer shares among many callers. Writes end on their own.
func (v *view) ctx(ctx context.Context) context.Context {
	if v.inWrite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// Summary describes a record without its MARC data.
type Summary struct {
	SystemNumber SystemNumber
	Version      int      // current version, from 1
	OCLCNumber   string   // primary OCLC number, "" when none
	Title        string   // 245 for people
	Author       string   // main entry for people
	Holdings     []string // 049 $a codes, upper case
	Deleted      bool     // marked STA DELETED
	Hash         string   // content hash of the export that gave the current content
	Created      time.Time
	Received     time.Time // when the current content was exported
	Updated      time.Time // last change (overlay or deletion mark)
}

// Holds reports whether any of the record's 049 $a codes is one of codes
// (compared without regard to case and blanks).
func (s *Summary) Holds(codes ...string) bool {
	for _, c := range codes {
		if slices.Contains(s.Holdings, normalizeHolding(c)) {
			return true
		}
	}
	return false
}

// Entry is a record's current version.
type Entry struct {
	Summary
	OCLCNumbers []string // every OCLC number indexed for it, primary first
	Raw         []byte   // ISO 2709, UTF-8, as stored
	Original    []byte   // the bytes as received
}

// Record decodes Raw.
func (e *Entry) Record() (*marc.Record, error) { return marc.Decode(e.Raw) }

// Reason says why a version was made.
type Reason string

// Reasons.
const (
	ReasonAdded       Reason = "added"        // the record was stored as new
	ReasonOverlay     Reason = "overlay"      // an export replaced the record
	ReasonMarkDeleted Reason = "mark-deleted" // the record was marked STA DELETED
)

// Version is one version of a record, as History returns it.
type Version struct {
	SystemNumber SystemNumber
	Number       int // 1 = as added
	Reason       Reason
	Source       Source
	OCLCNumber   string
	Hash         string
	Raw          []byte // ISO 2709, UTF-8, as stored
	Original     []byte // the bytes as received
}

// Record decodes Raw.
func (v *Version) Record() (*marc.Record, error) { return marc.Decode(v.Raw) }

const summaryCols = `r.sysno, r.version, r.oclc, r.title, r.author, r.holdings, r.deleted, r.hash, r.created_ns, r.received_ns, r.updated_ns`

type scanner interface{ Scan(dest ...any) error }

func scanSummary(sc scanner, extra ...any) (Summary, error) {
	var s Summary
	var holdings string
	var created, received, updated int64
	dest := append([]any{&s.SystemNumber, &s.Version, &s.OCLCNumber, &s.Title, &s.Author, &holdings, &s.Deleted, &s.Hash, &created, &received, &updated}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return s, err
	}
	s.Holdings = strings.Fields(holdings)
	s.Created, s.Received, s.Updated = db.NSTime(created), db.NSTime(received), db.NSTime(updated)
	return s, nil
}

func collectSummaries(rows *sql.Rows, err error) ([]Summary, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		s, err := scanSummary(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Summary returns the record n without its MARC data, or ErrNotFound.
func (v *view) Summary(ctx context.Context, n SystemNumber) (*Summary, error) {
	row := v.q.QueryRowContext(v.ctx(ctx), `SELECT `+summaryCols+` FROM catalog_records r WHERE r.sysno = ?`, n)
	s, err := scanSummary(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, n)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", n, err)
	}
	return &s, nil
}

// Get returns the current version of record n, or ErrNotFound.
func (v *view) Get(ctx context.Context, n SystemNumber) (*Entry, error) {
	ctx = v.ctx(ctx)
	row := v.q.QueryRowContext(ctx, `SELECT `+summaryCols+`, v.record, v.original
		FROM catalog_records r JOIN catalog_versions v ON v.sysno = r.sysno AND v.version = r.version
		WHERE r.sysno = ?`, n)
	var e Entry
	var err error
	e.Summary, err = scanSummary(row, &e.Raw, &e.Original)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, n)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", n, err)
	}
	e.Original = originalOf(e.Raw, e.Original)
	if e.OCLCNumbers, err = v.numbersOf(ctx, n); err != nil {
		return nil, err
	}
	return &e, nil
}

// numbersOf returns the OCLC numbers indexed for record n, primary first.
func (v *view) numbersOf(ctx context.Context, n SystemNumber) ([]string, error) {
	rows, err := v.q.QueryContext(ctx, `SELECT oclc FROM catalog_oclc WHERE sysno = ? ORDER BY primary_number DESC, length(oclc), oclc`, n)
	if err != nil {
		return nil, fmt.Errorf("read OCLC numbers of %s: %w", n, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("read OCLC numbers of %s: %w", n, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read OCLC numbers of %s: %w", n, err)
	}
	return out, nil
}

// History returns every version of record n, oldest first, or
// ErrNotFound.
func (v *view) History(ctx context.Context, n SystemNumber) ([]Version, error) {
	rows, err := v.q.QueryContext(v.ctx(ctx), `SELECT version, reason, time_ns, user_name, request_id, remote_addr, oclc, hash, record, original
		FROM catalog_versions WHERE sysno = ? ORDER BY version`, n)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", n, err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		ver := Version{SystemNumber: n}
		var ns int64
		var reqID int64
		if err := rows.Scan(&ver.Number, &ver.Reason, &ns, &ver.Source.User, &reqID, &ver.Source.RemoteAddr,
			&ver.OCLCNumber, &ver.Hash, &ver.Raw, &ver.Original); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", n, err)
		}
		ver.Source.Time, ver.Source.RequestID = db.NSTime(ns), uint64(reqID)
		ver.Original = originalOf(ver.Raw, ver.Original)
		out = append(out, ver)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history of %s: %w", n, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, n)
	}
	return out, nil
}

// FindByOCLC returns every record (deleted ones included) that carries
// any of numbers (in any form marc.NormalizeOCLCNumber accepts; others
// are ignored) among its indexed OCLC numbers, in system number order.
func (v *view) FindByOCLC(ctx context.Context, numbers ...string) ([]Summary, error) {
	args := make([]any, 0, len(numbers))
	for _, s := range numbers {
		if n, ok := marc.NormalizeOCLCNumber(s); ok && !slices.Contains(args, any(n)) {
			args = append(args, n)
		}
	}
	if len(args) == 0 {
		return nil, nil
	}
	// The numbers first, from the index alone: most exports carry a
	// number no record has, and end here.
	ctx = v.ctx(ctx)
	rows, err := v.q.QueryContext(ctx, `SELECT sysno FROM catalog_oclc WHERE oclc IN (?`+strings.Repeat(",?", len(args)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("find records by OCLC number: %w", err)
	}
	var nums []any
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find records by OCLC number: %w", err)
		}
		if !slices.Contains(nums, any(n)) {
			nums = append(nums, n)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("find records by OCLC number: %w", err)
	}
	if len(nums) == 0 {
		return nil, nil
	}
	q := `SELECT ` + summaryCols + ` FROM catalog_records r WHERE r.sysno IN (?` + strings.Repeat(",?", len(nums)-1) + `) ORDER BY r.sysno`
	out, err := collectSummaries(v.q.QueryContext(ctx, q, nums...))
	if err != nil {
		return nil, fmt.Errorf("find records by OCLC number: %w", err)
	}
	return out, nil
}

// FindRepeat returns the record whose current content came from an
// export of the same record (primary OCLC number oclc and content hash
// hash) received at or after since, or nil when there is none (see
// RepeatIn).
func (v *view) FindRepeat(ctx context.Context, oclc, hash string, since time.Time) (*Summary, error) {
	if oclc == "" || hash == "" {
		return nil, nil
	}
	ss, err := v.FindByOCLC(ctx, oclc)
	if err != nil {
		return nil, fmt.Errorf("look for a repeated export: %w", err)
	}
	return RepeatIn(ss, oclc, hash, since), nil
}

// RepeatIn returns the record among ss (as FindByOCLC returns them) whose
// current content came from an export with primary OCLC number oclc and
// content hash hash, received at or after since, or nil. When several
// did (a copy kept by the mark-deleted policy), it prefers a record not
// marked deleted, then the latest received, then the highest number.
func RepeatIn(ss []Summary, oclc, hash string, since time.Time) *Summary {
	if n, ok := marc.NormalizeOCLCNumber(oclc); ok {
		oclc = n
	}
	var best *Summary
	for i := range ss {
		s := &ss[i]
		if oclc == "" || hash == "" || s.OCLCNumber != oclc || s.Hash != hash || s.Received.Before(since) {
			continue
		}
		if best == nil || better(s, best) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	return &c
}

// better orders repeat candidates: not deleted, then latest, then
// highest number.
func better(a, b *Summary) bool {
	if a.Deleted != b.Deleted {
		return !a.Deleted
	}
	if !a.Received.Equal(b.Received) {
		return a.Received.After(b.Received)
	}
	return a.SystemNumber > b.SystemNumber
}
