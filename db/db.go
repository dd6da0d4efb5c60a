// Package db opens oclcbot's SQLite database (one file, WAL mode) and gives
// the packages that own tables in it three things: versioned migrations per
// component, a pool of read-only connections, and group-committed writes.
//
// All writes go through one connection. Write queues a function; a single
// writer goroutine runs as many queued functions as are waiting inside one
// transaction (each in its own SAVEPOINT, so one failing function does not
// undo the others), commits once, and only then returns to each caller.
// With synchronous=FULL, Write returns only once the commit is on disk,
// so that every acknowledged write survives power loss, and the writer
// does not wait for the disk itself: a syncer goroutine flushes the WAL
// (one fdatasync for every batch committed since its last one) while the
// writer runs the next batch, and only then answers the batch's callers
// (sync.go). WriteCommitted answers at the commit, for writes that need
// only survive a crash of the process, and WriteCommittedAsync queues
// such a write and returns at once, its result going to a callback. Work
// that is cheaper once per batch (FTS5 indexing, which flushes at every
// savepoint) can be queued by a write with BeforeCommit, and statements a
// write runs every time are prepared once on the writer's connection
// (Stmt).
//
// A commit never pays for a WAL checkpoint: SQLite's automatic checkpoint
// (which runs inside the commit that crosses its threshold, copying the
// WAL into the database file and syncing it) is off, and a background
// goroutine with its own connection runs PASSIVE checkpoints instead, at
// most every CheckpointEvery while writes keep coming. PASSIVE never
// waits for the writer or readers, so writes go on meanwhile; only when
// sustained writes have made the WAL long (about 40 MB) does the writer
// copy the last few batches itself, between two batches, so that the WAL
// can start again from its beginning.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("db: database closed")

// ErrNotDurable wraps the error of a failed flush of the write-ahead log
// to disk. Once a flush has failed, the kernel may have dropped the
// unwritten pages, so no later write can be promised durable: every
// write from then on fails with ErrNotDurable until the database is
// reopened (the daemon restarted).
var ErrNotDurable = errors.New("db: commit not flushed to disk")

// Synchronous levels accepted by Options.Synchronous.
const (
	SyncFull   = "FULL"   // Write returns once its commit survives power loss (default)
	SyncNormal = "NORMAL" // commits survive a process crash, not power loss
)

// CheckpointEvery is the shortest time between two background WAL
// checkpoints while writes keep coming. Each checkpoint syncs the database
// file once, so batching them saves fsyncs; between two of them the WAL
// grows by what the writer committed meanwhile.
const CheckpointEvery = 250 * time.Millisecond

// restartFrames is the WAL length (in pages, about 40 MB) past which the
// writer itself checkpoints once between two batches so that its next
// transaction starts the WAL again from its beginning. Under sustained
// writes the background checkpoint is always a batch behind when the
// writer begins a transaction, and SQLite restarts the WAL only when a
// write begins with everything already copied: without this the WAL
// would grow for as long as the load lasts. The writer's checkpoint is
// short (the background one has copied all but the last few batches) and
// happens once every restartFrames pages, instead of inside every
// thousandth page's commit. (A RESTART checkpoint from the background
// connection would starve behind a writer that is never idle.)
const restartFrames = 10000

// Options configures Open. The zero value is usable.
type Options struct {
	// Synchronous is SQLite's synchronous level for the writer: SyncFull
	// (default) or SyncNormal.
	Synchronous string
	// MaxBatch bounds how many queued writes share one transaction
	// (default 256).
	MaxBatch int
	// Readers is the size of the read-only connection pool (default 4).
	Readers int
	// Logger receives writer errors; nil discards them.
	Logger *slog.Logger
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	path   string
	w      *sql.DB
	r      *sql.DB
	ck     *sql.DB // the checkpointer's connection
	log    *slog.Logger
	max    int
	reqs   chan *writeReq
	quit   chan struct{}
	done   chan struct{}
	closeM sync.Once

	asyncMu     sync.RWMutex // held by WriteCommittedAsync while it queues, and by Close to set asyncClosed
	asyncClosed bool

	committed chan struct{} // signalled (never blocking) after each commit
	ckDone    chan struct{} // closed when the checkpointer has stopped
	restart   atomic.Bool   // the WAL is long: the writer should checkpoint once

	// With SyncFull: the batches waiting for the WAL to reach the disk
	// (sync.go), nil with SyncNormal.
	syncs *syncer

	stmts writerStmts // statements prepared on the writer's connection

	// Used by the writer goroutine only (and by BeforeCommit, which
	// runs on it): the batch's transaction, the functions its
	// successful writes queued for the end of the batch, and those the
	// running write has queued so far.
	curTx      *sql.Tx
	sp         [len(spSQL)]*sql.Stmt // the savepoint statements in curTx
	batchLater []func(*sql.Tx) error
	writeLater []func(*sql.Tx) error
}

