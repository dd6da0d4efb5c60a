package db

import (
	"context"
	"database/sql"
	"sync"
)

// maxWriterStmts bounds the statements the writer's connection keeps
// prepared. Queries past it are prepared in each transaction that uses
// them, as without the cache.
const maxWriterStmts = 256

// writerStmts keeps statements prepared on the writer's connection, so
// that SQLite parses each query once rather than once per transaction.
// A statement cannot be prepared on that connection while a transaction
// holds it (the pool has that one connection), so a query seen for the
// first time is prepared in its transaction and noted; the writer
// prepares the noted queries on its idle connection after the batch.
type writerStmts struct {
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]struct{}
}

// Stmt returns query as a statement of tx, which must be the transaction
// a Write function was given (or one of the same batch). The statement
// is prepared on the writer's connection once and then reused by every
// transaction, so SQLite does not parse the query again: use it for the
// statements a write runs every time. The returned *sql.Stmt belongs to
// tx and must not be used after the Write function returns; database/sql
// releases it when tx ends (the connection keeps the prepared query).
// Each distinct query text is a cache entry, up to a bound: build varying
// queries (a varying number of placeholders) with few distinct shapes.
func (d *DB) Stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	d.stmts.mu.Lock()
	s := d.stmts.m[query]
	if s == nil && len(d.stmts.m)+len(d.stmts.pending) < maxWriterStmts {
		d.stmts.pending[query] = struct{}{}
	}
	d.stmts.mu.Unlock()
	if s == nil {
		return tx.PrepareContext(ctx, query)
	}
	// Tx.StmtContext reuses the statement already prepared on the
	// transaction's connection instead of preparing it again.
	return tx.StmtContext(ctx, s), nil
}

// prepareNoted prepares on the writer's idle connection the queries
// transactions used since the last call. Only the writer goroutine calls
// it, between batches. A query that fails to prepare here (a table that
// a later migration creates, say) is left out and noted again by its
// next use.
func (d *DB) prepareNoted() {
	d.stmts.mu.Lock()
	if len(d.stmts.pending) == 0 {
		d.stmts.mu.Unlock()
		return
	}
	var qs []string
	for q := range d.stmts.pending {
		qs = append(qs, q)
	}
	clear(d.stmts.pending)
	d.stmts.mu.Unlock()
	for _, q := range qs {
		s, err := d.w.Prepare(q)
		if err != nil {
			d.log.Debug("prepare statement on the writer's connection", "err", err)
			continue
		}
		d.stmts.mu.Lock()
		if d.stmts.m[q] == nil {
			d.stmts.m[q] = s
			s = nil
		}
		d.stmts.mu.Unlock()
		if s != nil {
			s.Close()
		}
	}
}

// closeStmts closes the writer's prepared statements (at Close, after the
// writer has stopped).
func (d *DB) closeStmts() {
	d.stmts.mu.Lock()
	defer d.stmts.mu.Unlock()
	for q, s := range d.stmts.m {
		s.Close()
		delete(d.stmts.m, q)
	}
}
