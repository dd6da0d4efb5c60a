package mailbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/oclcbot/oclcbot/bot"
)

// kinds lists the event types in order, for comparisons.
func kinds(evs []bot.MailEvent) string {
	var s []string
	for _, ev := range evs {
		s = append(s, strings.TrimPrefix(fmt.Sprintf("%T", ev), "*bot."))
	}
	return strings.Join(s, ",")
}

func TestWatcherHandlesAndMoves(t *testing.T) {
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	// Mail waiting before the first start, an automatic reply among it.
	srv.deliver(t, readMail(t, "echo.eml"))
	srv.deliver(t, readMail(t, "vacation.eml"))
	srv.deliver(t, readMail(t, "reply_ack_outlook.eml"))
	w, _ := r.start()
	r.eventually("the waiting mail", 0, func() bool { return len(r.rec.got()) == 2 && srv.count("INBOX") == 0 })
	if got := kinds(r.rec.got()); got != "Echo,Reply" {
		t.Fatalf("events %s, want Echo,Reply (the vacation reply ignored)", got)
	}
	if n := srv.count(doneFolder); n != 3 {
		t.Errorf("%d messages in %s, want all 3, the ignored one too", n, doneFolder)
	}

	// New mail arrives while the watcher idles: the server's EXISTS
	// wakes it at once, without any clock moving.
	r.eventually("IDLE", 0, p.isIdling)
	srv.deliver(t, readMail(t, "staff_report.eml"))
	p.announce(1)
	r.eventually("the new mail", 0, func() bool { return len(r.rec.got()) == 3 && w.Stats().Moved == 4 })
	sr, ok := r.rec.got()[2].(*bot.StaffReport)
	if !ok || len(sr.Attachments) != 2 {
		t.Fatalf("third event %T, want the staff report with its 2 attachments", r.rec.got()[2])
	}
	if !p.sent("IDLE") || p.sent("NOOP") {
		t.Error("the watcher did not use IDLE, or polled although the server has IDLE")
	}
	if _, last, ok := r.storedState(); !ok || last != 4 {
		t.Errorf("stored last UID %d (%v), want 4", last, ok)
	}
	st := w.Stats()
	if st.Handled != 3 || st.Ignored != 1 || st.Moved != 4 || st.Connects != 1 {
		t.Errorf("stats %+v", st)
	}
	if strings.Contains(r.logs.String(), testPassword) {
		t.Error("the password is in the log")
	}
}

func TestWatcherRestartNeitherSkipsNorRepeats(t *testing.T) {
	srv := newIMAPServer(t, nil)
	r := newRig(t, srv.addr)
	srv.deliver(t, readMail(t, "reply_ack_bottom.eml"))
	srv.deliver(t, readMail(t, "listpost_alert.eml"))
	_, stop := r.start()
	r.eventually("the first two", 0, func() bool { return len(r.rec.got()) == 2 && srv.count("INBOX") == 0 })
	stop()

	// Mail that came while the bot was down, and a copy of a mail it
	// handled (the same reply sent to the bot and the list).
	srv.deliver(t, readMail(t, "listpost_solved.eml"))
	srv.deliver(t, readMail(t, "reply_ack_bottom.eml"))
	srv.deliver(t, readMail(t, "direct_solved.eml"))
	_, stop = r.start()
	r.eventually("the mail of the downtime", 0, func() bool { return srv.count("INBOX") == 0 })
	stop()
	if got := kinds(r.rec.got()); got != "Reply,ListPost,ListPost,Reply" {
		t.Errorf("events %s, want each mail once: Reply,ListPost,ListPost,Reply", got)
	}
	if srv.count(doneFolder) != 5 {
		t.Errorf("%d in the done folder, want 5", srv.count(doneFolder))
	}
	if _, last, _ := r.storedState(); last != 5 {
		t.Errorf("last UID %d, want 5", last)
	}
}

func TestWatcherPollsWithoutIdle(t *testing.T) {
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	p.set(func(p *proxy) { p.stripIdle = true })
	r := newRig(t, p.addr())
	srv.deliver(t, readMail(t, "direct_alert.eml"))
	r.start()
	r.eventually("the first mail", 0, func() bool { return len(r.rec.got()) == 1 })
	// The scan that found the first mail searched before the second
	// came: only a poll finds it, and polls wait on the clock.
	srv.deliver(t, readMail(t, "reply_solved_gmail.eml"))
	r.eventually("the polled mail", r.cfg.Poll, func() bool { return len(r.rec.got()) == 2 })
	if p.sent("IDLE") {
		t.Error("IDLE sent to a server that does not advertise it")
	}
	if !p.sent("NOOP") {
		t.Error("no NOOP: the watcher did not poll")
	}
}

