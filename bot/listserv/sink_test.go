package listserv_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/listserv"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/templates"
)

// received is one message the sink accepted.
type received struct {
	From   string
	To     []string
	Data   []byte
	HELO   string // the name given in the latest EHLO
	TLS    bool
	User   string // the authenticated user, "" when none
	Passwd string
}

// sink is an in-process go-smtp server that keeps what it accepts and
// can be told to refuse a step.
type sink struct {
	t    testing.TB
	srv  *smtp.Server
	addr string
	ca   string // PEM file of the server's self-signed certificate

	mu   sync.Mutex
	msgs []received
	// fail, when set, is asked at each step ("auth", "mail", "rcpt:ADDR",
	// "data") and may return the error to answer with.
	fail func(step string) error
	// user and pass are the only credentials AUTH accepts.
	user, pass string
	got        chan received
}

type sinkOpts struct {
	startTLS    bool // offer STARTTLS with a self-signed certificate
	implicitTLS bool // speak TLS from the first byte
	noAuth      bool // do not offer AUTH
	maxBytes    int64
}

func newSink(t testing.TB, o sinkOpts) *sink {
	t.Helper()
	s := &sink{t: t, user: "oclcbot", pass: "s3cret-Pa55", got: make(chan received, 100)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		if o.noAuth {
			return plainSession{&session{s: s, c: c}}, nil
		}
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "sink.test"
	s.srv.AllowInsecureAuth = !o.startTLS && !o.implicitTLS
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = o.maxBytes
	s.srv.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.startTLS || o.implicitTLS {
		cert, caFile := selfSigned(t)
		s.ca = caFile
		tc := &tls.Config{Certificates: []tls.Certificate{cert}}
		if o.startTLS {
			s.srv.TLSConfig = tc
		} else {
			ln = tls.NewListener(ln, tc)
		}
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { s.srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		// smtp.Server.Close closes only the listeners Serve has already
		// registered: when a test ends before the goroutine above has
		// run (one that never connects to the sink, or fails early),
		// Serve would then block in Accept for ever. Closing ln here too
		// makes that Accept fail, and Serve, seeing the server closed,
		// returns.
		s.srv.Close()
		ln.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the sink's SMTP server did not stop within 30s of Close")
		}
	})
	return s
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func (s *sink) setFail(f func(step string) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *sink) check(step string) error {
	s.mu.Lock()
	f := s.fail
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(step)
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// await returns the next message accepted, failing after a generous
// deadline (a guard, not a timing assertion).
func (s *sink) await() received {
	s.t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(30 * time.Second):
		s.t.Fatal("no message reached the sink")
	}
	panic("unreachable")
}

type session struct {
	s    *sink
	c    *smtp.Conn
	cur  received
	user string
	pass string
}

// plainSession is a session that offers no AUTH.
type plainSession struct{ ss *session }

func (p plainSession) Reset()                                      { p.ss.Reset() }
func (p plainSession) Logout() error                               { return nil }
func (p plainSession) Mail(from string, o *smtp.MailOptions) error { return p.ss.Mail(from, o) }
func (p plainSession) Rcpt(to string, o *smtp.RcptOptions) error   { return p.ss.Rcpt(to, o) }
func (p plainSession) Data(r io.Reader) error                      { return p.ss.Data(r) }

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if err := ss.s.check("auth"); err != nil {
			return err
		}
		if user != ss.s.user || pass != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.user, ss.pass = user, pass
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if err := ss.s.check("mail"); err != nil {
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.cur = received{From: from, HELO: ss.c.Hostname(), TLS: isTLS, User: ss.user, Passwd: ss.pass}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := ss.s.check("rcpt:" + to); err != nil {
		return err
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.s.check("data"); err != nil {
		return err
	}
	ss.cur.Data = b
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	ss.s.got <- ss.cur
	return nil
}

func (ss *session) Reset()        { ss.cur = received{} }
func (ss *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// does not provide.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 { // initial response: the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, errors.New("unexpected LOGIN step")
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes
// it, as the CA to trust, to a PEM file.
func selfSigned(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oclcbot test sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// testClock is the injected clock of the Date header.
var testNow = time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)

// config returns a channel configuration for the sink.
func (s *sink) config(security string) listserv.Config {
	return listserv.Config{
		Addr: s.addr, Security: security, Username: s.user, Password: s.pass, CAFile: s.ca,
		From: "oclcbot <oclcbot@library.example.edu>", To: []string{"catalogers@lists.example.edu"},
		Domain: "oclcbot.library.example.edu", HELO: "oclcbot.library.example.edu",
		Timeout: 10 * time.Second, Location: time.UTC, Now: func() time.Time { return testNow },
	}
}

// notification renders a notification of kind from the sample incident
// with the default templates of family, as the bot would queue it.
func notification(t testing.TB, family string, kind incidents.Kind, channel string, seq int, thread string) *incidents.Notification {
	t.Helper()
	set := templates.MustLoadDefaults()
	nt := bot.SampleNotice(kind)
	nt.Key = incidents.Key(nt.Incident.ID, kind, seq, channel)
	nt.Channel = channel
	if family != bot.FamilyReport {
		nt.Report = nil
		for i := range nt.Records {
			nt.Records[i].Raw = nil
		}
	}
	payload, err := json.Marshal(nt)
	if err != nil {
		t.Fatal(err)
	}
	subj, body := bot.TemplateNames(family, kind)
	n := &incidents.Notification{Key: nt.Key, Channel: channel, Kind: kind, Incident: nt.Incident.ID, Payload: payload, ThreadKey: thread}
	if n.ThreadKey == "" {
		n.ThreadKey = n.Key
	}
	if n.Subject, err = set.Render(subj, nt); err != nil {
		t.Fatal(err)
	}
	n.Subject = strings.TrimSpace(n.Subject)
	if n.Body, err = set.Render(body, nt); err != nil {
		t.Fatal(err)
	}
	return n
}

// rawLines splits a message into its lines (CRLF).
func rawLines(b []byte) [][]byte { return bytes.Split(b, []byte("\r\n")) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
