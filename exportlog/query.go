package exportlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// DefaultListLimit is the number of attempts List returns when
// Filter.Limit is 0.
const DefaultListLimit = 100

// Filter selects attempts for List. Zero-valued fields select everything.
type Filter struct {
	Since    time.Time // attempts whose Time is at or after Since
	Until    time.Time // attempts whose Time is before Until
	User     string    // exact login
	Outcome  Outcome
	Class    Class  // exact class; ClassNone selects nothing special (use Failed)
	Failed   bool   // only failures (any class)
	OCLC     string // normalised OCLC number
	Target   string // "catalog", "listener", "upstream:HOST:PORT"
	BeforeID int64  // only attempts with a smaller ID (paging backwards)
	AfterID  int64  // only attempts with a larger ID
	// Limit bounds the number returned: DefaultListLimit when 0, no limit
	// when negative.
	Limit int
}

const columns = `id, request_id, time_ns, done_ns, remote_addr, user_name, target, record_index, follows,
	oclc, title, system_number, outcome, class, cause, detail, reply, upstream,
	decode_ns, store_ns, elapsed_ns, record, record_at, record_len, request`

// failedColumns is columns with the record and request left NULL except
// in attempts that failed or were queued (BlobsFailed): SQLite then does
// not even read the blobs of the others.
const failedColumns = `id, request_id, time_ns, done_ns, remote_addr, user_name, target, record_index, follows,
	oclc, title, system_number, outcome, class, cause, detail, reply, upstream,
	decode_ns, store_ns, elapsed_ns,
	CASE WHEN ` + blobCond + ` THEN record END, CASE WHEN ` + blobCond + ` THEN record_at END,
	CASE WHEN ` + blobCond + ` THEN record_len END, CASE WHEN ` + blobCond + ` THEN request END`

const blobCond = `(class <> '' OR outcome = 'queued')`

// noBlobColumns is columns with the record and request always NULL
// (BlobsNone).
const noBlobColumns = `id, request_id, time_ns, done_ns, remote_addr, user_name, target, record_index, follows,
	oclc, title, system_number, outcome, class, cause, detail, reply, upstream,
	decode_ns, store_ns, elapsed_ns, NULL, NULL, NULL, NULL`

// readStmts are the queries run for every commit (a subscription's read)
// or often, prepared once on the reader pool so that SQLite parses them
// once per connection rather than at every call.
type readStmts struct {
	get    *sql.Stmt
	lastID *sql.Stmt
	after  [3]*sql.Stmt // by Blobs
}

func prepareReads(ctx context.Context, r *sql.DB) (readStmts, error) {
	var rs readStmts
	qs := []struct {
		dst **sql.Stmt
		q   string
	}{
		{&rs.get, `SELECT ` + columns + ` FROM export_attempts WHERE id = ?`},
		{&rs.lastID, `SELECT COALESCE(MAX(id), 0) FROM export_attempts`},
		{&rs.after[BlobsAll], `SELECT ` + columns + ` FROM export_attempts WHERE id > ? ORDER BY id LIMIT ?`},
		{&rs.after[BlobsFailed], `SELECT ` + failedColumns + ` FROM export_attempts WHERE id > ? ORDER BY id LIMIT ?`},
		{&rs.after[BlobsNone], `SELECT ` + noBlobColumns + ` FROM export_attempts WHERE id > ? ORDER BY id LIMIT ?`},
	}
	for i, q := range qs {
		s, err := r.PrepareContext(ctx, q.q)
		if err != nil {
			for _, p := range qs[:i] {
				(*p.dst).Close()
			}
			return readStmts{}, fmt.Errorf("prepare reads: %w", err)
		}
		*q.dst = s
	}
	return rs, nil
}

// Get returns the attempt with the given ID, or an error wrapping
// ErrNotFound.
func (l *Log) Get(ctx context.Context, id int64) (*Attempt, error) {
	rows, err := l.reads.get.QueryContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get export attempt %d: %w", id, err)
	}
	as, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("get export attempt %d: %w", id, err)
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("export attempt %d: %w", id, ErrNotFound)
	}
	return as[0], nil
}

// List returns the attempts matching f, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]*Attempt, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("time_ns >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time_ns < ?", f.Until.UnixNano())
	}
	if f.User != "" {
		add("user_name = ?", f.User)
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	if f.Class != ClassNone {
		add("class = ?", string(f.Class))
	}
	if f.Failed {
		where = append(where, "class <> ''")
	}
	if f.OCLC != "" {
		add("oclc = ?", f.OCLC)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	q := `SELECT ` + columns + ` FROM export_attempts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC`
	limit := f.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := l.d.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list export attempts: %w", err)
	}
	as, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("list export attempts: %w", err)
	}
	return as, nil
}

// LastID returns the ID of the newest attempt (0 when the log is empty):
// Subscribe(LastID) delivers only attempts recorded from now on.
func (l *Log) LastID(ctx context.Context) (int64, error) {
	var id int64
	err := l.reads.lastID.QueryRowContext(ctx).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("last export attempt: %w", err)
	}
	return id, nil
}

// after returns up to limit attempts with IDs above id, oldest first,
// with the blobs b selects.
func (l *Log) after(ctx context.Context, id int64, limit int, b Blobs) ([]*Attempt, error) {
	if b < BlobsAll || b > BlobsNone {
		b = BlobsAll
	}
	rows, err := l.reads.after[b].QueryContext(ctx, id, limit)
	if err != nil {
		return nil, fmt.Errorf("read export attempts after %d: %w", id, err)
	}
	as, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("read export attempts after %d: %w", id, err)
	}
	return as, nil
}

func scanAll(rows *sql.Rows) ([]*Attempt, error) {
	defer rows.Close()
	var out []*Attempt
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func scan(rows *sql.Rows) (*Attempt, error) {
	var (
		a                      Attempt
		reqID                  int64
		timeNs, doneNs         int64
		outcome, class         string
		decode, store, elapsed int64
		record, request        []byte
		recordAt, recordLen    sql.NullInt64
	)
	err := rows.Scan(&a.ID, &reqID, &timeNs, &doneNs, &a.RemoteAddr, &a.User, &a.Target, &a.RecordIndex, &a.Follows,
		&a.OCLCNumber, &a.Title, &a.SystemNumber, &outcome, &class, &a.Cause, &a.Detail, &a.Reply, &a.Upstream,
		&decode, &store, &elapsed, &record, &recordAt, &recordLen, &request)
	if err != nil {
		return nil, err
	}
	a.RequestID = uint64(reqID)
	a.Time, a.Done = db.NSTime(timeNs), db.NSTime(doneNs)
	a.Outcome, a.Class = Outcome(outcome), Class(class)
	a.Decode, a.Store, a.Elapsed = time.Duration(decode), time.Duration(store), time.Duration(elapsed)
	a.Request = request
	a.Record = record
	if recordAt.Valid {
		at, n := recordAt.Int64, recordLen.Int64
		if at < 0 || n < 0 || at+n > int64(len(request)) {
			return nil, errors.New("stored record lies outside its request (damaged row)")
		}
		a.Record = request[at : at+n : at+n]
	}
	return &a, nil
}
