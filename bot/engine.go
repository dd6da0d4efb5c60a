// Package bot decides when the export path has a real problem and when it
// is over, keeps one incident per problem, and turns each change into
// notifications written to the outbox in the same transaction; its
// dispatcher delivers them channel by channel.
//
// The engine is event driven and reads no clock of its own: Observe judges
// an export attempt or a probe result, Tick judges the passing of time
// (recovery by healthy probes, coalesced updates, reminders, escalation,
// silences that end), HandleMail acts on mailbox events, and Ack, Solve,
// Note, Silence and Unsilence are what people do from the CLI, mail or
// chat. Run wraps it in a loop for production. Tests drive it with an
// injected clock and never sleep.
//
// bot declares the interfaces it consumes (Store, Outbox, Channel,
// AttemptSource); the adapters implementing them import incidents, never
// bot.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/templates"
)

// Defaults for Config's zero values.
const (
	DefaultReopenWindow = 30 * time.Minute
	DefaultUpdateEvery  = time.Minute
	DefaultRemindEvery  = 4 * time.Hour
	DefaultEscalate     = 30 * time.Minute
	DefaultEchoTimeout  = 15 * time.Minute
	DefaultReportGrace  = 15 * time.Minute
	DefaultMaxRecords   = 50
	DefaultTickEvery    = time.Second
)

// KeyCursor is the bot state key holding the ID of the last export attempt
// the engine has judged.
const KeyCursor = "bot.exportlog.cursor"

// Config configures an Engine. Store, Templates and Channels are required.
type Config struct {
	Store     Store
	Templates *templates.Set
	// Channels receive the notifications. With none, notifications are
	// only recorded; use LogChannelConfig to have them logged.
	Channels []ChannelConfig

	// Prefix of incident ids (default incidents.DefaultPrefix, "OIS").
	Prefix string
	// NoTag leaves the "[OIS-2026-0042]" tag out of subjects.
	NoTag bool
	// Location is the time zone of incident years and of the times shown
	// in notices (default time.Local).
	Location *time.Location

	// Rules are the detectors' rules; TargetRules override them for a
	// target ("upstream:ils.example.edu:5500").
	Rules       Rules
	TargetRules map[string]Rules

	// ReopenWindow: a failure confirmed within this time after SOLVED
	// reopens the same incident (default 30 min).
	ReopenWindow time.Duration
	// UpdateEvery: at most one update notification per incident and
	// channel this often (default 1 min).
	UpdateEvery time.Duration
	// RemindEvery: reminders while unacknowledged (default 4 h; negative:
	// none), only inside WorkingHours when it is set.
	RemindEvery  time.Duration
	WorkingHours *incidents.Schedule
	// EscalateAfter: an incident unacknowledged this long after it was
	// announced is escalated to the report channels (default 30 min;
	// negative: never). EscalateCritical is the same for critical
	// incidents (a listener nobody can reach); default 0: at once.
	EscalateAfter    time.Duration
	EscalateCritical time.Duration
	// EchoTimeout: a list post whose echo has not come back after this
	// long raises an admin notice (default 15 min).
	EchoTimeout time.Duration
	// ReportGrace: a staff report the detectors do not confirm is closed
	// as not confirmed once it is this old and the target is healthy
	// (default 15 min).
	ReportGrace time.Duration
	// MailAllow lists who may ACK or SOLVE by mail: addresses
	// ("oncall@example.edu") or domains ("@example.edu").
	MailAllow []string

	// Limits bounds captured messages (incidents.DefaultLimits).
	Limits incidents.Limits
	// MaxRecords bounds the records listed in one notice (default 50;
	// the OIS report lists all of them).
	MaxRecords int
	// Facts are configuration facts for the OIS report (never secrets).
	Facts []incidents.Fact

	// Wake is called with a channel's name after notifications for it
	// are committed (Dispatcher.Wake).
	Wake func(channel string)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// TickEvery is Run's tick interval (default 1 s).
	TickEvery time.Duration
}

// tracked is an incident the engine keeps in memory: the current incident
// of its target.
type tracked struct {
	inc *incidents.Incident
	ann map[string]incidents.Announced // channel -> what it was last told
	// dirty is set when an announcement was held back by a silence: the
	// incident is reconciled when the silence ends.
	dirty bool
}

// Engine is the bot's decision core. It is safe for concurrent use: calls
// are serialised.
type Engine struct {
	cfg   Config
	st    Store
	chans []*channel
	comp  *composer
	log   *slog.Logger

	mu        sync.Mutex
	det       map[string]*detector
	byTarget  map[string]*tracked // the current incident of each target
	byID      map[string]*tracked
	seqs      map[int]int // year -> last incident number used
	silences  []incidents.Silence
	windows   []incidents.Window
	silGen    int64
	cursor    int64 // last export attempt judged
	cursorSav int64 // cursor as last stored
	hasCursor bool  // a cursor was stored by an earlier run
}

