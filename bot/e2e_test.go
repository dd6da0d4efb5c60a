package bot_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/receiver/relay"
	"github.com/oclcbot/oclcbot/templates"
)

// End-to-end outages through the real pieces: Connexion exports over TCP
// to the gateway server, the receiver, the relay sink and a stand-in ILS
// listener that is stopped and started; the export log; the probes; the
// engine judging the log as the daemon does; the dispatcher's production
// loop. The tests wait for what must happen (with a generous deadline as
// the failure guard) and never for a fixed time.

// tape is a channel that reports each delivery.
type tape struct {
	mu   sync.Mutex
	keys []string
	got  chan string
}

func newTape() *tape { return &tape{got: make(chan string, 100)} }

func (t *tape) Send(ctx context.Context, n *incidents.Notification) error {
	t.mu.Lock()
	t.keys = append(t.keys, n.Key)
	t.mu.Unlock()
	t.got <- n.Key
	return nil
}

func (t *tape) all() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.keys)
}

func (t *tape) await(tb testing.TB, prefix string) string {
	tb.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case k := <-t.got:
			if strings.HasPrefix(k, prefix) || strings.Contains(k, prefix) {
				return k
			}
		case <-deadline:
			tb.Fatalf("no %s delivered; got %v", prefix, t.all())
		}
	}
}

// server is a Connexion listener that can be stopped and started again on
// the same address: the stand-in ILS, or oclcbot's own listener.
type server struct {
	addr    string
	handler gateway.Handler
	errRep  func(error) string
	srv     *gateway.Server
	done    chan error
}

// ilsHandler is a stand-in for the library system's importer.
type ilsHandler struct{}

func (ilsHandler) ServeExport(ctx context.Context, req *gateway.Request) string {
	return "Record added as 000123.\n"
}

func (u *server) start(tb testing.TB) {
	tb.Helper()
	addr := u.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.srv = &gateway.Server{Handler: u.handler, ErrorReply: u.errRep, Logger: slog.New(slog.DiscardHandler)}
	u.done = make(chan error, 1)
	go func() { u.done <- u.srv.Serve(ln) }()
}

func (u *server) stop() {
	if u.srv == nil {
		return
	}
	u.srv.Close()
	<-u.done
	u.srv = nil
}

type stack struct {
	ctx      context.Context
	d        *db.DB
	xl       *exportlog.Log
	st       *sqlite.Store
	eng      *bot.Engine
	listserv *tape
	slack    *tape
	front    *server
}

