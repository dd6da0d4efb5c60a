package exportlog

import "database/sql"

// The database's writer runs many queued writes in one transaction (group
// commit), and their callers return once it has committed, in any order.
// Were each Append to put its own attempts in the window on return, a
// subscriber would often find an attempt missing there while a later one
// of the same transaction is present, and would have to read the
// database for it. So the attempts of one transaction are published
// together: each Append stages its prepared entries just before the
// commit (db.BeforeCommit, which runs only for writes that succeeded),
// and the first of the transaction's Appends to return without error,
// which proves the commit, puts them all in the window, moves appended
// past them and wakes the subscribers.

// batch is what the Appends of one Log staged in one transaction.
type batch struct {
	tx        *sql.Tx
	entries   []*entry // in ID order
	pending   int      // Appends staged here that have not returned yet
	published bool
}

// stage adds the entries of an Append whose write succeeded to the batch
// of tx, which is about to commit. It runs on the database's writer.
func (l *Log) stage(tx *sql.Tx, es []*entry) *batch {
	l.stageMu.Lock()
	defer l.stageMu.Unlock()
	b := l.staged[tx]
	if b == nil {
		b = &batch{tx: tx}
		l.staged[tx] = b
	}
	b.entries = append(b.entries, es...)
	b.pending++
	return b
}

// unstage is called by each Append staged in b once its write returns,
// committed or not. The first to return committed publishes the batch.
// A batch whose transaction failed is never published: each of its
// Appends discards its own entries. The last to return forgets the batch
// (until then the map keeps tx from being collected, so that a later
// transaction cannot have its address).
func (l *Log) unstage(b *batch, committed bool) {
	l.stageMu.Lock()
	var es []*entry
	if committed && !b.published {
		b.published, es, b.entries = true, b.entries, nil
	}
	if b.pending--; b.pending == 0 {
		delete(l.staged, b.tx)
	}
	l.stageMu.Unlock()
	if len(es) == 0 {
		return
	}
	for _, e := range es {
		l.win.put(e)
	}
	// Only now may a subscriber read past them (see Subscription.Next).
	for last := es[len(es)-1].a.ID; ; {
		cur := l.appended.Load()
		if cur >= last || l.appended.CompareAndSwap(cur, last) {
			break
		}
	}
	l.notify()
}
