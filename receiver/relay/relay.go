// Package relay is the receiver.Sink of relay mode: it forwards each
// exported record to the ILS's own Connexion listener ("the upstream")
// that oclcbot wraps, passes the upstream's reply back to the cataloger,
// and, when the upstream is down, slow or answering errors, keeps the
// record in a durable queue and delivers it later, in order.
//
// # Forwarding
//
// Each record goes to the upstream on its own connection, as Connexion
// sends it, with the cataloger's login or the configured Credentials.
// The reply, read up to its NUL, is classified by Patterns: imported
// (OutcomeRelayed; the reply goes back to the cataloger verbatim), failed
// (an error reply, an empty reply, or no connection at all), or
// unrecognised.
//
// # Store and forward
//
// With PolicyQueue (the default) a record the upstream did not take is
// committed to the relay_queue table before the cataloger's reply is
// written (OutcomeQueued: received, do not export again), and Run
// delivers it when the upstream is back, oldest first, with exponential
// backoff and jitter. While the queue holds a record waiting for
// delivery, new records join the queue behind it rather than overtake
// it. With PolicyReject nothing is queued: the cataloger is told the
// export failed and the systems office notified.
//
// # No loss, no duplicate
//
// A record is resent only when the upstream definitely did not take it:
// the connection failed before the whole request was written, the reply
// matched a failure rule or was empty, or the upstream closed the
// connection without a byte of reply promptly (within 2 seconds, or
// ReplyTimeout if shorter). A reply that does not come within
// ReplyTimeout after the whole request was written is ambiguous: a slow
// upstream may still import it. The cataloger is told the record is
// queued, the row is "sending", and the relay keeps reading the original
// connection for up to LateReplyLimit: a late success marks it delivered
// (never resent), a late failure queues it for redelivery, and silence
// marks it "uncertain". So does an unrecognised reply; an error reply
// that does not prove the record was not stored, because the listener's
// own call to its ILS timed out or lost its connection (see
// Rule.Uncertain: FOLIO's "Connection was closed", Koha's "Unsuccessful
// request" after its 10-second timeout); a connection closed without a
// reply after the upstream held the record longer than that (FOLIO
// closes a connection idle for 30 seconds while mod-copycat may still
// store the record); and a row that was being sent when the process
// stopped. Uncertain rows are never resent automatically (unless
// ResendUncertain): they wait in the queue list for an operator, who
// checks the ILS and then retries (oclcbot queue retry ID) or drops the
// row. Uncertain rows do not hold up the records behind them.
//
// One ambiguity remains that no relay can resolve from the outside: an
// upstream that commits the record and then dies, or resets the
// connection, at once, before its reply. That looks exactly like a
// refusal, so the record is delivered again. An ILS set to match
// incoming records (Koha's match rule, Evergreen's merge profile,
// Aleph's tab_match, FOLIO's copycat profile) then overlays its copy
// instead of adding a second; either way the export log shows both
// attempts. A relay closed while a late reply is still awaited also
// leaves that row uncertain.
//
// # Records the upstream refuses
//
// Some failures are about the record, not the upstream: Koha's
// svc/import_bib could not read it ("... Please contact
// administrator."), FOLIO's mod-copycat answered 400, Evergreen's
// Vandelay failed to import it or found nothing to import, another
// oclcbot refused it (see Rule.Refusal and DefaultPatterns). Retrying
// such a record in place would hold up every record behind it until an
// operator dropped it, so after Config.MaxRefusals (default 3) such
// refusals of the same record in a row, counting the first forwarding,
// the record is set aside: state held. Run skips held records and
// delivers the records behind them, in order; the export log gets a
// failed attempt of class record (cause upstream-error, the upstream's
// reply in Upstream) that follows the record's queued attempt: a
// failure of that record, not of the path, which never counts toward an
// incident; the relay logs a warning with the OCLC number and the reply; and the queue
// listing shows it. An operator corrects it (in Connexion, or the ILS's
// settings) and retries it (oclcbot queue retry ID; it gets
// MaxRefusals more tries), or drops it (it must then be exported
// again). A re-export of a held record is forwarded, not refused as a
// repeat: it never reached the ILS.
//
// Only refusals count: a connection refused or closed, a timeout, an
// error that says the upstream (not the record) failed, and an
// uncertain or unrecognised reply end the run of refusals and never set
// a record aside. A held record gives up its place: the cataloger was
// told it was queued, and the records exported after it reach the ILS
// before it. Retried, it goes ahead of every record still queued after
// it, but if a later export of the same record was delivered meanwhile,
// delivering the held one would overlay that later version: check the
// ILS before retrying. An upstream whose refusals are in fact its own
// trouble (mod-copycat also answers 400 when FOLIO's data import
// fails) has its records set aside one by one rather than the queue
// stopping; the exports that keep arriving are still queued as system
// failures, so the outage is reported, and oclcbot queue retry without
// IDs puts the held records back in the queue once it is fixed.
//
// After a failure Run probes the upstream (RoundTrip, which imports
// nothing) before risking the next record on it. With ProbeEmpty or
// ProbeHTTP a hung upstream fails that probe, so it costs one uncertain
// record rather than one per attempt; ProbeConnect only proves that the
// port accepts connections.
//
// Passwords never reach the queue, the logs or the export log: a queued
// record's cataloger password is kept in memory only, so after a restart
// records queued without Credentials configured are delivered with the
// login name alone (fine for a Koha daemon without connexion_user, which
// ignores it; configure Credentials for an upstream that checks it).
// Config.Listener says what each ILS's receiver needs (Evergreen's takes
// no login at all).
package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/receiver"
)

