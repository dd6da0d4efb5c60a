package exportlog

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// Prune deletes the attempts whose Time is older than the retention
// period, in short transactions, and returns how many it deleted. With a
// negative Retention it deletes nothing.
func (l *Log) Prune(ctx context.Context) (int64, error) {
	if l.opt.Retention < 0 {
		return 0, nil
	}
	cutoff := l.opt.Now().Add(-l.opt.Retention).UnixNano()
	// Before deleting: from now on Subscriptions take the attempts older
	// than cutoff from the database, which skips those deleted.
	l.win.pruning(cutoff)
	var total int64
	for {
		var n int64
		err := l.d.Write(ctx, func(tx *sql.Tx) error {
			res, err := tx.Exec(`DELETE FROM export_attempts WHERE id IN (
				SELECT id FROM export_attempts WHERE time_ns < ? ORDER BY time_ns LIMIT ?)`, cutoff, pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune export log: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// RunPruner prunes once at once and then every PruneEvery until ctx ends,
// logging what it deleted and any error (a failed pruning is retried at
// the next interval). It returns ctx's error.
func (l *Log) RunPruner(ctx context.Context) error {
	t := time.NewTicker(l.opt.PruneEvery)
	defer t.Stop()
	for {
		n, err := l.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Error("pruning the export log failed; will retry", slog.Any("err", err))
		case n > 0:
			l.log.Info("pruned the export log", slog.Int64("deleted", n), slog.Duration("retention", l.opt.Retention))
		}
		if l.afterPrune != nil {
			l.afterPrune(n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
