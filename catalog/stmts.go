package catalog

import (
	"context"
	"database/sql"
	"sync"

	"github.com/oclcbot/oclcbot/db"
)

// stmtCache keeps the statements of the current write transaction. SQL
// parsing was a third of the writer's time: the statements are prepared
// once on the writer's connection (db.Stmt) and each transaction takes
// its handle on them once, here. A transaction's handles are released by
// database/sql when it ends; the cache starts afresh when it sees another
// transaction (it keeps a reference to the last one, so a new
// transaction can never reuse its address).
type stmtCache struct {
	d  *db.DB
	mu sync.Mutex
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

// stmt returns q prepared in tx.
func (c *stmtCache) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tx != tx {
		c.tx, c.m = tx, make(map[string]*sql.Stmt)
	}
	if s := c.m[q]; s != nil {
		return s, nil
	}
	s, err := c.d.Stmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = s
	return s, nil
}

// exec runs q in t's transaction through a cached statement.
func (t *Txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := t.c.stmts.stmt(ctx, t.tx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// txQuerier is the querier of a Txn's reads: cached statements in its
// transaction.
type txQuerier struct{ t *Txn }

// QueryContext runs query through a cached statement.
func (q txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := q.t.c.stmts.stmt(ctx, q.t.tx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRowContext runs query through a cached statement.
func (q txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := q.t.c.stmts.stmt(ctx, q.t.tx, query)
	if err != nil {
		// Let the transaction prepare it again and report the error
		// through the Row.
		return q.t.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}
