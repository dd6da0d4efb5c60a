package db

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// syncer makes committed batches durable off the writer's path. With
// SyncFull the writer commits with SQLite's synchronous=NORMAL (the WAL
// frames are written, not flushed) and hands the batch's callers to the
// syncer, then goes on with the next batch. The syncer flushes the WAL
// file with one fdatasync, which covers every batch committed before it
// began, and only then answers those callers. So a Write still returns
// only once its commit is on disk, as with synchronous=FULL, but the
// writer does not stand idle while the disk works: the next batch runs
// and commits during the flush (group commit, as a database's WAL writer
// does it).
//
// The writer runs a batch that needs the flush only once the syncer has
// taken the previous one (waitTaken): at most one batch is being flushed
// while the next is built, so that writes queue up during a flush and the
// next batch takes them all. A batch of WriteCommitted writes only does
// not wait. Committing as fast as the writer can would make many small
// batches, and a commit costs about as much for one write as for thirty
// (every commit rewrites the last, partly filled page of each table and
// index it touched).
//
// The flush is of the WAL file by name, through a descriptor of our own
// (fdatasync flushes the file, whichever descriptor names it). SQLite
// itself still flushes the WAL before every checkpoint copies it into
// the database file, and the database file after, so the database file
// never holds what the WAL on disk does not.
type syncer struct {
	wal string // the WAL file's path
	dir string // its directory, flushed once so that the WAL's name is durable
	log *slog.Logger

	mu       sync.Mutex
	cond     *sync.Cond  // signalled when the queue grows or on stop
	taken    *sync.Cond  // broadcast when run takes the queue
	queue    []*writeReq // committed, waiting for the flush
	stopping bool
	done     chan struct{}

	f    *os.File // the WAL, opened at the first flush
	err  atomic.Pointer[error]
	sync func(*os.File) error // fdatasync; replaced in tests
}

func newSyncer(path string, log *slog.Logger) *syncer {
	s := &syncer{
		wal: path + "-wal", dir: filepath.Dir(path), log: log,
		done: make(chan struct{}), sync: datasync,
	}
	s.cond = sync.NewCond(&s.mu)
	s.taken = sync.NewCond(&s.mu)
	return s
}

// waitTaken returns once the syncer has taken every queued batch (it is
// flushing the last one, or idle).
func (s *syncer) waitTaken() {
	if s == nil {
		return
	}
	s.mu.Lock()
	for len(s.queue) > 0 && !s.stopping {
		s.taken.Wait()
	}
	s.mu.Unlock()
}

// add queues reqs, whose batch has committed, for the next flush.
func (s *syncer) add(reqs []*writeReq) {
	s.mu.Lock()
	s.queue = append(s.queue, reqs...)
	s.mu.Unlock()
	s.cond.Signal()
}

// failed returns the error of the flush that failed, if one has. A nil
// syncer (SyncNormal) never fails.
func (s *syncer) failed() error {
	if s == nil {
		return nil
	}
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// run flushes and answers queued callers until stop, answering the last
// ones before it returns.
func (s *syncer) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.stopping {
			s.cond.Wait()
		}
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		s.taken.Broadcast()
		if len(q) == 0 {
			return // stopping, and nobody waits
		}
		err := s.flush()
		for _, req := range q {
			req.answer(err, s.log)
		}
	}
}

// stop answers the callers still queued and ends run. The writer calls
// it once it has stopped adding.
func (s *syncer) stop() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.cond.Signal()
	s.taken.Broadcast()
	<-s.done
	if s.f != nil {
		s.f.Close()
	}
}

// flush makes every commit so far durable. Its failure is final (see
// ErrNotDurable).
func (s *syncer) flush() error {
	if err := s.failed(); err != nil {
		return err
	}
	err := s.open()
	if err == nil {
		err = s.sync(s.f)
	}
	if err != nil {
		err = fmt.Errorf("%w: %s: %w", ErrNotDurable, s.wal, err)
		s.err.CompareAndSwap(nil, &err)
		s.log.Error("the database's write-ahead log could not be flushed to disk; no write is acknowledged until oclcbot is restarted", "err", err)
		return s.failed()
	}
	return nil
}

// open opens the WAL file, once: SQLite keeps the same file while any of
// its connections to the database is open. The first time, the
// directory is flushed too, so that a WAL created since the last flush
// of the directory keeps its name after a power loss.
func (s *syncer) open() error {
	if s.f != nil {
		return nil
	}
	f, err := os.OpenFile(s.wal, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.f = f
	return nil
}

// syncDir flushes the directory dir, so that the names in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) {
		return nil // a file system whose directories cannot be synced
	}
	return err
}
