package bot

import (
	"context"
	"errors"
	"time"
)

// Run judges export attempts from src as they are recorded and ticks every
// TickEvery, until ctx ends. It resumes after the last attempt judged by
// an earlier run (so a restart neither skips nor re-judges attempts); on
// the very first run it starts with attempts recorded from now on. Probe
// results arrive through Observe and mail through HandleMail, from their
// own goroutines.
func (e *Engine) Run(ctx context.Context, src AttemptSource) error {
	e.mu.Lock()
	start, ok := e.cursor, e.hasCursor
	e.mu.Unlock()
	if !ok {
		id, err := src.LastID(ctx)
		if err != nil {
			return err
		}
		start = id
		e.mu.Lock()
		e.cursor, e.hasCursor = id, true
		e.mu.Unlock()
	}
	stream := src.Subscribe(start)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			a, err := stream.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				e.log.Error("read export log", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			if err := e.ObserveAttempt(ctx, a); err != nil && ctx.Err() == nil {
				e.log.Error("judge export attempt", "attempt", a.ID, "err", err)
			}
		}
	}()
	t := time.NewTicker(e.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
			if err := e.Tick(ctx, e.now()); err != nil && !errors.Is(err, context.Canceled) {
				e.log.Error("tick", "err", err)
			}
		}
	}
}