// New returns an engine that starts from the stored state: detectors of
// targets with an open incident start failing, so nothing unchanged is
// announced again after a restart.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Templates == nil {
		return nil, errors.New("bot: Store and Templates are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = incidents.DefaultPrefix
	}
	if !incidents.ValidPrefix(cfg.Prefix) {
		return nil, fmt.Errorf("bot: incident prefix %q: want 1-16 capital letters and digits, a letter first", cfg.Prefix)
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if err := cfg.Rules.Validate(); err != nil {
		return nil, err
	}
	for t, r := range cfg.TargetRules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.ReopenWindow, DefaultReopenWindow)
	def(&cfg.UpdateEvery, DefaultUpdateEvery)
	def(&cfg.RemindEvery, DefaultRemindEvery)
	def(&cfg.EscalateAfter, DefaultEscalate)
	def(&cfg.EchoTimeout, DefaultEchoTimeout)
	def(&cfg.ReportGrace, DefaultReportGrace)
	def(&cfg.TickEvery, DefaultTickEvery)
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Wake == nil {
		cfg.Wake = func(string) {}
	}
	chans, err := compileChannels(cfg.Channels, false)
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	e := &Engine{
		cfg: cfg, st: cfg.Store, chans: chans,
		comp: &composer{t: cfg.Templates, tag: !cfg.NoTag, loc: cfg.Location, facts: cfg.Facts, max: cfg.MaxRecords, log: cfg.Logger},
		log:  cfg.Logger.With("component", "bot"),
		det:  map[string]*detector{}, byTarget: map[string]*tracked{}, byID: map[string]*tracked{}, seqs: map[int]int{},
	}
	if err := e.load(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) now() time.Time { return e.cfg.Now() }

// load reads the incidents to keep in mind, the silences and the cursor.
func (e *Engine) load(ctx context.Context) error {
	now := e.now()
	list, err := e.st.Active(ctx, now.Add(-e.cfg.ReopenWindow))
	if err != nil {
		return fmt.Errorf("bot: load incidents: %w", err)
	}
	for _, inc := range list {
		ann, err := e.st.Announcements(ctx, inc.ID)
		if err != nil {
			return fmt.Errorf("bot: load incidents: %w", err)
		}
		e.track(&tracked{inc: inc, ann: ann, dirty: true})
	}
	if err := e.loadSilences(ctx, now); err != nil {
		return err
	}
	if v, ok, err := e.st.State(ctx, KeyCursor); err != nil {
		return fmt.Errorf("bot: load cursor: %w", err)
	} else if ok {
		if e.cursor, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("bot: stored cursor %q: %w", v, err)
		}
		e.cursorSav, e.hasCursor = e.cursor, true
	}
	return nil
}

func (e *Engine) loadSilences(ctx context.Context, now time.Time) error {
	gen, err := e.st.SilenceGen(ctx)
	if err != nil {
		return fmt.Errorf("bot: load silences: %w", err)
	}
	sil, err := e.st.ActiveSilences(ctx, now)
	if err != nil {
		return fmt.Errorf("bot: load silences: %w", err)
	}
	win, err := e.st.Windows(ctx)
	if err != nil {
		return fmt.Errorf("bot: load maintenance windows: %w", err)
	}
	e.silences, e.windows, e.silGen = sil, win, gen
	return nil
}

// track makes t the current incident of its target (when it is newer than
// the one there) and sets the target's detector from it.
func (e *Engine) track(t *tracked) {
	e.byID[t.inc.ID] = t
	cur := e.byTarget[t.inc.Target]
	if cur == nil || cur == t || !t.inc.Opened.Before(cur.inc.Opened) {
		e.byTarget[t.inc.Target] = t
		d := e.detector(t.inc.Target)
		if t.inc.State.Active() && !t.inc.Reported {
			d.startFailing(t.inc.Cause, t.inc.Class)
		}
	}
}

func (e *Engine) detector(target string) *detector {
	d := e.det[target]
	if d == nil {
		r := e.cfg.Rules
		if tr, ok := e.cfg.TargetRules[target]; ok {
			r = tr
		}
		d = newDetector(target, r)
		e.det[target] = d
	}
	return d
}

// plan collects one decision's writes.
type plan struct {
	t      *tracked
	ann    map[string]incidents.Announced
	notes  []incidents.Notification
	annUpd []incidents.Announcement
	dirty  bool
	echo   []string
}

