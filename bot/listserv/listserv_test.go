package listserv_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/listserv"
	"github.com/oclcbot/oclcbot/incidents"
)

// parsed is a received message read back with go-message.
type parsed struct {
	h     mail.Header
	body  string // the first text part, decoded
	files map[string][]byte
	types map[string]string
}

func parse(t testing.TB, data []byte) *parsed {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	p := &parsed{h: r.Header, files: map[string][]byte{}, types: map[string]string{}}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			if p.body == "" {
				p.body = string(b)
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			ct, _, _ := h.ContentType()
			p.files[name] = b
			p.types[name] = ct
		}
	}
	return p
}

func (p *parsed) get(t testing.TB, key string) string {
	t.Helper()
	return p.h.Get(key)
}

func mustNew(t testing.TB, cfg listserv.Config) *listserv.Channel {
	t.Helper()
	ch, err := listserv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestAlertOverSTARTTLSWithAuth(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	ch := mustNew(t, s.config(listserv.SecurityStartTLS))
	n := notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, "")
	if err := ch.Send(context.Background(), n); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := s.messages()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != "oclcbot" || m.Passwd != "s3cret-Pa55" || m.HELO != "oclcbot.library.example.edu" {
		t.Errorf("session: tls %v user %q helo %q", m.TLS, m.User, m.HELO)
	}
	if m.From != "oclcbot@library.example.edu" || len(m.To) != 1 || m.To[0] != "catalogers@lists.example.edu" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	p := parse(t, m.Data)
	if subj, _ := p.h.Subject(); subj != "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]" {
		t.Errorf("subject = %q", subj)
	}
	if id, _ := p.h.MessageID(); id != "OIS-2026-0042/alert/1/listserv@oclcbot.library.example.edu" {
		t.Errorf("message-id = %q", id)
	}
	for k, want := range map[string]string{
		"Auto-Submitted": "auto-generated", "In-Reply-To": "", "References": "",
		"X-Oclcbot-Key": n.Key, "From": `"oclcbot" <oclcbot@library.example.edu>`, "To": "<catalogers@lists.example.edu>",
	} {
		if got := p.get(t, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if d, err := p.h.Date(); err != nil || !d.Equal(testNow) {
		t.Errorf("date = %v (%v), want %v", d, err, testNow)
	}
	fields := p.h.Fields()
	for fields.Next() {
		if strings.HasPrefix(strings.ToLower(fields.Key()), "list-") {
			t.Errorf("list header %s: %s", fields.Key(), fields.Value())
		}
	}
	ct, params, _ := p.h.ContentType()
	if ct != "text/plain" || params["charset"] != "utf-8" {
		t.Errorf("content type %q %v", ct, params)
	}
	if want := strings.TrimRight(n.Body, "\n") + "\n"; strings.ReplaceAll(p.body, "\r\n", "\n") != want {
		t.Errorf("body differs from the rendered text:\n%s\n---want---\n%s", p.body, want)
	}
	for _, w := range []string{"OCLC exports are failing.", "=245  14$aThe art of cataloging", "Do NOT export a record a second time"} {
		if !strings.Contains(p.body, w) {
			t.Errorf("body lacks %q", w)
		}
	}
	if len(p.files) != 0 {
		t.Errorf("listserv post has attachments: %v", p.types)
	}
}

func TestSolvedIsThreadedAndResendKeepsMessageID(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	ch := mustNew(t, s.config(""))
	alert := notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, "")
	solved := notification(t, bot.FamilyEmail, incidents.KindSolved, "listserv", 7, alert.Key)
	ctx := context.Background()
	for _, n := range []*incidents.Notification{alert, solved, alert} {
		if err := ch.Send(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	got := s.messages()
	if len(got) != 3 {
		t.Fatalf("got %d messages", len(got))
	}
	a, so, again := parse(t, got[0].Data), parse(t, got[1].Data), parse(t, got[2].Data)
	aid, _ := a.h.MessageID()
	if subj, _ := so.h.Subject(); subj != "OCLC EXPORT PROBLEM SOLVED [OIS-2026-0042]" {
		t.Errorf("solved subject %q", subj)
	}
	irt, _ := so.h.MsgIDList("In-Reply-To")
	refs, _ := so.h.MsgIDList("References")
	if len(irt) != 1 || irt[0] != aid || len(refs) != 1 || refs[0] != aid {
		t.Errorf("solved In-Reply-To %v References %v, want the alert's %s", irt, refs, aid)
	}
	if sid, _ := so.h.MessageID(); sid == aid || sid != "OIS-2026-0042/solved/7/listserv@oclcbot.library.example.edu" {
		t.Errorf("solved message-id %q", sid)
	}
	if id, _ := again.h.MessageID(); id != aid {
		t.Errorf("resent alert has Message-ID %q, first copy %q", id, aid)
	}
	if !bytes.Equal(got[0].Data, got[2].Data) {
		t.Errorf("the same notification at the same time gave different messages")
	}
}

func TestImplicitTLS(t *testing.T) {
	s := newSink(t, sinkOpts{implicitTLS: true})
	ch := mustNew(t, s.config(listserv.SecurityTLS))
	if err := ch.Send(context.Background(), notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, "")); err != nil {
		t.Fatal(err)
	}
	if m := s.await(); !m.TLS || m.User != "oclcbot" {
		t.Errorf("tls %v user %q", m.TLS, m.User)
	}
}

func TestAuthLogin(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	cfg := s.config("")
	cfg.Auth = listserv.AuthLogin
	if err := mustNew(t, cfg).Send(context.Background(), notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, "")); err != nil {
		t.Fatal(err)
	}
	if m := s.await(); m.User != "oclcbot" {
		t.Errorf("user %q", m.User)
	}
}

func TestPlainOnLoopbackWithoutAuth(t *testing.T) {
	s := newSink(t, sinkOpts{noAuth: true})
	cfg := s.config(listserv.SecurityNone)
	cfg.Username, cfg.Password = "", ""
	if err := mustNew(t, cfg).Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := mustNew(t, cfg).Send(context.Background(), notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, "")); err != nil {
		t.Fatal(err)
	}
	if m := s.await(); m.TLS || m.User != "" {
		t.Errorf("tls %v user %q", m.TLS, m.User)
	}
}

