package relay

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/receiver"
)

// queuedReply stands in for the receiver's template for a queued record.
const queuedReply = "Received and queued for the ILS: do NOT export it again.\n"

// listener is oclcbot's Connexion listener in relay mode, reduced to
// what the relay needs from the receiver: it prepares the records, hands
// them to the relay, logs each outcome in the export log (as the
// receiver does after Deliver) and answers the cataloger.
type listener struct {
	t    testing.TB
	srv  *gateway.Server
	addr string
	log  *exportlog.Log

	mu    sync.RWMutex // write-locked while the relay restarts
	relay *Relay
}

func startListener(t testing.TB, r *Relay, log *exportlog.Log) *listener {
	t.Helper()
	l := &listener{t: t, relay: r, log: log}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.addr = ln.Addr().String()
	l.srv = &gateway.Server{Handler: l, Logger: discardLogger()}
	go l.srv.Serve(ln)
	t.Cleanup(func() { l.srv.Close() })
	return l
}

func (l *listener) ServeExport(ctx context.Context, req *gateway.Request) string {
	user, _ := req.Credentials()
	exp := &receiver.Export{Request: req, User: user}
	for i, raw := range req.Records {
		exp.Items = append(exp.Items, itemFor(l.t, i, raw))
	}
	l.mu.RLock()
	r := l.relay
	results := r.Deliver(ctx, exp)
	l.mu.RUnlock()
	var reply strings.Builder
	var attempts []*exportlog.Attempt
	for i, res := range results {
		text := res.Reply
		switch {
		case text != "":
		case res.Outcome == exportlog.OutcomeQueued:
			text = queuedReply
		default:
			text = fmt.Sprintf("Error: %s (%s). Tell your systems office.\n", res.Outcome, res.Cause)
		}
		reply.WriteString(text)
		attempts = append(attempts, &exportlog.Attempt{RequestID: req.ID, Time: req.Received, Done: time.Now(),
			User: user, Target: r.Name(), RecordIndex: i, OCLCNumber: exp.Items[i].OCLCNumber, Title: exp.Items[i].Title,
			SystemNumber: res.SystemNumber, Outcome: res.Outcome, Class: res.Class, Cause: res.Cause, Detail: res.Detail,
			Reply: text, Upstream: res.Upstream, Record: req.Records[i], Request: req.Raw})
	}
	if l.log == nil {
		return reply.String()
	}
	if err := l.log.Append(context.Background(), attempts...); err != nil {
		l.t.Errorf("export log: %v", err)
	}
	return reply.String()
}

// restartRelay closes the relay and opens a new one on a reopened
// database, as a restart of oclcbot does; exports wait meanwhile.
func (l *listener) restartRelay(stopRun func(), cfg Config, path string) (*Relay, *db.DB, func()) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	stopRun()
	l.relay.Close()
	l.log.Close()
	cfg.DB.Close()
	d := openDB(l.t, path)
	l.t.Cleanup(func() { d.Close() })
	log, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		l.t.Fatal(err)
	}
	cfg.DB, cfg.Log, l.log = d, log, log
	l.relay = openRelay(l.t, cfg)
	l.t.Cleanup(func() { l.relay.Close() })
	return l.relay, d, runRelay(l.t, l.relay)
}

// TestEndToEnd200Records exports 200 records, one connection each, as a
// cataloger does, through oclcbot's listener in relay mode, in front of
// each receiver's stand-in (Koha, FOLIO, Evergreen, Aleph), while the
// upstream is stopped, restarted, slowed past the relay's reply
// timeout, slowed but within it, stopped and restarted again, and
// oclcbot itself restarts. Every record must reach the ILS exactly
// once, all in export order, and every cataloger must have been told the
// truth: the ILS's own reply for a record relayed at once, "queued" for
// one delivered later, and never an error.
func TestEndToEnd200Records(t *testing.T) {
	for _, style := range []string{"koha", "folio", "evergreen", "aleph"} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			testEndToEnd(t, style)
		})
	}
}