type writeReq struct {
	ctx       context.Context
	fn        func(*sql.Tx) error
	done      chan error
	then      func(error) // instead of done: called on the writer (WriteCommittedAsync)
	committed bool        // answer at the commit, without waiting for the disk
}

// answer gives req its result. A panic in a WriteCommittedAsync callback,
// which runs on the writer, is logged to log instead of ending the
// process.
func (req *writeReq) answer(err error, log *slog.Logger) {
	if req.then == nil {
		req.done <- err
		return
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in a database write's callback", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	req.then(err)
}

// Open opens (creating if needed) the database file at path.
func Open(path string, opt Options) (*DB, error) {
	if opt.Synchronous == "" {
		opt.Synchronous = SyncFull
	}
	if opt.Synchronous != SyncFull && opt.Synchronous != SyncNormal {
		return nil, fmt.Errorf("db: synchronous must be %s or %s, not %q", SyncFull, SyncNormal, opt.Synchronous)
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 256
	}
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	// With SyncFull the writer's own commits do not sync: the syncer
	// flushes the WAL after them, off the writer's path (sync.go).
	// SQLite still syncs the WAL before every checkpoint and the WAL's
	// header when it starts again from its beginning.
	w, err := sql.Open("sqlite", dsn(path, SyncNormal, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first connection creates the file and switches it to WAL, so do
	// it before any reader opens the file.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	var mode string
	if err := w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		w.Close()
		if err == nil {
			err = fmt.Errorf("journal mode is %q, want wal", mode)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, opt.Synchronous, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r.SetMaxOpenConns(opt.Readers)
	r.SetMaxIdleConns(opt.Readers)
	ck, err := sql.Open("sqlite", checkpointDSN(path, opt.Synchronous))
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxLifetime(0)
	ck.SetConnMaxIdleTime(0)
	d := &DB{
		path: path, w: w, r: r, ck: ck, log: opt.Logger, max: opt.MaxBatch,
		reqs:      make(chan *writeReq, opt.MaxBatch),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		committed: make(chan struct{}, 1),
		ckDone:    make(chan struct{}),
		stmts:     writerStmts{m: map[string]*sql.Stmt{}, pending: map[string]struct{}{}},
	}
	if opt.Synchronous == SyncFull {
		d.syncs = newSyncer(path, d.log)
		go d.syncs.run()
	}
	go d.writer()
	go d.checkpointer()
	return d, nil
}

func dsn(path, sync string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+sync+")")
		// Checkpoints run in the background (checkpointer), not
		// inside the commit that crosses SQLite's threshold.
		q.Add("_pragma", "wal_autocheckpoint(0)")
		// The journal of each write's savepoint stays in memory:
		// SQLite otherwise moves one that passes 64 KiB to a
		// temporary file, and from then on, until the transaction
		// ends, writes every page it journals there with a system
		// call of its own. (A migration's CREATE INDEX then sorts
		// in memory too.)
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// checkpointDSN is the checkpointer's connection: not read-only (a
// checkpoint writes the database file), synchronous as the writer's so
// that it syncs the database file after copying the WAL into it.
func checkpointDSN(path, sync string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "wal_autocheckpoint(0)")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// checkpointer runs a PASSIVE checkpoint after commits, at most every
// CheckpointEvery, until Close. PASSIVE copies what no reader still needs
// and returns at once if the checkpoint lock is taken, so the writer never
// waits for it; the WAL restarts from its beginning at the first write
// after a checkpoint has copied everything, or, under sustained writes,
// once it is restartFrames long, after the writer's own checkpoint
// (restartWAL).
func (d *DB) checkpointer() {
	defer close(d.ckDone)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-d.committed:
		case <-d.quit:
			return
		}
		var busy, logFrames, copied int
		err := d.ck.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied)
		if err != nil {
			d.log.Warn("checkpoint the write-ahead log", "err", err)
		}
		d.restart.Store(err == nil && logFrames >= restartFrames)
		t.Reset(CheckpointEvery)
		select {
		case <-t.C:
		case <-d.quit:
			return
		}
	}
}

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Reader returns the pool of read-only connections. Reads see only
// committed data.
func (d *DB) Reader() *sql.DB { return d.r }

// Write runs fn inside a write transaction and returns once that
// transaction has committed and, with SyncFull, reached the disk (nil),
// or fn's error, the commit's error, the flush's (ErrNotDurable), or
// ctx's error if ctx ended before fn started. fn may share its transaction
// with other queued writes but runs in its own savepoint: when fn returns
// an error, only fn's changes are rolled back. fn must not keep tx, and must
// not call Write (that would deadlock). Once fn has started, Write waits
// for the commit even if ctx ends, so the caller always learns the result.
//
// Readers may see a write's changes a moment before its Write returns
// (between the commit and the flush): what a reader sees has committed,
// but only what a Write returned for is promised to survive power loss.
func (d *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.write(ctx, fn, false)
}

// WriteCommitted is Write, except that it returns once the transaction
// has committed, without waiting for it to reach the disk: the write
// survives a crash of the process (it is in the operating system's
// hands) but not a power loss or a crash of the machine just after. It
// is for records whose loss in that case costs only bookkeeping, never
// for what someone is told is safe. With SyncNormal it is Write.
func (d *DB) WriteCommitted(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.write(ctx, fn, true)
}

// WriteCommittedAsync queues fn as WriteCommitted does and returns at
// once; done is called with what WriteCommitted would have returned
// (ErrClosed at once after Close), exactly once, on the writer's
// goroutine: it must be quick and must not call Write or
// WriteCommittedAsync. It waits only while the queue of writes is full,
// so it must not be called from a write function or a done either. It
// is for bookkeeping whose result the caller need not wait for.
func (d *DB) WriteCommittedAsync(fn func(tx *sql.Tx) error, done func(error)) {
	// Close waits for this send (asyncMu) before it stops the writer,
	// which answers whatever is queued then: no write is left
	// unanswered in the queue.
	d.asyncMu.RLock()
	defer d.asyncMu.RUnlock()
	if d.asyncClosed {
		done(ErrClosed)
		return
	}
	d.reqs <- &writeReq{ctx: context.Background(), fn: fn, then: done, committed: true}
}

func (d *DB) write(ctx context.Context, fn func(tx *sql.Tx) error, committed bool) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), committed: committed}
	select {
	case d.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.quit:
		return ErrClosed
	}
	// The send above can win over a concurrent Close (both cases ready),
	// leaving req in the queue after the writer has drained it: wait for
	// the writer's answer or its end, never forever.
	select {
	case err := <-req.done:
		return err
	case <-d.done:
		select {
		case err := <-req.done: // answered just before it stopped
			return err
		default:
			return ErrClosed
		}
	}
}

