package catalog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/marc"
)

// Txn is the catalog inside one write transaction (see Catalog.Tx and
// Catalog.Write). Its read methods see the transaction's own changes. A
// record's writes (its row, version, OCLC numbers and words) are all made
// by one method call, so whatever the transaction does next, the record
// is either fully there or not at all.
//
// Statements inside a Txn ignore the cancellation of the contexts they
// are given: interrupting a statement of the shared write transaction
// would roll back the writes of every caller in it.
//
// A record's words reach the full-text index in a later write, within
// IndexDelay, many records at a time (index.go): its transaction queues
// them, durably. Searches inside the write that stored a record do not
// find it by its words yet; Catalog.Search does. Inside DryRun the words
// are written at once, so that the dry run's rollback takes them back.
type Txn struct {
	view
	tx  *sql.Tx
	dry int // DryRun depth
}

// Insert stores p as a new record under the next system number and
// returns that number: the record's row, version 1 (reason added), its
// OCLC numbers and its words.
func (t *Txn) Insert(ctx context.Context, p *Prepared) (SystemNumber, error) {
	ctx = t.ctx(ctx)
	ns := db.TimeNS(p.src.Time)
	res, err := t.exec(ctx, `INSERT INTO catalog_records
		(version, oclc, hash, title, author, holdings, deleted, created_ns, received_ns, updated_ns)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.oclc, p.hash, p.title, p.author, p.holdings, p.deleted, ns, ns, ns)
	if err != nil {
		return 0, fmt.Errorf("store a new record: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store a new record: %w", err)
	}
	n := SystemNumber(id)
	if n > MaxSystemNumber {
		// Take it out again, so that even a caller who ignores the
		// error commits no record under an impossible number.
		if _, err := t.exec(ctx, `DELETE FROM catalog_records WHERE sysno = ?`, n); err != nil {
			return 0, fmt.Errorf("store a new record: %w", err)
		}
		return 0, ErrExhausted
	}
	if err := t.addVersion(ctx, n, 1, ReasonAdded, p.src, p.oclc, p.hash, p.raw, p.original); err != nil {
		return 0, err
	}
	if err := t.index(ctx, n, 1, p, false); err != nil {
		return 0, err
	}
	return n, nil
}

// Overlay replaces record n with p, keeping the current content as an
// earlier version, re-indexes it, and returns the new version number. It
// returns ErrNotFound when there is no record n. The deletion flag
// follows p: overlaying a record marked deleted with a record that is
// not brings it back.
func (t *Txn) Overlay(ctx context.Context, n SystemNumber, p *Prepared) (int, error) {
	ctx = t.ctx(ctx)
	cur, err := t.currentVersion(ctx, n)
	if err != nil {
		return 0, err
	}
	ver := cur + 1
	ns := db.TimeNS(p.src.Time)
	if err := t.addVersion(ctx, n, ver, ReasonOverlay, p.src, p.oclc, p.hash, p.raw, p.original); err != nil {
		return 0, err
	}
	if _, err := t.exec(ctx, `UPDATE catalog_records SET version = ?, oclc = ?, hash = ?, title = ?, author = ?,
		holdings = ?, deleted = ?, received_ns = ?, updated_ns = ? WHERE sysno = ?`,
		ver, p.oclc, p.hash, p.title, p.author, p.holdings, p.deleted, ns, ns, n); err != nil {
		return 0, fmt.Errorf("overlay record %s: %w", n, err)
	}
	if err := t.index(ctx, n, ver, p, true); err != nil {
		return 0, err
	}
	return ver, nil
}

// MarkDeleted adds the field "STA 1_ $a DELETED" to record n as a new
// version (reason mark-deleted, from src) and flags the record deleted,
// so matching no longer finds it; its indexes stay, so people still find
// it, flagged. It returns the record's version afterwards. A record that
// is already marked is left as it is. It returns ErrNotFound when there
// is no record n.
func (t *Txn) MarkDeleted(ctx context.Context, n SystemNumber, src Source) (int, error) {
	ctx = t.ctx(ctx)
	var cur int
	var raw, original []byte
	var oclc, hash string
	err := t.q.QueryRowContext(ctx, `SELECT r.version, v.record, v.original, v.oclc, v.hash
		FROM catalog_records r JOIN catalog_versions v ON v.sysno = r.sysno AND v.version = r.version
		WHERE r.sysno = ?`, n).Scan(&cur, &raw, &original, &oclc, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, n)
	}
	if err != nil {
		return 0, fmt.Errorf("read record %s: %w", n, err)
	}
	original = originalOf(raw, original)
	rec, err := marc.Decode(raw)
	if err != nil {
		return 0, fmt.Errorf("decode stored record %s: %w", n, err)
	}
	if markedDeleted(rec) {
		if _, err := t.exec(ctx, `UPDATE catalog_records SET deleted = 1 WHERE sysno = ? AND deleted = 0`, n); err != nil {
			return 0, fmt.Errorf("mark record %s deleted: %w", n, err)
		}
		return cur, nil
	}
	rec.AddField(DeletedField())
	marked, err := marc.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("mark record %s deleted: %w", n, err)
	}
	if src.Time.IsZero() {
		src.Time = t.c.now()
	}
	ver := cur + 1
	if err := t.addVersion(ctx, n, ver, ReasonMarkDeleted, src, oclc, hash, marked, original); err != nil {
		return 0, err
	}
	if _, err := t.exec(ctx, `UPDATE catalog_records SET version = ?, deleted = 1, updated_ns = ? WHERE sysno = ?`,
		ver, db.TimeNS(src.Time), n); err != nil {
		return 0, fmt.Errorf("mark record %s deleted: %w", n, err)
	}
	return ver, nil
}

// originalOf returns the bytes as received of a stored version: original,
// or raw when it was stored empty (see addVersion).
func originalOf(raw, original []byte) []byte {
	if len(original) == 0 {
		return raw
	}
	return original
}

// DeletedField returns the field that marks a record deleted:
// "STA 1_ $a DELETED".
func DeletedField() marc.Field {
	return marc.Field{Tag: staTag, Ind1: staInd1, Ind2: staInd2, Subfields: []marc.Subfield{{Code: 'a', Value: staDeleted}}}
}

// DryRun runs fn inside a savepoint and then rolls back everything fn
// changed, whatever fn returns; it returns fn's error. What it leaves
// behind is one heartbeat (the canary count and time in Stats), written
// after the rollback so that the transaction's commit still writes to
// the database file: a canary export exercises a full record write and a
// real commit while storing nothing.
func (t *Txn) DryRun(ctx context.Context, fn func() error) error {
	ctx = t.ctx(ctx)
	if _, err := t.tx.ExecContext(ctx, `SAVEPOINT catalog_dry_run`); err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	t.dry++
	ferr := fn()
	t.dry--
	if _, err := t.tx.ExecContext(ctx, `ROLLBACK TO catalog_dry_run`); err != nil {
		return errors.Join(ferr, fmt.Errorf("dry run: roll back: %w", err))
	}
	if _, err := t.tx.ExecContext(ctx, `RELEASE catalog_dry_run`); err != nil {
		return errors.Join(ferr, fmt.Errorf("dry run: release: %w", err))
	}
	if _, err := t.exec(ctx, `INSERT INTO catalog_canary (id, last_ns, count) VALUES (1, ?, 1)
		ON CONFLICT (id) DO UPDATE SET last_ns = excluded.last_ns, count = count + 1`, db.TimeNS(t.c.now())); err != nil {
		return errors.Join(ferr, fmt.Errorf("dry run: heartbeat: %w", err))
	}
	return ferr
}

func (t *Txn) currentVersion(ctx context.Context, n SystemNumber) (int, error) {
	var cur int
	err := t.q.QueryRowContext(ctx, `SELECT version FROM catalog_records WHERE sysno = ?`, n).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, n)
	}
	if err != nil {
		return 0, fmt.Errorf("read record %s: %w", n, err)
	}
	return cur, nil
}

// addVersion stores version ver of record n. The bytes as received are
// stored only when they differ from the record's (a MARC-8 export, or
// one the import rules changed): otherwise original is stored empty and
// read back as raw (originalOf).
func (t *Txn) addVersion(ctx context.Context, n SystemNumber, ver int, reason Reason, src Source, oclc, hash string, raw, original []byte) error {
	if bytes.Equal(original, raw) {
		original = []byte{}
	}
	if _, err := t.exec(ctx, `INSERT INTO catalog_versions
		(sysno, version, reason, time_ns, user_name, request_id, remote_addr, oclc, hash, record, original)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n, ver, string(reason), db.TimeNS(src.Time), src.User, int64(src.RequestID), src.RemoteAddr, oclc, hash, raw, original); err != nil {
		return fmt.Errorf("store version %d of record %s: %w", ver, n, err)
	}
	return nil
}