// sendErr sends an alert with cfg and returns the error, which must be a
// *listserv.Error.
func sendErr(t *testing.T, cfg listserv.Config) *listserv.Error {
	t.Helper()
	err := mustNew(t, cfg).Send(context.Background(), notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, ""))
	if err == nil {
		t.Fatal("send succeeded, want an error")
	}
	var le *listserv.Error
	if !errors.As(err, &le) {
		t.Fatalf("error %T %v is not a *listserv.Error", err, err)
	}
	return le
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	for _, sec := range []string{listserv.SecurityStartTLS, listserv.SecurityTLS} {
		t.Run(sec, func(t *testing.T) {
			s := newSink(t, sinkOpts{startTLS: sec == listserv.SecurityStartTLS, implicitTLS: sec == listserv.SecurityTLS})
			cfg := s.config(sec)
			cfg.CAFile = ""
			le := sendErr(t, cfg)
			if !bot.IsPermanent(le) || !strings.Contains(le.Error(), "certificate") {
				t.Errorf("err %v: permanent %v, want a permanent certificate error", le, bot.IsPermanent(le))
			}
			if len(s.messages()) != 0 {
				t.Error("delivered over an unverified connection")
			}
		})
	}
}

func TestServerWithoutSTARTTLSIsPermanent(t *testing.T) {
	s := newSink(t, sinkOpts{})
	le := sendErr(t, s.config(listserv.SecurityStartTLS))
	if !errors.Is(le, listserv.ErrNoStartTLS) || !bot.IsPermanent(le) {
		t.Errorf("err %v: want ErrNoStartTLS, permanent", le)
	}
}

func TestServerWithoutAuthIsPermanent(t *testing.T) {
	s := newSink(t, sinkOpts{noAuth: true})
	le := sendErr(t, s.config(listserv.SecurityNone))
	if !errors.Is(le, listserv.ErrNoAuth) || !bot.IsPermanent(le) || le.Step != "auth" {
		t.Errorf("err %v (step %s): want ErrNoAuth at auth, permanent", le, le.Step)
	}
}