// Defaults for Config's zero values.
const (
	// DefaultConnectTimeout bounds opening a connection to the upstream.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultReplyTimeout is how long a cataloger's export waits for the
	// upstream's reply before being told it was queued. Connexion's own
	// timeout is usually about 100 s, counted from its first byte; 30 s
	// leaves the gateway's read time and a margin.
	DefaultReplyTimeout = 30 * time.Second
	// DefaultLateReplyLimit is how long the relay keeps reading a
	// connection whose reply is late before calling it uncertain.
	DefaultLateReplyLimit = 10 * time.Minute
	// DefaultInitialBackoff and DefaultMaxBackoff bound the delay between
	// delivery attempts while the upstream keeps failing.
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	// DefaultPollEvery is how often Run looks at the queue for changes
	// made by another process (the oclcbot queue command), which cannot
	// wake it.
	DefaultPollEvery = 5 * time.Second
	// DefaultRetention is how long delivered and dropped rows are kept.
	DefaultRetention = 180 * 24 * time.Hour
	// DefaultMaxRefusals is how many refusals of a record itself in a
	// row set it aside (see Config.MaxRefusals).
	DefaultMaxRefusals = 3
)

// Errors.
var (
	// ErrNotFound: no queue entry has that ID (in this relay's queue).
	ErrNotFound = errors.New("relay: no such queue entry")
	// ErrWrongState: the entry's state does not allow the operation
	// (retrying a delivered record, dropping one being sent).
	ErrWrongState = errors.New("relay: queue entry is not in a state that allows this")
	// ErrClosed: the relay was closed.
	ErrClosed = errors.New("relay: closed")
)

// Policy says what happens to a record the upstream did not take.
type Policy string

// Policies.
const (
	// PolicyQueue keeps the record and delivers it later (the default).
	PolicyQueue Policy = "queue"
	// PolicyReject tells the cataloger it failed; nothing is kept.
	PolicyReject Policy = "reject"
)

