// Package mailtest gives tests access to the real Postfix and Dovecot
// servers that test/mailservers/start runs on loopback: the addresses,
// accounts and CA it prints as environment variables, and helpers to send
// mail by SMTP, read mailboxes back over IMAP with TLS, wait for delivery,
// empty mailboxes between tests and stop and start the SMTP server.
//
// Start the servers (as root) before running the tests:
//
//	eval "$(test/mailservers/start)"
//	go test ./...
//	test/mailservers/stop
//
// Without that environment, [Servers] skips the test, or fails it when
// CI=true, so that CI never silently skips the end-to-end tests.
package mailtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

// Environment variables printed by test/mailservers/start.
const (
	EnvDir            = "OCLCBOT_TEST_MAIL_DIR"
	EnvCA             = "OCLCBOT_TEST_MAIL_CA"
	EnvSMTPAddr       = "OCLCBOT_TEST_SMTP_ADDR"
	EnvSubmissionAddr = "OCLCBOT_TEST_SUBMISSION_ADDR"
	EnvSMTPSAddr      = "OCLCBOT_TEST_SMTPS_ADDR"
	EnvIMAPAddr       = "OCLCBOT_TEST_IMAP_ADDR"
	EnvIMAPSAddr      = "OCLCBOT_TEST_IMAPS_ADDR"
	EnvSMTPCtl        = "OCLCBOT_TEST_SMTP_CTL"
	EnvListAddr       = "OCLCBOT_TEST_LIST_ADDR"
	EnvSubscribers    = "OCLCBOT_TEST_SUBSCRIBERS"
	EnvOnCallAddr     = "OCLCBOT_TEST_ONCALL_ADDR"
	EnvOnCallPass     = "OCLCBOT_TEST_ONCALL_PASS"
	EnvBotAddr        = "OCLCBOT_TEST_BOT_ADDR"
	EnvBotPass        = "OCLCBOT_TEST_BOT_PASS"
)

// envSubscriberPass names the password variable of the i-th (1-based)
// address in OCLCBOT_TEST_SUBSCRIBERS.
func envSubscriberPass(i int) string { return fmt.Sprintf("OCLCBOT_TEST_SUB%d_PASS", i) }

// Account is one mailbox on the test servers. Addr is both its email
// address and its IMAP and SMTP AUTH user name.
type Account struct {
	Addr     string
	Password string
}

// String returns the address only, so an Account printed in a test log
// never shows its password.
func (a Account) String() string { return a.Addr }

// Env describes the running test mail servers. All addresses are host:port
// on 127.0.0.1; every TLS port presents a certificate for 127.0.0.1,
// localhost and mail.lib.test signed by the CA in CAFile.
type Env struct {
	// Dir holds the servers' configuration, queues and Maildirs.
	Dir string
	// CAFile is the PEM file of the CA that signed the servers' certificate;
	// RootCAs holds it parsed.
	CAFile  string
	RootCAs *x509.CertPool

	// SMTPAddr is Postfix's SMTP port: no TLS required, STARTTLS offered,
	// AUTH accepted only after STARTTLS, mail accepted without AUTH from
	// loopback for lib.test and lists.test recipients only.
	SMTPAddr string
	// SubmissionAddr requires STARTTLS and AUTH before MAIL.
	SubmissionAddr string
	// SMTPSAddr is implicit TLS; it requires AUTH before MAIL.
	SMTPSAddr string
	// IMAPAddr is Dovecot's IMAP port; LOGIN requires STARTTLS first.
	IMAPAddr string
	// IMAPSAddr is Dovecot's implicit-TLS IMAP port.
	IMAPSAddr string
	// SMTPCtl is the script that stops and starts Postfix (test/mailservers/smtp).
	SMTPCtl string

	// ListAddr is the mailing list address; Postfix delivers mail sent to
	// it to every Subscriber and to Bot.
	ListAddr string
	// Subscribers are the list's human members.
	Subscribers []Account
	// OnCall is the mailbox OIS incident reports go to.
	OnCall Account
	// Bot is the bot's own mailbox, also subscribed to the list, so the
	// list's copy of the bot's own post arrives there.
	Bot Account
}

