package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/incidents"
)

// Store is the incident store. It is safe for concurrent use; several
// processes (the daemon and the CLI) may use the same database.
type Store struct {
	db *db.DB
}

// Open migrates the incidents schema in d and returns the store.
func Open(ctx context.Context, d *db.DB) (*Store, error) {
	if err := d.Migrate(ctx, Component, migrations); err != nil {
		return nil, err
	}
	return &Store{db: d}, nil
}

// Keys of bot state kept by the store itself.
const (
	// KeySilenceGen changes whenever a silence or maintenance window is
	// added or lifted, so a daemon notices changes made by the CLI.
	KeySilenceGen = "silences.generation"
)

// ts and tm store and read times as every oclcbot table does.
func ts(t time.Time) int64 { return db.TimeNS(t) }
func tm(n int64) time.Time { return db.NSTime(n) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Apply writes ch in one transaction: the incident (insert, or update
// guarded by its Version), its journal, the notifications, the
// announcements, the echoes given up on and the bot state. When the stored
// incident has another version nothing is written and the error wraps
// incidents.ErrConflict. On success ch.Incident.Version is incremented.
func (s *Store) Apply(ctx context.Context, ch *incidents.Change) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error { return applyTx(tx, ch) })
	if err != nil {
		return err
	}
	if ch.Incident != nil {
		ch.Incident.Version++
	}
	return nil
}

func applyTx(tx *sql.Tx, ch *incidents.Change) error {
	if inc := ch.Incident; inc != nil {
		if err := saveIncident(tx, inc); err != nil {
			return err
		}
		if err := saveJournal(tx, inc.ID, &ch.Journal); err != nil {
			return err
		}
	}
	for i := range ch.Notifications {
		if err := insertNotification(tx, &ch.Notifications[i]); err != nil {
			return err
		}
	}
	for _, a := range ch.Announced {
		if _, err := tx.Exec(`INSERT INTO incident_announced (incident, channel, state, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (incident, channel) DO UPDATE SET state = excluded.state, at = excluded.at`,
			a.Incident, a.Channel, string(a.State), ts(a.Time)); err != nil {
			return fmt.Errorf("save announcement: %w", err)
		}
	}
	for _, k := range ch.EchoMissing {
		if _, err := tx.Exec(`UPDATE outbox SET echo = ? WHERE key = ? AND echo = ?`, incidents.EchoMissing, k, incidents.EchoAwaited); err != nil {
			return fmt.Errorf("mark echo missing: %w", err)
		}
	}
	for k, v := range ch.State {
		if err := setState(tx, k, v); err != nil {
			return err
		}
	}
	return nil
}