func newStack(t *testing.T, sink func(d *db.DB, xl *exportlog.Log) receiver.Sink, rules bot.Rules) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := db.Open(filepath.Join(t.TempDir(), "oclcbot.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	xl, err := exportlog.Open(ctx, d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{ctx: ctx, d: d, xl: xl, st: st, listserv: newTape(), slack: newTape()}
	rcv, err := receiver.New(receiver.Config{Sink: sink(d, xl), Log: xl, Open: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.front = &server{handler: rcv, errRep: rcv.ErrorReply}
	s.front.start(t)

	set := templates.MustLoadDefaults()
	chans := []bot.ChannelConfig{{Name: "listserv", Channel: s.listserv}, {Name: "slack", Channel: s.slack, Templates: bot.FamilySlack}}
	disp, err := bot.NewDispatcher(bot.DispatcherConfig{Outbox: st, Channels: chans, Templates: set})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetState(ctx, bot.KeyCursor, "0"); err != nil {
		t.Fatal(err)
	}
	s.eng, err = bot.New(ctx, bot.Config{Store: st, Templates: set, Channels: chans, Wake: disp.Wake, Rules: rules, TickEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { disp.Run(ctx) })
	wg.Go(func() { s.eng.Run(ctx, bot.ExportLog(xl)) })
	t.Cleanup(func() {
		s.front.stop()
		cancel()
		wg.Wait()
		xl.Close()
		d.Close()
	})
	return s
}

func record(tb testing.TB, n int) []byte {
	r := marc.NewRecord()
	r.AddField(marc.Field{Tag: "001", Value: fmt.Sprintf("ocm%08d", n)})
	r.AddField(marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: fmt.Sprintf("Record number %d", n)}}})
	b, err := marc.Encode(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (s *stack) export(tb testing.TB, n int) string {
	tb.Helper()
	c := &gateway.Client{Addr: s.front.addr, Timeout: 30 * time.Second}
	reply, err := c.Export(s.ctx, "cataloger", "", record(tb, n))
	if err != nil {
		tb.Fatal(err)
	}
	return reply
}

func (s *stack) only(tb testing.TB) *incidents.Incident {
	tb.Helper()
	list, err := s.st.List(s.ctx, sqlite.Filter{})
	if err != nil {
		tb.Fatal(err)
	}
	if len(list) != 1 {
		tb.Fatalf("%d incidents, want exactly 1", len(list))
	}
	inc, err := s.st.Incident(s.ctx, list[0].ID)
	if err != nil {
		tb.Fatal(err)
	}
	return inc
}

func TestRelayUpstreamStoppedAndStarted(t *testing.T) {
	up := &server{handler: ilsHandler{}}
	up.start(t)
	var rl *relay.Relay
	s := newStack(t, func(d *db.DB, xl *exportlog.Log) receiver.Sink {
		var err error
		rl, err = relay.Open(context.Background(), relay.Config{Upstream: up.addr, DB: d, Log: xl,
			ConnectTimeout: time.Second, ReplyTimeout: 2 * time.Second, InitialBackoff: 50 * time.Millisecond,
			MaxBackoff: 200 * time.Millisecond, PollEvery: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return rl
	}, bot.Rules{})
	ctx, cancel := context.WithCancel(s.ctx)
	runDone := make(chan struct{})
	go func() { rl.Run(ctx); close(runDone) }()
	t.Cleanup(func() { cancel(); <-runDone; rl.Close() })

	for i := range 3 {
		s.export(t, i)
	}
	up.stop()
	for i := 3; i < 7; i++ {
		s.export(t, i) // kept by the relay: store and forward
	}
	alert := s.listserv.await(t, "/alert/")
	up.start(t) // the relay delivers the queued records; the bot sees them through
	solved := s.listserv.await(t, "/solved/")
	s.slack.await(t, "/solved/")
	s.export(t, 7)
	inc := s.only(t)
	if want := "upstream:" + up.addr; inc.Target != want || inc.State != incidents.StateSolved {
		t.Fatalf("incident on %s, %s", inc.Target, inc.State)
	}
	if alert != inc.ID+"/alert/1/listserv" || !strings.HasPrefix(solved, inc.ID+"/solved/") {
		t.Fatalf("alert %s solved %s", alert, solved)
	}
	if got := s.listserv.all(); len(got) != 2 && !(len(got) == 3 && strings.Contains(got[1], "/update/")) {
		t.Fatalf("listserv got %v: want one ALERT and one SOLVED", got)
	}
	// Every record exported during the outage was queued and, once the
	// ILS was back, delivered: nobody has to export anything again.
	if len(inc.Affected) != 4 {
		t.Fatalf("%d affected records, want 4", len(inc.Affected))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		inc = s.only(t)
		c := inc.CountRecords()
		if c.Delivered == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records: %+v, want all 4 delivered later", c)
		}
		time.Sleep(20 * time.Millisecond) // polling the store for an eventual state
	}
}

func TestListenerClosedAndReopened(t *testing.T) {
	s := newStack(t, func(d *db.DB, xl *exportlog.Log) receiver.Sink {
		return nopSink{}
	}, bot.Rules{RecoverHealthy: 300 * time.Millisecond})
	// The probe dials oclcbot's listener as a Connexion client would, at a
	// short interval for the test.
	p := probe.NewListenerTCP(s.front.addr, nil)
	p.Interval, p.Timeout = 50*time.Millisecond, time.Second
	sch, err := probe.NewScheduler(probe.Config{Probes: []probe.Probe{p}, Emit: func(o bot.Observation) {
		if err := s.eng.Observe(s.ctx, o); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() { sch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	s.front.stop()
	alert := s.listserv.await(t, "/alert/")
	s.front.start(t)
	solved := s.listserv.await(t, "/solved/")
	inc := s.only(t)
	if inc.Target != incidents.TargetListener || inc.Severity != incidents.SeverityCritical {
		t.Fatalf("incident %s %s", inc.Target, inc.Severity)
	}
	if alert != inc.ID+"/alert/1/listserv" || !strings.HasPrefix(solved, inc.ID+"/solved/") {
		t.Fatalf("alert %s solved %s", alert, solved)
	}
}

// nopSink accepts every record (the listener test exports nothing).
type nopSink struct{}

func (nopSink) Name() string { return "catalog" }
func (nopSink) Deliver(ctx context.Context, exp *receiver.Export) []receiver.Result {
	out := make([]receiver.Result, len(exp.Items))
	for i := range out {
		out[i] = receiver.Result{Outcome: exportlog.OutcomeAdded}
	}
	return out
}

func TestCatalogUnwritableAndWritableAgain(t *testing.T) {
	var cat *catalog.Catalog
	var catDB *db.DB
	s := newStack(t, func(_ *db.DB, xl *exportlog.Log) receiver.Sink {
		// The catalog has its own database file here, so that making it
		// unwritable leaves the export log working, as when the
		// catalog's disk fills or its file turns read-only.
		var err error
		catDB, err = db.Open(filepath.Join(t.TempDir(), "catalog.db"), db.Options{Synchronous: db.SyncNormal})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { catDB.Close() })
		if cat, err = catalog.Open(context.Background(), catDB, catalog.Options{LibraryCode: "HVD01"}); err != nil {
			t.Fatal(err)
		}
		sink, err := receiver.NewCatalogSink(receiver.CatalogConfig{Catalog: cat})
		if err != nil {
			t.Fatal(err)
		}
		return sink
	}, bot.Rules{})
	// The outage: every write to the catalog fails as on a full disk
	// (SQLite's query_only would also refuse the writer's own BEGIN, so
	// that the test could not end the outage again).
	readOnly := func(on bool) {
		stmt := "DROP TRIGGER catalog_full"
		if on {
			stmt = "CREATE TRIGGER catalog_full BEFORE INSERT ON catalog_versions BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
		}
		if err := catDB.Write(s.ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(stmt)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	for i := range 2 {
		if r := s.export(t, i); !strings.Contains(r, "Added") {
			t.Fatalf("before the outage: %q", r)
		}
	}
	readOnly(true)
	var failed []string
	for i := 2; i < 5; i++ {
		r := s.export(t, i)
		if strings.Contains(r, "Added") {
			t.Fatalf("export %d while the catalog is unwritable: %q", i, r)
		}
		failed = append(failed, r)
	}
	alert := s.listserv.await(t, "/alert/")
	readOnly(false)
	for i := 5; i < 8; i++ {
		if r := s.export(t, i); !strings.Contains(r, "Added") {
			t.Fatalf("after the outage: %q", r)
		}
	}
	solved := s.listserv.await(t, "/solved/")
	inc := s.only(t)
	if inc.Target != "catalog" || inc.State != incidents.StateSolved {
		t.Fatalf("incident on %q, %s; want one solved incident on the catalog", inc.Target, inc.State)
	}
	if alert != inc.ID+"/alert/1/listserv" || !strings.HasPrefix(solved, inc.ID+"/solved/") {
		t.Fatalf("alert %s solved %s", alert, solved)
	}
	// The three records refused during the outage are the incident's,
	// each to be exported again: the catalog never stored them.
	if c := inc.CountRecords(); len(inc.Affected) != 3 || c.Reexport != 3 {
		t.Fatalf("affected %d, counts %+v; want 3 records needing re-export (replies %q)", len(inc.Affected), c, failed)
	}
	if got := s.listserv.all(); len(got) != 2 && !(len(got) == 3 && strings.Contains(got[1], "/update/")) {
		t.Fatalf("listserv got %v: want one ALERT and one SOLVED", got)
	}
}