// Probe says how RoundTrip (and a canary export) checks the upstream
// without importing anything. What each ILS does with each:
//
//   - ProbeConnect opens a TCP connection and closes it. It proves the
//     port is open, not that the importer behind it works. Koha's daemon
//     answers "Bad request" to the closed connection; Evergreen's
//     importer logs in to Evergreen and hands Vandelay an empty file,
//     which imports nothing; FOLIO does nothing.
//   - ProbeHTTP sends "GET / HTTP/1.0" and wants "HTTP/1.x 200": FOLIO
//     edge-connexion answers "HTTP/1.0 200 OK" (its health check), as
//     oclcbot's own gateway does. Koha's daemon answers "Bad request"
//     after 5 seconds, Evergreen's importer closes after 5 seconds
//     without a word: do not use it for them.
//   - ProbeEmpty sends an empty request (a lone NUL) and wants any reply
//     ended by NUL. Koha answers "Bad request" (read_request finds no
//     record) and logs "Invalid request"; oclcbot's gateway answers an
//     error. FOLIO's current edge-connexion answers nothing to it (1.0
//     answered "Error: One record expected ..."), and Evergreen closes
//     after 5 seconds without a word: do not use it for them.
//
// Koha: ProbeEmpty; FOLIO: ProbeHTTP; Evergreen and Aleph: ProbeConnect
// (the defaults of Config.Listener).
type Probe string

// Probes.
const (
	ProbeConnect Probe = "connect" // TCP connect only (the default)
	ProbeHTTP    Probe = "http"    // HTTP GET health check on the Connexion port
	ProbeEmpty   Probe = "empty"   // an empty Connexion request, any reply
)

// Credentials are sent to the upstream instead of the cataloger's login.
// Password and the part of LocalUser after its first space are secrets:
// String, GoString and LogValue never show them, and the relay never
// logs or stores them.
type Credentials struct {
	User      string // U field
	LocalUser string // A field (FOLIO: "tenant user password" or an API key)
	Password  string // P field
}

// String describes c without its secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("user %q, local user %q, password %s", c.User, publicPart(c.LocalUser), redact(c.Password))
}

// GoString describes c without its secrets.
func (c Credentials) GoString() string { return "relay.Credentials{" + c.String() + "}" }

// LogValue implements slog.LogValuer without the secrets.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", c.User), slog.String("local_user", publicPart(c.LocalUser)))
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// publicPart returns an A value without its secret part (what follows
// the first space).
func publicPart(a string) string {
	u, _, _ := strings.Cut(a, " ")
	return u
}

// ExportLog is the part of the export log (*exportlog.Log) the relay
// uses: it appends an OutcomeDelivered attempt when a queued record
// reaches the upstream, an OutcomeFailed one of ClassRecord with
// CauseUpstreamError when the upstream's refusals set it aside (held),
// and one with CauseDropped when an operator drops it; and it lists
// OutcomeQueued attempts to find the one each event follows.
type ExportLog interface {
	Append(ctx context.Context, attempts ...*exportlog.Attempt) error
	List(ctx context.Context, f exportlog.Filter) ([]*exportlog.Attempt, error)
}

