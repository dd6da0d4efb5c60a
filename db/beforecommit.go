package db

import (
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
)

// BeforeCommit queues fn to run in tx, the transaction of the Write
// function that calls it, after every write of the batch has run and just
// before the commit, outside any write's savepoint. If the calling write
// fails, fn is dropped with the write's other changes. If fn (or another
// queued function) fails, the whole transaction is rolled back and every
// write of the batch returns that error: none of them is committed, so
// each write stays all or nothing. Functions run in the order they were
// queued.
//
// It is for work that is cheaper once per batch than inside a savepoint
// and that only a broken database makes fail: SQLite's FTS5 writes its
// pending index entries to disk at every SAVEPOINT, so an FTS5 insert
// queued here is flushed once per batch rather than once per write. The
// calling write does not see fn's changes. BeforeCommit returns an error
// (and queues nothing) when tx is not the transaction of the running
// write.
func (d *DB) BeforeCommit(tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	if tx == nil || tx != d.curTx {
		return errors.New("db: BeforeCommit outside a Write function")
	}
	d.writeLater = append(d.writeLater, fn)
	return nil
}

// runLater runs the functions the batch's writes queued with BeforeCommit.
func (d *DB) runLater(tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("panic in database write", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in database write: %v", p)
		}
	}()
	for _, fn := range d.batchLater {
		if err := fn(tx); err != nil {
			return err
		}
	}
	return nil
}
