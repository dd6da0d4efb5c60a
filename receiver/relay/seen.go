package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/receiver"
)

// Repeated exports. Connexion's Retries setting resends an export whose
// reply was slow, and catalogers press F5 twice; within the window the
// same record (same OCLC number and same content hash) is not forwarded
// again when the policy is skip. A remote ILS offers no way to mark its
// copy deleted, so mark-deleted acts as skip.
//
// A queued record is recorded in relay_seen in the transaction that
// queues it. A relayed record is recorded by a background writer, so
// that forwarding never waits for a disk flush; until that write commits
// it is in r.recent, which duplicateOf consults first. A crash in that
// moment forgets the record, and a repeat would be forwarded again: the
// upstream has it already, and its own matching applies.

type seenKey struct{ oclc, hash string }

// maxSeenIndex bounds the keys seenIndex holds: about 16 MB of memory
// (a library exports a few thousand records a day). Past it, every
// check reads relay_seen. A variable for tests.
var maxSeenIndex = 1 << 19

// seenIndex holds, for each key in relay_seen for this queue, a
// fingerprint and the latest time it was exported: every key there when
// the relay first delivered, and every key this process has written
// since (or is about to write). A key it does not hold within the
// window is no repeat, and the forwarding path reads nothing; one it
// holds is looked up in relay_seen, which alone knows whether that
// earlier export was dropped or set aside since. Only the process that
// delivers exports writes relay_seen (the daemon; a second one on the
// same database is refused, and the queue command never forwards), so
// no key is added behind its back. Fingerprints that collide only cost a
// read. Guarded by Relay.mu.
type seenIndex struct {
	seed maphash.Seed
	m    map[uint64]int64 // fingerprint -> latest time_ns; nil when full
}

func (x *seenIndex) fingerprint(k seenKey) uint64 { return maphash.Comparable(x.seed, k) }

// note records that key was exported at ns. Past maxSeenIndex keys the
// index is full, and stays so until the relay is opened again (reading
// relay_seen again while exports go on could miss a key being written).
func (x *seenIndex) note(k seenKey, ns int64) {
	if x.m == nil {
		return
	}
	fp := x.fingerprint(k)
	if cur, ok := x.m[fp]; ok {
		x.m[fp] = max(cur, ns)
		return
	}
	if len(x.m) >= maxSeenIndex {
		x.m = nil
		return
	}
	x.m[fp] = ns
}

// mayHave reports whether relay_seen may hold key at or after sinceNS.
func (x *seenIndex) mayHave(k seenKey, sinceNS int64) bool {
	if x.m == nil {
		return true
	}
	ns, ok := x.m[x.fingerprint(k)]
	return ok && ns >= sinceNS
}

// prune forgets keys last exported before cutoffNS: since time moves
// on, no check can match them any more.
func (x *seenIndex) prune(cutoffNS int64) {
	for fp, ns := range x.m {
		if ns < cutoffNS {
			delete(x.m, fp)
		}
	}
}

// loadSeen fills the index from relay_seen. It runs once, at the first
// Deliver (a relay opened by a command that does not forward reads
// nothing); until then, and if it fails, every check reads relay_seen.
func (r *Relay) loadSeen(ctx context.Context) {
	x := seenIndex{seed: maphash.MakeSeed(), m: map[uint64]int64{}}
	err := func() error {
		rows, err := r.cfg.DB.Reader().QueryContext(ctx,
			`SELECT oclc, hash, MAX(time_ns) FROM relay_seen WHERE queue = ? GROUP BY hash, oclc`, r.queue)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() && x.m != nil {
			var k seenKey
			var ns int64
			if err := rows.Scan(&k.oclc, &k.hash, &ns); err != nil {
				return err
			}
			x.note(k, ns)
		}
		return rows.Err()
	}()
	if err != nil {
		r.log.Warn("cannot read the repeated-export records into memory; every export will look them up", slog.Any("err", err))
		return
	}
	r.mu.Lock()
	r.seen = x
	r.mu.Unlock()
}

type seenEntry struct {
	key  seenKey
	prev receiver.Previous
}

