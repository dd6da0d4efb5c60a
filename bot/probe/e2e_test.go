package probe_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/bot/probe/probetest"
	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/receiver/relay"
)

// The probes against the real receiving path: the public gateway
// listener, the receiver, its sink (embedded catalog or relay), the
// export log and the catalog's search.

// catalogerUser exports on the open (loopback, no passwords) listener.
const catalogerUser = "cat1"

// receivingPath is a running oclcbot receiving side.
type receivingPath struct {
	addr string // the public Connexion listener
	log  *exportlog.Log
	cat  *catalog.Catalog
}

// startReceivingPath starts the receiver on a loopback listener. With
// open, it needs no passwords (the default set-up; the canary is known by
// its login); otherwise only the canary account, with its password, may
// export. With upstream == "" records go to the embedded catalog;
// otherwise they are relayed to upstream.
func startReceivingPath(t *testing.T, upstream string, open bool) *receivingPath {
	t.Helper()
	ctx := t.Context()
	d, err := db.Open(filepath.Join(t.TempDir(), "oclcbot.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	log, err := exportlog.Open(ctx, d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cat, err := catalog.Open(ctx, d, catalog.Options{LibraryCode: "HVD01"})
	if err != nil {
		t.Fatal(err)
	}
	var sink receiver.Sink
	if upstream == "" {
		if sink, err = receiver.NewCatalogSink(receiver.CatalogConfig{Catalog: cat}); err != nil {
			t.Fatal(err)
		}
	} else {
		r, err := relay.Open(ctx, relay.Config{Upstream: upstream, DB: d, Log: log, Policy: relay.PolicyReject, ReplyTimeout: guard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		sink = r
	}
	cfg := receiver.Config{Sink: sink, Log: log, Open: open, Logger: discard(),
		Canary: receiver.Canary{User: probe.DefaultCanaryUser}}
	if !open {
		cfg.Canary.Password = canaryPassword
	}
	rcv, err := receiver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveGateway(t, &gateway.Server{Handler: rcv, ErrorReply: rcv.ErrorReply, IdleTimeout: guard, Logger: discard()})
	return &receivingPath{addr: addr, log: log, cat: cat}
}

// export sends rec as a cataloger would and returns the reply.
func (p *receivingPath) export(t *testing.T, rec []byte) string {
	t.Helper()
	reply, err := (&gateway.Client{Addr: p.addr}).Export(shortCtx(t, guard), catalogerUser, "", rec)
	if err != nil {
		t.Fatalf("cataloger's export: %v", err)
	}
	return reply
}

func (p *receivingPath) canary(t *testing.T, password string) probe.Probe {
	t.Helper()
	c, err := probe.NewCanary(probe.CanaryConfig{Exporter: &gateway.Client{Addr: p.addr}, Password: config.NewSecret(password)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bookRecord returns a small UTF-8 record with an OCLC number and title.
func bookRecord(t *testing.T, oclc, title string) []byte {
	t.Helper()
	r := marc.NewRecord()
	r.Fields = []marc.Field{
		{Tag: "001", Value: "ocm" + oclc},
		{Tag: "003", Value: "OCoLC"},
		{Tag: "008", Value: "851003s1851    nyu           000 1 eng d"},
		{Tag: "040", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "DLC"}, {Code: 'b', Value: "eng"}}},
		{Tag: "100", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "Melville, Herman."}}},
		{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: title}}},
	}
	b, err := marc.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCanaryThroughTheRealReceiver(t *testing.T) {
	p := startReceivingPath(t, "", false)
	r := p.canary(t, canaryPassword).Func(shortCtx(t, guard))
	// The reply, verbatim: one line per record.
	if !r.OK || r.Message != probe.CanaryReplyText+"\n" {
		t.Fatalf("canary through the receiver = %+v (message %q), want success with the reply %q", r, r.Message, probe.CanaryReplyText)
	}
	// Nothing of it was stored.
	hits, err := p.cat.Search(t.Context(), "oclcbot canary record", 10)
	if err != nil && !errors.Is(err, catalog.ErrEmptyQuery) {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Fatalf("the canary record is in the catalog: %+v", hits)
	}
	as, err := p.log.List(t.Context(), exportlog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Outcome != exportlog.OutcomeCanary || as[0].SystemNumber != "" {
		t.Fatalf("export log after the canary: %+v, want one canary attempt storing nothing", as)
	}

	// A canary whose password no longer matches the receiver's fails with
	// the reply catalogers would get, without the password.
	r = p.canary(t, "stale-canary-password").Func(shortCtx(t, guard))
	t.Logf("canary with a stale password: %+v", r)
	if r.OK || r.Cause != probe.CauseBadReply || r.Message == "" || strings.Contains(r.Message, "stale-canary-password") {
		t.Fatalf("canary with a wrong password = %+v, want a bad-reply failure quoting the receiver", r)
	}
}

func TestCanaryThroughTheRealRelay(t *testing.T) {
	var forwarded atomic.Int32
	upstream, stopUpstream := gatewayServer(t, func(context.Context, *gateway.Request) string {
		forwarded.Add(1)
		return "Import ok"
	})
	p := startReceivingPath(t, upstream, false)
	c := p.canary(t, canaryPassword)
	if r := c.Func(shortCtx(t, guard)); !r.OK || r.Message != probe.CanaryReplyText+"\n" {
		t.Fatalf("canary through the relay = %+v, want success", r)
	}
	stopUpstream()
	r := c.Func(shortCtx(t, guard))
	t.Logf("canary with the upstream stopped: %+v", r)
	if r.OK || r.Cause != probe.CauseBadReply || r.Message == "" || strings.Contains(r.Message, canaryPassword) {
		t.Fatalf("canary with the upstream stopped = %+v, want a bad-reply failure quoting the receiver", r)
	}
	if n := forwarded.Load(); n != 0 {
		t.Fatalf("the upstream received %d canary exports, want none", n)
	}
}

func TestIndexCheckAgainstTheRealCatalog(t *testing.T) {
	p := startReceivingPath(t, "", true)
	src := &signallingSource{sub: p.log.Subscribe(0), handled: make(chan int, 1)}
	clock := probetest.NewClock(t0)
	c, err := probe.NewIndexCheck(probe.IndexConfig{Attempts: src, Finder: p.cat, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	watching := make(chan struct{})
	go func() { defer close(watching); c.Watch(ctx) }()
	t.Cleanup(func() { cancel(); <-watching })

	reply := p.export(t, bookRecord(t, "00012345", "Moby-Dick, or, The whale /"))
	if !strings.HasPrefix(reply, "Added to the catalog as system number") {
		t.Fatalf("cataloger's export: reply %q", reply)
	}
	src.waitHandled(t, 1)
	as, err := p.log.List(t.Context(), exportlog.Filter{})
	if err != nil || len(as) != 1 || as[0].SystemNumber == "" {
		t.Fatalf("export log: %+v, %v", as, err)
	}
	want := "1 record findable by title: " + as[0].SystemNumber + "; 0 waiting"
	if r := c.Check(shortCtx(t, guard)); !r.OK || r.Message != want {
		t.Fatalf("index check = %+v, want success %q", r, want)
	}
	if st := c.Stats(); st.Found != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}