// Config configures Open. Upstream and DB are required; every other zero
// value means its default.
type Config struct {
	// Upstream is the ILS's Connexion listener, "host:port".
	Upstream string
	// DB holds the queue (tables relay_queue and relay_seen).
	DB *db.DB
	// Log receives delivered-later events; nil: none are recorded.
	Log ExportLog

	// Credentials, when set, replace the cataloger's U, A and P fields.
	Credentials *Credentials
	// Policy for records the upstream does not take: PolicyQueue
	// (default) or PolicyReject.
	Policy Policy
	// Patterns classify replies; nil means DefaultPatterns().
	Patterns *Patterns
	// Duplicates is the repeated-export policy (default
	// receiver.DefaultDuplicates). DuplicateMarkDeleted cannot mark a
	// record in a remote ILS, so it acts as DuplicateSkip.
	Duplicates receiver.Duplicates
	// Listener names the receiver the upstream runs, which decides how
	// records are sent to it and the default Probe (see Listener).
	Listener Listener
	// Probe is how RoundTrip and canary exports check the upstream
	// (default: the Listener's, see Listener).
	Probe Probe
	// ResendUncertain makes uncertain records (see the package comment)
	// go back into the queue instead of waiting for an operator. It can
	// import a record twice; leave it off unless the ILS overlays by OCLC
	// number.
	ResendUncertain bool
	// ForwardPrepared forwards each record as the receiver prepared it
	// (UTF-8, import rules applied, re-encoded) instead of the bytes the
	// cataloger sent (the default: a relay forwards the export as it came,
	// and the ILS applies its own load rules).
	ForwardPrepared bool
	// QueueName names this relay's queue in the database; default
	// Name() ("upstream:HOST:PORT"). Set it to keep a queue when the
	// upstream's address changes.
	QueueName string
	// MaxRefusals is how many times in a row the upstream may refuse a
	// record on its own merits (a reply matching a Rule.Refusal, or
	// Evergreen's empty reply) before the record is set aside (StateHeld)
	// so that the records behind it go on; see the package comment. The
	// first forwarding counts. 0 means DefaultMaxRefusals; negative
	// means never: a refused record is retried with backoff, holding up
	// the queue, until the upstream takes it or an operator drops it.
	MaxRefusals int

	ConnectTimeout time.Duration // default DefaultConnectTimeout
	ReplyTimeout   time.Duration // default DefaultReplyTimeout
	LateReplyLimit time.Duration // default DefaultLateReplyLimit; at least ReplyTimeout
	InitialBackoff time.Duration // default DefaultInitialBackoff
	MaxBackoff     time.Duration // default DefaultMaxBackoff
	PollEvery      time.Duration // default DefaultPollEvery
	Retention      time.Duration // default DefaultRetention; negative: forever

	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives the relay's logs (component=relay); nil discards.
	Logger *slog.Logger
}

// Relay is the relay-mode receiver.Sink. It is safe for concurrent use.
type Relay struct {
	cfg      Config
	name     string
	queue    string
	patterns *Patterns
	log      *slog.Logger
	client   *gateway.Client // whole exchange bounded by LateReplyLimit
	rclient  *gateway.Client // PolicyReject: bounded by ReplyTimeout
	dialer   *net.Dialer

	base   context.Context // cancelled by Close: background sends
	cancel context.CancelFunc
	wake   chan struct{}
	quit   chan struct{}

	mu         sync.Mutex
	closed     bool
	streak     int                   // consecutive failed attempts or probes
	lastCause  string                // cause of the latest failure
	creds      map[int64]forward     // cataloger logins of queued rows; memory only
	recent     map[seenKey]seenEntry // relayed records not yet in relay_seen
	seen       seenIndex             // the keys relay_seen holds, to skip reading it for a first export
	seenOnce   sync.Once             // loads seen at the first Deliver
	seenPruned time.Time             // when seen was last pruned
	seenCh     chan seenEntry        // to the seen writer
	active     sync.WaitGroup        // Deliver calls in progress
	bg         sync.WaitGroup        // late-reply waiters
	attempting sync.WaitGroup        // Run's delivery attempt in progress
	writer     sync.WaitGroup        // the seen writer
	eventsMu   sync.Mutex            // serialises export-log events
	lastHouse  time.Time             // last housekeeping
	rng        *rand.Rand            // jitter; guarded by mu
	instance   string                // marks the "sending" rows this process owns

	// qstate is what this process knows of the queue, so that the
	// forwarding path need not count it: bit 0 is set while Run has
	// found no record waiting and nothing was queued since; every write
	// that may queue one (queueWrite) adds 2 and clears it.
	qstate atomic.Uint64

	// Statements of the forwarding path, prepared once: preparing costs
	// more than running them.
	pendingStmt *sql.Stmt
	seenStmt    *sql.Stmt
}

// forward is the login sent with a record.
type forward struct{ user, localUser, password string }

