package probe

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// Defaults of the index check.
const (
	DefaultIndexWithin     = 2 * time.Minute
	DefaultIndexGiveUp     = 24 * time.Hour
	DefaultIndexMaxPending = 1000
	DefaultIndexInterval   = 15 * time.Second
	DefaultIndexTimeout    = 10 * time.Second
)

// maxListed bounds the system numbers a Message names.
const maxListed = 20

// watchRetryMax bounds the wait between retries of a failing subscription.
const watchRetryMax = time.Minute

// AttemptSource is a subscription to the export log (exportlog provides
// it): each call to Next returns the next attempt the log records, in
// order. Next blocks until there is one or ctx is done, and then returns
// ctx's error.
type AttemptSource interface {
	Next(ctx context.Context) (*exportlog.Attempt, error)
}

// Finder answers whether the catalog's search finds a record by its title
// (catalog provides it). Findable searches for title as a cataloger
// would and reports whether the record systemNumber is among the hits. An
// error means the search itself failed.
type Finder interface {
	Findable(ctx context.Context, systemNumber, title string) (bool, error)
}

// IndexConfig configures an IndexCheck.
type IndexConfig struct {
	// Attempts is the export log subscription to follow. Required.
	Attempts AttemptSource
	// Finder checks findability in the catalog. Required.
	Finder Finder
	// Within is how soon after its import a record must be findable
	// (default DefaultIndexWithin).
	Within time.Duration
	// GiveUp is how long after its import a record that never became
	// findable is dropped from the check, so that one record the search
	// cannot find does not hold the index target failed forever
	// (default DefaultIndexGiveUp). A record given up on is logged and
	// counted in IndexStats.Abandoned.
	GiveUp time.Duration
	// MaxPending bounds the records waiting to be found (default
	// DefaultIndexMaxPending); imports beyond it are counted in
	// IndexStats.Untracked and not checked.
	MaxPending int
	// Interval and Timeout of the check (defaults DefaultIndexInterval,
	// DefaultIndexTimeout). Timeout bounds one pass over every waiting
	// record.
	Interval time.Duration
	Timeout  time.Duration
	// Clock must be the Scheduler's clock (nil: SystemClock).
	Clock Clock
	// Logger receives subscription errors and abandoned records; nil
	// discards.
	Logger *slog.Logger
}

// IndexStats counts what an IndexCheck has seen since it started.
type IndexStats struct {
	Pending   int   // records waiting to become findable
	Overdue   int   // among them, not findable within the set time at the last check
	Found     int64 // records that became findable
	Untracked int64 // imports not checked because MaxPending records were waiting
	Abandoned int64 // records dropped after GiveUp without becoming findable
	Untitled  int64 // imports without a title or system number, which cannot be checked
	Stale     int64 // imports already older than GiveUp when seen (a subscription replaying old history)
	Errors    int64 // failed subscription reads
}

// IndexCheck verifies that every record the receiver imports (export log
// attempts with outcome added or merged) becomes findable by title in the
// catalog within a set time. It follows the export log (Watch), and each
// run of its probe (Check) searches for every record still waiting:
//
//   - some record not findable within the set time: a failure with cause
//     CauseIndexStalled naming those records' system numbers (they stay
//     waiting, so the failure lasts until they are found);
//   - otherwise, the search failing: a failure with CauseSearch (or
//     CauseTimeout when the pass ran out of time);
//   - otherwise a success, naming the records found by this run.
//
// Its memory is bounded by MaxPending.
type IndexCheck struct {
	cfg IndexConfig
	log *slog.Logger

	mu        sync.Mutex
	pending   map[string]*pendingRecord // by system number
	stats     IndexStats
	untracked int64 // imports not tracked since the last Check
}

// pendingRecord is one imported record not yet found.
type pendingRecord struct {
	SystemNumber string
	Title        string
	AttemptID    int64
	Since        time.Time // import time
}

// NewIndexCheck checks cfg and returns an IndexCheck.
func NewIndexCheck(cfg IndexConfig) (*IndexCheck, error) {
	switch {
	case cfg.Attempts == nil:
		return nil, fmt.Errorf("%w: index check: Attempts is nil", ErrConfig)
	case cfg.Finder == nil:
		return nil, fmt.Errorf("%w: index check: Finder is nil", ErrConfig)
	case cfg.Within < 0, cfg.GiveUp < 0, cfg.MaxPending < 0, cfg.Interval < 0, cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: index check: negative setting", ErrConfig)
	}
	cfg.Within = cmp.Or(cfg.Within, DefaultIndexWithin)
	cfg.GiveUp = cmp.Or(cfg.GiveUp, DefaultIndexGiveUp)
	cfg.MaxPending = cmp.Or(cfg.MaxPending, DefaultIndexMaxPending)
	cfg.Interval = cmp.Or(cfg.Interval, DefaultIndexInterval)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultIndexTimeout)
	if cfg.GiveUp < cfg.Within {
		return nil, fmt.Errorf("%w: index check: give-up time %v is shorter than the indexing time %v", ErrConfig, cfg.GiveUp, cfg.Within)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IndexCheck{
		cfg:     cfg,
		log:     log.With("component", "probe", "probe", NameIndex),
		pending: make(map[string]*pendingRecord),
	}, nil
}

// Probe returns the index probe for a Scheduler: NameIndex on TargetIndex,
// with Func Check and Watch following the export log.
func (c *IndexCheck) Probe() Probe {
	return Probe{
		Name:     NameIndex,
		Target:   TargetIndex,
		Interval: c.cfg.Interval,
		Timeout:  c.cfg.Timeout,
		Func:     c.Check,
		Watch:    c.Watch,
	}
}

