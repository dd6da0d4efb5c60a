package exportlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// Component is the name under which the export log migrates its tables in
// the shared database.
const Component = "exportlog"

// Defaults for Options' zero values.
const (
	// DefaultRetention is how long attempts are kept: half a year covers a
	// semester's worth of "what happened to the record I exported in
	// March" questions and any incident review.
	DefaultRetention = 180 * 24 * time.Hour
	// DefaultPruneEvery is how often RunPruner deletes expired attempts.
	DefaultPruneEvery = time.Hour
	// DefaultPollEvery is how often a waiting Subscription looks for
	// attempts appended by another process (the CLI), which cannot wake
	// it. Attempts appended through this Log wake it at once.
	DefaultPollEvery = 5 * time.Second
)

// pruneBatch bounds the rows one pruning transaction deletes, so that
// pruning a large backlog never holds the shared writer for long.
const pruneBatch = 2000

// Errors.
var (
	// ErrNotFound is returned by Get for an ID that is not in the log
	// (never appended, or pruned).
	ErrNotFound = errors.New("exportlog: no such attempt")
	// ErrClosed is returned by Subscription.Next and Append after Close.
	ErrClosed = errors.New("exportlog: log closed")
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Retention is how long an attempt is kept, counted from its Time
	// (DefaultRetention when 0; negative: forever).
	Retention time.Duration
	// PruneEvery is the interval of RunPruner (DefaultPruneEvery when 0).
	PruneEvery time.Duration
	// PollEvery is how often a waiting Subscription checks the database
	// for attempts it was not woken for (DefaultPollEvery when 0).
	PollEvery time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives pruning reports and errors; nil discards them.
	Logger *slog.Logger
}

// Log is the export log stored in the shared database. It is safe for
// concurrent use.
type Log struct {
	d   *db.DB
	opt Options
	log *slog.Logger

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced after every published commit
	appended atomic.Int64  // highest ID appended through this Log and published (publish.go)
	closed   chan struct{}
	once     sync.Once
	asyncMu  sync.Mutex     // orders AppendAsync's admission with Close
	async    sync.WaitGroup // AppendAsync writes not yet answered; Close waits for them

	win     window             // the attempts appended last, for Subscriptions (window.go)
	stageMu sync.Mutex         // guards staged
	staged  map[*sql.Tx]*batch // by transaction of the database's writer (publish.go)

	stmtMu sync.Mutex
	stmtTx *sql.Tx   // the transaction stmt was prepared in
	stmt   *sql.Stmt // the INSERT, prepared in stmtTx

	reads readStmts // prepared on the reader pool

	afterPrune func(n int64) // test hook
}

var migrations = []db.Migration{{Version: 1, SQL: `
CREATE TABLE export_attempts (
	id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so ID cursors survive pruning
	request_id    INTEGER NOT NULL,
	time_ns       INTEGER NOT NULL,
	done_ns       INTEGER NOT NULL,
	remote_addr   TEXT NOT NULL,
	user_name     TEXT NOT NULL,
	target        TEXT NOT NULL,
	record_index  INTEGER NOT NULL,
	follows       INTEGER NOT NULL,
	oclc          TEXT NOT NULL,
	title         TEXT NOT NULL,
	system_number TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	class         TEXT NOT NULL,
	cause         TEXT NOT NULL,
	detail        TEXT NOT NULL,
	reply         TEXT NOT NULL,
	upstream      TEXT NOT NULL,
	decode_ns     INTEGER NOT NULL,
	store_ns      INTEGER NOT NULL,
	elapsed_ns    INTEGER NOT NULL,
	-- The record as received. When it is a part of request (the usual
	-- one-record export), record is NULL and record_at/record_len locate it
	-- there instead of storing it twice.
	record        BLOB,
	record_at     INTEGER,
	record_len    INTEGER,
	request       BLOB
);
-- Every index is paid for on each export's insert, so only two: time
-- (pruning, and every listing by period) and OCLC number ("what happened
-- to the record I exported"). Other filters scan a period.
CREATE INDEX export_attempts_time ON export_attempts (time_ns);
CREATE INDEX export_attempts_oclc ON export_attempts (oclc) WHERE oclc <> '';
`}}

