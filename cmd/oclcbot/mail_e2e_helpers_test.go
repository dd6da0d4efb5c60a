package main

// Helpers of TestMailEndToEnd (mail_e2e_test.go): the Koha-like upstream,
// the daemon's outbox and incidents read beside it, and the mail read
// back from the test servers.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/incidents"
	isqlite "github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/internal/mailtest"
)

// titleOf is the title of the i-th record exported: UTF-8, so that the
// mails must carry it intact.
func titleOf(i int) string { return fmt.Sprintf("Café society, volume %d", i) }

// alertSubjectRE is the subject of the listserv ALERT; group 1 is the
// incident id.
var alertSubjectRE = regexp.MustCompile(`^OCLC EXPORT PROBLEM ALERT \[(OIS-[0-9]{4}-[0-9]{4})\]$`)

// mailE2E is the state of one TestMailEndToEnd run.
type mailE2E struct {
	env     *mailtest.Env
	cfgPath string
	st      *isqlite.Store // the daemon's incident store, read beside it
}

// openStore opens the daemon's incident store at path read-mostly, the
// way the admin commands do while the daemon runs.
func openStore(t *testing.T, path string) *isqlite.Store {
	t.Helper()
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := isqlite.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// outbox returns the notifications of channel ("": every channel) in any
// of states (none: all), oldest first.
func (x *mailE2E) outbox(t *testing.T, channel string, states ...incidents.Delivery) []incidents.Notification {
	t.Helper()
	ns, err := x.st.Outbox(context.Background(), isqlite.OutboxFilter{Channel: channel, States: states, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ns)
	return ns
}

// incident returns incident id as `oclcbot incidents show -json` prints it.
func (x *mailE2E) incident(t *testing.T, id string) *incidents.Report {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), []string{"incidents", "show", "-config", x.cfgPath, "-json", id},
		&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != exitOK {
		t.Fatalf("incidents show %s: exit %d: %s", id, code, errb.String())
	}
	var r incidents.Report
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("incidents show %s -json: %v", id, err)
	}
	return &r
}