// index writes record n's OCLC numbers, replacing the old ones when
// replace is set, and queues version's words for the full-text index
// (index.go). Inside DryRun the words are written at once, so that the
// canary exercises the index too and the dry run's rollback takes them
// back.
func (t *Txn) index(ctx context.Context, n SystemNumber, version int, p *Prepared, replace bool) error {
	if replace {
		if _, err := t.exec(ctx, `DELETE FROM catalog_oclc WHERE sysno = ?`, n); err != nil {
			return fmt.Errorf("index record %s: %w", n, err)
		}
	}
	if len(p.numbers) > 0 {
		var q strings.Builder
		q.WriteString(`INSERT INTO catalog_oclc (oclc, sysno, primary_number) VALUES `)
		args := make([]any, 0, 3*len(p.numbers))
		for i, num := range p.numbers {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, num, n, num == p.oclc)
		}
		if _, err := t.exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("index OCLC numbers of record %s: %w", n, err)
		}
	}
	if t.dry > 0 {
		return t.putWords(ctx, n, version, p.fts)
	}
	return t.queueWords(ctx, n, version, p.fts)
}

// Canary returns how many canary exports went through DryRun and when
// the last one did (zero when none).
func (v *view) Canary(ctx context.Context) (count int64, last time.Time, err error) {
	var ns int64
	err = v.q.QueryRowContext(v.ctx(ctx), `SELECT count, last_ns FROM catalog_canary WHERE id = 1`).Scan(&count, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read canary heartbeat: %w", err)
	}
	return count, db.NSTime(ns), nil
}