func TestWatcherRenewsIdle(t *testing.T) {
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	w, _ := r.start()
	r.eventually("the session", 0, func() bool { return w.Stats().Connects == 1 && p.sent("IDLE") })
	// The server does not announce the new mail: renewing IDLE after
	// IdleRestart looks again and finds it.
	p.set(func(p *proxy) { p.hideNews = true })
	srv.deliver(t, readMail(t, "direct_alert.eml"))
	r.eventually("the unannounced mail", r.cfg.IdleRestart, func() bool { return len(r.rec.got()) == 1 })
	if !p.sent("DONE") || w.Stats().Connects != 1 {
		t.Errorf("IDLE not ended with DONE in the same session (stats %+v)", w.Stats())
	}
}

func TestWatcherReconnectsAfterDrop(t *testing.T) {
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	w, _ := r.start()
	r.eventually("the session", 0, func() bool { return w.Stats().Connects == 1 })
	p.dropAll()
	srv.deliver(t, readMail(t, "direct_alert.eml"))
	r.eventually("the mail after reconnecting", time.Second, func() bool { return len(r.rec.got()) == 1 && srv.count("INBOX") == 0 })
	st := w.Stats()
	if st.Connects < 2 || st.SessionsLost < 1 {
		t.Errorf("stats %+v: want a lost session and a second one", st)
	}
}

func TestWatcherBacksOffWhileServerDown(t *testing.T) {
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	r.cfg.Password = "wrong-" + testPassword
	w, stop := r.start()
	// Each failed login is followed by a wait on the clock (jitter 0.5:
	// three quarters of the doubling delay): without the
	// clock moving, no second attempt.
	r.eventually("the first failure", 0, func() bool { return w.Stats().SessionsLost == 1 })
	if err := r.clock.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if n := w.Stats().SessionsLost; n != 1 {
		t.Fatalf("%d attempts before the backoff passed", n)
	}
	r.eventually("more attempts", r.cfg.BackoffMax, func() bool { return w.Stats().SessionsLost >= 4 })
	stop()
	logs := r.logs.String()
	if strings.Contains(logs, testPassword) {
		t.Error("the password is in the log")
	}
	for _, want := range []string{"retry_in=750ms", "retry_in=1.5s", "retry_in=3s", "retry_in=6s"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s: the backoff does not double\n%s", want, logs)
		}
	}
}

func TestWatcherWatchdog(t *testing.T) {
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	r.cfg.CommandTimeout = time.Minute
	// The MOVE after the first message is never answered.
	p.set(func(p *proxy) { p.stall = "MOVE" })
	srv.deliver(t, readMail(t, "reply_ack_outlook.eml"))
	w, _ := r.start()
	r.eventually("the handler", 0, func() bool { return len(r.rec.got()) == 1 })
	r.eventually("the watchdog", 10*time.Second, func() bool { return w.Stats().Watchdog >= 1 })
	// Reconnected, it moves the message it had handled, without handing
	// it over again.
	r.eventually("the move", time.Second, func() bool { return srv.count("INBOX") == 0 && srv.count(doneFolder) == 1 })
	if n := len(r.rec.got()); n != 1 {
		t.Errorf("handled %d times, want once", n)
	}
	if !strings.Contains(r.logs.String(), "imap command stuck") {
		t.Error("the watchdog did not log")
	}
}

func TestWatcherUIDValidityChange(t *testing.T) {
	srv := newIMAPServer(t, nil)
	r := newRig(t, srv.addr)
	srv.deliver(t, readMail(t, "reply_ack_bottom.eml"))
	srv.deliver(t, readMail(t, "listpost_alert.eml"))
	_, stop := r.start()
	r.eventually("the first two", 0, func() bool { return len(r.rec.got()) == 2 && srv.count("INBOX") == 0 })
	stop()
	oldValidity, _, _ := r.storedState()

	// The folder is rebuilt (a restore, a migration): new UIDVALIDITY,
	// the old mail back in it with new UIDs, and one new mail.
	if err := srv.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := srv.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	srv.deliver(t, readMail(t, "reply_ack_bottom.eml"))
	srv.deliver(t, readMail(t, "listpost_alert.eml"))
	srv.deliver(t, readMail(t, "listpost_solved.eml"))
	w, _ := r.start()
	r.eventually("the rebuilt folder", 0, func() bool { return srv.count("INBOX") == 0 })
	if got := kinds(r.rec.got()); got != "Reply,ListPost,ListPost" {
		t.Errorf("events %s: want only the new mail handled after the change", got)
	}
	if w.Stats().Duplicates != 2 {
		t.Errorf("stats %+v, want 2 duplicates", w.Stats())
	}
	if v, last, _ := r.storedState(); v == oldValidity || last != 3 {
		t.Errorf("stored UIDVALIDITY %d (old %d), last %d: want the new one and 3", v, oldValidity, last)
	}
}

