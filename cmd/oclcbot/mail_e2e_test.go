package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/internal/mailtest"
)

// smtpOutage is how long the mail server stays down in the middle of the
// export outage (issue 5: two minutes).
const smtpOutage = 2 * time.Minute

// mailWait bounds each wait for the real servers to deliver or the daemon
// to act; on an idle machine each takes a few seconds.
const mailWait = 90 * time.Second

// TestMailEndToEnd runs `oclcbot serve` in relay mode in front of a
// Koha-like upstream, with the listserv, the OIS report and the mailbox
// on the real Postfix and Dovecot of test/mailservers, through a scripted
// outage:
//
//  1. the upstream goes down and records are exported (and queued): one
//     ALERT reaches every subscriber of the list;
//  2. Postfix stops for two minutes while the incident is escalated to
//     OIS and more records fail; once it is back every notification
//     arrives, none twice;
//  3. on-call has one report thread with the exported records attached;
//  4. an ACK from the on-call mailbox acknowledges the incident;
//  5. the upstream comes back: the queued records reach it in order and
//     one SOLVED, threaded to the ALERT, reaches every subscriber;
//  6. the list's copy of every post comes back to the bot's mailbox and
//     is marked echoed: no admin notice about held posts.
func TestMailEndToEnd(t *testing.T) {
	env := mailtest.Servers(t)
	up := startKoha(t)
	botDomain := domainOf(env.Bot.Addr)
	addr, dir, logs, _ := startServe(t, fmt.Sprintf(`
[library]
code = "LIB01"

[relay]
upstream = %q
policy = "queue"
connect_timeout = "2s"
reply_timeout = "10s"
retry_initial = "1s"
retry_max = "2s"

[bot]
update_every = "3s"
escalate_after = "45s"
echo_timeout = "60s"
mail_allow = [%q]

[bot.rules]
system_failures = 3
probe_failures = 2
recover_successes = 2

[bot.retry]
initial = "1s"
max = "5s"

[probes]
listener_interval = "1s"
upstream_interval = "1s"
no_canary = true

[email]
addr = %q
security = "starttls"
username = %q
password = %q
from = "oclcbot <%s>"
ca_file = %q
timeout = "10s"

[listserv]
to = [%q]
await_echo = true

[report]
to = [%q]

[mailbox]
addr = %q
security = "tls"
username = %q
password = %q
ca_file = %q
`, up.addr, env.OnCall.Addr,
		env.SMTPAddr, env.Bot.Addr, env.Bot.Password, env.Bot.Addr, env.CAFile,
		env.ListAddr, env.OnCall.Addr,
		env.IMAPSAddr, env.Bot.Addr, env.Bot.Password, env.CAFile))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	x := &mailE2E{env: env, cfgPath: filepath.Join(dir, "oclcbot.toml"), st: openStore(t, filepath.Join(dir, "oclcbot.db"))}
	client := &gateway.Client{Addr: addr, Timeout: 30 * time.Second}
	export := func(t *testing.T, rec []byte, want string) {
		t.Helper()
		reply, err := client.Export(context.Background(), "cat1", "", rec)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if !strings.Contains(reply, want) {
			t.Fatalf("export reply %q, want it to say %q", reply, want)
		}
	}
	var recs [][]byte // every record exported, in order
	for i := range 6 {
		recs = append(recs, testRecord(t, fmt.Sprintf("%08d", 52100+i), "Doe, Jane.", titleOf(i)+" /"))
	}

	var incID, alertID string
	if !t.Run("alert", func(t *testing.T) {
		export(t, recs[0], "biblio record number 1 added to Koha")
		up.stop(t)
		for _, rec := range recs[1:4] {
			export(t, rec, "queued")
		}
		for _, sub := range env.Subscribers {
			env.WaitMessages(t, sub, mailtest.Inbox, 1, mailWait)
		}
		x.waitSettled(t)
		env.WaitDelivered(t, mailWait)
		for _, sub := range env.Subscribers {
			msgs := parseAll(t, env.Messages(t, sub, mailtest.Inbox))
			alert := msgs[0]
			if !alertSubjectRE.MatchString(alert.subject) {
				t.Fatalf("%s: first message %q, want the ALERT", sub, alert.subject)
			}
			incID = alertSubjectRE.FindStringSubmatch(alert.subject)[1]
			if alertID != "" && alert.messageID != alertID {
				t.Errorf("%s: ALERT Message-ID %s, another subscriber got %s", sub, alert.messageID, alertID)
			}
			alertID = alert.messageID
			if alert.autoSubmitted != "auto-generated" {
				t.Errorf("%s: ALERT Auto-Submitted %q, want auto-generated", sub, alert.autoSubmitted)
			}
			if domainOf(alert.messageID) != botDomain {
				t.Errorf("%s: ALERT Message-ID %s is not at the bot's domain %s", sub, alert.messageID, botDomain)
			}
			if alert.listHeaders {
				t.Errorf("%s: the bot's ALERT carries List-* headers", sub)
			}
			if n := countSubject(msgs, alert.subject); n != 1 {
				t.Errorf("%s: %d ALERTs, want 1", sub, n)
			}
		}
		x.checkMailboxes(t)
	}) {
		return
	}

	var stopped time.Time
	if !t.Run("smtp outage", func(t *testing.T) {
		env.StopSMTP(t)
		stopped = time.Now()
		if sent := x.outbox(t, chanReport, incidents.DeliverySent); len(sent) > 0 {
			t.Fatalf("the OIS report went out before Postfix stopped (%s): bot.escalate_after is too short for this machine", sent[0].Key)
		}
		// Escalation comes bot.escalate_after after the ALERT, with the
		// mail server down; then more records fail.
		x.waitFor(t, "the escalation to OIS", func() (bool, string) {
			all := x.outbox(t, chanReport)
			return len(all) > 0, fmt.Sprintf("%d report notifications", len(all))
		})
		for _, rec := range recs[4:] {
			export(t, rec, "queued")
		}
		x.waitSettled(t)
		if wait := smtpOutage - time.Since(stopped); wait > 0 {
			time.Sleep(wait)
		}
		for _, ch := range []string{chanListserv, chanReport} {
			if n := len(x.outbox(t, ch, incidents.DeliveryPending)); n == 0 {
				t.Errorf("no %s notification waits for the mail server: the outage tested nothing", ch)
			}
			for _, n := range x.outbox(t, ch, incidents.DeliverySent) {
				if n.Sent.After(stopped) {
					t.Errorf("%s counted as sent at %s, while Postfix was down", n.Key, n.Sent)
				}
			}
		}
		env.StartSMTP(t)
		x.waitSettled(t)
		env.WaitDelivered(t, mailWait)
		x.checkMailboxes(t)
		// The catalogers have read of every record the outage hit.
		for _, sub := range env.Subscribers {
			var text strings.Builder
			for _, m := range parseAll(t, env.Messages(t, sub, mailtest.Inbox)) {
				text.WriteString(m.body)
			}
			for i := 1; i < len(recs); i++ {
				if title := titleOf(i); !strings.Contains(text.String(), title) {
					t.Errorf("%s: no list post names %q", sub, title)
				}
			}
		}
	}) {
		return
	}

	var reportID string
	if !t.Run("report thread", func(t *testing.T) {
		sent := x.outbox(t, chanReport, incidents.DeliverySent)
		msgs := parseAll(t, env.Messages(t, env.OnCall, mailtest.Inbox))
		var openers []*parsedMail
		for _, m := range msgs {
			if len(m.inReplyTo) == 0 {
				openers = append(openers, m)
			}
		}
		if len(openers) != 1 {
			t.Fatalf("on-call got %d thread openers, want 1:%s", len(openers), subjects(msgs))
		}
		reportID = openers[0].messageID
		if !strings.Contains(openers[0].subject, incID) {
			t.Errorf("report subject %q does not name %s", openers[0].subject, incID)
		}
		// What on-call needs without asking: the listener catalogers
		// dial, the upstream, every record.
		for _, a := range []string{addr, up.addr} {
			if !strings.Contains(openers[0].body, a) {
				t.Errorf("the report does not name %s:\n%s", a, openers[0].body)
			}
		}
		for i := 1; i < 4; i++ {
			if !strings.Contains(openers[0].body, titleOf(i)) {
				t.Errorf("the report does not show the record %q:\n%s", titleOf(i), openers[0].body)
			}
		}
		var mrc []byte
		for _, n := range sent { // oldest first: the opener, then the updates
			m := byID(t, msgs, incidents.MessageID(n.Key, botDomain))
			if m == nil {
				continue
			}
			if m.messageID != reportID {
				checkThread(t, "report "+n.Key, m, reportID)
			}
			for name, data := range m.files {
				if strings.HasSuffix(name, ".mrc") {
					mrc = append(mrc, data...)
				}
			}
		}
		if want := bytes.Join(recs[1:], nil); !bytes.Equal(mrc, want) {
			t.Errorf("the report thread's .mrc attachments (%d bytes) are not the %d records exported during the outage (%d bytes)",
				len(mrc), len(recs)-1, len(want))
		}
	}) {
		return
	}

	if !t.Run("ack by mail", func(t *testing.T) {
		env.SendAs(t, env.OnCall, []string{env.Bot.Addr}, ackMail(env.OnCall.Addr, env.Bot.Addr, incID, reportID))
		x.waitFor(t, "the ACK to acknowledge "+incID, func() (bool, string) {
			s := x.incident(t, incID).Summary
			return s.State == incidents.StateAcknowledged, string(s.State)
		})
		if s := x.incident(t, incID).Summary; !strings.Contains(s.AckedBy, env.OnCall.Addr) {
			t.Errorf("acknowledged by %q, want %s", s.AckedBy, env.OnCall.Addr)
		}
		x.waitSettled(t)
		env.WaitDelivered(t, mailWait)
		x.checkMailboxes(t)
	}) {
		return
	}

	if !t.Run("solved", func(t *testing.T) {
		up.start(t)
		x.waitFor(t, "the queued records at the upstream", func() (bool, string) {
			n := len(up.received())
			return n >= len(recs), fmt.Sprintf("%d of %d records", n, len(recs))
		})
		if got := up.received(); !slices.EqualFunc(got, recs, bytes.Equal) {
			t.Errorf("the upstream got %d records, want the %d exported, in order, each once", len(got), len(recs))
		}
		x.waitFor(t, incID+" solved", func() (bool, string) {
			s := x.incident(t, incID).Summary
			return s.State == incidents.StateSolved, string(s.State)
		})
		x.waitFor(t, "every record of "+incID+" delivered", func() (bool, string) {
			c := x.incident(t, incID).Summary.Counts
			return c.Records == len(recs)-1 && c.Delivered == c.Records, fmt.Sprintf("%+v", c)
		})
		x.waitSettled(t)
		env.WaitDelivered(t, mailWait)
		for _, sub := range env.Subscribers {
			msgs := parseAll(t, env.Messages(t, sub, mailtest.Inbox))
			solvedSubject := "OCLC EXPORT PROBLEM SOLVED [" + incID + "]"
			if n := countSubject(msgs, solvedSubject); n != 1 {
				t.Errorf("%s: %d SOLVED, want 1:%s", sub, n, subjects(msgs))
			}
			if n := countSubject(msgs, "OCLC EXPORT PROBLEM ALERT ["+incID+"]"); n != 1 {
				t.Errorf("%s: %d ALERTs, want 1:%s", sub, n, subjects(msgs))
			}
			for _, m := range msgs {
				if m.subject == solvedSubject {
					checkThread(t, sub.Addr+" SOLVED", m, alertID)
				}
			}
		}
		x.checkMailboxes(t)
	}) {
		return
	}

	t.Run("echoes", func(t *testing.T) {
		x.waitFor(t, "the list's echo of every post", func() (bool, string) {
			for _, n := range x.outbox(t, chanListserv) {
				if n.Echo != incidents.EchoReceived {
					return false, fmt.Sprintf("%s: echo %d", n.Key, n.Echo)
				}
			}
			return true, ""
		})
		for _, n := range x.outbox(t, "") {
			if n.Kind == incidents.KindAdmin {
				t.Errorf("admin notice %s: %q", n.Key, n.Subject)
			}
		}
		// Every list copy and the ACK were processed and moved, once.
		x.waitFor(t, "the bot's inbox to be processed", func() (bool, string) {
			n := len(env.Messages(t, env.Bot, mailtest.Inbox))
			return n == 0, fmt.Sprintf("%d messages left", n)
		})
		done := parseAll(t, env.Messages(t, env.Bot, "oclcbot-processed"))
		want := len(x.outbox(t, chanListserv)) + 1
		if len(done) != want {
			t.Errorf("the bot's processed folder holds %d messages, want %d (every list post once, and the ACK):%s", len(done), want, subjects(done))
		}
		for _, n := range x.outbox(t, chanListserv) {
			byID(t, done, incidents.MessageID(n.Key, botDomain)) // fails unless exactly once
		}
		env.WaitDelivered(t, mailWait)
		x.checkMailboxes(t)
		if n, err := env.QueueLen(); err != nil || n != 0 {
			t.Errorf("postfix queue: %d, %v", n, err)
		}
		for _, secret := range []string{env.Bot.Password, env.OnCall.Password} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a mailbox password is in the daemon's log")
			}
		}
	})
}
