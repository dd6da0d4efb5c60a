package mailbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/oclcbot/oclcbot/db"
)

// component is this package's name in db.Migrate.
const component = "mailbox"

// migrations create the watcher's tables. Released steps are never
// edited: add a new one.
var migrations = []db.Migration{{Version: 1, SQL: `
CREATE TABLE mailbox_state (
	account      TEXT PRIMARY KEY,    -- user@host:port/folder
	uid_validity INTEGER NOT NULL,
	last_uid     INTEGER NOT NULL,    -- every message up to it was handled
	updated_at   TEXT NOT NULL
);
CREATE TABLE mailbox_seen (
	account  TEXT NOT NULL,
	mail_key TEXT NOT NULL,           -- Message-ID, or sha256: of the header
	seen_at  TEXT NOT NULL,
	uid      INTEGER NOT NULL,
	outcome  TEXT NOT NULL,           -- what was done with it
	PRIMARY KEY (account, mail_key)
);
CREATE INDEX mailbox_seen_key ON mailbox_seen (mail_key);
`}}

// state is the watcher's durable memory: per account (user, server,
// folder) the folder's UIDVALIDITY and the highest UID handled, and the
// keys of the messages handled lately.
type state struct {
	d       *db.DB
	account string
	limit   int
	now     func() time.Time
}

func (s *state) migrate(ctx context.Context) error {
	return s.d.Migrate(ctx, component, migrations)
}

// load returns the stored UIDVALIDITY and last UID; ok is false when
// nothing is stored.
func (s *state) load(ctx context.Context) (validity uint32, last imap.UID, ok bool, err error) {
	var v, l int64
	err = s.d.Reader().QueryRowContext(ctx, `SELECT uid_validity, last_uid FROM mailbox_state WHERE account = ?`, s.account).Scan(&v, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("read mailbox state of %s: %w", s.account, err)
	}
	return uint32(v), imap.UID(l), true, nil
}

// reset starts over for a folder with UIDVALIDITY validity: no UID of it
// handled yet.
func (s *state) reset(ctx context.Context, validity uint32) error {
	err := s.d.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO mailbox_state (account, uid_validity, last_uid, updated_at) VALUES (?, ?, 0, ?)
			ON CONFLICT (account) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = 0, updated_at = excluded.updated_at`,
			s.account, int64(validity), s.stamp())
		return err
	})
	if err != nil {
		return fmt.Errorf("reset mailbox state of %s: %w", s.account, err)
	}
	return nil
}

// seen reports whether a message with key was handled already, from
// this folder or another (the same mail delivered to two mailboxes the
// bot reads is acted on once).
func (s *state) seen(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.d.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM mailbox_seen WHERE mail_key = ?`, key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read handled mail of %s: %w", s.account, err)
	}
	return n > 0, nil
}

// record notes, in one transaction, that the message uid (key) of the
// folder with UIDVALIDITY validity is handled, and forgets the oldest
// keys beyond the limit.
func (s *state) record(ctx context.Context, validity uint32, uid imap.UID, key, outcome string) error {
	err := s.d.Write(ctx, func(tx *sql.Tx) error {
		now := s.stamp()
		res, err := tx.Exec(`UPDATE mailbox_state SET last_uid = MAX(last_uid, ?), updated_at = ? WHERE account = ? AND uid_validity = ?`,
			int64(uid), now, s.account, int64(validity))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("UIDVALIDITY %d is no longer the stored one", validity)
		}
		if _, err := tx.Exec(`INSERT INTO mailbox_seen (account, mail_key, seen_at, uid, outcome) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account, mail_key) DO UPDATE SET seen_at = excluded.seen_at, uid = excluded.uid`,
			s.account, key, now, int64(uid), outcome); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM mailbox_seen WHERE account = ? AND rowid <= (
			SELECT rowid FROM mailbox_seen WHERE account = ? ORDER BY rowid DESC LIMIT 1 OFFSET ?)`,
			s.account, s.account, s.limit)
		return err
	})
	if err != nil {
		return fmt.Errorf("record message %d of %s: %w", uid, s.account, err)
	}
	return nil
}

func (s *state) stamp() string { return s.now().UTC().Format(time.RFC3339Nano) }
