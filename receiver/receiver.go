// Package receiver is oclcbot's import pipeline. It implements
// gateway.Handler: for each export request it authenticates the login,
// and for each record, in order, decodes it strictly, converts MARC-8 to
// UTF-8 (keeping the original bytes), reads its identifiers, applies the
// library's import rules (rules.go), hashes its content, and hands the
// request's records to a Sink (the embedded catalog, or the relay to the
// ILS). Only when the Sink has returned, its outcome final and committed,
// does it write the reply: one line per record, from the reply.*
// templates, telling the cataloger what happened, the system number, the
// OCLC number and what to do next.
//
// Every attempt, successful or not, and every request-level failure (a
// wrong password, a protocol error, a client that vanished) is appended
// to the export log before the reply is returned, with one exception:
// the attempts of an export whose every record an upstream took (the
// relay's OutcomeRelayed) are appended while the reply goes out, as the
// records are safe upstream whatever happens to oclcbot (recordAfter).
package receiver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/templates"
)

// TargetListener is the export log Target of request-level events: they
// concern the Connexion listener, not a sink.
const TargetListener = "listener"

// maxLoggedUser bounds the login name kept in the export log: it comes
// from the network.
const maxLoggedUser = 256

// AttemptLog is where the receiver records attempts: *exportlog.Log.
type AttemptLog interface {
	// Append records attempts durably, assigning their IDs.
	Append(ctx context.Context, attempts ...*exportlog.Attempt) error
}

// AsyncAttemptLog is an AttemptLog that can also record attempts without
// the caller waiting for the write (*exportlog.Log; see
// exportlog.Log.AppendAsync). With one, the attempts of an export whose
// every record an upstream took are recorded just after the reply.
type AsyncAttemptLog interface {
	AttemptLog
	// AppendAsync records attempts as Append does and returns at once;
	// done gets Append's result, on another goroutine, and must be
	// quick.
	AppendAsync(attempts []*exportlog.Attempt, done func(error))
}

// Config configures New.
type Config struct {
	// Sink stores or forwards the records. Required.
	Sink Sink
	// Log records every attempt. Required.
	Log AttemptLog
	// Templates holds the reply.* blocks; nil means the embedded
	// defaults.
	Templates *templates.Set

	// Accounts are the logins allowed to export. With none, Open must
	// be set.
	Accounts []Account
	// Open accepts exports without checking any password. Only for a
	// listener bound to loopback with no accounts (see
	// CheckListenerSecurity); New refuses Open together with Accounts.
	Open bool
	// Canary is the probe's login, whose exports the sink must not
	// store.
	Canary Canary
	// TargetPrefix marks a targeting 035 $a, e.g. "(HVD01)"; empty
	// disables targeting.
	TargetPrefix string
	// RateLimit bounds failed logins per client address.
	RateLimit RateLimit

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the receiver's logs (never a password); nil means
	// slog.Default(). Lines carry component=receiver.
	Logger *slog.Logger
}

// Receiver is the import pipeline: a gateway.Handler and
// gateway.FailureObserver. Set its ErrorReply method as the
// gateway.Server's ErrorReply so that every reply comes from the
// templates. It is safe for concurrent use.
type Receiver struct {
	cfg     Config
	auth    *authenticator // nil on an open listener
	limit   *limiter
	replies *replies
	log     *slog.Logger
	now     func() time.Time
	recent  *recentReplies
	after   pendingCount // exports whose attempts are being recorded after their replies (recordAfter)
}