// Open migrates the export log's tables in d (component "exportlog") and
// returns the log. d stays the caller's to close, after the Log.
func Open(ctx context.Context, d *db.DB, opt Options) (*Log, error) {
	if opt.Retention == 0 {
		opt.Retention = DefaultRetention
	}
	if opt.PruneEvery <= 0 {
		opt.PruneEvery = DefaultPruneEvery
	}
	if opt.PollEvery <= 0 {
		opt.PollEvery = DefaultPollEvery
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := d.Migrate(ctx, Component, migrations); err != nil {
		return nil, fmt.Errorf("open export log: %w", err)
	}
	reads, err := prepareReads(ctx, d.Reader())
	if err != nil {
		return nil, fmt.Errorf("open export log: %w", err)
	}
	return &Log{
		d:      d,
		opt:    opt,
		log:    opt.Logger.With(slog.String("component", Component)),
		wake:   make(chan struct{}),
		closed: make(chan struct{}),
		staged: map[*sql.Tx]*batch{},
		reads:  reads,
	}, nil
}

// Close wakes every Subscription waiting in Next, which then returns
// ErrClosed, makes Append fail with ErrClosed, and waits for the writes
// of the AppendAsync calls made before it. It does not close the
// database. Reads (Get, List, LastID) keep working until the database is
// closed.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.asyncMu.Lock()
		close(l.closed)
		l.asyncMu.Unlock()
		l.async.Wait()
	})
	return nil
}

func (l *Log) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// waitChan returns the channel the next commit closes.
func (l *Log) waitChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wake
}

// notify wakes every waiting subscriber. It never blocks.
func (l *Log) notify() {
	l.mu.Lock()
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// Append records attempts in one transaction, in order, and returns once
// it has committed. Committed: the attempts survive a crash of oclcbot;
// after a power loss the last attempts before it may be missing. Append
// does not wait for the commit to reach the disk (db.WriteCommitted): an
// attempt is bookkeeping, and the records themselves are made durable by
// the catalog's or the relay's writes (db.Write), whose flush makes every
// attempt committed before them durable too. A power loss takes only the
// last attempts, never one before another that stays.
//
// Append assigns each attempt its ID (increasing in commit order, never
// reused, except that the IDs of attempts a power loss took are assigned
// again) and a zero Time becomes the current time; nothing else in the
// attempts is changed or retained: the caller may modify them, Record and
// Request included, once Append has returned. After the commit every
// Subscription is woken. On error no attempt was recorded and their IDs
// are left zero.
//
// An attempt that already has an ID, or whose Outcome or Class is not one
// of the package's constants, is refused (nothing is recorded).
func (l *Log) Append(ctx context.Context, attempts ...*Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	if err := l.checkAppend(attempts); err != nil {
		return err
	}
	var p *Pending
	err := l.d.WriteCommitted(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = l.appendIn(tx, attempts)
		return err
	})
	if p == nil { // the write did not run
		return fmt.Errorf("append export attempts: %w", err)
	}
	return p.Done(err)
}

// AppendAsync records attempts as Append does, without waiting for the
// write: it returns at once (or once the database's queue of writes has
// room), and done, when not nil, is called with what Append would have
// returned, exactly once: on the database's writer goroutine, so it must
// be quick and must not write (db.WriteCommittedAsync), or before
// AppendAsync returns when it refuses the attempts. The attempts
// have their IDs and Times when done is called, and must not be touched
// until then. Close waits for the writes of the AppendAsync calls made
// before it; after Close, done gets ErrClosed at once.
//
// It is for attempts whose records are safe without them (a relayed
// record, which the upstream has): they are recorded just after the
// reply, and a crash of oclcbot in that instant loses them.
func (l *Log) AppendAsync(attempts []*Attempt, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if len(attempts) == 0 {
		done(nil)
		return
	}
	l.asyncMu.Lock()
	if err := l.checkAppend(attempts); err != nil {
		l.asyncMu.Unlock()
		done(err)
		return
	}
	l.async.Add(1)
	l.asyncMu.Unlock()
	var p *Pending
	l.d.WriteCommittedAsync(func(tx *sql.Tx) error {
		var err error
		p, err = l.appendIn(tx, attempts)
		return err
	}, func(err error) {
		defer l.async.Done()
		if p == nil { // the write did not run
			done(fmt.Errorf("append export attempts: %w", err))
			return
		}
		done(p.Done(err))
	})
}

