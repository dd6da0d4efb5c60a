package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/incidents"
)

// Handler acts on one mailbox event; Engine.HandleMail is one. An error
// that Config.Permanent calls permanent drops the message (it is logged,
// recorded and moved); any other error leaves the message in the folder
// to be tried again after a backoff.
type Handler func(ctx context.Context, ev bot.MailEvent) error

// ErrStuck is wrapped by a session's error when the watchdog closed the
// connection because a command took longer than Config.CommandTimeout.
var ErrStuck = errors.New("imap command stuck: connection closed by the watchdog")

// Watcher reads the bot's mailbox over IMAP: it hands every new message
// of the watched folder, classified, to the handler, records it, and moves
// it to the done folder. See Run.
type Watcher struct {
	cfg    Config
	st     *state
	handle Handler
	log    *slog.Logger

	mu       sync.Mutex
	attempts map[string]int // mail key -> temporary failures so far
	retry    time.Duration  // current delay before retrying a failed message

	stats stats
}

// stats are the watcher's counters (atomic: read by Stats at any time).
type stats struct {
	connects, sessionsLost, watchdog           atomic.Int64
	handled, ignored, rejected, failed, gaveUp atomic.Int64
	duplicates, moved                          atomic.Int64
}

// Stats are counters of what a Watcher has done since New.
type Stats struct {
	Connects     int64 // sessions that logged in and opened the folder
	SessionsLost int64 // sessions that ended in an error
	Watchdog     int64 // commands the watchdog cut short
	Handled      int64 // events the handler took
	Ignored      int64 // messages that were no event (automatic, unrelated, stale, unreadable)
	Rejected     int64 // events the handler refused for good
	Failed       int64 // temporary handler failures (each retried)
	GaveUp       int64 // messages given up after MaxAttempts failures
	Duplicates   int64 // messages whose Message-ID was handled before
	Moved        int64 // messages moved to the done folder
}

// New returns a Watcher for cfg that keeps its state in d (in tables
// of its own, created by Run) and hands events to handle. logger may be
// nil (discard).
func New(cfg Config, d *db.DB, handle Handler, logger *slog.Logger) (*Watcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if d == nil || handle == nil {
		return nil, fmt.Errorf("%w: a database and a handler are required", ErrConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	account := cfg.Username + "@" + cfg.Addr + "/" + cfg.Folder
	return &Watcher{
		cfg:      cfg,
		st:       &state{d: d, account: account, limit: cfg.SeenLimit, now: cfg.Clock.Now},
		handle:   handle,
		log:      logger.With("component", "mailbox", "server", cfg.Addr, "user", cfg.Username, "folder", cfg.Folder),
		attempts: map[string]int{},
		retry:    cfg.BackoffMin,
	}, nil
}

// Stats returns the watcher's counters.
func (w *Watcher) Stats() Stats {
	s := &w.stats
	return Stats{
		Connects: s.connects.Load(), SessionsLost: s.sessionsLost.Load(), Watchdog: s.watchdog.Load(),
		Handled: s.handled.Load(), Ignored: s.ignored.Load(), Rejected: s.rejected.Load(), Failed: s.failed.Load(),
		GaveUp: s.gaveUp.Load(), Duplicates: s.duplicates.Load(), Moved: s.moved.Load(),
	}
}

// Run watches the mailbox until ctx ends, then returns nil. It connects,
// logs in, opens the folder, handles what is there, and waits for more
// with IDLE (or NOOP polling when the server lacks IDLE). On any error —
// a refused login, a dropped connection, a command the watchdog cut short
// — it logs, waits a backoff that doubles from BackoffMin to BackoffMax
// (with jitter; reset once a session works), and reconnects.
//
// For each message, in UID order: it is classified, its event handed to
// the handler, then its UID recorded, then it is moved to the done
// folder. A restart therefore neither skips a message nor hands one over
// twice (short of a crash between the handler and the record). When the
// folder's UIDVALIDITY changes, everything in it is looked at again, and
// messages whose Message-ID was handled before are only moved.
func (w *Watcher) Run(ctx context.Context) error {
	delay := w.cfg.BackoffMin
	for {
		err := w.st.migrate(ctx)
		if err == nil {
			var healthy bool
			healthy, err = w.session(ctx)
			if healthy {
				delay = w.cfg.BackoffMin
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		w.stats.sessionsLost.Add(1)
		wait := w.jitter(delay)
		w.log.Warn("mailbox session ended; reconnecting", "err", err, "retry_in", wait)
		if !w.sleep(ctx, wait) {
			return nil
		}
		delay = min(delay*2, w.cfg.BackoffMax)
	}
}

// jitter spreads d over [d/2, d).
func (w *Watcher) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(w.cfg.Jitter()*float64(d/2))
}

// sleep waits d on the clock; false when ctx ended first.
func (w *Watcher) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-w.cfg.Clock.After(d):
		return true
	}
}

// failed notes a temporary handler failure of the message key and
// returns whether to give up on it, and the delay before the next try.
func (w *Watcher) failed(key string) (giveUp bool, wait time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts[key]++
	if w.cfg.MaxAttempts > 0 && w.attempts[key] >= w.cfg.MaxAttempts {
		delete(w.attempts, key)
		w.retry = w.cfg.BackoffMin
		return true, 0
	}
	wait = w.retry
	w.retry = min(w.retry*2, w.cfg.BackoffMax)
	return false, w.jitter(wait)
}

// succeeded forgets the failures of key.
func (w *Watcher) succeeded(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.attempts, key)
	w.retry = w.cfg.BackoffMin
}

// PermanentError is Config.Permanent's default. These handler errors are
// permanent: the engine's verdicts on the mail itself (bot.ErrNotAllowed,
// ErrNoIncident, ErrAmbiguous; an incident that does not exist or is
// already in the state asked for) and errors bot.IsPermanent calls
// permanent. Everything else (the database, a conflict) is temporary.
func PermanentError(err error) bool {
	for _, p := range []error{bot.ErrNotAllowed, bot.ErrNoIncident, bot.ErrAmbiguous,
		incidents.ErrNotFound, incidents.ErrBadID, incidents.ErrAlreadyAcknowledged, incidents.ErrAlreadySolved,
		incidents.ErrNotSolved, incidents.ErrEmptyNote, incidents.ErrNoActor} {
		if errors.Is(err, p) {
			return true
		}
	}
	return bot.IsPermanent(err)
}