func (d *DB) writer() {
	defer close(d.done)
	if d.syncs != nil {
		// The last batches' callers are answered once their flush is
		// done.
		defer d.syncs.stop()
	}
	batch := make([]*writeReq, 0, d.max)
	for {
		batch = batch[:0]
		select {
		case req := <-d.reqs:
			batch = append(batch, req)
		case <-d.quit:
			d.drain()
			return
		}
		batch = d.fill(batch)
		if d.syncs != nil && slices.ContainsFunc(batch, func(r *writeReq) bool { return !r.committed }) {
			// A batch to flush waits until the syncer has taken the
			// previous one, taking in what arrives meanwhile (see
			// syncer); one of WriteCommitted writes only goes at once.
			d.syncs.waitTaken()
			batch = d.fill(batch)
		}
		d.run(batch)
	}
}

// fill adds the writes waiting in the queue to batch, up to MaxBatch.
func (d *DB) fill(batch []*writeReq) []*writeReq {
	for len(batch) < d.max {
		select {
		case req := <-d.reqs:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// drain fails writes still queued at Close.
func (d *DB) drain() {
	for {
		select {
		case req := <-d.reqs:
			req.answer(ErrClosed, d.log)
		default:
			return
		}
	}
}

// restartWAL checkpoints on the writer's connection, between two
// batches, when the checkpointer found the WAL long: the background
// checkpoint has copied all but the last few batches, so this is short,
// and the next transaction then starts the WAL from its beginning. It is
// PASSIVE too: a reader still using the WAL's end leaves it for next time.
func (d *DB) restartWAL() {
	if !d.restart.Swap(false) {
		return
	}
	var busy, logFrames, copied int
	if err := d.w.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
		d.log.Warn("checkpoint the write-ahead log", "err", err)
	}
}

func (d *DB) run(batch []*writeReq) {
	d.restartWAL()
	defer d.prepareNoted()
	errs := make([]error, len(batch))
	if err := d.syncs.failed(); err != nil {
		// A flush failed: nothing written now can be promised durable.
		for _, req := range batch {
			req.answer(err, d.log)
		}
		return
	}
	tx, err := d.w.BeginTx(context.Background(), nil)
	if err != nil {
		d.log.Error("begin write transaction", "err", err)
		for _, req := range batch {
			req.answer(fmt.Errorf("begin transaction: %w", err), d.log)
		}
		return
	}
	d.curTx, d.batchLater = tx, d.batchLater[:0]
	for i, q := range spSQL {
		d.sp[i], _ = d.Stmt(context.Background(), tx, q) // nil: savepoint runs the text
	}
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = d.runOne(tx, req)
	}
	if err := d.runLater(tx); err != nil {
		// The queued work belongs to writes that succeeded, and the
		// savepoints they ran in are released: only a rollback of the
		// whole transaction keeps each of them all or nothing.
		d.log.Error("finish write transaction", "err", err, "writes", len(batch))
		if rerr := tx.Rollback(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("roll back: %w", rerr))
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	} else if err := tx.Commit(); err != nil {
		d.log.Error("commit write transaction", "err", err, "writes", len(batch))
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("commit: %w", err)
			}
		}
	} else {
		select {
		case d.committed <- struct{}{}:
		default: // a checkpoint is already due
		}
	}
	d.curTx, d.sp = nil, [len(spSQL)]*sql.Stmt{}
	clear(d.batchLater)
	var flush []*writeReq
	for i, req := range batch {
		if errs[i] == nil && !req.committed && d.syncs != nil {
			flush = append(flush, req) // answered after the flush
			continue
		}
		req.answer(errs[i], d.log)
	}
	if len(flush) > 0 {
		d.syncs.add(flush)
	}
}