func testEndToEnd(t *testing.T, style string) {
	const n = 200
	ils := newFakeILS(t, style)
	d, path := newDB(t)
	log, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ils.relayConfig(d) // with the Listener's probe
	cfg.Log = log
	// Generous while the upstream is healthy, so that "relayed at once"
	// does not depend on the machine's load; short (by a restart) for the
	// phase where the upstream is slowed past it.
	cfg.ReplyTimeout = 10 * time.Second
	r := openRelay(t, cfg)
	stopRun := runRelay(t, r)
	l := startListener(t, r, log)
	cataloger := &gateway.Client{Addr: l.addr, Timeout: 30 * time.Second}

	raws := make([][]byte, n)
	replies := make([]string, n)
	for i := range n {
		switch i {
		case 40:
			ils.stop()
		case 80:
			ils.start()
		case 100:
			cfg.ReplyTimeout = 100 * time.Millisecond
			r, d, stopRun = l.restartRelay(stopRun, cfg, path)
			cfg.DB = d
		case 120:
			ils.set(modeSlow, 250*time.Millisecond) // > ReplyTimeout, < LateReplyLimit
		case 140, 190:
			// The cataloger pauses until the backlog is delivered:
			// then records go straight through again.
			ils.set(modeOK, 0)
			drained := func() bool {
				st, err := r.Stats(context.Background())
				return err == nil && st.Waiting == 0
			}
			for deadline := time.Now().Add(2 * time.Minute); !drained() && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if !drained() {
				st, _ := r.Stats(context.Background())
				es, _ := r.List(context.Background(), ListOptions{})
				t.Fatalf("export %d: the queue did not drain: %+v; first entries %+v", i, st, es[:min(3, len(es))])
			}
			if i == 140 {
				cfg.ReplyTimeout = 10 * time.Second
				r, d, stopRun = l.restartRelay(stopRun, cfg, path)
				cfg.DB = d
				ils.set(modeSlow, 30*time.Millisecond) // < ReplyTimeout: relayed at once
			}
		case 160:
			ils.stop()
		case 180:
			ils.start()
		}
		raws[i] = makeRecord(t, 10000+i, fmt.Sprintf("Export %d", i))
		reply, err := cataloger.Export(context.Background(), "cat1", "secret1", raws[i])
		if err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
		replies[i] = reply
	}

	imp := ils.waitImports(n, 2*time.Minute)
	time.Sleep(200 * time.Millisecond) // a few PollEvery: nothing more may arrive
	imp = ils.importsCopy()
	if len(imp) != n {
		t.Fatalf("the ILS imported %d records, want %d exactly once each", len(imp), n)
	}
	position := make(map[string]int, n)
	for i, im := range imp {
		if _, dup := position[im.record]; dup {
			t.Errorf("record imported twice (arrival %d)", i)
		}
		position[im.record] = i
	}
	queued := 0
	for i, raw := range raws {
		p, ok := position[string(raw)]
		if !ok {
			t.Errorf("export %d never reached the ILS", i)
			continue
		}
		if p != i {
			t.Errorf("export %d arrived in position %d: order not kept", i, p)
		}
		switch replies[i] {
		case queuedReply:
			queued++
		case ils.successReply(imp[p].number):
			// Relayed at once: the cataloger saw the ILS's reply about
			// this very record.
		default:
			t.Errorf("export %d: reply %q, want %q or the queued reply", i, replies[i], ils.successReply(imp[p].number))
		}
		wantQueued := (i >= 40 && i < 80) || i == 120 || (i >= 160 && i < 180)
		wantRelayed := i < 40 || (i >= 140 && i < 160) || i >= 190
		if wantQueued && replies[i] != queuedReply || wantRelayed && replies[i] == queuedReply {
			t.Errorf("export %d: reply %q", i, replies[i])
		}
	}
	t.Logf("%d of %d exports were queued and delivered later", queued, n)
	if queued < 61 {
		t.Errorf("only %d exports were queued; the scenario did not happen", queued)
	}

	// Every queued record was delivered, and the export log says so,
	// each delivery following the attempt that queued it.
	waitFor(t, time.Minute, "every delivered event in the export log", func() bool {
		as, err := l.log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeDelivered, Limit: -1})
		return err == nil && len(as) == queued
	})
	delivered, _ := l.log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeDelivered, Limit: -1})
	queuedAttempts, _ := l.log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeQueued, Limit: -1})
	isQueued := map[int64]bool{}
	for _, a := range queuedAttempts {
		isQueued[a.ID] = true
	}
	follows := map[int64]int{}
	for _, a := range delivered {
		follows[a.Follows]++
		if !isQueued[a.Follows] {
			t.Errorf("delivered event %d follows %d, which is not a queued attempt", a.ID, a.Follows)
		}
	}
	for id, k := range follows {
		if k != 1 {
			t.Errorf("queued attempt %d has %d delivered events", id, k)
		}
	}
	es := listAll(t, r)
	for _, e := range es {
		if e.State != StateDelivered {
			t.Errorf("queue entry %d is %s: %s", e.ID, e.State, e.LastError)
		}
	}
}
