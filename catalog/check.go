package catalog

import (
	"context"
	"fmt"
)

// Problem is an inconsistency Check found: a record whose rows do not
// agree.
type Problem struct {
	SystemNumber SystemNumber
	What         string
}

// String describes the problem.
func (p Problem) String() string { return fmt.Sprintf("record %s: %s", p.SystemNumber, p.What) }

// checks are the invariants every committed record satisfies; each query
// returns the system numbers that break it.
var checks = []struct{ what, query string }{
	{"no row for its current version", `SELECT r.sysno FROM catalog_records r
		WHERE NOT EXISTS (SELECT 1 FROM catalog_versions v WHERE v.sysno = r.sysno AND v.version = r.version)`},
	{"versions missing before the current one", `SELECT r.sysno FROM catalog_records r
		WHERE (SELECT COUNT(*) FROM catalog_versions v WHERE v.sysno = r.sysno AND v.version BETWEEN 1 AND r.version) <> r.version`},
	{"versions newer than the current one", `SELECT DISTINCT v.sysno FROM catalog_versions v JOIN catalog_records r ON r.sysno = v.sysno
		WHERE v.version > r.version`},
	{"versions of a record that does not exist", `SELECT DISTINCT v.sysno FROM catalog_versions v
		WHERE NOT EXISTS (SELECT 1 FROM catalog_records r WHERE r.sysno = v.sysno)`},
	{"not in the full-text index", `SELECT r.sysno FROM catalog_records r
		WHERE NOT EXISTS (SELECT 1 FROM catalog_fts f WHERE f.rowid = r.sysno)
		AND NOT EXISTS (SELECT 1 FROM catalog_fts_pending p WHERE p.sysno = r.sysno)`},
	{"queued for the full-text index but not in the catalog", `SELECT p.sysno FROM catalog_fts_pending p
		WHERE NOT EXISTS (SELECT 1 FROM catalog_records r WHERE r.sysno = p.sysno)`},
	{"in the full-text index but not in the catalog", `SELECT f.rowid FROM catalog_fts f
		WHERE NOT EXISTS (SELECT 1 FROM catalog_records r WHERE r.sysno = f.rowid)`},
	{"primary OCLC number not indexed", `SELECT r.sysno FROM catalog_records r WHERE r.oclc <> ''
		AND NOT EXISTS (SELECT 1 FROM catalog_oclc o WHERE o.sysno = r.sysno AND o.oclc = r.oclc AND o.primary_number = 1)`},
	{"OCLC numbers indexed for a record that does not exist", `SELECT DISTINCT o.sysno FROM catalog_oclc o
		WHERE NOT EXISTS (SELECT 1 FROM catalog_records r WHERE r.sysno = o.sysno)`},
	{"system number above the last one given out", `SELECT r.sysno FROM catalog_records r
		WHERE r.sysno > (SELECT seq FROM sqlite_sequence WHERE name = 'catalog_records')`},
}

// Check verifies that every record is whole: its current version and
// every earlier one stored, its words in the full-text index (or queued
// for it), its primary
// OCLC number indexed, nothing indexed for a record that does not exist,
// and no number above the last one given out. It returns the problems found (none in
// a healthy catalog); Txn.CheckIndex checks the full-text index itself.
// It reads the whole catalog: an operator's tool, not a per-request one.
func (v *view) Check(ctx context.Context) ([]Problem, error) {
	ctx = v.ctx(ctx)
	if err := v.indexWaiting(ctx); err != nil {
		return nil, fmt.Errorf("check catalog: %w", err)
	}
	var out []Problem
	for _, c := range checks {
		rows, err := v.q.QueryContext(ctx, c.query)
		if err != nil {
			return nil, fmt.Errorf("check catalog (%s): %w", c.what, err)
		}
		for rows.Next() {
			var n SystemNumber
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("check catalog (%s): %w", c.what, err)
			}
			out = append(out, Problem{SystemNumber: n, What: c.what})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("check catalog (%s): %w", c.what, err)
		}
	}
	return out, nil
}

// CheckIndex runs FTS5's own integrity check of the full-text index (a
// write statement as far as SQLite is concerned, so it runs in a write
// transaction, though it changes nothing). It returns an error
// describing the damage, or nil.
func (t *Txn) CheckIndex(ctx context.Context) error {
	if _, err := t.tx.ExecContext(t.ctx(ctx), `INSERT INTO catalog_fts (catalog_fts) VALUES ('integrity-check')`); err != nil {
		return fmt.Errorf("full-text index: %w", err)
	}
	return nil
}