// Watch adds every attempt from the subscription (see Add) until ctx is
// done. A failing subscription is logged and retried with backoff.
func (c *IndexCheck) Watch(ctx context.Context) {
	var delay time.Duration
	for {
		a, err := c.cfg.Attempts.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			delay = min(max(2*delay, time.Second), watchRetryMax)
			c.mu.Lock()
			c.stats.Errors++
			c.mu.Unlock()
			c.log.Error("reading the export log failed; retrying", "err", err, "delay", delay)
			select {
			case <-ctx.Done():
				return
			case <-c.cfg.Clock.After(delay):
			}
			continue
		}
		delay = 0
		if a != nil {
			c.Add(a)
		}
	}
}

// Add starts watching for a's record if a imported one (outcome added or
// merged, with a system number and a title) less than GiveUp ago. A later
// import of the same system number replaces the earlier one: its title is
// what the index must now find. Add never blocks on the catalog.
func (c *IndexCheck) Add(a *exportlog.Attempt) {
	if a.Outcome != exportlog.OutcomeAdded && a.Outcome != exportlog.OutcomeMerged {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.SystemNumber == "" || strings.TrimSpace(a.Title) == "" {
		c.stats.Untitled++
		return
	}
	now := c.cfg.Clock.Now()
	since := a.Done
	if since.IsZero() || since.After(now) {
		since = now
	}
	if !now.Before(since.Add(c.cfg.GiveUp)) {
		c.stats.Stale++
		return
	}
	if _, ok := c.pending[a.SystemNumber]; !ok && len(c.pending) >= c.cfg.MaxPending {
		c.stats.Untracked++
		c.untracked++
		return
	}
	c.pending[a.SystemNumber] = &pendingRecord{SystemNumber: a.SystemNumber, Title: a.Title, AttemptID: a.ID, Since: since}
}

// Stats returns the counters.
func (c *IndexCheck) Stats() IndexStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Pending = len(c.pending)
	return st
}

// Check searches the catalog for every waiting record, oldest import
// first, and reports as the IndexCheck documentation says. It is the
// index probe's Func.
func (c *IndexCheck) Check(ctx context.Context) Result {
	now := c.cfg.Clock.Now()
	waiting, abandoned := c.snapshot(now)
	if len(abandoned) > 0 {
		c.log.Warn("imported records never became findable by title; no longer checking them",
			"count", len(abandoned), "system_numbers", list(abandoned), "after", c.cfg.GiveUp)
	}

	var found, overdue []string
	var searchErr error
	checked := 0
	for _, p := range waiting {
		if ctx.Err() != nil {
			break
		}
		ok, err := c.cfg.Finder.Findable(ctx, p.SystemNumber, p.Title)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			searchErr = cmp.Or(searchErr, err)
			continue
		}
		checked++
		switch {
		case ok:
			found = append(found, p.SystemNumber)
			c.forget(p)
		case !now.Before(p.Since.Add(c.cfg.Within)):
			overdue = append(overdue, p.SystemNumber)
		}
	}

	c.mu.Lock()
	c.stats.Found += int64(len(found))
	c.stats.Overdue = len(overdue)
	remaining := len(c.pending)
	untracked := c.untracked
	c.untracked = 0
	c.mu.Unlock()

	var note string
	if untracked > 0 {
		note = fmt.Sprintf(" (%s since the last check not checked: more than %d records were waiting)",
			plural(untracked, "import"), c.cfg.MaxPending)
	}
	switch {
	case len(overdue) > 0:
		return Fail(CauseIndexStalled, fmt.Sprintf("%s not findable by title within %v of import: %s%s",
			records(len(overdue)), c.cfg.Within, list(overdue), note))
	case ctx.Err() != nil && checked < len(waiting):
		return Fail(CauseTimeout, fmt.Sprintf("catalog search too slow: checked %d of %d waiting records before the %v timeout: %v",
			checked, len(waiting), c.cfg.Timeout, ctx.Err()))
	case searchErr != nil:
		return Fail(CauseSearch, "catalog search failed: "+searchErr.Error())
	case len(found) > 0:
		return Pass(fmt.Sprintf("%s findable by title: %s; %d waiting%s", records(len(found)), list(found), remaining, note))
	case remaining > 0:
		return Pass(fmt.Sprintf("%s waiting to be findable, none late%s", records(remaining), note))
	}
	return Pass("no imported records waiting to be findable" + note)
}

// snapshot returns the waiting records, oldest import first, after
// dropping (and returning the system numbers of) those past GiveUp.
func (c *IndexCheck) snapshot(now time.Time) (waiting []pendingRecord, abandoned []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	waiting = make([]pendingRecord, 0, len(c.pending))
	for sn, p := range c.pending {
		if !now.Before(p.Since.Add(c.cfg.GiveUp)) {
			delete(c.pending, sn)
			c.stats.Abandoned++
			abandoned = append(abandoned, sn)
			continue
		}
		waiting = append(waiting, *p)
	}
	slices.SortFunc(waiting, func(a, b pendingRecord) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.AttemptID, b.AttemptID), strings.Compare(a.SystemNumber, b.SystemNumber))
	})
	slices.Sort(abandoned)
	return waiting, abandoned
}

// forget removes p unless a later import of the same system number
// replaced it meanwhile.
func (c *IndexCheck) forget(p pendingRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.pending[p.SystemNumber]; ok && cur.AttemptID == p.AttemptID && cur.Since.Equal(p.Since) {
		delete(c.pending, p.SystemNumber)
	}
}

// records returns "1 record" or "N records".
func records(n int) string { return plural(int64(n), "record") }

// plural returns "1 thing" or "N things".
func plural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// list joins system numbers, naming at most maxListed.
func list(sn []string) string {
	if len(sn) <= maxListed {
		return strings.Join(sn, ", ")
	}
	return strings.Join(sn[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(sn)-maxListed)
}
