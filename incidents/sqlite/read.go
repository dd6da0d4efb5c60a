package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

const incidentCols = `id, target, cause, class, severity, state, reported, opened, since, first_failure, last_failure,
	acked_at, acked_by, solved_at, solved_by, reopens, failures, announced_at, escalated, last_reminder, last_notice, message_count, check_failures, version`

type scanner interface{ Scan(...any) error }

func scanIncident(sc scanner) (*incidents.Incident, error) {
	var (
		inc                                                       incidents.Incident
		class, state                                              string
		sev, reported                                             int
		opened, since, ff, lf, acked, solved, ann, esc, rem, note int64
	)
	err := sc.Scan(&inc.ID, &inc.Target, &inc.Cause, &class, &sev, &state, &reported, &opened, &since, &ff, &lf,
		&acked, &inc.AckedBy, &solved, &inc.SolvedBy, &inc.Reopens, &inc.Failures, &ann, &esc, &rem, &note,
		&inc.MessageCount, &inc.CheckFailures, &inc.Version)
	if err != nil {
		return nil, err
	}
	inc.Class, inc.State, inc.Severity, inc.Reported = exportlog.Class(class), incidents.State(state), incidents.Severity(sev), reported != 0
	inc.Opened, inc.Since, inc.FirstFailure, inc.LastFailure = tm(opened), tm(since), tm(ff), tm(lf)
	inc.AnnouncedAt = tm(ann)
	inc.AckedAt, inc.SolvedAt, inc.Escalated, inc.LastReminder, inc.LastNotice = tm(acked), tm(solved), tm(esc), tm(rem), tm(note)
	return &inc, nil
}

// readTx runs fn in a read transaction: one consistent snapshot.
func (s *Store) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// Incident returns the incident id (canonical or as people type it) with
// its timeline, messages and affected records. The error wraps
// incidents.ErrNotFound when there is none.
func (s *Store) Incident(ctx context.Context, id string) (*incidents.Incident, error) {
	cid, err := incidents.CanonicalID(id)
	if err != nil {
		return nil, err
	}
	var inc *incidents.Incident
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		inc, err = scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE id = ?`, cid))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("incident %s: %w", cid, incidents.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read incident %s: %w", cid, err)
		}
		return loadDetail(ctx, tx, []*incidents.Incident{inc})
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// Active returns, with their detail, the incidents the bot must keep in
// mind: every open or acknowledged one, every one solved at or after
// solvedSince (a failure may reopen it), and every solved one that some
// channel was told about and not yet told is over (its SOLVED was held
// back by a silence).
func (s *Store) Active(ctx context.Context, solvedSince time.Time) ([]*incidents.Incident, error) {
	var out []*incidents.Incident
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE state != 'solved'
			UNION SELECT `+incidentCols+` FROM incidents WHERE state = 'solved' AND solved_at >= ?
			UNION SELECT `+incidentCols+` FROM incidents WHERE state = 'solved' AND id IN
				(SELECT incident FROM incident_announced WHERE state IN ('problem', 'reported'))
			ORDER BY opened`, ts(solvedSince))
		if err != nil {
			return fmt.Errorf("read active incidents: %w", err)
		}
		out, err = scanIncidents(rows)
		if err != nil {
			return fmt.Errorf("read active incidents: %w", err)
		}
		return loadDetail(ctx, tx, out)
	})
	return out, err
}

func scanIncidents(rows *sql.Rows) ([]*incidents.Incident, error) {
	defer rows.Close()
	var out []*incidents.Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

func loadDetail(ctx context.Context, tx *sql.Tx, list []*incidents.Incident) error {
	for _, inc := range list {
		if err := loadEvents(ctx, tx, inc); err != nil {
			return err
		}
		if err := loadMessages(ctx, tx, inc); err != nil {
			return err
		}
		if err := loadRecords(ctx, tx, inc); err != nil {
			return err
		}
	}
	return nil
}

func loadEvents(ctx context.Context, tx *sql.Tx, inc *incidents.Incident) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, kind, actor, text FROM incident_events WHERE incident = ? ORDER BY seq`, inc.ID)
	if err != nil {
		return fmt.Errorf("read timeline of %s: %w", inc.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e incidents.Event
		var at int64
		var kind string
		if err := rows.Scan(&e.Seq, &at, &kind, &e.Actor, &e.Text); err != nil {
			return fmt.Errorf("read timeline of %s: %w", inc.ID, err)
		}
		e.Time, e.Kind = tm(at), incidents.EventKind(kind)
		inc.Timeline = append(inc.Timeline, e)
	}
	return rows.Err()
}

func loadMessages(ctx context.Context, tx *sql.Tx, inc *incidents.Incident) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, last, source, sender, text, repeats, others FROM incident_messages WHERE incident = ? ORDER BY seq`, inc.ID)
	if err != nil {
		return fmt.Errorf("read messages of %s: %w", inc.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m incidents.Message
		var at, last int64
		var others string
		if err := rows.Scan(&m.Seq, &at, &last, &m.Source, &m.From, &m.Text, &m.Repeats, &others); err != nil {
			return fmt.Errorf("read messages of %s: %w", inc.ID, err)
		}
		if m.Others, err = decodeOthers(others); err != nil {
			return fmt.Errorf("read message %d of %s: %w", m.Seq, inc.ID, err)
		}
		m.Time, m.Last, m.Count = tm(at), tm(last), m.Repeats+1
		inc.Messages = append(inc.Messages, m)
	}
	return rows.Err()
}