// pendingCount counts work in progress; unlike a sync.WaitGroup, work
// may start while someone waits.
type pendingCount struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (p *pendingCount) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *pendingCount) done() {
	p.mu.Lock()
	if p.n--; p.n == 0 && p.cond != nil {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

// wait returns once nothing is in progress.
func (p *pendingCount) wait() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cond == nil {
		p.cond = sync.NewCond(&p.mu)
	}
	for p.n > 0 {
		p.cond.Wait()
	}
}

var (
	_ gateway.Handler         = (*Receiver)(nil)
	_ gateway.FailureObserver = (*Receiver)(nil)
)

// New checks cfg (accounts and their password hashes, the reply
// templates) and returns a Receiver.
func New(cfg Config) (*Receiver, error) {
	if cfg.Sink == nil {
		return nil, errors.New("receiver: no sink")
	}
	if cfg.Log == nil {
		return nil, errors.New("receiver: no export log")
	}
	if cfg.Open && len(cfg.Accounts) > 0 {
		return nil, errors.New("receiver: an open listener takes no accounts (with accounts, every export needs a password)")
	}
	if !cfg.Open && len(cfg.Accounts) == 0 && (cfg.Canary.User == "" || cfg.Canary.Password == "") {
		return nil, errors.New("receiver: no accounts are configured and the listener is not open, so no export could ever be accepted")
	}
	if cfg.Templates == nil {
		t, err := templates.Load("")
		if err != nil {
			return nil, fmt.Errorf("receiver: %w", err)
		}
		cfg.Templates = t
	}
	if err := checkReplies(cfg.Templates); err != nil {
		return nil, fmt.Errorf("receiver: reply templates: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Receiver{
		cfg:     cfg,
		limit:   newLimiter(cfg.RateLimit, cfg.Now),
		replies: &replies{t: cfg.Templates, prefix: cfg.TargetPrefix},
		log:     cfg.Logger.With(slog.String("component", "receiver")),
		now:     cfg.Now,
		recent:  newRecentReplies(recentCapacity),
	}
	if !cfg.Open {
		a, err := newAuthenticator(cfg.Accounts, cfg.Canary)
		if err != nil {
			return nil, fmt.Errorf("receiver: %w", err)
		}
		r.auth = a
	}
	return r, nil
}

// exportState is what ServeExport knows about a request so far, for the
// panic handler.
type exportState struct {
	req      *gateway.Request
	user     string
	received time.Time
	records  []*recordState
	sinkUsed bool // Deliver was called: records may be stored
	logged   bool // the attempts were appended

	recordedIn *recorded // the attempt the sink wrote with the record (Export.RecordIn)
}

// recordState is one record's way through the pipeline.
type recordState struct {
	item      *Item
	notes     string   // what the rules did
	refused   *refusal // refused before the sink
	res       *Result  // the sink's verdict
	uncertain bool     // failed after the sink may have stored it
	decode    time.Duration
}

// ServeExport handles one export request (gateway.Handler): see the
// package comment. It never panics; a bug in the pipeline or the sink
// gets a failure reply that does not claim the record was saved or lost,
// is logged with its stack and recorded as ClassSystem/CauseInternal.
func (r *Receiver) ServeExport(ctx context.Context, req *gateway.Request) (reply string) {
	growStack(0) // once, now, rather than deep inside the pipeline
	st := &exportState{req: req, received: req.Received}
	if st.received.IsZero() {
		st.received = r.now()
	}
	defer func() {
		if p := recover(); p != nil {
			reply = r.recovered(ctx, st, p)
		}
	}()
	user, password := req.Credentials()
	st.user = clip(user, maxLoggedUser)

	exp := &Export{Request: req}
	var acct *account
	if r.auth == nil {
		exp.Canary = r.cfg.Canary.User != "" && user == r.cfg.Canary.User
	} else {
		key := limitKey(req.RemoteAddr)
		if wait, blocked := r.limit.blocked(key); blocked {
			wait = wait.Truncate(time.Second) + time.Second
			return r.requestEvent(ctx, st, exportlog.OutcomeRejected, exportlog.ClassRecord, exportlog.CauseRateLimited,
				ReplyRateLimit, ReplyData{Wait: wait},
				fmt.Sprintf("refused without checking the password: too many failed logins from %s; blocked for %s more", key, wait))
		}
		res, err := r.auth.check(ctx, user, password)
		if err != nil {
			return r.requestEvent(ctx, st, exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseInternal,
				ReplyFailed, ReplyData{Problem: "the server is shutting down"}, "login not checked: "+err.Error())
		}
		if !res.ok {
			r.limit.fail(key)
			return r.requestEvent(ctx, st, exportlog.OutcomeRejected, exportlog.ClassRecord, exportlog.CauseAuth,
				ReplyAuth, ReplyData{}, r.authDetail(user, password))
		}
		acct, exp.Canary = res.account, res.canary
		exp.User = user
	}

	n := len(req.Records)
	if n == 0 {
		return r.requestEvent(ctx, st, exportlog.OutcomeRejected, exportlog.ClassTransport, exportlog.CauseProtocol,
			ReplyEmpty, ReplyData{}, "the request ended without a record")
	}
	st.records = make([]*recordState, n)
	for i, raw := range req.Records {
		t := r.now()
		rs := r.prepareSafe(raw, i, acct)
		rs.decode = r.now().Sub(t)
		st.records[i] = rs
		if rs.refused == nil {
			exp.Items = append(exp.Items, rs.item)
		}
	}
	var store time.Duration
	if len(exp.Items) > 0 {
		st.sinkUsed = true
		t := r.now()
		if l, ok := r.cfg.Log.(TxAttemptLog); ok && n == 1 && len(exp.Items) == 1 && !exp.Canary {
			exp.RecordIn = r.recordIn(st, l, t)
		}
		results := r.cfg.Sink.Deliver(ctx, exp)
		store = r.now().Sub(t)
		r.settle(st, results)
	}
	return r.finish(ctx, st, store)
}

// authDetail says why a login failed, for the systems office (never the
// password).
func (r *Receiver) authDetail(user, password string) string {
	switch {
	case user == "":
		return "no Login ID was sent"
	case password == "":
		return fmt.Sprintf("login %q sent no password", clip(user, maxLoggedUser))
	case r.auth.accounts[user] == nil && user != r.cfg.Canary.User:
		return fmt.Sprintf("unknown login %q", clip(user, maxLoggedUser))
	}
	return fmt.Sprintf("wrong password for login %q", user)
}

// prepareSafe runs prepare, turning a panic into a system failure of
// this record only.
func (r *Receiver) prepareSafe(raw []byte, i int, acct *account) (rs *recordState) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic while preparing a record", slog.Int("record", i+1), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			rs = &recordState{item: &Item{Index: i, Raw: raw}, refused: &refusal{
				outcome: exportlog.OutcomeFailed, class: exportlog.ClassSystem, cause: exportlog.CauseInternal,
				problem: failureProblem(exportlog.CauseInternal), detail: fmt.Sprintf("internal error while preparing the record: panic: %v", p),
			}}
		}
	}()
	item, notes, rf := r.prepare(raw, i, acct)
	return &recordState{item: item, notes: notes, refused: rf}
}