// waitFor polls cond, which reads the servers or the daemon's store, until
// it holds; it fails the test with cond's last word after mailWait.
func (x *mailE2E) waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s (%s)", mailWait, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSettled waits until the daemon has announced every failed record of
// its incidents and, unless Postfix is down, delivered every
// notification. A dead letter fails the test at once: it is lost mail.
func (x *mailE2E) waitSettled(t *testing.T) {
	t.Helper()
	smtpUp := func() bool {
		c, err := net.DialTimeout("tcp", x.env.SMTPAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}()
	x.waitFor(t, "the daemon to announce and send everything", func() (bool, string) {
		if dead := x.outbox(t, "", incidents.DeliveryDead); len(dead) > 0 {
			t.Fatalf("dead letter %s: %s", dead[0].Key, dead[0].LastError)
		}
		active, err := x.st.Active(context.Background(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range active {
			if n := len(inc.Unannounced()); n > 0 {
				return false, fmt.Sprintf("%s has %d records not announced", inc.ID, n)
			}
		}
		if !smtpUp {
			return true, ""
		}
		if n := len(x.outbox(t, "", incidents.DeliveryPending, incidents.DeliverySending)); n > 0 {
			return false, fmt.Sprintf("%d notifications not sent", n)
		}
		return true, ""
	})
}

// checkMailboxes asserts, once Postfix has delivered everything, that
// every subscriber holds exactly the list posts the daemon sent and the
// on-call mailbox exactly the reports, each once, each threaded to the
// first of its channel.
func (x *mailE2E) checkMailboxes(t *testing.T) {
	t.Helper()
	domain := domainOf(x.env.Bot.Addr)
	check := func(acct mailtest.Account, channel string) {
		t.Helper()
		sent := x.outbox(t, channel, incidents.DeliverySent)
		raw := x.env.Messages(t, acct, mailtest.Inbox)
		for _, m := range raw {
			if bytes.Contains(m.Raw, []byte(x.env.Bot.Password)) {
				t.Errorf("%s: message %d contains the bot's password", acct, m.UID)
			}
		}
		msgs := parseAll(t, raw)
		if len(msgs) != len(sent) {
			t.Errorf("%s holds %d messages, the daemon sent %d to it:%s", acct, len(msgs), len(sent), subjects(msgs))
		}
		for _, n := range sent {
			m := byID(t, msgs, incidents.MessageID(n.Key, domain))
			if m == nil {
				continue
			}
			if m.subject != n.Subject {
				t.Errorf("%s: %s has subject %q, the outbox says %q", acct, n.Key, m.subject, n.Subject)
			}
			if m.autoSubmitted != "auto-generated" {
				t.Errorf("%s: %s has Auto-Submitted %q", acct, n.Key, m.autoSubmitted)
			}
			if m.from != x.env.Bot.Addr {
				t.Errorf("%s: %s is from %q, want %s", acct, n.Key, m.from, x.env.Bot.Addr)
			}
			if n.ThreadKey != n.Key {
				checkThread(t, acct.Addr+" "+n.Key, m, trimID(incidents.MessageID(n.ThreadKey, domain)))
			} else if len(m.inReplyTo)+len(m.references) > 0 {
				t.Errorf("%s: thread opener %s has In-Reply-To %v References %v", acct, n.Key, m.inReplyTo, m.references)
			}
		}
	}
	for _, sub := range x.env.Subscribers {
		check(sub, chanListserv)
	}
	check(x.env.OnCall, chanReport)
}

// kohaUpstream is the library system's Connexion listener, answering as
// Koha's connexion_import_daemon.pl does when it imports a record. It can
// be stopped (the port then refuses connections) and started again on the
// same port.
type kohaUpstream struct {
	addr string

	mu      sync.Mutex
	records [][]byte // every record received, in order
	srv     *gateway.Server
	served  chan error
}

// startKoha starts the upstream on a free loopback port.
func startKoha(t *testing.T) *kohaUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &kohaUpstream{addr: ln.Addr().String()}
	u.serve(ln)
	t.Cleanup(func() {
		if u.srv != nil {
			u.stop(t)
		}
	})
	return u
}

func (u *kohaUpstream) serve(ln net.Listener) {
	u.srv = &gateway.Server{Handler: gateway.HandlerFunc(u.importRecords), Logger: slog.New(slog.DiscardHandler)}
	u.served = make(chan error, 1)
	go func(s *gateway.Server) { u.served <- s.Serve(ln) }(u.srv)
}

// importRecords stores the records and answers Koha's success reply.
func (u *kohaUpstream) importRecords(_ context.Context, req *gateway.Request) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(req.Records) == 0 {
		return "Bad request"
	}
	for _, r := range req.Records {
		u.records = append(u.records, bytes.Clone(r))
	}
	n := len(u.records)
	return fmt.Sprintf("Success.  Batch number %d - biblio record number %d added to Koha.\n\n"+
		"http://koha.lib.test/cgi-bin/koha/catalogue/detail.pl?biblionumber=%d", n, n, n)
}

// stop closes the listener and every connection.
func (u *kohaUpstream) stop(t *testing.T) {
	t.Helper()
	u.srv.Close()
	if err := <-u.served; err != nil && !errors.Is(err, gateway.ErrServerClosed) {
		t.Errorf("upstream: %v", err)
	}
	u.srv = nil
}

// start listens again on the same port.
func (u *kohaUpstream) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		t.Fatalf("restart the upstream on %s: %v", u.addr, err)
	}
	u.serve(ln)
}

// received returns the records the upstream imported, in order.
func (u *kohaUpstream) received() [][]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.records)
}