// Open checks cfg, migrates the relay's tables (component "relay") and
// returns the relay. Open starts no delivery: call Run for that (the
// server does; the oclcbot queue command only lists, retries and drops).
// Only one Relay per database and queue may Deliver (the server's): each
// remembers in memory what it forwarded, to find repeated exports
// without a read, and would not see another's. Close it before closing
// cfg.DB.
func Open(ctx context.Context, cfg Config) (*Relay, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := cfg.DB.Migrate(ctx, Component, migrations); err != nil {
		return nil, fmt.Errorf("open relay: %w", err)
	}
	r := &Relay{
		cfg:      cfg,
		name:     "upstream:" + cfg.Upstream,
		patterns: cfg.Patterns,
		dialer:   &net.Dialer{Timeout: cfg.ConnectTimeout},
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		creds:    make(map[int64]forward),
		recent:   make(map[seenKey]seenEntry),
		seenCh:   make(chan seenEntry, 1024),
		rng:      rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6f636c63)),
	}
	r.instance = fmt.Sprintf("%d-%016x", os.Getpid(), r.rng.Uint64())
	r.queue = cfg.QueueName
	if r.queue == "" {
		r.queue = r.name
	}
	r.log = cfg.Logger.With(slog.String("component", "relay"), slog.String("upstream", cfg.Upstream))
	r.client = &gateway.Client{Addr: cfg.Upstream, Timeout: cfg.LateReplyLimit, Dialer: r.dialer}
	r.rclient = &gateway.Client{Addr: cfg.Upstream, Timeout: cfg.ReplyTimeout, Dialer: r.dialer}
	r.base, r.cancel = context.WithCancel(context.Background())
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	r.writer.Add(1)
	go r.seenWriter()
	r.warnOtherQueues(ctx)
	return r, nil
}

func (cfg *Config) fill() error {
	if cfg.DB == nil {
		return errors.New("relay: Config.DB is nil")
	}
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil || cfg.Upstream == "" {
		return fmt.Errorf("relay: upstream %q is not host:port", cfg.Upstream)
	}
	switch cfg.Policy {
	case "":
		cfg.Policy = PolicyQueue
	case PolicyQueue, PolicyReject:
	default:
		return fmt.Errorf("relay: policy must be %q or %q, not %q", PolicyQueue, PolicyReject, cfg.Policy)
	}
	if err := cfg.Listener.check(cfg); err != nil {
		return err
	}
	switch cfg.Probe {
	case "":
		cfg.Probe = cfg.Listener.defaultProbe()
	case ProbeConnect, ProbeHTTP, ProbeEmpty:
	default:
		return fmt.Errorf("relay: probe must be %q, %q or %q, not %q", ProbeConnect, ProbeHTTP, ProbeEmpty, cfg.Probe)
	}
	if cfg.Duplicates.Policy == "" {
		cfg.Duplicates.Policy = receiver.DefaultDuplicates.Policy
	}
	if !cfg.Duplicates.Policy.Valid() {
		return fmt.Errorf("relay: unknown duplicate policy %q", cfg.Duplicates.Policy)
	}
	if cfg.Duplicates.Window <= 0 {
		cfg.Duplicates.Window = receiver.DefaultDuplicates.Window
	}
	if c := cfg.Credentials; c != nil {
		// A credential the wire cannot carry would fail every record.
		probe := &gateway.Request{User: c.User, LocalUser: c.LocalUser, Password: c.Password, Records: [][]byte{[]byte("00006x")}}
		if _, err := gateway.AppendRequest(nil, probe); err != nil {
			return fmt.Errorf("relay: credentials: %w", err)
		}
	}
	if cfg.Patterns == nil {
		cfg.Patterns = DefaultPatterns()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ConnectTimeout, DefaultConnectTimeout)
	def(&cfg.ReplyTimeout, DefaultReplyTimeout)
	def(&cfg.LateReplyLimit, DefaultLateReplyLimit)
	def(&cfg.InitialBackoff, DefaultInitialBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.PollEvery, DefaultPollEvery)
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.MaxRefusals == 0 {
		cfg.MaxRefusals = DefaultMaxRefusals
	}
	cfg.LateReplyLimit = max(cfg.LateReplyLimit, cfg.ReplyTimeout)
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.InitialBackoff)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Name identifies the relay as a detector target and in the export log:
// "upstream:HOST:PORT".
func (r *Relay) Name() string { return r.name }

// Upstream returns the upstream's "host:port".
func (r *Relay) Upstream() string { return r.cfg.Upstream }

func (r *Relay) now() time.Time { return r.cfg.Now() }