// The statements of the savepoint around each write, by index into
// DB.sp.
const (
	spBegin = iota
	spRollback
	spRelease
)

var spSQL = [...]string{spBegin: "SAVEPOINT w", spRollback: "ROLLBACK TO w", spRelease: "RELEASE w"}

// runOne runs one write in its own savepoint, rolling the savepoint back
// when the write fails or panics.
func (d *DB) runOne(tx *sql.Tx, req *writeReq) (err error) {
	if err := d.savepoint(tx, spBegin); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	d.writeLater = d.writeLater[:0]
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("panic in database write", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in database write: %v", p)
		}
		if err != nil {
			if rerr := d.savepoint(tx, spRollback); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
			}
		}
		if rerr := d.savepoint(tx, spRelease); rerr != nil && err == nil {
			err = fmt.Errorf("release savepoint: %w", rerr)
		}
		if err == nil {
			d.batchLater = append(d.batchLater, d.writeLater...)
		}
		clear(d.writeLater)
		d.writeLater = d.writeLater[:0]
	}()
	return req.fn(tx)
}

// savepoint runs savepoint statement i in tx, through the statements
// run took for the batch.
func (d *DB) savepoint(tx *sql.Tx, i int) error {
	if s := d.sp[i]; s != nil {
		_, err := s.Exec()
		return err
	}
	_, err := tx.Exec(spSQL[i])
	return err
}

// Close stops the writer (failing writes still queued with ErrClosed, after
// the batch in progress commits) and the checkpointer, and closes every
// connection. The last connection to close checkpoints the whole WAL into
// the database file.
func (d *DB) Close() error {
	var err error
	d.closeM.Do(func() {
		d.asyncMu.Lock()
		d.asyncClosed = true
		d.asyncMu.Unlock()
		close(d.quit)
		<-d.done
		<-d.ckDone
		d.closeStmts()
		err = errors.Join(d.r.Close(), d.ck.Close(), d.w.Close())
	})
	return err
}