// AppendAtCommit records attempts as Append does, but in tx, the
// transaction of a write function (db.Write or db.WriteCommitted) of
// the Log's database that the caller is running: they commit, or not,
// with that write, and are as durable as it is. It lets a component that
// stores something record the attempt that says so in the same
// transaction, one commit instead of two.
//
// The attempts are those compose returns when it is called, on the
// database's writer, once every write of the batch has run and just
// before the commit (db.BeforeCommit), so that the calling write spends
// no time on them: compose may wait for attempts being composed
// meanwhile on another goroutine. It is not called when the calling
// write fails. A nil result, or attempts Append would refuse (logged),
// records nothing; a failed insert fails the whole transaction.
//
// The caller must call the returned Pending's Done exactly once, with
// the write's result, once the write has returned: only then do the
// attempts get their IDs and Times and do Subscriptions see them. An
// error (the Log closed, tx not the running write's) records nothing
// and leaves the write free to go on.
func (l *Log) AppendAtCommit(tx *sql.Tx, compose func() []*Attempt) (*Pending, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	p := &Pending{l: l}
	err := l.d.BeforeCommit(tx, func(tx *sql.Tx) error {
		attempts := compose()
		if len(attempts) == 0 {
			return nil
		}
		if err := l.checkAppend(attempts); err != nil {
			l.log.Error("an export attempt was not recorded with its write", "err", err)
			return nil
		}
		if err := p.insert(tx, attempts); err != nil {
			return err
		}
		p.stage(tx)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append export attempts: %w", err)
	}
	return p, nil
}

// checkAppend refuses what Append and AppendAtCommit would refuse before
// writing anything.
func (l *Log) checkAppend(attempts []*Attempt) error {
	if l.isClosed() {
		return ErrClosed
	}
	for i, a := range attempts {
		if err := check(a); err != nil {
			return fmt.Errorf("append export attempt %d: %w", i, err)
		}
	}
	return nil
}

// Pending is attempts written in a transaction that has not finished
// yet (AppendAtCommit). Its Done says how the transaction ended.
type Pending struct {
	l        *Log
	attempts []*Attempt
	es       []*entry
	now      time.Time
	staged   *batch
	filled   []bool // the Times set at the commit
	done     bool
}

// errNothing is Done's answer when compose gave AppendAtCommit no
// attempts to record.
var errNothing = errors.New("no attempt was recorded")

// appendIn inserts attempts in tx, the running write's, and queues,
// for just before the commit, what makes them visible once it succeeds.
func (l *Log) appendIn(tx *sql.Tx, attempts []*Attempt) (*Pending, error) {
	p := &Pending{l: l}
	if err := p.insert(tx, attempts); err != nil {
		return p, err
	}
	// Run only if the calling write succeeds, just before the commit.
	err := l.d.BeforeCommit(tx, func(tx *sql.Tx) error {
		p.stage(tx)
		return nil
	})
	return p, err
}

// insert inserts attempts in tx.
func (p *Pending) insert(tx *sql.Tx, attempts []*Attempt) error {
	l := p.l
	p.now = l.opt.Now()
	p.attempts, p.filled = attempts, make([]bool, len(attempts))
	// The copies Subscriptions will get from memory, made before the
	// write, so that whichever Append of the transaction learns first
	// that it has committed can publish them all (publish.go).
	p.es = make([]*entry, len(attempts))
	for i, a := range attempts {
		p.es[i] = l.win.prepare(a, p.now)
	}
	for i, a := range attempts {
		id, err := l.insert(tx, a, p.now, p.es[i].recordAt)
		if err != nil {
			return err
		}
		p.es[i].a.ID = id
	}
	return nil
}

// stage runs just before tx commits: the caller's attempts are complete
// before any of them can be delivered (another Append of the
// transaction may publish them before this one returns).
func (p *Pending) stage(tx *sql.Tx) {
	for i, a := range p.attempts {
		a.ID = p.es[i].a.ID
		if a.Time.IsZero() {
			a.Time, p.filled[i] = p.now, true
		}
	}
	p.staged = p.l.stage(tx, p.es)
}

// Done finishes the attempts of AppendAtCommit with err, the result of
// the write whose transaction they were written in: nil when it
// committed. Then the attempts have their IDs, every Subscription is
// woken and Done returns nil. Otherwise nothing was recorded, the
// attempts' IDs are left zero, and Done returns an error: err, wrapped,
// or one saying that compose gave nothing to record. Only the first call
// counts.
func (p *Pending) Done(err error) error {
	if p.done {
		return nil
	}
	p.done = true
	if p.staged != nil {
		p.l.unstage(p.staged, err == nil)
	}
	if err == nil && p.staged == nil {
		err = errNothing
	}
	if err == nil {
		return nil
	}
	p.l.win.discard(p.es)
	if p.staged != nil { // the transaction failed at its commit
		for i, a := range p.attempts {
			a.ID = 0
			if p.filled[i] {
				a.Time = time.Time{}
			}
		}
	}
	return fmt.Errorf("append export attempts: %w", err)
}

func check(a *Attempt) error {
	if a == nil {
		return errors.New("nil attempt")
	}
	if a.ID != 0 {
		return fmt.Errorf("already recorded as attempt %d", a.ID)
	}
	switch a.Outcome {
	case OutcomeAdded, OutcomeMerged, OutcomeDuplicate, OutcomeRelayed, OutcomeQueued,
		OutcomeDelivered, OutcomeCanary, OutcomeRejected, OutcomeFailed:
	default:
		return fmt.Errorf("unknown outcome %q", a.Outcome)
	}
	switch a.Class {
	case ClassNone, ClassSystem, ClassTransport, ClassRecord:
	default:
		return fmt.Errorf("unknown class %q", a.Class)
	}
	return nil
}

// insert inserts a and returns its ID. recordAt is where a's Record lies
// in its Request (-1: not there, or either is empty): the record is then
// stored as that part of the request rather than twice.
func (l *Log) insert(tx *sql.Tx, a *Attempt, now time.Time, recordAt int) (int64, error) {
	t := a.Time
	if t.IsZero() {
		t = now
	}
	record := a.Record
	var at, n sql.NullInt64
	if recordAt >= 0 {
		at = sql.NullInt64{Int64: int64(recordAt), Valid: true}
		n = sql.NullInt64{Int64: int64(len(record)), Valid: true}
		record = nil
	}
	stmt, err := l.insertStmt(tx)
	if err != nil {
		return 0, err
	}
	res, err := stmt.Exec(int64(a.RequestID), db.TimeNS(t), db.TimeNS(a.Done), a.RemoteAddr, a.User, a.Target, a.RecordIndex, a.Follows,
		a.OCLCNumber, a.Title, a.SystemNumber, string(a.Outcome), string(a.Class), a.Cause, a.Detail, a.Reply, a.Upstream,
		int64(a.Decode), int64(a.Store), int64(a.Elapsed), nullBlob(record), at, n, nullBlob(a.Request))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

const insertSQL = `INSERT INTO export_attempts (
	request_id, time_ns, done_ns, remote_addr, user_name, target, record_index, follows,
	oclc, title, system_number, outcome, class, cause, detail, reply, upstream,
	decode_ns, store_ns, elapsed_ns, record, record_at, record_len, request)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertStmt returns the INSERT as a statement of tx. The database's
// writer runs many queued writes in one transaction, so the statement is
// taken once per transaction; it is prepared once on the writer's
// connection (db.Stmt), so SQLite parses it only once. database/sql
// releases it when tx ends; keeping the *sql.Tx pointer for comparison
// keeps it from being collected, so a later transaction can never have
// the same address.
func (l *Log) insertStmt(tx *sql.Tx) (*sql.Stmt, error) {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	if l.stmtTx == tx {
		return l.stmt, nil
	}
	stmt, err := l.d.Stmt(context.Background(), tx, insertSQL)
	if err != nil {
		return nil, err
	}
	l.stmtTx, l.stmt = tx, stmt
	return stmt, nil
}

// nullBlob stores nil as NULL and keeps an empty slice distinguishable.
func nullBlob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