// settle matches the sink's results to the records it was given.
func (r *Receiver) settle(st *exportState, results []Result) {
	k := 0
	for _, rs := range st.records {
		if rs.refused != nil {
			continue
		}
		if k >= len(results) {
			rs.uncertain = true
			rs.res = &Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseInternal,
				Detail: fmt.Sprintf("the sink %s returned %d results for %d records", r.cfg.Sink.Name(), len(results), k+1)}
			continue
		}
		res := &results[k]
		k++
		if !knownOutcome(res.Outcome) || !knownClass(res.Class) {
			res = &Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseInternal,
				Detail: fmt.Sprintf("the sink %s returned outcome %q, class %q", r.cfg.Sink.Name(), res.Outcome, res.Class)}
			rs.uncertain = true
		}
		rs.uncertain = rs.uncertain || res.Uncertain
		rs.res = res
	}
	if k < len(results) {
		r.log.Error("the sink returned more results than records", slog.String("sink", r.cfg.Sink.Name()),
			slog.Int("results", len(results)), slog.Int("records", k))
	}
}

func knownOutcome(o exportlog.Outcome) bool {
	switch o {
	case exportlog.OutcomeAdded, exportlog.OutcomeMerged, exportlog.OutcomeDuplicate, exportlog.OutcomeRelayed,
		exportlog.OutcomeQueued, exportlog.OutcomeDelivered, exportlog.OutcomeCanary, exportlog.OutcomeRejected, exportlog.OutcomeFailed:
		return true
	}
	return false
}

func knownClass(c exportlog.Class) bool {
	switch c {
	case exportlog.ClassNone, exportlog.ClassSystem, exportlog.ClassTransport, exportlog.ClassRecord:
		return true
	}
	return false
}

