package mailtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapTimeout bounds each IMAP helper call: the client library has no
// deadlines of its own, so a watchdog closes the connection after it.
const imapTimeout = 30 * time.Second

// pollInterval is how often the wait helpers look at the servers again.
const pollInterval = 200 * time.Millisecond

// Inbox is the name of every account's inbox.
const Inbox = "INBOX"

// Message is one message as stored in a mailbox.
type Message struct {
	Mailbox string
	UID     imap.UID
	Flags   []imap.Flag
	// Raw is the whole message (RFC 5322 header and body) exactly as the
	// server stores it, including the Received and Return-Path lines
	// Postfix added.
	Raw []byte
}

// Header returns the message's parsed header, or fails the test when the
// stored message has none.
func (m Message) Header(t testing.TB) mail.Header {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("message %s/%d: %v", m.Mailbox, m.UID, err)
	}
	return msg.Header
}

// subject returns the Subject of a raw message for diagnostics, or "".
func subject(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return msg.Header.Get("Subject")
}

// DialIMAP connects to IMAPSAddr with TLS verified against the test CA and
// logs in as acct. The caller must Close the client.
func (e *Env) DialIMAP(acct Account) (*imapclient.Client, error) {
	c, err := imapclient.DialTLS(e.IMAPSAddr, &imapclient.Options{
		TLSConfig: e.tlsConfigFor(e.IMAPSAddr),
		Dialer:    &net.Dialer{Timeout: imapTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("dial imaps: %w", err)
	}
	stop := watchdog(c)
	defer stop()
	if err := c.Login(acct.Addr, acct.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login as %s: %w", acct.Addr, err)
	}
	return c, nil
}

// watchdog closes c if the returned stop function is not called within
// imapTimeout, so a stuck server fails the helper instead of hanging it.
func watchdog(c *imapclient.Client) (stop func()) {
	timer := time.AfterFunc(imapTimeout, func() { c.Close() })
	return func() { timer.Stop() }
}

// withIMAP runs f on a fresh logged-in connection for acct, then logs out.
func (e *Env) withIMAP(acct Account, f func(c *imapclient.Client) error) error {
	c, err := e.DialIMAP(acct)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := watchdog(c)
	defer stop()
	if err := f(c); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// Messages returns every message in acct's mailbox, oldest first, without
// marking any as seen. It fails the test if the mailbox does not exist.
func (e *Env) Messages(t testing.TB, acct Account, mailbox string) []Message {
	t.Helper()
	var msgs []Message
	err := e.withIMAP(acct, func(c *imapclient.Client) error {
		var err error
		msgs, err = fetchAll(c, mailbox)
		return err
	})
	if err != nil {
		t.Fatalf("read %s of %s: %v", mailbox, acct, err)
	}
	return msgs
}

// fetchAll reads every message of mailbox read-only on c.
func fetchAll(c *imapclient.Client, mailbox string) ([]Message, error) {
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("examine %s: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	body := &imap.FetchItemBodySection{Peek: true}
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	bufs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", mailbox, err)
	}
	msgs := make([]Message, 0, len(bufs))
	for _, b := range bufs {
		raw := b.FindBodySection(body)
		if raw == nil {
			return nil, fmt.Errorf("fetch %s: no body for UID %d", mailbox, b.UID)
		}
		msgs = append(msgs, Message{Mailbox: mailbox, UID: b.UID, Flags: b.Flags, Raw: raw})
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
	if err := c.Unselect().Wait(); err != nil {
		return nil, fmt.Errorf("close %s: %w", mailbox, err)
	}
	return msgs, nil
}

// WaitMessages waits until acct's mailbox holds at least n messages and
// returns all of them, oldest first; the caller checks there are not more
// than it expects. The mailbox need not exist yet. It fails the test,
// listing what did arrive, if that takes longer than timeout.
func (e *Env) WaitMessages(t testing.TB, acct Account, mailbox string, n int, timeout time.Duration) []Message {
	t.Helper()
	msgs, err := e.waitMessages(acct, mailbox, n, timeout)
	if err != nil {
		t.Fatalf("wait for %d messages in %s of %s: %v", n, mailbox, acct, err)
	}
	return msgs
}

func (e *Env) waitMessages(acct Account, mailbox string, n int, timeout time.Duration) ([]Message, error) {
	var msgs []Message
	deadline := time.Now().Add(timeout)
	err := e.withIMAP(acct, func(c *imapclient.Client) error {
		var last uint32
		var lastErr error
		for {
			st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
			switch {
			case err != nil:
				var imapErr *imap.Error
				if !errors.As(err, &imapErr) {
					return fmt.Errorf("status %s: %w", mailbox, err)
				}
				lastErr = err // most likely: the mailbox does not exist yet
			case st.NumMessages != nil && int(*st.NumMessages) >= n:
				var err error
				msgs, err = fetchAll(c, mailbox)
				return err
			case st.NumMessages != nil:
				last = *st.NumMessages
			}
			if time.Now().After(deadline) {
				if lastErr != nil {
					return fmt.Errorf("gave up after %v: %w", timeout, lastErr)
				}
				got, err := fetchAll(c, mailbox)
				if err != nil {
					return fmt.Errorf("gave up after %v with %d messages: %w", timeout, last, err)
				}
				return fmt.Errorf("gave up after %v with %d messages%s", timeout, len(got), describe(got))
			}
			time.Sleep(pollInterval)
		}
	})
	return msgs, err
}

// describe lists messages' subjects for a failure message.
func describe(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n\tUID %d: %q", m.UID, subject(m.Raw))
	}
	return b.String()
}

// Clear empties the accounts' mailboxes (every account when none is given):
// it deletes every mailbox but INBOX and expunges every message in INBOX.
// If Postfix is running it first waits until Postfix has delivered
// everything it holds, so that mail sent earlier cannot arrive afterwards.
func (e *Env) Clear(t testing.TB, accts ...Account) {
	t.Helper()
	if e.smtpUp() {
		e.WaitDelivered(t, imapTimeout)
	}
	if len(accts) == 0 {
		accts = e.Accounts()
	}
	for _, acct := range accts {
		if err := e.withIMAP(acct, clear); err != nil {
			t.Fatalf("clear mailboxes of %s: %v", acct, err)
		}
	}
}

// clear deletes all mailboxes but INBOX and empties INBOX on c.
func clear(c *imapclient.Client) error {
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var names []string
	for _, l := range list {
		if !strings.EqualFold(l.Mailbox, Inbox) && !hasAttr(l.Attrs, imap.MailboxAttrNonExistent) {
			names = append(names, l.Mailbox)
		}
	}
	// Children before parents: a longer name never sorts before its parent
	// in reverse order.
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, name := range names {
		// A parent that only existed to hold its children goes with them.
		var imapErr *imap.Error
		if err := c.Delete(name).Wait(); err != nil && !(errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeNonExistent) {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	sel, err := c.Select(Inbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("select %s: %w", Inbox, err)
	}
	if sel.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, 0)
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.Store(all, store, nil).Close(); err != nil {
			return fmt.Errorf("flag %s deleted: %w", Inbox, err)
		}
		if err := c.Expunge().Close(); err != nil {
			return fmt.Errorf("expunge %s: %w", Inbox, err)
		}
	}
	return c.Unselect().Wait()
}

// hasAttr reports whether attrs holds attr.
func hasAttr(attrs []imap.MailboxAttr, attr imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(attr)) {
			return true
		}
	}
	return false
}