func TestWatcherRetriesTemporaryFailures(t *testing.T) {
	srv := newIMAPServer(t, nil)
	r := newRig(t, srv.addr)
	failures := 2
	r.rec.fail = func(ev bot.MailEvent) error {
		switch ev.(type) {
		case *bot.Reply:
			if failures > 0 {
				failures--
				return errTemporary
			}
		case *bot.StaffReport:
			return fmt.Errorf("report: %w", bot.ErrAmbiguous)
		}
		return nil
	}
	srv.deliver(t, readMail(t, "staff_report.eml"))      // refused for good
	srv.deliver(t, readMail(t, "reply_ack_outlook.eml")) // fails twice
	srv.deliver(t, readMail(t, "listpost_alert.eml"))    // must wait for the reply
	w, _ := r.start()
	r.eventually("the first failure", 0, func() bool { return w.Stats().Failed == 1 })
	if got := kinds(r.rec.got()); got != "" || srv.count("INBOX") != 2 {
		t.Fatalf("events %q, %d in INBOX: the refused report must be moved, the failed reply and the mail after it kept",
			got, srv.count("INBOX"))
	}
	r.eventually("the retries", time.Second, func() bool { return len(r.rec.got()) == 2 && srv.count("INBOX") == 0 })
	if got := kinds(r.rec.got()); got != "Reply,ListPost" {
		t.Errorf("events %s, want Reply,ListPost in order", got)
	}
	if st := w.Stats(); st.Failed != 2 || st.Rejected != 1 || st.Handled != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestWatcherGivesUpAfterMaxAttempts(t *testing.T) {
	srv := newIMAPServer(t, nil)
	r := newRig(t, srv.addr)
	r.cfg.MaxAttempts = 3
	r.rec.fail = func(ev bot.MailEvent) error {
		if _, ok := ev.(*bot.Reply); ok {
			return errTemporary
		}
		return nil
	}
	srv.deliver(t, readMail(t, "reply_ack_outlook.eml"))
	srv.deliver(t, readMail(t, "listpost_alert.eml"))
	w, _ := r.start()
	r.eventually("giving up", time.Second, func() bool { return srv.count("INBOX") == 0 })
	if got := kinds(r.rec.got()); got != "ListPost" {
		t.Errorf("events %s, want only the list post", got)
	}
	if st := w.Stats(); st.GaveUp != 1 || st.Failed != 3 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(r.logs.String(), "level=ERROR msg=\"mail given up") {
		t.Error("giving up is not logged as an error")
	}
}

func TestWatcherNoMoveCapability(t *testing.T) {
	// A server without MOVE: COPY, STORE \Deleted and (UID) EXPUNGE.
	srv := newIMAPServer(t, func(o *imapserver.Options) { delete(o.Caps, "MOVE") })
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	srv.deliver(t, readMail(t, "echo.eml"))
	r.start()
	r.eventually("the copy", 0, func() bool { return len(r.rec.got()) == 1 && srv.count("INBOX") == 0 })
	if srv.count(doneFolder) != 1 || p.sent("MOVE") || !p.sent("UID COPY") || !p.sent("EXPUNGE") {
		t.Errorf("done folder %d: want the message copied and expunged without MOVE", srv.count(doneFolder))
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Addr: "imap.example.edu:993", Username: "bot"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no port", func(c *Config) { c.Addr = "imap.example.edu" }, "want host:port"},
		{"clear text remote", func(c *Config) { c.Security = SecurityNone }, "only to a loopback"},
		{"bad security", func(c *Config) { c.Security = "ssl" }, "want tls, starttls or none"},
		{"no user", func(c *Config) { c.Username = "" }, "no username"},
		{"same folders", func(c *Config) { c.DoneFolder = "inbox" }, "must differ"},
		{"idle too long", func(c *Config) { c.IdleRestart = 30 * time.Minute }, "at most 29m0s"},
		{"backoff", func(c *Config) { c.BackoffMin = time.Hour }, "below backoff min"},
		{"ca file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "CA file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := c.withDefaults()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
	c, err := ok.withDefaults()
	if err != nil || c.Security != SecurityTLS || c.Folder != "INBOX" || c.DoneFolder != DefaultDoneFolder || c.TLS.ServerName != "imap.example.edu" {
		t.Errorf("defaults: %+v %v", c, err)
	}
	loop := ok
	loop.Addr, loop.Security = "[::1]:143", SecurityNone
	if _, err := loop.withDefaults(); err != nil {
		t.Errorf("clear text to loopback refused: %v", err)
	}
}