// finish renders the replies, records the attempts and returns the reply.
func (r *Receiver) finish(ctx context.Context, st *exportState, store time.Duration) string {
	if in := st.recordedIn; in != nil {
		if res := st.records[0].res; res != nil && res.Outcome == in.attempts[0].Outcome && res.SystemNumber == in.attempts[0].SystemNumber {
			r.recent.put(st.req, in.attempts[0].ID, in.reply[:len(in.reply)-1])
			for _, a := range in.attempts {
				r.logAttempt(ctx, a)
			}
			return in.reply
		}
		// A sink that broke Export.RecordIn's contract: the reply
		// follows what Deliver returned, recorded as a second attempt.
		r.log.Error("the sink's result differs from the one it recorded with the record",
			slog.String("sink", r.cfg.Sink.Name()), slog.Int64("attempt", in.attempts[0].ID))
	}
	reply, attempts := r.compose(st, store)
	if l, ok := r.cfg.Log.(AsyncAttemptLog); ok && st.allRelayed() {
		r.recordAfter(st, l, reply[:len(reply)-1], attempts)
		return reply
	}
	r.record(ctx, st, reply[:len(reply)-1], attempts...)
	for _, a := range attempts {
		r.logAttempt(ctx, a)
	}
	return reply
}

// Wait returns once the attempts of the exports answered so far are
// recorded (or their write has failed): those of exports whose every
// record an upstream took are written just after the reply. Closing the
// export log waits for them too.
func (r *Receiver) Wait() {
	r.after.wait()
}

// allRelayed reports whether an upstream took every record of the
// export (OutcomeRelayed): then each is safe there whatever happens to
// oclcbot, and its attempt is only the export log's bookkeeping.
func (st *exportState) allRelayed() bool {
	for _, rs := range st.records {
		if rs.refused != nil || rs.res == nil || rs.uncertain || rs.res.Outcome != exportlog.OutcomeRelayed {
			return false
		}
	}
	return len(st.records) > 0
}

// recordAfter records the attempts of an export whose records an
// upstream took while its reply goes out, instead of before: the relay
// adds to the cataloger's wait only what forwarding takes. A crash of
// oclcbot in that instant loses the attempts (the records are safe
// upstream, as the reply says); a power loss could take them anyway
// (Append does not wait for the disk). A client gone before the reply
// is reported against them once they are written (ExportFailed).
func (r *Receiver) recordAfter(st *exportState, l AsyncAttemptLog, reply string, attempts []*exportlog.Attempt) {
	st.logged = true
	later := &laterID{done: make(chan struct{})}
	r.recent.putReply(st.req, recentReply{reply: reply, later: later})
	req := st.req
	r.after.add()
	l.AppendAsync(attempts, func(err error) {
		defer r.after.done()
		if err != nil {
			r.log.Error("cannot record export attempts in the export log", slog.Any("err", err),
				slog.Any("request", req), slog.Int("attempts", len(attempts)))
		} else {
			later.id = attempts[0].ID
		}
		close(later.done)
		for _, a := range attempts {
			r.logAttempt(context.Background(), a)
		}
	})
}

// compose renders the reply (its lines, each ending in a newline) and
// builds the export log's attempts of a request whose records have all
// been decided.
func (r *Receiver) compose(st *exportState, store time.Duration) (string, []*exportlog.Attempt) {
	req := st.req
	n := len(st.records)
	lines := make([]string, n)
	attempts := make([]*exportlog.Attempt, n)
	for i, rs := range st.records {
		a, d := r.attemptFor(st, rs, store)
		d.Number, d.Count = i+1, n
		if rs.res != nil && rs.res.Reply != "" {
			lines[i] = strings.TrimSpace(rs.res.Reply)
		} else {
			block := r.replies.blockFor(a.Outcome, a.Cause)
			line, err := r.replies.render(block, d)
			if err != nil {
				r.log.Error("cannot render a reply", slog.String("block", block), slog.Any("err", err))
				line = fallbackReply
			}
			lines[i] = line
		}
		a.Reply = lines[i]
		attempts[i] = a
	}
	done := r.now()
	for _, a := range attempts {
		a.Done, a.Elapsed = done, done.Sub(st.received)
	}
	attempts[0].Request = req.Raw
	return joinLines(lines), attempts
}

// TxAttemptLog is an AttemptLog that can also record attempts inside
// another component's write transaction (*exportlog.Log; see
// Export.RecordIn).
type TxAttemptLog interface {
	AttemptLog
	// AppendAtCommit records the attempts compose returns in tx, just
	// before it commits; see exportlog.Log.AppendAtCommit.
	AppendAtCommit(tx *sql.Tx, compose func() []*exportlog.Attempt) (*exportlog.Pending, error)
}