func TestRepliesDecideRetry(t *testing.T) {
	smtpErr := func(code int, msg string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
	}
	for _, tc := range []struct {
		name      string
		at        string
		reply     error
		step      string
		permanent bool
	}{
		{"greylisted at MAIL", "mail", smtpErr(451, "greylisted, try again later"), "mail", false},
		{"sender refused", "mail", smtpErr(550, "sender not allowed to post"), "mail", true},
		{"list address unknown", "rcpt:catalogers@lists.example.edu", smtpErr(550, "no such user"), "rcpt", true},
		{"too many recipients (552 to RCPT)", "rcpt:catalogers@lists.example.edu", smtpErr(552, "too many recipients"), "rcpt", false},
		{"mailbox busy at DATA", "data", smtpErr(452, "insufficient storage"), "data", false},
		{"content refused", "data", smtpErr(554, "message refused"), "data", true},
		{"bad password", "auth", smtp.ErrAuthFailed, "auth", true},
		{"auth temporarily unavailable", "auth", smtpErr(454, "temporary authentication failure"), "auth", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, sinkOpts{startTLS: true})
			s.setFail(func(step string) error {
				if step == tc.at {
					return tc.reply
				}
				return nil
			})
			le := sendErr(t, s.config(""))
			if le.Step != tc.step || bot.IsPermanent(le) != tc.permanent || le.Permanent != tc.permanent {
				t.Errorf("err %v: step %s permanent %v, want %s %v", le, le.Step, bot.IsPermanent(le), tc.step, tc.permanent)
			}
			if _, ok := bot.RetryAfterOf(le); ok {
				t.Errorf("an SMTP reply named a retry delay")
			}
			if len(s.messages()) != 0 {
				t.Errorf("delivered despite the refusal")
			}
		})
	}
}

func TestOneRefusedRecipientSendsToNobody(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	cfg := s.config("")
	cfg.To = []string{"oncall@library.example.edu", "gone@library.example.edu"}
	s.setFail(func(step string) error {
		if step == "rcpt:gone@library.example.edu" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	le := sendErr(t, cfg)
	if !le.Permanent || !strings.Contains(le.Error(), "gone@library.example.edu") {
		t.Errorf("err %v", le)
	}
	if len(s.messages()) != 0 {
		t.Errorf("delivered to the other recipient")
	}
}

func TestMessageLargerThanServerTakesIsPermanent(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true, maxBytes: 512})
	le := sendErr(t, s.config(""))
	if !errors.Is(le, listserv.ErrTooLarge) || !bot.IsPermanent(le) {
		t.Errorf("err %v: want ErrTooLarge, permanent", le)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	cfg := s.config("")
	// A careless server that echoes the credentials it was given.
	s.setFail(func(step string) error {
		if step == "auth" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
				Message: "bad credentials " + cfg.Password + " AG9jbGNib3QAczNjcmV0LVBhNTU= czNjcmV0LVBhNTU="}
		}
		return nil
	})
	le := sendErr(t, cfg)
	for _, secret := range []string{cfg.Password, "AG9jbGNib3QAczNjcmV0LVBhNTU=", "czNjcmV0LVBhNTU="} {
		if strings.Contains(le.Error(), secret) || strings.Contains(errors.Unwrap(le).Error(), secret) {
			t.Errorf("error leaks %q: %v", secret, le)
		}
	}
	if !strings.Contains(le.Error(), "bad credentials <redacted>") {
		t.Errorf("error lost the server's text: %v", le)
	}
	// Configuration errors neither.
	cfg.Addr = "smtp.example.edu"
	if _, err := listserv.New(cfg); err == nil || strings.Contains(err.Error(), cfg.Password) {
		t.Errorf("config error %v", err)
	}
}

func TestUnreachableServerIsTemporary(t *testing.T) {
	s := newSink(t, sinkOpts{})
	cfg := s.config(listserv.SecurityNone)
	// Port 0: nothing can listen there, so the connection is always
	// refused. (The port of a listener just closed is no address for
	// this: the next listener, this test's own sink included, can be
	// given it.)
	cfg.Addr = "127.0.0.1:0"
	le := sendErr(t, cfg)
	if le.Step != "connect" || bot.IsPermanent(le) {
		t.Errorf("err %v: want a temporary connect error", le)
	}
}

// A server that accepts the connection and never greets: the step timeout
// ends the send, and so does the context.
func TestStuckServerIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	s := newSink(t, sinkOpts{})
	cfg := s.config(listserv.SecurityNone)
	cfg.Addr = ln.Addr().String()
	cfg.Username, cfg.Password = "", ""

	short := cfg
	short.Timeout = 50 * time.Millisecond
	// The short step is for the greeting: connect without it, so that
	// a loaded machine slow to connect cannot end the send at "connect".
	short.DialContext = func(_ context.Context, network, addr string) (net.Conn, error) {
		return net.Dial(network, addr)
	}
	le := sendErr(t, short)
	if le.Step != "hello" || bot.IsPermanent(le) {
		t.Errorf("step timeout: err %v (step %s), want a temporary hello error", le, le.Step)
	}

	cfg.Timeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- mustNew(t, cfg).Send(ctx, notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, ""))
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || bot.IsPermanent(err) {
			t.Errorf("cancelled: err %v, want context.Canceled, temporary", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("send ignored the context")
	}
}