// duplicateOf returns the earlier export that it repeats, or nil.
func (r *Relay) duplicateOf(ctx context.Context, it *receiver.Item) (*receiver.Previous, error) {
	if r.cfg.Duplicates.Policy == receiver.DuplicateOverlay || it.Hash == "" {
		return nil, nil
	}
	since := r.now().Add(-r.cfg.Duplicates.Window)
	key := seenKey{it.OCLCNumber, it.Hash}
	r.mu.Lock()
	e, ok := r.recent[key]
	maybe := r.seen.mayHave(key, db.TimeNS(since))
	r.mu.Unlock()
	if ok && !e.prev.Time.Before(since) {
		p := e.prev
		return &p, nil
	}
	if !maybe {
		return nil, nil
	}
	var ns int64
	var sysno string
	err := r.seenStmt.QueryRowContext(ctx, r.queue, key.hash, key.oclc, db.TimeNS(since)).Scan(&ns, &sysno)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: look for a repeated export: %w", err)
	}
	return &receiver.Previous{SystemNumber: sysno, Time: db.NSTime(ns)}, nil
}

// remember records a relayed record for duplicate detection.
func (r *Relay) remember(e *newEntry, sysno string) {
	if e.hash == "" {
		return
	}
	s := seenEntry{key: seenKey{e.oclc, e.hash}, prev: receiver.Previous{SystemNumber: sysno, Time: e.received}}
	r.mu.Lock()
	r.recent[s.key] = s
	r.seen.note(s.key, db.TimeNS(s.prev.Time))
	r.mu.Unlock()
	r.seenCh <- s // Deliver is active, so Close has not closed seenCh
}

// seenWriter commits remembered records in batches until Close.
func (r *Relay) seenWriter() {
	defer r.writer.Done()
	batch := make([]seenEntry, 0, 256)
	for s := range r.seenCh {
		batch = append(batch[:0], s)
	fill:
		for len(batch) < cap(batch) {
			select {
			case s, ok := <-r.seenCh:
				if !ok {
					break fill
				}
				batch = append(batch, s)
			default:
				break fill
			}
		}
		// Bookkeeping: committed is enough (a power loss just after
		// would let a repeat within the window through to the ILS).
		err := r.cfg.DB.WriteCommitted(context.Background(), func(tx *sql.Tx) error {
			for _, s := range batch {
				if err := r.insertSeen(tx, s.key, s.prev.Time, s.prev.SystemNumber); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			r.log.Error("cannot record relayed records for repeated-export detection", slog.Int("records", len(batch)), slog.Any("err", err))
		}
		r.mu.Lock()
		for _, s := range batch {
			if cur, ok := r.recent[s.key]; ok && cur == s {
				delete(r.recent, s.key)
			}
		}
		r.mu.Unlock()
	}
}

// insertSeen records, in tx, a relayed export of the record key
// received at received and given number sysno by the upstream.
func (r *Relay) insertSeen(tx *sql.Tx, key seenKey, received time.Time, sysno string) error {
	stmt, err := r.cfg.DB.Stmt(context.Background(), tx,
		`INSERT INTO relay_seen (queue, oclc, hash, time_ns, system_number) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	_, err = stmt.Exec(r.queue, key.oclc, key.hash, db.TimeNS(received), sysno)
	return err
}

// pruneSeen forgets exports older than the window, in relay_seen and in
// the index.
func (r *Relay) pruneSeen(ctx context.Context) error {
	cutoff := db.TimeNS(r.now().Add(-r.cfg.Duplicates.Window - time.Hour))
	err := r.cfg.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM relay_seen WHERE id IN (SELECT id FROM relay_seen WHERE queue = ? AND time_ns < ? LIMIT 2000)`, r.queue, cutoff)
		return err
	})
	if err != nil {
		return err
	}
	// The index is pruned less often: the forwarding path waits while
	// it is walked (a few milliseconds for the largest).
	r.mu.Lock()
	if now := time.Now(); now.Sub(r.seenPruned) >= seenPruneEvery {
		r.seen.prune(cutoff)
		r.seenPruned = now
	}
	r.mu.Unlock()
	return nil
}

// seenPruneEvery is how often the index forgets keys older than the
// window (it only ever holds keys of the last window and hour, and
// those exported meanwhile).
const seenPruneEvery = 10 * time.Minute