func saveIncident(tx *sql.Tx, inc *incidents.Incident) error {
	if inc.Version == 0 {
		prefix, year, seq, err := incidents.ParseID(inc.ID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO incidents (id, prefix, year, seq, target, cause, class, severity, state, reported,
			opened, since, first_failure, last_failure, acked_at, acked_by, solved_at, solved_by, reopens, failures,
			announced_at, escalated, last_reminder, last_notice, message_count, check_failures, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			inc.ID, prefix, year, seq, inc.Target, inc.Cause, string(inc.Class), int(inc.Severity), string(inc.State), b2i(inc.Reported),
			ts(inc.Opened), ts(inc.Since), ts(inc.FirstFailure), ts(inc.LastFailure), ts(inc.AckedAt), inc.AckedBy,
			ts(inc.SolvedAt), inc.SolvedBy, inc.Reopens, inc.Failures,
			ts(inc.AnnouncedAt), ts(inc.Escalated), ts(inc.LastReminder), ts(inc.LastNotice), inc.MessageCount, inc.CheckFailures)
		if err != nil {
			return fmt.Errorf("insert incident %s: %w", inc.ID, err)
		}
		return nil
	}
	res, err := tx.Exec(`UPDATE incidents SET target = ?, cause = ?, class = ?, severity = ?, state = ?, reported = ?,
		opened = ?, since = ?, first_failure = ?, last_failure = ?, acked_at = ?, acked_by = ?, solved_at = ?, solved_by = ?,
		reopens = ?, failures = ?, announced_at = ?, escalated = ?, last_reminder = ?, last_notice = ?, message_count = ?,
		check_failures = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		inc.Target, inc.Cause, string(inc.Class), int(inc.Severity), string(inc.State), b2i(inc.Reported),
		ts(inc.Opened), ts(inc.Since), ts(inc.FirstFailure), ts(inc.LastFailure), ts(inc.AckedAt), inc.AckedBy,
		ts(inc.SolvedAt), inc.SolvedBy, inc.Reopens, inc.Failures,
		ts(inc.AnnouncedAt), ts(inc.Escalated), ts(inc.LastReminder), ts(inc.LastNotice), inc.MessageCount, inc.CheckFailures,
		inc.ID, inc.Version)
	if err != nil {
		return fmt.Errorf("update incident %s: %w", inc.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("save incident %s (version %d): %w", inc.ID, inc.Version, incidents.ErrConflict)
	}
	return nil
}

func saveJournal(tx *sql.Tx, id string, j *incidents.Journal) error {
	for _, e := range j.Events {
		if _, err := tx.Exec(`INSERT INTO incident_events (incident, seq, at, kind, actor, text) VALUES (?, ?, ?, ?, ?, ?)`,
			id, e.Seq, ts(e.Time), string(e.Kind), e.Actor, e.Text); err != nil {
			return fmt.Errorf("save event %d of %s: %w", e.Seq, id, err)
		}
	}
	for _, m := range j.Messages {
		others, err := encodeOthers(m.Others)
		if err != nil {
			return fmt.Errorf("save message %d of %s: %w", m.Seq, id, err)
		}
		if _, err := tx.Exec(`INSERT INTO incident_messages (incident, seq, at, last, source, sender, text, repeats, others)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (incident, seq) DO UPDATE SET at = excluded.at, last = excluded.last, repeats = excluded.repeats,
				others = excluded.others`,
			id, m.Seq, ts(m.Time), ts(m.Last), m.Source, m.From, m.Text, max(m.Count, 1)-1, others); err != nil {
			return fmt.Errorf("save message %d of %s: %w", m.Seq, id, err)
		}
	}
	for _, seq := range j.Dropped {
		if _, err := tx.Exec(`DELETE FROM incident_messages WHERE incident = ? AND seq = ?`, id, seq); err != nil {
			return fmt.Errorf("drop message %d of %s: %w", seq, id, err)
		}
	}
	for _, a := range j.Affected {
		if _, err := tx.Exec(`INSERT INTO incident_records (incident, attempt_id, at, user, target, oclc_number, title,
			outcome, cause, reply, upstream, detail, status, updated, announced, printout, raw)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (incident, attempt_id) DO UPDATE SET status = excluded.status, updated = excluded.updated,
				announced = excluded.announced`,
			id, a.AttemptID, ts(a.Time), a.User, a.Target, a.OCLCNumber, a.Title, string(a.Outcome), a.Cause,
			a.Reply, a.Upstream, a.Detail, string(a.Status), ts(a.Updated), b2i(a.Announced), a.Printout, a.Raw); err != nil {
			return fmt.Errorf("save record of attempt %d in %s: %w", a.AttemptID, id, err)
		}
	}
	return nil
}

// encodeOthers stores a message's other senders as a JSON array, "" for
// none.
func encodeOthers(others []string) (string, error) {
	if len(others) == 0 {
		return "", nil
	}
	b, err := json.Marshal(others)
	if err != nil {
		return "", fmt.Errorf("encode senders: %w", err)
	}
	return string(b), nil
}

// decodeOthers reads what encodeOthers stored.
func decodeOthers(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var others []string
	if err := json.Unmarshal([]byte(s), &others); err != nil {
		return nil, fmt.Errorf("decode senders %q: %w", s, err)
	}
	return others, nil
}

// MaxSeq returns the highest sequence number used for incidents with
// prefix in year (0 when none).
func (s *Store) MaxSeq(ctx context.Context, prefix string, year int) (int, error) {
	var n int
	err := s.db.Reader().QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM incidents WHERE prefix = ? AND year = ?`, prefix, year).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("highest incident number of %d: %w", year, err)
	}
	return n, nil
}

// State returns the bot state value of key and whether it is set.
func (s *Store) State(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT value FROM bot_state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read bot state %s: %w", key, err)
	}
	return v, true, nil
}

// SetState sets bot state key to value.
func (s *Store) SetState(ctx context.Context, key, value string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error { return setState(tx, key, value) })
}

func setState(tx *sql.Tx, k, v string) error {
	if _, err := tx.Exec(`INSERT INTO bot_state (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
		return fmt.Errorf("save bot state %s: %w", k, err)
	}
	return nil
}
