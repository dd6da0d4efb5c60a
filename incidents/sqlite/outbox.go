package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

const outboxCols = `key, channel, kind, incident, thread_key, subject, body, payload, state, attempts, next_at,
	last_error, created, age_from, sent, echo, skipped_for`

func scanNotification(sc scanner) (incidents.Notification, error) {
	var (
		n                        incidents.Notification
		kind, state              string
		next, created, age, sent int64
		echo                     int
	)
	err := sc.Scan(&n.Key, &n.Channel, &kind, &n.Incident, &n.ThreadKey, &n.Subject, &n.Body, &n.Payload, &state,
		&n.Attempts, &next, &n.LastError, &created, &age, &sent, &echo, &n.SkippedFor)
	if err != nil {
		return n, err
	}
	n.Kind, n.State, n.Echo = incidents.Kind(kind), incidents.Delivery(state), incidents.Echo(echo)
	n.NextAt, n.Created, n.AgeFrom, n.Sent = tm(next), tm(created), tm(age), tm(sent)
	return n, nil
}

func scanNotifications(rows *sql.Rows) ([]incidents.Notification, error) {
	defer rows.Close()
	var out []incidents.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// insertNotification adds n to the outbox unless its key is there already,
// and fills in n.ThreadKey: the key of the first notification of the same
// incident on the same channel.
func insertNotification(tx *sql.Tx, n *incidents.Notification) error {
	if n.Key == "" || n.Channel == "" {
		return fmt.Errorf("notification without key or channel")
	}
	n.ThreadKey = n.Key
	if n.Incident != "" {
		var first string
		err := tx.QueryRow(`SELECT key FROM outbox WHERE incident = ? AND channel = ? ORDER BY id LIMIT 1`, n.Incident, n.Channel).Scan(&first)
		switch {
		case err == nil:
			n.ThreadKey = first
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("find thread of %s: %w", n.Key, err)
		}
	}
	if n.State == "" {
		n.State = incidents.DeliveryPending
	}
	if n.Incident != "" && n.ThreadKey != n.Key && !n.Kind.Opens() {
		// Its thread's opener (ALERT, reopening, report) was given up: a
		// follow-up without it would make no sense to its readers.
		var opener, state string
		err := tx.QueryRow(`SELECT key, state FROM outbox WHERE incident = ? AND channel = ?
			AND (kind IN ('alert', 'reopened', 'reported') OR key = thread_key) ORDER BY id DESC LIMIT 1`,
			n.Incident, n.Channel).Scan(&opener, &state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("find thread opener of %s: %w", n.Key, err)
		}
		if state == string(incidents.DeliveryDead) {
			n.State, n.SkippedFor = incidents.DeliveryDead, opener
			n.LastError = "not sent: " + opener + ", which it follows, was not delivered"
		}
	}
	if n.NextAt.IsZero() {
		n.NextAt = n.Created
	}
	if n.Payload == nil {
		n.Payload = []byte("{}")
	}
	_, err := tx.Exec(`INSERT INTO outbox (key, channel, kind, incident, thread_key, subject, body, payload, state,
		attempts, next_at, last_error, created, age_from, sent, echo, skipped_for)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		n.Key, n.Channel, string(n.Kind), n.Incident, n.ThreadKey, n.Subject, n.Body, []byte(n.Payload), string(n.State),
		n.Attempts, ts(n.NextAt), n.LastError, ts(n.Created), ts(n.Created), ts(n.Sent), int(n.Echo), n.SkippedFor)
	if err != nil {
		return fmt.Errorf("queue notification %s: %w", n.Key, err)
	}
	return nil
}

// Enqueue adds notifications to the outbox in one transaction (admin
// notices, for one); keys already there are skipped.
func (s *Store) Enqueue(ctx context.Context, ns []incidents.Notification) error {
	return s.Apply(ctx, &incidents.Change{Notifications: ns})
}

// Due returns up to limit notifications of channel whose next attempt is
// due at now, oldest first, each the earliest unfinished notification of
// its incident on that channel: a later notification of an incident is
// never due while an earlier one is pending or sending. Admin notices
// (no incident) are each on their own.
func (s *Store) Due(ctx context.Context, channel string, now time.Time, limit int) ([]incidents.Notification, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+outboxCols+` FROM outbox o
		WHERE o.channel = ? AND o.state IN ('pending', 'sending') AND o.next_at <= ?
		AND (o.incident = '' OR NOT EXISTS (SELECT 1 FROM outbox p
			WHERE p.channel = o.channel AND p.incident = o.incident AND p.state IN ('pending', 'sending') AND p.id < o.id))
		ORDER BY o.id LIMIT ?`, channel, ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("read due notifications of %s: %w", channel, err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("read due notifications of %s: %w", channel, err)
	}
	return out, nil
}

// NextDue returns when the next unfinished notification of channel
// becomes due, and false when there is none.
func (s *Store) NextDue(ctx context.Context, channel string) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT MIN(next_at) FROM outbox WHERE channel = ? AND state IN ('pending', 'sending')`, channel).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read next due notification of %s: %w", channel, err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return tm(next.Int64), true, nil
}

func (s *Store) update(ctx context.Context, key, q string, args ...any) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(q, args...)
		if err != nil {
			return fmt.Errorf("update notification %s: %w", key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("notification %s: %w", key, incidents.ErrNotFound)
		}
		return nil
	})
}

