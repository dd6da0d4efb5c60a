package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/probe/probetest"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/internal/testutil"
)

const (
	testUser     = "oclcbot"
	testPassword = "s3cret-Imap-pa55"
	doneFolder   = "Processed"
)

// imapServer is an in-process IMAP server (imapmemserver) with one user
// and an INBOX.
type imapServer struct {
	user *imapmemserver.User
	addr string
}

// newIMAPServer starts a server; tune adjusts its options, wrap (when
// given) its listener (TLS).
func newIMAPServer(t *testing.T, tune func(*imapserver.Options), wrap ...func(net.Listener) net.Listener) *imapServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(testUser, testPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	}
	if tune != nil {
		tune(opts)
	}
	srv := imapserver.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	for _, f := range wrap {
		ln = f(ln)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &imapServer{user: user, addr: addr}
}

// deliver appends raw to the INBOX.
func (s *imapServer) deliver(t testing.TB, raw []byte) imap.UID {
	t.Helper()
	data, err := s.user.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return data.UID
}

// count returns the number of messages in folder (-1 when it does not exist).
func (s *imapServer) count(folder string) int {
	st, err := s.user.Status(folder, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}

// proxy sits between the watcher and the server to misbehave on demand:
// hide IDLE, drop every connection, swallow a command so it never gets
// an answer. It records the commands clients send.
type proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	wmu       sync.Mutex // serialises writes to clients (pipe, announce)
	conns     []net.Conn
	clients   []net.Conn
	stripIdle bool
	hideNews  bool   // drop "* n EXISTS" (a server that forgets to tell)
	stall     string // swallow the next client line containing this
	commands  []string
	idling    bool // the server has accepted the client's IDLE, not yet DONE
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.dropAll() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.clients = append(p.clients, c)
		p.mu.Unlock()
		go p.pipe(c, s, true)
		go p.pipe(s, c, false)
	}
}

// pipe copies lines from src to dst, applying the misbehaviours.
func (p *proxy) pipe(src, dst net.Conn, fromClient bool) {
	defer src.Close()
	defer dst.Close()
	r := bufio.NewReader(src)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			p.mu.Lock()
			if fromClient {
				p.commands = append(p.commands, strings.TrimSpace(line))
				p.idling = false
				if p.stall != "" && strings.Contains(line, p.stall) {
					p.stall = ""
					line = "" // never answered
				}
			} else if strings.HasPrefix(line, "+ ") && len(p.commands) > 0 && strings.HasSuffix(p.commands[len(p.commands)-1], " IDLE") {
				p.idling = true
			} else if p.hideNews && strings.HasPrefix(line, "* ") && strings.HasSuffix(strings.TrimSpace(line), " EXISTS") {
				line = ""
			} else if p.stripIdle && (strings.HasPrefix(line, "* CAPABILITY") || strings.Contains(line, "[CAPABILITY")) {
				line = strings.ReplaceAll(line, " IDLE", "")
			}
			p.mu.Unlock()
			p.wmu.Lock()
			_, werr := io.WriteString(dst, line)
			p.wmu.Unlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) set(f func(p *proxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// announce tells every client "* n EXISTS", as a real server does when
// mail arrives during IDLE. (imapmemserver does not announce mail
// appended while its IDLE is starting, a race tests must not depend on.)
func (p *proxy) announce(n int) {
	p.mu.Lock()
	clients := append([]net.Conn(nil), p.clients...)
	p.mu.Unlock()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for _, c := range clients {
		fmt.Fprintf(c, "* %d EXISTS\r\n", n)
	}
}

// isIdling reports whether the client is in IDLE.
func (p *proxy) isIdling() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.idling
}

// sent reports whether a client sent a command containing s.
func (p *proxy) sent(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.commands {
		if strings.Contains(c, s) {
			return true
		}
	}
	return false
}

// recorder is a Handler that records events and fails on demand.
type recorder struct {
	mu     sync.Mutex
	events []bot.MailEvent
	fail   func(ev bot.MailEvent) error // nil: accept everything
}

func (r *recorder) handle(ctx context.Context, ev bot.MailEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(ev); err != nil {
			return err
		}
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) got() []bot.MailEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.MailEvent(nil), r.events...)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.Buffer

// rig is a watcher under test: its database, clock, handler and log.
type rig struct {
	t     *testing.T
	db    *db.DB
	clock *probetest.Clock
	rec   *recorder
	logs  *syncBuffer
	cfg   Config
}

func newRig(t *testing.T, addr string) *rig {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "oclcbot.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r := &rig{t: t, db: d, clock: probetest.NewClock(time.Now()), rec: &recorder{}, logs: &syncBuffer{}}
	r.cfg = Config{
		Addr: addr, Security: SecurityNone, Username: testUser, Password: testPassword,
		DoneFolder: doneFolder, Self: testSelf,
		// The watchdog is far beyond the steps tests move the clock by,
		// so that it never cuts a slow but healthy command short.
		Poll: time.Minute, IdleRestart: 20 * time.Minute, CommandTimeout: 30 * 24 * time.Hour, MaxAge: -1,
		BackoffMin: time.Second, BackoffMax: 8 * time.Second,
		Clock: r.clock, Jitter: func() float64 { return 0.5 },
	}
	return r
}

// start runs a new Watcher on the rig's database until the returned stop
// is called (or the test ends); stop waits for Run to return.
func (r *rig) start() (*Watcher, func()) {
	r.t.Helper()
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(r.cfg, r.db, r.rec.handle, logger)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					r.t.Errorf("Run returned %v, want nil at the end of its context", err)
				}
			case <-time.After(10 * time.Second):
				r.t.Error("Run did not return after its context ended")
			}
		})
	}
	r.t.Cleanup(stop)
	return w, stop
}

// eventually waits until cond holds, moving the fake clock by step (if
// not zero) between looks. The deadline is generous: it only bounds a
// broken test, no assertion depends on how fast things happen.
func (r *rig) eventually(what string, step time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s\nlog:\n%s", what, r.logs.String())
		}
		if step > 0 {
			r.clock.Advance(step)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// storedState reads the watcher's durable state.
func (r *rig) storedState() (validity uint32, last imap.UID, ok bool) {
	r.t.Helper()
	st := &state{d: r.db, account: testUser + "@" + r.cfg.Addr + "/INBOX"}
	v, l, ok, err := st.load(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return v, l, ok
}

var errTemporary = errors.New("database is locked")
