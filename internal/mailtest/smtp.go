package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpTimeout bounds every SMTP dial and command made by the helpers.
const smtpTimeout = 30 * time.Second

// ctlTimeout bounds one run of the SMTP control script; stopping or
// starting Postfix takes a few seconds.
const ctlTimeout = 90 * time.Second

// Send delivers msg through SMTPAddr without TLS or authentication, the way
// mail from an outside sender arrives: envelope sender from, recipients to.
// It fails the test if the server refuses the message.
func (e *Env) Send(t testing.TB, from string, to []string, msg []byte) {
	t.Helper()
	if err := e.SendMail(from, to, msg); err != nil {
		t.Fatalf("send mail from %s to %v: %v", from, to, err)
	}
}

// SendAs submits msg through SubmissionAddr after STARTTLS (verified against
// the test CA) and AUTH PLAIN as acct, with acct.Addr as envelope sender.
// It fails the test if the server refuses the login or the message.
func (e *Env) SendAs(t testing.TB, acct Account, to []string, msg []byte) {
	t.Helper()
	if err := e.SubmitMail(acct, to, msg); err != nil {
		t.Fatalf("submit mail as %s to %v: %v", acct, to, err)
	}
}

// SendMail is Send returning the error, for use outside the test goroutine.
func (e *Env) SendMail(from string, to []string, msg []byte) error {
	c, err := dialSMTP(e.SMTPAddr)
	if err != nil {
		return err
	}
	return send(c, nil, from, to, msg)
}

// SubmitMail is SendAs returning the error, for use outside the test
// goroutine.
func (e *Env) SubmitMail(acct Account, to []string, msg []byte) error {
	c, err := dialStartTLS(e.SubmissionAddr, e.tlsConfigFor(e.SubmissionAddr))
	if err != nil {
		return err
	}
	return send(c, sasl.NewPlainClient("", acct.Addr, acct.Password), acct.Addr, to, msg)
}

// dialSMTP connects to addr and exchanges greetings, every step bounded by
// smtpTimeout.
func dialSMTP(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, smtpTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = smtpTimeout
	c.SubmissionTimeout = smtpTimeout
	if err := c.Hello("client.lib.test"); err != nil {
		c.Close()
		return nil, fmt.Errorf("ehlo %s: %w", addr, err)
	}
	return c, nil
}

// dialStartTLS connects to addr and upgrades the connection with STARTTLS
// using cfg, every step bounded by smtpTimeout.
func dialStartTLS(addr string, cfg *tls.Config) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, smtpTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	// go-smtp sets a deadline per command once it runs; this one bounds
	// the greeting and STARTTLS it does inside NewClientStartTLS.
	if err := conn.SetDeadline(time.Now().Add(smtpTimeout)); err != nil {
		conn.Close()
		return nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("starttls %s: %w", addr, err)
	}
	c.CommandTimeout = smtpTimeout
	c.SubmissionTimeout = smtpTimeout
	return c, nil
}

// send runs one SMTP transaction on c, authenticating first when auth is
// not nil, and closes c.
func send(c *smtp.Client, auth sasl.Client, from string, to []string, msg []byte) error {
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		return err
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("quit: %w", err)
	}
	return nil
}

// StopSMTP stops Postfix, so that every SMTP port refuses connections, and
// returns once they do. Dovecot keeps serving IMAP. Mail Postfix already
// accepted stays queued until StartSMTP. A cleanup registered on t starts
// Postfix again if the test ends while it is stopped.
func (e *Env) StopSMTP(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		if out, err := e.ctl("start"); err != nil {
			t.Errorf("restart smtp after test: %v\n%s", err, out)
		}
	})
	if out, err := e.ctl("stop"); err != nil {
		t.Fatalf("stop smtp: %v\n%s", err, out)
	}
}

// StartSMTP starts Postfix and returns once every SMTP port answers. It
// succeeds when Postfix is already running.
func (e *Env) StartSMTP(t testing.TB) {
	t.Helper()
	if out, err := e.ctl("start"); err != nil {
		t.Fatalf("start smtp: %v\n%s", err, out)
	}
}

// queueDirs are the Postfix queues that hold mail not yet delivered.
var queueDirs = []string{"maildrop", "incoming", "active", "deferred", "hold"}

// QueueLen returns how many messages Postfix has accepted but not yet
// delivered (or bounced). Reading the queue needs root, like the servers.
func (e *Env) QueueLen() (int, error) {
	n := 0
	for _, q := range queueDirs {
		err := filepath.WalkDir(filepath.Join(e.Dir, "postfix", "spool", q), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // a queue file delivered while we looked
				}
				return err
			}
			if d.Type().IsRegular() {
				n++
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read postfix queue: %w", err)
		}
	}
	return n, nil
}

// smtpUp reports whether Postfix accepts connections on SMTPAddr.
func (e *Env) smtpUp() bool {
	conn, err := net.DialTimeout("tcp", e.SMTPAddr, smtpTimeout)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// WaitDelivered waits until Postfix's queue is empty, that is until every
// message it accepted has been delivered to its Maildirs (or bounced), and
// fails the test if that takes longer than timeout. Postfix must be running.
func (e *Env) WaitDelivered(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := e.QueueLen()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix still holds %d messages after %v (see %s/postfix/postfix.log)", n, timeout, e.Dir)
		}
		time.Sleep(pollInterval)
	}
}

// ctl runs the SMTP control script with one command and returns its
// combined output.
func (e *Env) ctl(command string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.SMTPCtl, command)
	cmd.Env = append(os.Environ(), "OCLCBOT_MAILSERVERS_DIR="+e.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return append(stdout.Bytes(), stderr.Bytes()...), fmt.Errorf("%s %s: %w", e.SMTPCtl, command, err)
	}
	return stdout.Bytes(), nil
}