// MarkSending records that key is being handed to its channel for the
// attempts-th time. After a crash such a notification is sent again.
func (s *Store) MarkSending(ctx context.Context, key string, attempts int) error {
	return s.update(ctx, key, `UPDATE outbox SET state = 'sending', attempts = ? WHERE key = ? AND state IN ('pending', 'sending')`, attempts, key)
}

// MarkSent records that the channel accepted key at at, on its
// attempts-th attempt. With awaitEcho the notification waits for its list
// echo (see EchoOverdue).
func (s *Store) MarkSent(ctx context.Context, key string, at time.Time, attempts int, awaitEcho bool) error {
	echo := incidents.EchoNone
	if awaitEcho {
		echo = incidents.EchoAwaited
	}
	return s.update(ctx, key, `UPDATE outbox SET state = 'sent', sent = ?, attempts = ?, last_error = '', echo = ? WHERE key = ? AND state IN ('pending', 'sending')`,
		ts(at), attempts, int(echo), key)
}

// MarkRetry puts key back to pending until next after its attempts-th
// attempt failed with errText.
func (s *Store) MarkRetry(ctx context.Context, key string, next time.Time, attempts int, errText string) error {
	return s.update(ctx, key, `UPDATE outbox SET state = 'pending', next_at = ?, attempts = ?, last_error = ? WHERE key = ? AND state IN ('pending', 'sending')`,
		ts(next), attempts, errText, key)
}