var headerLikeLine = regexp.MustCompile(`(?im)^[ \t>|]*(from|sender|reply-to)[ \t]*:`)

func TestNoHeaderInjection(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	ch := mustNew(t, s.config(""))
	n := notification(t, bot.FamilyEmail, incidents.KindAlert, "listserv", 1, "")
	n.Subject = "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]\r\nBcc: everyone@example.edu\r\n\r\nbody"
	n.Body = "Upstream said:\r\n" +
		"From: catalogers@lists.example.edu\n" +
		"  sender : CATALOGERS@lists.example.edu\r" +
		"> Reply-To: catalogers@lists.example.edu\n" +
		"Bcc: x@example.edu\x00\x1b[31m\n" +
		strings.Repeat("x", 3000) + "\n" +
		"Größe \xff\xfe ok\n" +
		".\n"
	if err := ch.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	m := s.await()
	for i, l := range rawLines(m.Data) {
		if len(l) > 998 {
			t.Errorf("line %d is %d bytes long", i, len(l))
		}
	}
	p := parse(t, m.Data)
	if p.h.Has("Bcc") {
		t.Errorf("Bcc header injected: %q", p.h.Get("Bcc"))
	}
	if subj, _ := p.h.Subject(); subj != "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042] Bcc: everyone@example.edu body" {
		t.Errorf("subject = %q", subj)
	}
	if headerLikeLine.MatchString(p.body) {
		t.Errorf("body keeps a header-like line:\n%s", p.body)
	}
	for _, w := range []string{
		"From (quoted): catalogers@lists.example.edu", "  sender (quoted) : CATALOGERS@", "> Reply-To (quoted): catalogers",
		strings.Repeat("x", 3000), "Größe \uFFFD ok", "\n.\n", "Bcc: x@example.edu[31m\n",
	} {
		if !strings.Contains(strings.ReplaceAll(p.body, "\r\n", "\n"), w) {
			t.Errorf("body lacks %q:\n%s", w, p.body)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := listserv.Config{Addr: "smtp.example.edu:587", From: "oclcbot@library.example.edu", To: []string{"list@lists.example.edu"},
		Username: "bot", Password: "hunter2-secret"}
	if _, err := listserv.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*listserv.Config)
		want string
	}{
		{"no port", func(c *listserv.Config) { c.Addr = "smtp.example.edu" }, "addr"},
		{"plain to a remote host", func(c *listserv.Config) { c.Security = listserv.SecurityNone }, `security "none"`},
		{"unknown security", func(c *listserv.Config) { c.Security = "ssl" }, `security "ssl"`},
		{"unknown auth", func(c *listserv.Config) { c.Auth = "cram-md5" }, `auth "cram-md5"`},
		{"user without password", func(c *listserv.Config) { c.Password = "" }, "password missing"},
		{"bad from", func(c *listserv.Config) { c.From = "oclcbot" }, "from"},
		{"header in from", func(c *listserv.Config) { c.From = "a@b.example\r\nBcc: x@y.example" }, "from"},
		{"no recipient", func(c *listserv.Config) { c.To = nil }, "recipient"},
		{"bad recipient", func(c *listserv.Config) { c.To = []string{"list"} }, "to"},
		{"bad domain", func(c *listserv.Config) { c.Domain = "exa mple" }, "domain"},
		{"missing CA file", func(c *listserv.Config) { c.CAFile = "/nonexistent/ca.pem" }, "ca file"},
		{"negative timeout", func(c *listserv.Config) { c.Timeout = -time.Second }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := listserv.New(cfg)
			if !errors.Is(err, listserv.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	forced := good
	forced.Security, forced.AllowInsecure = listserv.SecurityNone, true
	if _, err := listserv.New(forced); err != nil {
		t.Errorf("none forced with AllowInsecure: %v", err)
	}
	loop := good
	loop.Security, loop.Addr = listserv.SecurityNone, "127.0.0.1:25"
	if _, err := listserv.New(loop); err != nil {
		t.Errorf("none on loopback: %v", err)
	}
}