// Servers returns the test mail servers described by the environment that
// test/mailservers/start prints, ready for t: SMTP running and every
// mailbox empty. When that environment is absent it skips the test with
// instructions, or fails it if CI=true. It fails the test when the
// environment is present but unusable (for example an unreadable CA file).
//
// The servers are shared, so Servers locks them for the rest of t, waiting
// while a test in another package's test binary holds them. Tests using
// them must not call t.Parallel. A nested call (from a subtest of a test
// that holds them) shares the lock and leaves the mailboxes alone. Like
// the servers, the helpers that stop, start or inspect Postfix need root.
func Servers(t testing.TB) *Env {
	t.Helper()
	e, missing, err := fromEnv(os.Getenv)
	if len(missing) > 0 {
		unset := strings.Join(missing, ", ")
		if len(missing) > 2 {
			unset = fmt.Sprintf("%s and %d more", missing[0], len(missing)-1)
		}
		msg := fmt.Sprintf("the test mail servers are not running (%s unset); run as root: eval \"$(test/mailservers/start)\"", unset)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err != nil {
		t.Fatalf("test mail servers environment: %v", err)
	}
	if e.acquire(t) {
		if !e.smtpUp() { // an earlier test run ended during an outage
			e.StartSMTP(t)
		}
		e.Clear(t)
	}
	return e
}

// fromEnv builds an Env from getenv. It returns the names of required
// variables that are unset, or an error when a value is unusable.
func fromEnv(getenv func(string) string) (*Env, []string, error) {
	var missing []string
	get := func(name string) string {
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	e := &Env{
		Dir:            get(EnvDir),
		CAFile:         get(EnvCA),
		SMTPAddr:       get(EnvSMTPAddr),
		SubmissionAddr: get(EnvSubmissionAddr),
		SMTPSAddr:      get(EnvSMTPSAddr),
		IMAPAddr:       get(EnvIMAPAddr),
		IMAPSAddr:      get(EnvIMAPSAddr),
		SMTPCtl:        get(EnvSMTPCtl),
		ListAddr:       get(EnvListAddr),
		OnCall:         Account{Addr: get(EnvOnCallAddr), Password: get(EnvOnCallPass)},
		Bot:            Account{Addr: get(EnvBotAddr), Password: get(EnvBotPass)},
	}
	if subs := get(EnvSubscribers); subs != "" {
		for i, addr := range strings.Split(subs, ",") {
			e.Subscribers = append(e.Subscribers, Account{Addr: addr, Password: get(envSubscriberPass(i + 1))})
		}
	}
	if len(missing) > 0 {
		return nil, missing, nil
	}

	for name, addr := range map[string]string{
		EnvSMTPAddr: e.SMTPAddr, EnvSubmissionAddr: e.SubmissionAddr, EnvSMTPSAddr: e.SMTPSAddr,
		EnvIMAPAddr: e.IMAPAddr, EnvIMAPSAddr: e.IMAPSAddr,
	} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, nil, fmt.Errorf("%s=%q: %w", name, addr, err)
		}
	}
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA certificate: %w", err)
	}
	e.RootCAs = x509.NewCertPool()
	if !e.RootCAs.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("read CA certificate: no PEM certificate in %s", e.CAFile)
	}
	return e, nil, nil
}

// TLSConfig returns a client TLS configuration that trusts only the test CA
// and verifies the server's certificate for host (the host part of the
// address dialled, normally 127.0.0.1).
func (e *Env) TLSConfig(host string) *tls.Config {
	return &tls.Config{RootCAs: e.RootCAs, ServerName: host, MinVersion: tls.VersionTLS12}
}

// tlsConfigFor is TLSConfig for the host of addr.
func (e *Env) tlsConfigFor(addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr) // addresses were validated by fromEnv
	return e.TLSConfig(host)
}

// Accounts returns every mailbox: the subscribers, OnCall and Bot.
func (e *Env) Accounts() []Account {
	return append(append([]Account(nil), e.Subscribers...), e.OnCall, e.Bot)
}