// parsedMail is one stored message, read with go-message.
type parsedMail struct {
	uid           uint32
	subject       string
	messageID     string   // without brackets
	inReplyTo     []string // without brackets
	references    []string
	autoSubmitted string
	from          string // the From address
	listHeaders   bool   // a List-* field is present
	body          string
	files         map[string][]byte // attachments by file name
}

func parseAll(t *testing.T, msgs []mailtest.Message) []*parsedMail {
	t.Helper()
	out := make([]*parsedMail, len(msgs))
	for i, m := range msgs {
		out[i] = parseMail(t, m)
	}
	return out
}

func parseMail(t *testing.T, msg mailtest.Message) *parsedMail {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(msg.Raw))
	if err != nil {
		t.Fatalf("%s/%d does not parse: %v", msg.Mailbox, msg.UID, err)
	}
	p := &parsedMail{uid: uint32(msg.UID), files: map[string][]byte{}}
	h := r.Header
	p.subject, _ = h.Subject()
	p.messageID, _ = h.MessageID()
	p.inReplyTo, _ = h.MsgIDList("In-Reply-To")
	p.references, _ = h.MsgIDList("References")
	p.autoSubmitted = h.Get("Auto-Submitted")
	if from, err := h.AddressList("From"); err == nil && len(from) == 1 {
		p.from = from[0].Address
	}
	for f := h.Fields(); f.Next(); {
		if strings.HasPrefix(strings.ToLower(f.Key()), "list-") {
			p.listHeaders = true
		}
	}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s/%d %q: %v", msg.Mailbox, msg.UID, p.subject, err)
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("%s/%d %q: %v", msg.Mailbox, msg.UID, p.subject, err)
		}
		switch ph := part.Header.(type) {
		case *mail.InlineHeader:
			if p.body == "" {
				p.body = string(b)
			}
		case *mail.AttachmentHeader:
			name, _ := ph.Filename()
			p.files[name] = b
		}
	}
	return p
}

// byID returns the one message of msgs with Message-ID id (brackets
// optional); it fails the test and returns nil when there is none or more.
func byID(t *testing.T, msgs []*parsedMail, id string) *parsedMail {
	t.Helper()
	id = trimID(id)
	var found []*parsedMail
	for _, m := range msgs {
		if m.messageID == id {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Errorf("%d messages with Message-ID <%s>, want 1:%s", len(found), id, subjects(msgs))
		return nil
	}
	return found[0]
}

// checkThread asserts m answers the thread opened by the message with
// Message-ID opener.
func checkThread(t *testing.T, what string, m *parsedMail, opener string) {
	t.Helper()
	if len(m.inReplyTo) != 1 || m.inReplyTo[0] != opener || len(m.references) != 1 || m.references[0] != opener {
		t.Errorf("%s: In-Reply-To %v References %v, want <%s>", what, m.inReplyTo, m.references, opener)
	}
}

func trimID(id string) string { return strings.Trim(strings.TrimSpace(id), "<>") }

// domainOf returns the domain of an address or Message-ID.
func domainOf(s string) string {
	s = trimID(s)
	return s[strings.LastIndexByte(s, '@')+1:]
}

func countSubject(msgs []*parsedMail, subject string) int {
	n := 0
	for _, m := range msgs {
		if m.subject == subject {
			n++
		}
	}
	return n
}

// subjects lists msgs for a failure message.
func subjects(msgs []*parsedMail) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n\tUID %d <%s> %q", m.uid, m.messageID, m.subject)
	}
	return b.String()
}

// ackMail is on-call's reply to the OIS report reportID: "ACK" first, the
// report quoted below, as a mail client writes it.
func ackMail(from, to, incID, reportID string) []byte {
	msg := fmt.Sprintf(`From: On call <%s>
To: %s
Subject: Re: OCLC export incident %s
Date: %s
Message-ID: <ack-%d@%s>
In-Reply-To: <%s>
References: <%s>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

ACK, looking at the ILS now.

On call

> OCLC exports are failing.
`, from, to, incID, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), domainOf(from), reportID, reportID)
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}
