package mailtest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// deliveryTimeout is how long a test waits for Postfix to deliver; on an
// idle machine it takes well under a second.
const deliveryTimeout = time.Minute

// testMessage returns a message with a unique Message-ID and body line.
func testMessage(t *testing.T, from, to, subj string) (raw []byte, msgID, token string) {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	token = hex.EncodeToString(b)
	msgID = token + "@mailtest.lib.test"
	raw = []byte(strings.ReplaceAll(fmt.Sprintf(`From: %s
To: %s
Subject: %s
Date: %s
Message-ID: <%s>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Token %s.
Café line to check 8-bit text survives.
`, from, to, subj, time.Now().Format(time.RFC1123Z), msgID, token), "\n", "\r\n"))
	return raw, msgID, token
}

// checkOne asserts msgs is exactly the one message with msgID and token.
func checkOne(t *testing.T, who Account, msgs []Message, msgID, token string) {
	t.Helper()
	if len(msgs) != 1 {
		t.Fatalf("%s: got %d messages, want 1:%s", who, len(msgs), describe(msgs))
	}
	h := msgs[0].Header(t)
	if got := h.Get("Message-ID"); got != "<"+msgID+">" {
		t.Errorf("%s: Message-ID %q, want <%s>", who, got, msgID)
	}
	if !bytes.Contains(msgs[0].Raw, []byte("Token "+token+".\r\nCafé line")) {
		t.Errorf("%s: body not delivered intact:\n%s", who, msgs[0].Raw)
	}
}

func TestListDeliversToEverySubscriberAndTheBot(t *testing.T) {
	e := Servers(t)
	if len(e.Subscribers) != 3 {
		t.Fatalf("got %d subscribers, want 3", len(e.Subscribers))
	}

	// The bot posts to the list the way the listserv channel will: over
	// submission with STARTTLS and AUTH.
	raw, msgID, token := testMessage(t, e.Bot.Addr, e.ListAddr, "OCLC EXPORT PROBLEM ALERT")
	e.SendAs(t, e.Bot, []string{e.ListAddr}, raw)

	for _, acct := range append(slices.Clone(e.Subscribers), e.Bot) {
		msgs := e.WaitMessages(t, acct, Inbox, 1, deliveryTimeout)
		checkOne(t, acct, msgs, msgID, token)
	}
	e.WaitDelivered(t, deliveryTimeout)
	if msgs := e.Messages(t, e.OnCall, Inbox); len(msgs) != 0 {
		t.Errorf("on-call mailbox got list mail:%s", describe(msgs))
	}
}

func TestDirectMailFromOutsideSender(t *testing.T) {
	e := Servers(t)
	raw, msgID, token := testMessage(t, "staff@library.example", e.OnCall.Addr, "OCLC export failed")
	e.Send(t, "staff@library.example", []string{e.OnCall.Addr}, raw)
	checkOne(t, e.OnCall, e.WaitMessages(t, e.OnCall, Inbox, 1, deliveryTimeout), msgID, token)

	// Unknown mailboxes and other domains are refused at RCPT, permanently.
	for _, rcpt := range []string{"nobody@lib.test", "someone@example.com"} {
		err := e.SendMail("staff@library.example", []string{rcpt}, raw)
		var smtpErr *smtp.SMTPError
		if !errors.As(err, &smtpErr) || smtpErr.Code/100 != 5 {
			t.Errorf("send to %s: got %v, want a 5xx SMTP error", rcpt, err)
		}
	}
}