func (e *Engine) newPlan(t *tracked) *plan {
	p := &plan{t: t}
	if t != nil {
		p.ann = maps.Clone(t.ann)
		if p.ann == nil {
			p.ann = map[string]incidents.Announced{}
		}
	}
	return p
}

// decide runs fn on t's incident and saves what it did in one
// transaction. When the stored incident changed meanwhile (another
// process acknowledged it, say), t is reloaded and fn runs again. On any
// failure t is reloaded from the store, so memory never runs ahead of
// what was saved.
func (e *Engine) decide(ctx context.Context, t *tracked, fn func(p *plan) error) error {
	for try := 0; ; try++ {
		p := e.newPlan(t)
		err := fn(p)
		if err == nil {
			err = e.save(ctx, p)
		}
		if err == nil {
			return nil
		}
		if t.inc.Version == 0 {
			return err // a new incident: nothing stored to reload
		}
		if rerr := e.reload(ctx, t); rerr != nil {
			return errors.Join(err, rerr)
		}
		if !errors.Is(err, incidents.ErrConflict) || try >= 2 {
			return err
		}
	}
}

// save writes p and, once committed, applies it to memory and wakes the
// channels concerned.
func (e *Engine) save(ctx context.Context, p *plan) error {
	ch := &incidents.Change{Notifications: p.notes, Announced: p.annUpd, EchoMissing: p.echo}
	if p.t != nil {
		ch.Incident = p.t.inc
		ch.Journal = p.t.inc.TakeChanges()
	}
	if e.cursor != e.cursorSav {
		ch.State = map[string]string{KeyCursor: strconv.FormatInt(e.cursor, 10)}
	}
	if err := e.st.Apply(ctx, ch); err != nil {
		return err
	}
	if ch.State != nil {
		e.cursorSav = e.cursor
	}
	if p.t != nil {
		p.t.ann = p.ann
		if p.dirty {
			p.t.dirty = true
		}
		if _, ok := e.byID[p.t.inc.ID]; !ok {
			e.track(p.t)
		}
	}
	woken := map[string]bool{}
	for _, n := range p.notes {
		if !woken[n.Channel] {
			woken[n.Channel] = true
			e.cfg.Wake(n.Channel)
		}
	}
	return nil
}

// reload replaces t's incident and announcements with the stored ones.
func (e *Engine) reload(ctx context.Context, t *tracked) error {
	inc, err := e.st.Incident(ctx, t.inc.ID)
	if err != nil {
		return fmt.Errorf("reload %s: %w", t.inc.ID, err)
	}
	ann, err := e.st.Announcements(ctx, t.inc.ID)
	if err != nil {
		return fmt.Errorf("reload %s: %w", t.inc.ID, err)
	}
	wasActive := t.inc.State.Active()
	t.inc, t.ann, t.dirty = inc, ann, true
	if d := e.det[inc.Target]; d != nil && e.byTarget[inc.Target] == t {
		switch {
		case inc.State.Active() && !inc.Reported && !d.failing:
			d.startFailing(inc.Cause, inc.Class)
		case !inc.State.Active() && wasActive:
			d.reset() // solved elsewhere: failures must confirm again
		}
	}
	return nil
}

// lookup returns the tracked incident id, loading it from the store when
// it is not in memory (an old incident: it is not kept afterwards).
func (e *Engine) lookup(ctx context.Context, id string) (*tracked, error) {
	cid, err := incidents.CanonicalID(id)
	if err != nil {
		return nil, err
	}
	if t := e.byID[cid]; t != nil {
		return t, nil
	}
	inc, err := e.st.Incident(ctx, cid)
	if err != nil {
		return nil, err
	}
	ann, err := e.st.Announcements(ctx, cid)
	if err != nil {
		return nil, err
	}
	return &tracked{inc: inc, ann: ann}, nil
}

// nextID allocates the id of a new incident opened at at.
func (e *Engine) nextID(ctx context.Context, at time.Time) (string, error) {
	year := at.In(e.cfg.Location).Year()
	n, ok := e.seqs[year]
	if !ok {
		var err error
		if n, err = e.st.MaxSeq(ctx, e.cfg.Prefix, year); err != nil {
			return "", err
		}
	}
	n++
	e.seqs[year] = n
	return incidents.FormatID(e.cfg.Prefix, year, n), nil
}

// forgetSeq makes the next nextID for at's year ask the store again
// (after an insert failed: another process may have used the number).
func (e *Engine) forgetSeq(at time.Time) { delete(e.seqs, at.In(e.cfg.Location).Year()) }