// MarkDead gives key up with errText and queues notices (the admin
// notices about it) in the same transaction. When key opened its
// incident's thread on its channel (an ALERT, a reopening, a report, or
// the first notification there), the later notifications of that thread
// up to the next ALERT or reopening are given up too, marked SkippedFor
// key: a SOLVED is never sent where the ALERT did not go.
func (s *Store) MarkDead(ctx context.Context, key string, attempts int, errText string, notices []incidents.Notification) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var id int64
		var incident, channel, kind, thread string
		err := tx.QueryRow(`SELECT id, incident, channel, kind, thread_key FROM outbox WHERE key = ?`, key).Scan(&id, &incident, &channel, &kind, &thread)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("notification %s: %w", key, incidents.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("give up notification %s: %w", key, err)
		}
		if _, err := tx.Exec(`UPDATE outbox SET state = 'dead', attempts = ?, last_error = ? WHERE id = ?`, attempts, errText, id); err != nil {
			return fmt.Errorf("give up notification %s: %w", key, err)
		}
		k := incidents.Kind(kind)
		if incident != "" && (k == incidents.KindAlert || k == incidents.KindReopened || k == incidents.KindReported || thread == key) {
			end := int64(1<<63 - 1)
			var next sql.NullInt64
			if err := tx.QueryRow(`SELECT MIN(id) FROM outbox WHERE incident = ? AND channel = ? AND id > ? AND kind IN ('alert', 'reopened')`,
				incident, channel, id).Scan(&next); err != nil {
				return fmt.Errorf("give up notification %s: %w", key, err)
			}
			if next.Valid {
				end = next.Int64
			}
			if _, err := tx.Exec(`UPDATE outbox SET state = 'dead', skipped_for = ?, last_error = ?
				WHERE incident = ? AND channel = ? AND id > ? AND id < ? AND state IN ('pending', 'sending')`,
				key, "not sent: "+key+", which it follows, was not delivered", incident, channel, id, end); err != nil {
				return fmt.Errorf("give up the notifications following %s: %w", key, err)
			}
		}
		for i := range notices {
			if err := insertNotification(tx, &notices[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Retry makes the dead notification key (and those given up because of
// it) pending again, due at now, with a fresh maximum age.
func (s *Store) Retry(ctx context.Context, key string, now time.Time) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE outbox SET state = 'pending', next_at = ?, age_from = ?, skipped_for = ''
			WHERE state = 'dead' AND (key = ? OR skipped_for = ?)`, ts(now), ts(now), key, key)
		if err != nil {
			return fmt.Errorf("retry notification %s: %w", key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("dead notification %s: %w", key, incidents.ErrNotFound)
		}
		return nil
	})
}

// RetryDead makes every dead notification of channel ("" for all
// channels) pending again and returns how many.
func (s *Store) RetryDead(ctx context.Context, channel string, now time.Time) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE outbox SET state = 'pending', next_at = ?, age_from = ?, skipped_for = ''
			WHERE state = 'dead' AND (? = '' OR channel = ?)`, ts(now), ts(now), channel, channel)
		if err != nil {
			return fmt.Errorf("retry dead notifications: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// AgeFrom returns when key's maximum age started counting: its creation,
// or its latest manual retry.
func (s *Store) AgeFrom(ctx context.Context, key string) (time.Time, error) {
	var n int64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT age_from FROM outbox WHERE key = ?`, key).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("notification %s: %w", key, incidents.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read notification %s: %w", key, err)
	}
	return tm(n), nil
}

// MarkEchoed records that the list delivered the post key back; it
// reports whether key was a post waiting for its echo.
func (s *Store) MarkEchoed(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE outbox SET echo = ? WHERE key = ? AND echo IN (?, ?)`,
			int(incidents.EchoReceived), key, int(incidents.EchoAwaited), int(incidents.EchoMissing))
		if err != nil {
			return fmt.Errorf("mark echo of %s: %w", key, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n > 0, err
}

// EchoOverdue returns the posts sent before sentBefore whose echo has not
// come back.
func (s *Store) EchoOverdue(ctx context.Context, sentBefore time.Time) ([]incidents.Notification, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+outboxCols+` FROM outbox WHERE echo = 1 AND sent < ? ORDER BY id`, ts(sentBefore))
	if err != nil {
		return nil, fmt.Errorf("read overdue echoes: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("read overdue echoes: %w", err)
	}
	return out, nil
}

// Notification returns the outbox row key.
func (s *Store) Notification(ctx context.Context, key string) (*incidents.Notification, error) {
	n, err := scanNotification(s.db.Reader().QueryRowContext(ctx, `SELECT `+outboxCols+` FROM outbox WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("notification %s: %w", key, incidents.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read notification %s: %w", key, err)
	}
	return &n, nil
}

// OutboxFilter selects notifications for Outbox. The zero value lists the
// latest 50 of every state.
type OutboxFilter struct {
	States   []incidents.Delivery
	Channel  string
	Incident string
	Limit    int // default 50
}

// Outbox returns notifications matching f, newest first.
func (s *Store) Outbox(ctx context.Context, f OutboxFilter) ([]incidents.Notification, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	if f.Incident != "" {
		where = append(where, "incident = ?")
		args = append(args, f.Incident)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := `SELECT ` + outboxCols + ` FROM outbox`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}