func TestSMTPAuthNeedsTLSAndRightPassword(t *testing.T) {
	e := Servers(t)

	// Plain port: no AUTH before STARTTLS, AUTH after it.
	c, err := dialSMTP(e.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	c.Close()

	c, err = dialStartTLS(e.SMTPAddr, e.TLSConfig("127.0.0.1"))
	if err != nil {
		t.Fatalf("STARTTLS verified against the test CA: %v", err)
	}
	if !c.SupportsAuth(sasl.Plain) || !c.SupportsAuth(sasl.Login) {
		t.Error("AUTH PLAIN and LOGIN not offered after STARTTLS")
	}
	err = c.Auth(sasl.NewPlainClient("", e.Bot.Addr, e.Bot.Password+"x"))
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code != 535 {
		t.Errorf("AUTH with a wrong password: got %v, want 535", err)
	}
	c.Close()
	// A new connection: go-smtp v0.25.1 answers a failed AUTH with "*",
	// which Postfix takes as a non-SMTP command and disconnects.
	c, err = dialStartTLS(e.SMTPAddr, e.TLSConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient(e.Bot.Addr, e.Bot.Password)); err != nil {
		t.Errorf("AUTH LOGIN after STARTTLS: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}

	// Submission refuses mail without AUTH.
	raw, _, _ := testMessage(t, e.Bot.Addr, e.OnCall.Addr, "unauthenticated")
	sc, err := dialStartTLS(e.SubmissionAddr, e.TLSConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	err = sc.SendMail(e.Bot.Addr, []string{e.OnCall.Addr}, bytes.NewReader(raw))
	if !errors.As(err, &smtpErr) || smtpErr.Code/100 != 5 {
		t.Errorf("submission without AUTH: got %v, want a 5xx SMTP error", err)
	}
	sc.Close()

	// Implicit TLS with AUTH delivers.
	tc, err := smtp.DialTLS(e.SMTPSAddr, e.TLSConfig("127.0.0.1"))
	if err != nil {
		t.Fatalf("SMTPS verified against the test CA: %v", err)
	}
	raw, msgID, token := testMessage(t, e.OnCall.Addr, e.Bot.Addr, "over smtps")
	if err := send(tc, sasl.NewPlainClient("", e.OnCall.Addr, e.OnCall.Password), e.OnCall.Addr, []string{e.Bot.Addr}, raw); err != nil {
		t.Fatalf("send over SMTPS: %v", err)
	}
	checkOne(t, e.Bot, e.WaitMessages(t, e.Bot, Inbox, 1, deliveryTimeout), msgID, token)
}

func TestTLSCertificateIsTheTestCAs(t *testing.T) {
	e := Servers(t)
	// Without the test CA the certificate must not verify: it proves the
	// helpers really check it.
	_, err := tls.Dial("tcp", e.IMAPSAddr, &tls.Config{ServerName: "127.0.0.1"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("IMAPS verified against system roots: got %v, want an unknown authority error", err)
	}
	for _, name := range []string{"127.0.0.1", "localhost", "mail.lib.test"} {
		conn, err := tls.Dial("tcp", e.IMAPSAddr, e.TLSConfig(name))
		if err != nil {
			t.Errorf("IMAPS certificate for %s: %v", name, err)
			continue
		}
		conn.Close()
	}
}

func TestIMAPOffersSTARTTLSAndIdle(t *testing.T) {
	e := Servers(t)

	// Dovecot counts a connection from the address it listens on as
	// secure, so on loopback it allows LOGIN without TLS; what the bot
	// relies on is that STARTTLS is offered and verifies against the CA.
	c, err := imapclient.DialInsecure(e.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapStartTLS) {
		t.Error("IMAP does not advertise STARTTLS")
	}

	sc, err := imapclient.DialStartTLS(e.IMAPAddr, &imapclient.Options{TLSConfig: e.TLSConfig("127.0.0.1")})
	if err != nil {
		t.Fatalf("IMAP STARTTLS verified against the test CA: %v", err)
	}
	defer sc.Close()
	if err := sc.Login(e.Bot.Addr, e.Bot.Password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN after STARTTLS: %v", err)
	}
	caps, err := sc.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has(imap.CapIdle) {
		t.Error("IMAP does not advertise IDLE")
	}

	if _, err := e.DialIMAP(Account{Addr: e.Bot.Addr, Password: e.Bot.Password + "x"}); err == nil {
		t.Error("IMAPS LOGIN with a wrong password succeeded")
	}
}

func TestIdleWakesOnDelivery(t *testing.T) {
	e := Servers(t)
	// EXISTS arrives on the reader goroutine; hand it over by channel.
	exists := make(chan uint32, 10)
	c, err := imapclient.DialTLS(e.IMAPSAddr, &imapclient.Options{
		TLSConfig: e.TLSConfig("127.0.0.1"),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					exists <- *data.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(e.Bot.Addr, e.Bot.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(Inbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _ := testMessage(t, e.OnCall.Addr, e.Bot.Addr, "wake up")
	e.SendAs(t, e.OnCall, []string{e.Bot.Addr}, raw)
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d during IDLE, want 1", n)
		}
	case <-time.After(deliveryTimeout):
		t.Error("no EXISTS during IDLE after delivery")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestStopSMTPRefusesConnectionsAndStartRestoresDelivery(t *testing.T) {
	e := Servers(t)

	e.StopSMTP(t)
	for _, addr := range []string{e.SMTPAddr, e.SubmissionAddr, e.SMTPSAddr} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			conn.Close()
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s with SMTP stopped: got %v, want connection refused", addr, err)
		}
	}
	raw, msgID, token := testMessage(t, e.Bot.Addr, e.ListAddr, "sent while SMTP is down")
	if err := e.SubmitMail(e.Bot, []string{e.ListAddr}, raw); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("submit with SMTP stopped: got %v, want connection refused", err)
	}
	// IMAP is unaffected.
	if msgs := e.Messages(t, e.Bot, Inbox); len(msgs) != 0 {
		t.Errorf("bot mailbox not empty:%s", describe(msgs))
	}

	e.StartSMTP(t)
	e.SendAs(t, e.Bot, []string{e.ListAddr}, raw)
	for _, acct := range append(slices.Clone(e.Subscribers), e.Bot) {
		checkOne(t, acct, e.WaitMessages(t, acct, Inbox, 1, deliveryTimeout), msgID, token)
	}
}

func TestClearEmptiesEveryMailbox(t *testing.T) {
	e := Servers(t)
	raw, _, _ := testMessage(t, e.OnCall.Addr, e.Bot.Addr, "to be cleared")
	e.SendAs(t, e.OnCall, []string{e.Bot.Addr}, raw)
	e.WaitMessages(t, e.Bot, Inbox, 1, deliveryTimeout)
	c, err := e.DialIMAP(e.Bot)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Processed/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	e.Clear(t, e.Bot)
	if msgs := e.Messages(t, e.Bot, Inbox); len(msgs) != 0 {
		t.Errorf("INBOX after Clear:%s", describe(msgs))
	}
	err = e.withIMAP(e.Bot, func(c *imapclient.Client) error {
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			if l.Mailbox != Inbox {
				t.Errorf("mailbox %q left after Clear", l.Mailbox)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFromEnvReportsMissingAndBadValues(t *testing.T) {
	_, missing, err := fromEnv(func(string) string { return "" })
	if err != nil || !slices.Contains(missing, EnvSMTPAddr) || !slices.Contains(missing, EnvCA) || !slices.Contains(missing, EnvBotPass) {
		t.Errorf("empty environment: missing %v, err %v", missing, err)
	}

	vars := map[string]string{
		EnvDir: t.TempDir(), EnvCA: "/nonexistent/ca.pem",
		EnvSMTPAddr: "127.0.0.1:2525", EnvSubmissionAddr: "127.0.0.1:2587", EnvSMTPSAddr: "127.0.0.1:2465",
		EnvIMAPAddr: "127.0.0.1:1143", EnvIMAPSAddr: "127.0.0.1:9993", EnvSMTPCtl: "/bin/false",
		EnvListAddr: "l@lists.test", EnvSubscribers: "a@lib.test,b@lib.test",
		envSubscriberPass(1): "p1", envSubscriberPass(2): "p2",
		EnvOnCallAddr: "o@lib.test", EnvOnCallPass: "po", EnvBotAddr: "b@lib.test", EnvBotPass: "pb",
	}
	_, missing, err = fromEnv(func(k string) string { return vars[k] })
	if len(missing) != 0 || err == nil || !strings.Contains(err.Error(), "CA certificate") {
		t.Errorf("unreadable CA: missing %v, err %v", missing, err)
	}

	delete(vars, envSubscriberPass(2))
	_, missing, _ = fromEnv(func(k string) string { return vars[k] })
	if !slices.Equal(missing, []string{envSubscriberPass(2)}) {
		t.Errorf("subscriber without password: missing %v", missing)
	}
}
