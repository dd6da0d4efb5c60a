package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/internal/testutil"
	"github.com/oclcbot/oclcbot/marc"
)

// Record building.

func ctl(tag, value string) marc.Field { return marc.Field{Tag: tag, Value: value} }

// dat builds a data field from code/value pairs: dat("245", "10", "a", "Title").
func dat(tag, ind string, cv ...string) marc.Field {
	f := marc.Field{Tag: tag, Ind1: ind[0], Ind2: ind[1]}
	for i := 0; i+1 < len(cv); i += 2 {
		f.Subfields = append(f.Subfields, marc.Subfield{Code: cv[i][0], Value: cv[i+1]})
	}
	return f
}

// record returns an encoded record; coding is leader/09 (' ' MARC-8, 'a'
// UTF-8).
func record(tb testing.TB, coding byte, fields ...marc.Field) []byte {
	tb.Helper()
	r := marc.NewRecord()
	r.Leader[marc.CharCodingPos] = coding
	r.Leader[marc.EncodingLevelPos] = ' '
	r.Fields = fields
	b, err := marc.Encode(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// engRecord is a typical Connexion export in UTF-8: OCLC number in 001,
// 040 $b eng, 049 HVDA.
func engRecord(tb testing.TB, oclc, title string, extra ...marc.Field) []byte {
	fields := []marc.Field{
		ctl("001", "ocm"+oclc+" "), ctl("003", "OCoLC"), ctl("005", "20260302104200.0"),
		ctl("008", "850101s1985    nyu           000 0 eng d"),
		dat("035", "  ", "a", "(OCoLC)"+oclc),
		dat("040", "  ", "a", "DLC", "b", "eng", "c", "DLC"),
		dat("049", "  ", "a", "HVDA"),
		dat("100", "1 ", "a", "Doe, Jane,", "d", "1950-"),
		dat("245", "10", "a", title+" /", "c", "Jane Doe."),
	}
	fields = append(fields, extra...)
	marcSort(fields)
	return record(tb, 'a', fields...)
}

func marcSort(fs []marc.Field) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j-1].Tag > fs[j].Tag; j-- {
			fs[j-1], fs[j] = fs[j], fs[j-1]
		}
	}
}

// A sink that keeps what it is given, numbers new records and can be
// told to fail.

type memSink struct {
	mu      sync.Mutex
	name    string
	next    int
	exports []*Export
	byOCLC  map[string]string // OCLC number -> system number
	fail    func(it *Item) *Result
	block   chan struct{} // when set, Deliver waits on it
	entered chan struct{} // when set, Deliver signals here on entry
}

func newMemSink() *memSink { return &memSink{name: "catalog", byOCLC: map[string]string{}} }

func (s *memSink) Name() string { return s.name }

func (s *memSink) Deliver(ctx context.Context, exp *Export) []Result {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exports = append(s.exports, exp)
	out := make([]Result, len(exp.Items))
	for i, it := range exp.Items {
		if s.fail != nil {
			if r := s.fail(it); r != nil {
				out[i] = *r
				continue
			}
		}
		if exp.Canary {
			out[i] = Result{Outcome: exportlog.OutcomeCanary}
			continue
		}
		if it.Target != "" {
			out[i] = Result{Outcome: exportlog.OutcomeMerged, SystemNumber: it.Target}
			continue
		}
		if sn, ok := s.byOCLC[it.OCLCNumber]; ok && it.OCLCNumber != "" {
			out[i] = Result{Outcome: exportlog.OutcomeMerged, SystemNumber: sn}
			continue
		}
		s.next++
		sn := fmt.Sprintf("%09d", s.next)
		if it.OCLCNumber != "" {
			s.byOCLC[it.OCLCNumber] = sn
		}
		out[i] = Result{Outcome: exportlog.OutcomeAdded, SystemNumber: sn}
	}
	return out
}

func (s *memSink) items() []*Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Item
	for _, e := range s.exports {
		out = append(out, e.Items...)
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.Buffer

// clock is a test clock: a fixed time (t), or, when t is zero, the real
// time shifted by what Add added.
type clock struct {
	mu  sync.Mutex
	t   time.Time
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now().Add(c.off)
	}
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.off += d
	} else {
		c.t = c.t.Add(d)
	}
}

var t0 = time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)

// env is a receiver wired to a real export log, optionally served by a
// real gateway.Server.
type env struct {
	rcv    *Receiver
	sink   *memSink
	log    *exportlog.Log
	db     *db.DB
	logs   *syncBuffer
	clock  *clock
	addr   string
	server *gateway.Server
}

func newEnv(tb testing.TB, cfg Config) *env {
	tb.Helper()
	return newEnvDB(tb, cfg, db.Options{Synchronous: db.SyncNormal}) // tests need no power-loss safety
}

// newEnvDB is newEnv with the database options given.
func newEnvDB(tb testing.TB, cfg Config, opt db.Options) *env {
	tb.Helper()
	d, err := db.Open(filepath.Join(tb.TempDir(), "oclcbot.db"), opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	l, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	e := &env{log: l, db: d, logs: &syncBuffer{}, clock: &clock{}}
	if cfg.Sink == nil {
		e.sink = newMemSink()
		cfg.Sink = e.sink
	}
	cfg.Log = l
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	if !cfg.Open && len(cfg.Accounts) == 0 && cfg.Canary.Password == "" {
		cfg.Open = true
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.rcv, err = New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// serve starts a gateway.Server for the receiver on 127.0.0.1:0.
func (e *env) serve(tb testing.TB) { tb.Helper(); e.serveWith(tb, nil) }

// serveWith is serve with the Server adjusted by set before it starts.
func (e *env) serveWith(tb testing.TB, set func(*gateway.Server)) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.server = &gateway.Server{Handler: e.rcv, ErrorReply: e.rcv.ErrorReply, Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
		IdleTimeout: 5 * time.Second}
	if set != nil {
		set(e.server)
	}
	done := make(chan error, 1)
	go func() { done <- e.server.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.server.Shutdown(ctx)
		if err := <-done; !errors.Is(err, gateway.ErrServerClosed) {
			tb.Errorf("Serve: %v", err)
		}
	})
	e.addr = ln.Addr().String()
}

// export sends one request through a gateway.Client.
func (e *env) export(tb testing.TB, req *gateway.Request) string {
	tb.Helper()
	c := &gateway.Client{Addr: e.addr, Timeout: 30 * time.Second}
	reply, err := c.Do(context.Background(), req)
	if err != nil {
		tb.Fatalf("export: %v", err)
	}
	return reply
}

// attempts returns the whole export log, oldest first.
func (e *env) attempts(tb testing.TB) []*exportlog.Attempt {
	tb.Helper()
	e.rcv.Wait() // attempts of relayed exports are recorded after the reply
	as, err := e.log.List(context.Background(), exportlog.Filter{Limit: -1})
	if err != nil {
		tb.Fatal(err)
	}
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as
}

// testHash makes a cheap password hash (the minimum iterations) so that
// tests stay fast; verification reads the count from the hash.
func testHash(tb testing.TB, pw string) string {
	tb.Helper()
	h, err := hashPassword(pw, minIterations)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// tcpAddr parses "ip:port" for Request.RemoteAddr.
func tcpAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}