// recorded is the reply and attempts of an export recorded in the
// sink's transaction (recordIn).
type recorded struct {
	reply    string
	attempts []*exportlog.Attempt
}

// recordIn returns the Export.RecordIn of a request of one record
// delivered at start. Called inside the sink's write with the record's
// Result, it composes the reply and the attempt from it as finish would,
// on a goroutine of its own, while the database's writer goes on with
// the other writes of its batch; the attempt is written just before the
// batch commits. Its Done, Store and Elapsed are taken when the sink
// decided.
func (r *Receiver) recordIn(st *exportState, l TxAttemptLog, start time.Time) func(*sql.Tx, Result) func(error) {
	return func(tx *sql.Tx, res Result) func(error) {
		res.Elapsed = r.now().Sub(start)
		ready := make(chan *recorded, 1)
		go func() {
			var rec *recorded
			defer func() {
				if p := recover(); p != nil {
					// The attempt is then recorded after Deliver.
					r.log.Error("panic while composing a reply", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				}
				ready <- rec
			}()
			rs := *st.records[0]
			tmp := *st
			tmp.records = []*recordState{&rs}
			r.settle(&tmp, []Result{res})
			reply, attempts := r.compose(&tmp, res.Elapsed)
			rec = &recorded{reply: reply, attempts: attempts}
		}()
		var rec *recorded
		composed := false // compose has waited for the goroutine
		p, err := l.AppendAtCommit(tx, func() []*exportlog.Attempt {
			rec, composed = <-ready, true
			if rec == nil {
				return nil
			}
			return rec.attempts
		})
		if err != nil {
			<-ready    // it reads st, which is the caller's again once this returns
			return nil // recorded after Deliver
		}
		return func(werr error) {
			if !composed {
				<-ready // the write failed before its commit: compose never ran
			}
			if p.Done(werr) == nil {
				st.recordedIn = rec
				st.logged = true
			}
		}
	}
}

// joinLines returns the lines, each followed by a newline, in one
// allocation.
func joinLines(lines []string) string {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// attemptFor builds the export log entry and the reply data of a record.
func (r *Receiver) attemptFor(st *exportState, rs *recordState, store time.Duration) (*exportlog.Attempt, ReplyData) {
	it := rs.item
	a := &exportlog.Attempt{
		RequestID: st.req.ID, Time: st.received, RemoteAddr: remote(st.req), User: st.user,
		Target: r.cfg.Sink.Name(), RecordIndex: it.Index, OCLCNumber: it.OCLCNumber, Title: it.Title,
		Decode: rs.decode, Record: it.Raw,
	}
	d := ReplyData{OCLCNumber: it.OCLCNumber, Title: it.Title, Target: it.Target}
	details := []string{}
	if rs.notes != "" {
		details = append(details, "rules: "+rs.notes)
	}
	switch {
	case rs.refused != nil:
		f := rs.refused
		a.Outcome, a.Class, a.Cause = f.outcome, f.class, f.cause
		details = append(details, f.detail)
		d.Problem = f.problem
	case rs.res != nil:
		res := rs.res
		a.Outcome, a.Class, a.Cause = res.Outcome, res.Class, res.Cause
		a.SystemNumber, a.Upstream = res.SystemNumber, res.Upstream
		a.Store = res.Elapsed
		if a.Store == 0 {
			a.Store = store
		}
		if res.Detail != "" {
			details = append(details, res.Detail)
		}
		d.SystemNumber, d.Sharing = res.SystemNumber, res.Sharing
		if res.Previous != nil {
			d.PreviousSystemNumber, d.PreviousTime = res.Previous.SystemNumber, res.Previous.Time
		}
		d.Policy = string(res.Policy)
		if d.Policy == "" {
			d.Policy = string(DuplicateSkip)
		}
		if res.Outcome == exportlog.OutcomeFailed {
			d.Problem = failureProblem(res.Cause)
		} else if res.Outcome == exportlog.OutcomeRejected {
			d.Problem = "the catalog refused it"
		}
	}
	d.Uncertain = rs.uncertain
	d.Outcome, d.Cause = string(a.Outcome), a.Cause
	a.Detail = strings.Join(details, "; ")
	return a, d
}

// requestEvent answers and records a request-level outcome (no record
// was handled).
func (r *Receiver) requestEvent(ctx context.Context, st *exportState, outcome exportlog.Outcome, class exportlog.Class, cause, block string, d ReplyData, detail string) string {
	d.Outcome, d.Cause, d.Count = string(outcome), cause, len(st.req.Records)
	line, err := r.replies.render(block, d)
	if err != nil {
		r.log.Error("cannot render a reply", slog.String("block", block), slog.Any("err", err))
		line = fallbackReply
	}
	done := r.now()
	a := &exportlog.Attempt{
		RequestID: st.req.ID, Time: st.received, Done: done, RemoteAddr: remote(st.req), User: st.user,
		Target: TargetListener, RecordIndex: -1, Outcome: outcome, Class: class, Cause: cause, Detail: detail,
		Reply: line, Elapsed: done.Sub(st.received), Request: st.req.Raw,
	}
	r.record(ctx, st, line, a)
	r.logAttempt(ctx, a)
	return line + "\n"
}

// record appends attempts to the export log (even if ctx was cancelled:
// what happened must be recorded) and remembers the reply (the attempts'
// Reply lines joined by newlines) in case the client turns out to be
// gone.
func (r *Receiver) record(ctx context.Context, st *exportState, reply string, attempts ...*exportlog.Attempt) {
	st.logged = true
	if err := r.cfg.Log.Append(context.WithoutCancel(ctx), attempts...); err != nil {
		r.log.Error("cannot record export attempts in the export log", slog.Any("err", err),
			slog.Any("request", st.req), slog.Int("attempts", len(attempts)))
	}
	r.recent.put(st.req, attempts[0].ID, reply)
}

// logAttempt writes one slog line per attempt: failures at a level
// matching their class, successes at debug.
func (r *Receiver) logAttempt(ctx context.Context, a *exportlog.Attempt) {
	level := slog.LevelDebug
	switch a.Class {
	case exportlog.ClassRecord, exportlog.ClassTransport:
		level = slog.LevelInfo
	case exportlog.ClassSystem:
		level = slog.LevelWarn
		if a.Cause == exportlog.CauseInternal {
			level = slog.LevelError
		}
	}
	if !r.log.Enabled(ctx, level) {
		return
	}
	r.log.LogAttrs(ctx, level, "export "+string(a.Outcome),
		slog.Int64("attempt", a.ID), slog.Uint64("request", a.RequestID), slog.Int("record", a.RecordIndex+1),
		slog.String("remote", a.RemoteAddr), slog.String("user", a.User), slog.String("target", a.Target),
		slog.String("oclc", a.OCLCNumber), slog.String("system_number", a.SystemNumber),
		slog.String("class", string(a.Class)), slog.String("cause", a.Cause), slog.String("detail", a.Detail),
		slog.Duration("elapsed", a.Elapsed))
}

// recovered handles a panic in ServeExport outside prepare: the records
// not yet recorded are recorded as internal failures, uncertain if the
// sink had been called.
func (r *Receiver) recovered(ctx context.Context, st *exportState, p any) string {
	r.log.Error("panic while handling an export", slog.Any("request", st.req), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
	d := ReplyData{Outcome: string(exportlog.OutcomeFailed), Cause: exportlog.CauseInternal,
		Problem: failureProblem(exportlog.CauseInternal), Uncertain: st.sinkUsed, Count: len(st.req.Records)}
	line, err := r.replies.render(ReplyFailed, d)
	if err != nil {
		line = fallbackReply
	}
	if st.logged {
		return line + "\n"
	}
	detail := fmt.Sprintf("internal error: panic: %v", p)
	if st.sinkUsed {
		detail += " (after the records were handed to " + r.cfg.Sink.Name() + ": they may have been stored)"
	}
	done := r.now()
	a := &exportlog.Attempt{
		RequestID: st.req.ID, Time: st.received, Done: done, RemoteAddr: remote(st.req), User: st.user,
		Target: TargetListener, RecordIndex: -1, Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem,
		Cause: exportlog.CauseInternal, Detail: detail, Reply: line, Elapsed: done.Sub(st.received), Request: st.req.Raw,
	}
	func() {
		defer func() { recover() }() // the log itself failing must not take the server down
		r.record(ctx, st, line, a)
	}()
	return line + "\n"
}

func remote(req *gateway.Request) string {
	if req.RemoteAddr == nil {
		return ""
	}
	return req.RemoteAddr.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
