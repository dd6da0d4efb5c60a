package db

import (
	"context"
	"database/sql"
	"fmt"
)

// Migration is one step of a component's schema. Versions start at 1 and
// increase by one; a step, once released, is never edited: add a new one.
type Migration struct {
	Version int
	SQL     string
}

// Migrate brings component's tables up to the newest of migrations, all
// pending steps and the record of them in one transaction. It
// refuses a database whose schema for component is newer than this
// program knows (a downgrade), rather than guess.
func (d *DB) Migrate(ctx context.Context, component string, migrations []Migration) error {
	for i, m := range migrations {
		if m.Version != i+1 {
			return fmt.Errorf("migrate %s: migration %d has version %d, want %d", component, i, m.Version, i+1)
		}
	}
	return d.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			component TEXT NOT NULL,
			version INTEGER NOT NULL,
			applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
			PRIMARY KEY (component, version))`); err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		var have int
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?`, component).Scan(&have); err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		if have > len(migrations) {
			return fmt.Errorf("migrate %s: database schema version %d is newer than this oclcbot knows (%d); use a newer oclcbot", component, have, len(migrations))
		}
		for _, m := range migrations[have:] {
			if _, err := tx.Exec(m.SQL); err != nil {
				return fmt.Errorf("migrate %s to version %d: %w", component, m.Version, err)
			}
			if _, err := tx.Exec(`INSERT INTO schema_migrations (component, version) VALUES (?, ?)`, component, m.Version); err != nil {
				return fmt.Errorf("migrate %s to version %d: %w", component, m.Version, err)
			}
		}
		return nil
	})
}

// SchemaVersion reports the newest migration applied for component (0 when
// none).
func (d *DB) SchemaVersion(ctx context.Context, component string) (int, error) {
	var v int
	err := d.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?`, component).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version of %s: %w", component, err)
	}
	return v, nil
}