// Close stops the relay: Deliver calls in progress finish (each within
// ReplyTimeout) and later ones fail; Run returns once its delivery
// attempt in progress ends (given up after ReplyTimeout); connections
// still waiting for a late reply are abandoned, and their rows become
// uncertain (the upstream may have the record). It does not close the
// database, which must stay open until Close returns.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.quit)
	r.mu.Unlock()
	r.active.Wait()
	// Let a delivery attempt of Run's finish, for up to ReplyTimeout.
	idle := make(chan struct{})
	go func() { r.attempting.Wait(); close(idle) }()
	t := time.NewTimer(r.cfg.ReplyTimeout)
	select {
	case <-idle:
	case <-t.C:
	}
	t.Stop()
	r.cancel()
	<-idle
	r.bg.Wait()
	close(r.seenCh)
	r.writer.Wait()
	return errors.Join(r.pendingStmt.Close(), r.seenStmt.Close())
}

func (r *Relay) prepare(ctx context.Context) error {
	var err error
	r.pendingStmt, err = r.cfg.DB.Reader().PrepareContext(ctx,
		`SELECT COUNT(*) FROM relay_queue WHERE queue = ? AND state IN ('queued', 'sending')`)
	if err != nil {
		return fmt.Errorf("open relay: %w", err)
	}
	// A queued record an operator dropped, or one set aside because the
	// upstream refused it, was never delivered: exporting it again is
	// what the cataloger must do (perhaps after correcting it), so it
	// does not count.
	r.seenStmt, err = r.cfg.DB.Reader().PrepareContext(ctx, `SELECT s.time_ns, s.system_number FROM relay_seen s
		LEFT JOIN relay_queue q ON q.id = s.queue_id
		WHERE s.queue = ? AND s.hash = ? AND s.oclc = ? AND s.time_ns >= ?
		  AND (s.queue_id IS NULL OR q.state NOT IN ('dropped', 'held'))
		ORDER BY s.time_ns DESC LIMIT 1`)
	if err != nil {
		r.pendingStmt.Close()
		return fmt.Errorf("open relay: %w", err)
	}
	return nil
}

// enter registers a Deliver call; false after Close.
func (r *Relay) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.active.Add(1)
	return true
}

// notify wakes Run without blocking.
func (r *Relay) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// noteFailure records a failed attempt or probe for the backoff and
// returns the delay before the next attempt.
func (r *Relay) noteFailure(cause string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streak++
	r.lastCause = cause
	return r.backoffLocked()
}

func (r *Relay) noteSuccess() {
	r.mu.Lock()
	r.streak = 0
	r.mu.Unlock()
}

func (r *Relay) failing() (streak int, cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streak, r.lastCause
}

// backoffLocked is InitialBackoff doubled for each failure in the streak
// after the first, capped at MaxBackoff, with "equal jitter": a uniform
// random value between half of it and all of it, so that several relays
// (or a relay and its probes) do not hit a recovering upstream in step.
func (r *Relay) backoffLocked() time.Duration {
	d := r.cfg.InitialBackoff
	for i := 1; i < r.streak && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	half := d / 2
	return half + time.Duration(r.rng.Int64N(int64(d-half)+1))
}

// warnOtherQueues logs records waiting in queues of other names (an
// upstream whose address changed without QueueName), which this relay
// will not deliver.
func (r *Relay) warnOtherQueues(ctx context.Context) {
	rows, err := r.cfg.DB.Reader().QueryContext(ctx,
		`SELECT queue, COUNT(*) FROM relay_queue WHERE queue <> ? AND state IN ('queued', 'sending', 'uncertain', 'held') GROUP BY queue`, r.queue)
	if err != nil {
		r.log.Warn("cannot look for other relay queues", slog.Any("err", err))
		return
	}
	defer rows.Close()
	for rows.Next() {
		var q string
		var n int
		if rows.Scan(&q, &n) == nil {
			r.log.Warn("records are waiting in another relay queue, which this relay does not deliver; set the relay's queue name to it to deliver them",
				slog.String("queue", q), slog.Int("records", n))
		}
	}
}