func loadRecords(ctx context.Context, tx *sql.Tx, inc *incidents.Incident) error {
	rows, err := tx.QueryContext(ctx, `SELECT attempt_id, at, user, target, oclc_number, title, outcome, cause, reply,
		upstream, detail, status, updated, announced, printout, raw FROM incident_records WHERE incident = ? ORDER BY at, attempt_id`, inc.ID)
	if err != nil {
		return fmt.Errorf("read records of %s: %w", inc.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a incidents.Affected
		var at, upd int64
		var outcome, status string
		var announced int
		if err := rows.Scan(&a.AttemptID, &at, &a.User, &a.Target, &a.OCLCNumber, &a.Title, &outcome, &a.Cause, &a.Reply,
			&a.Upstream, &a.Detail, &status, &upd, &announced, &a.Printout, &a.Raw); err != nil {
			return fmt.Errorf("read records of %s: %w", inc.ID, err)
		}
		a.Time, a.Updated, a.Outcome, a.Status, a.Announced = tm(at), tm(upd), exportlog.Outcome(outcome), incidents.Status(status), announced != 0
		inc.Affected = append(inc.Affected, a)
	}
	return rows.Err()
}

// Announcements returns what each channel was last told about incident id.
func (s *Store) Announcements(ctx context.Context, id string) (map[string]incidents.Announced, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT channel, state FROM incident_announced WHERE incident = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("read announcements of %s: %w", id, err)
	}
	defer rows.Close()
	out := map[string]incidents.Announced{}
	for rows.Next() {
		var ch, st string
		if err := rows.Scan(&ch, &st); err != nil {
			return nil, fmt.Errorf("read announcements of %s: %w", id, err)
		}
		out[ch] = incidents.Announced(st)
	}
	return out, rows.Err()
}

// ActiveVersions returns the version of every open or acknowledged
// incident, so a daemon can notice changes another process made.
func (s *Store) ActiveVersions(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, version FROM incidents WHERE state != 'solved'`)
	if err != nil {
		return nil, fmt.Errorf("read incident versions: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("read incident versions: %w", err)
		}
		out[id] = v
	}
	return out, rows.Err()
}

// Version returns the stored version of incident id.
func (s *Store) Version(ctx context.Context, id string) (int, error) {
	var v int
	err := s.db.Reader().QueryRowContext(ctx, `SELECT version FROM incidents WHERE id = ?`, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("incident %s: %w", id, incidents.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read version of %s: %w", id, err)
	}
	return v, nil
}

// IncidentOfAttempt returns the id of the latest incident that lists
// export attempt attemptID among its affected records, or "" when none.
func (s *Store) IncidentOfAttempt(ctx context.Context, attemptID int64) (string, error) {
	var id string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT incident FROM incident_records WHERE attempt_id = ? ORDER BY rowid DESC LIMIT 1`, attemptID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find incident of attempt %d: %w", attemptID, err)
	}
	return id, nil
}

// Filter selects incidents for List. The zero value lists the latest 50.
type Filter struct {
	States []incidents.State // any of these; empty: all
	Target string            // exact target; "" all
	Since  time.Time         // opened at or after; zero: any time
	Limit  int               // default 50
}

// List returns incidents matching f, newest first, without their detail
// (timeline, messages and records are empty; use Incident for those).
func (s *Store) List(ctx context.Context, f Filter) ([]*incidents.Incident, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Target != "" {
		where = append(where, "target = ?")
		args = append(args, f.Target)
	}
	if !f.Since.IsZero() {
		where = append(where, "opened >= ?")
		args = append(args, ts(f.Since))
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := `SELECT ` + incidentCols + ` FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	out, err := scanIncidents(rows)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	// Counts for the list come from the records table.
	for _, inc := range out {
		if err := s.loadRecordStatus(ctx, inc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadRecordStatus fills Affected with the status of each record only, so
// that CountRecords works on listed incidents.
func (s *Store) loadRecordStatus(ctx context.Context, inc *incidents.Incident) error {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT attempt_id, status FROM incident_records WHERE incident = ?`, inc.ID)
	if err != nil {
		return fmt.Errorf("read records of %s: %w", inc.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a incidents.Affected
		var st string
		if err := rows.Scan(&a.AttemptID, &st); err != nil {
			return fmt.Errorf("read records of %s: %w", inc.ID, err)
		}
		a.Status = incidents.Status(st)
		inc.Affected = append(inc.Affected, a)
	}
	return rows.Err()
}
