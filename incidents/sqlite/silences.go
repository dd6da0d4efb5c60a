package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

func bumpSilenceGen(tx *sql.Tx) error {
	_, err := tx.Exec(`INSERT INTO bot_state (key, value) VALUES (?, '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`, KeySilenceGen)
	if err != nil {
		return fmt.Errorf("note silence change: %w", err)
	}
	return nil
}

// SilenceGen returns a number that changes whenever a silence or a
// maintenance window is added or lifted.
func (s *Store) SilenceGen(ctx context.Context) (int64, error) {
	v, ok, err := s.State(ctx, KeySilenceGen)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bot state %s: %w", KeySilenceGen, err)
	}
	return n, nil
}

// AddSilence stores si and sets si.ID.
func (s *Store) AddSilence(ctx context.Context, si *incidents.Silence) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO silences (target, until, reason, actor, created) VALUES (?, ?, ?, ?, ?)`,
			si.Target, ts(si.Until), si.Reason, si.Actor, ts(si.Created))
		if err != nil {
			return fmt.Errorf("add silence: %w", err)
		}
		if si.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("add silence: %w", err)
		}
		return bumpSilenceGen(tx)
	})
}

// EndSilences lifts, at at, every silence on exactly target that is still
// running, and returns how many.
func (s *Store) EndSilences(ctx context.Context, target string, at time.Time) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE silences SET ended = ? WHERE target = ? AND ended = 0 AND until > ?`, ts(at), target, ts(at))
		if err != nil {
			return fmt.Errorf("lift silences on %s: %w", target, err)
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		return bumpSilenceGen(tx)
	})
	return int(n), err
}

// ActiveSilences returns the silences running at now.
func (s *Store) ActiveSilences(ctx context.Context, now time.Time) ([]incidents.Silence, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, target, until, reason, actor, created, ended FROM silences
		WHERE ended = 0 AND until > ? ORDER BY id`, ts(now))
	if err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	defer rows.Close()
	var out []incidents.Silence
	for rows.Next() {
		var si incidents.Silence
		var until, created, ended int64
		if err := rows.Scan(&si.ID, &si.Target, &until, &si.Reason, &si.Actor, &created, &ended); err != nil {
			return nil, fmt.Errorf("read silences: %w", err)
		}
		si.Until, si.Created, si.Ended = tm(until), tm(created), tm(ended)
		out = append(out, si)
	}
	return out, rows.Err()
}

// AddWindow stores the maintenance window w and sets w.ID.
func (s *Store) AddWindow(ctx context.Context, w *incidents.Window) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO maintenance_windows (target, schedule, reason, actor, created) VALUES (?, ?, ?, ?, ?)`,
			w.Target, w.Schedule.String(), w.Reason, w.Actor, ts(w.Created))
		if err != nil {
			return fmt.Errorf("add maintenance window: %w", err)
		}
		if w.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("add maintenance window: %w", err)
		}
		return bumpSilenceGen(tx)
	})
}

// DeleteWindow removes maintenance window id.
func (s *Store) DeleteWindow(ctx context.Context, id int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM maintenance_windows WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete maintenance window %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("maintenance window %d: %w", id, incidents.ErrNotFound)
		}
		return bumpSilenceGen(tx)
	})
}

// Windows returns every maintenance window.
func (s *Store) Windows(ctx context.Context) ([]incidents.Window, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, target, schedule, reason, actor, created FROM maintenance_windows ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read maintenance windows: %w", err)
	}
	defer rows.Close()
	var out []incidents.Window
	for rows.Next() {
		var w incidents.Window
		var spec string
		var created int64
		if err := rows.Scan(&w.ID, &w.Target, &spec, &w.Reason, &w.Actor, &created); err != nil {
			return nil, fmt.Errorf("read maintenance windows: %w", err)
		}
		if w.Schedule, err = incidents.ParseSchedule(spec, nil); err != nil {
			return nil, fmt.Errorf("maintenance window %d: %w", w.ID, err)
		}
		w.Created = tm(created)
		out = append(out, w)
	}
	return out, rows.Err()
}
