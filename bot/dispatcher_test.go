package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
)

var errTemp = errors.New("421 4.3.0 try again later")

func TestSolvedNeverOvertakesItsAlert(t *testing.T) {
	h := newHarness(t, nil)
	h.ch["listserv"].setFail(func(*incidents.Notification) error { return errTemp })
	for range 3 {
		h.export(upstream, false)
	}
	h.export(upstream, true)
	h.export(upstream, true) // solved while the ALERT is still waiting
	h.want("listserv")
	h.want("slack", "alert OIS-2026-0001", "solved OIS-2026-0001") // the other channel is not held up
	for range 5 {
		h.step(time.Minute)
		h.want("listserv")
	}
	h.ch["listserv"].setFail(nil)
	h.step(time.Hour)
	h.want("listserv", "alert OIS-2026-0001", "solved OIS-2026-0001")
}

func TestBackoffWithJitterThenDead(t *testing.T) {
	h := newHarness(t, func(_ *Config, d *DispatcherConfig) {
		d.Retry = RetryPolicy{Initial: 10 * time.Second, Max: time.Hour, MaxAge: 24 * time.Hour}
	})
	var tries []time.Time
	h.ch["listserv"].setFail(func(*incidents.Notification) error {
		tries = append(tries, h.clk.Now())
		return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	})
	for range 3 {
		h.export(upstream, false)
	}
	for range 26 * 12 {
		h.step(5 * time.Minute)
	}
	// With Rand fixed at 0.5, each wait is 3/4 of Initial*2^(n-1), capped
	// at 3/4 of Max; the clock moves 5 minutes at a time.
	if len(tries) < 15 || len(tries) > 45 {
		t.Fatalf("%d attempts in a day", len(tries))
	}
	for i := 1; i < len(tries); i++ {
		gap := tries[i].Sub(tries[i-1])
		want := RetryPolicy{Initial: 10 * time.Second, Max: time.Hour}.backoff(i, 0.5)
		if gap < want || gap > want+5*time.Minute {
			t.Fatalf("gap %d = %s, want %s (rounded up to 5 minutes)", i, gap, want)
		}
	}
	n, err := h.st.Notification(h.ctx, "OIS-2026-0001/alert/1/listserv")
	if err != nil {
		t.Fatal(err)
	}
	if n.State != incidents.DeliveryDead || !strings.Contains(n.LastError, "gave up after") {
		t.Fatalf("state %s error %q", n.State, n.LastError)
	}
	h.want("ois", "escalation OIS-2026-0001", "admin OIS-2026-0001")
	if a := h.ch["ois"].last(); !strings.Contains(a.Body, "outbox retry OIS-2026-0001/alert/1/listserv") {
		t.Errorf("admin notice:\n%s", a.Body)
	}
}

func TestPermanentErrorDeadLettersTheThread(t *testing.T) {
	h := newHarness(t, nil)
	h.ch["listserv"].setFail(func(*incidents.Notification) error {
		return Permanent(errors.New("550 5.7.1 not allowed to post"))
	})
	for range 3 {
		h.export(upstream, false)
	}
	h.export(upstream, true)
	h.export(upstream, true)
	h.want("listserv")
	h.want("ois", "admin OIS-2026-0001") // one notice, about the ALERT
	dead, err := h.st.Outbox(h.ctx, sqlite.OutboxFilter{States: []incidents.Delivery{incidents.DeliveryDead}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || dead[0].SkippedFor != "OIS-2026-0001/alert/1/listserv" {
		t.Fatalf("dead letters: %+v", dead)
	}
	// Fixed; retried by hand: the ALERT and then its SOLVED go out.
	h.ch["listserv"].setFail(nil)
	if err := h.st.Retry(h.ctx, "OIS-2026-0001/alert/1/listserv", h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	h.flush()
	h.want("listserv", "alert OIS-2026-0001", "solved OIS-2026-0001")
}

func TestPacingAndRetryAfter(t *testing.T) {
	rec := &recorder{pace: time.Second}
	h := newHarness(t, func(c *Config, d *DispatcherConfig) {
		c.Channels[1].Channel = pacedRecorder{rec}
		d.Channels = c.Channels
	})
	h.ch["slack"] = rec
	for _, target := range []string{"upstream:a:1", "upstream:b:1", "upstream:c:1"} {
		for range 3 {
			a := h.attempt(target, false, "system", "upstream-down")
			if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.flush()
	if n := len(rec.summary()); n != 1 {
		t.Fatalf("sent %d at once, want 1 (one a second)", n)
	}
	h.step(500 * time.Millisecond)
	if n := len(rec.summary()); n != 1 {
		t.Fatalf("sent %d after 0.5 s", n)
	}
	h.step(500 * time.Millisecond)
	h.step(time.Second)
	if n := len(rec.summary()); n != 3 {
		t.Fatalf("sent %d after 2 s, want 3", n)
	}
	// A 429 with Retry-After holds the whole channel back.
	calls := 0
	rec.setFail(func(*incidents.Notification) error {
		calls++
		if calls == 1 {
			return RetryAfter(errors.New("slack: rate limited"), 30*time.Second)
		}
		return nil
	})
	for range 3 {
		a := h.attempt("upstream:d:1", false, "system", "upstream-down")
		if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	h.step(time.Second)
	h.step(29 * time.Second)
	if n := len(rec.summary()); n != 3 || calls != 1 {
		t.Fatalf("sent %d (calls %d) before Retry-After passed", n, calls)
	}
	h.step(time.Second)
	if n := len(rec.summary()); n != 4 {
		t.Fatalf("sent %d after Retry-After, want 4", n)
	}
}

// blockingChannel holds every Send until released.
type blockingChannel struct {
	entered chan string
	release chan struct{}
}

func (b *blockingChannel) Send(ctx context.Context, n *incidents.Notification) error {
	b.entered <- n.Key
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestStuckChannelDoesNotDelayOthers(t *testing.T) {
	stuck := &blockingChannel{entered: make(chan string, 10), release: make(chan struct{})}
	slack := &recorder{sent: make(chan string, 10)}
	h := newHarness(t, func(c *Config, d *DispatcherConfig) {
		c.Channels[0].Channel = stuck
		c.Channels[1].Channel = slack
		d.Channels = c.Channels
		d.Now = time.Now // the production loop
	})
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { h.disp.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for range 3 {
		a := h.attempt(upstream, false, "system", "upstream-down")
		if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// The email channel hangs in Send; Slack gets the ALERT anyway.
	select {
	case k := <-stuck.entered:
		if k != "OIS-2026-0001/alert/1/listserv" {
			t.Fatalf("listserv got %s", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the listserv worker was not woken")
	}
	select {
	case k := <-slack.sent:
		if k != "OIS-2026-0001/alert/1/slack" {
			t.Fatalf("slack got %s", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slack waited for the stuck channel")
	}
	close(stuck.release)
}

type panicky struct{}

func (panicky) Send(context.Context, *incidents.Notification) error { panic("bug in a channel") }

func TestPanickingChannelIsADeadLetterNotACrash(t *testing.T) {
	h := newHarness(t, func(c *Config, d *DispatcherConfig) {
		c.Channels[0].Channel = panicky{}
		d.Channels = c.Channels
	})
	for range 3 {
		h.export(upstream, false)
	}
	n, err := h.st.Notification(h.ctx, "OIS-2026-0001/alert/1/listserv")
	if err != nil || n.State != incidents.DeliveryDead || !strings.Contains(n.LastError, "panicked") {
		t.Fatalf("%+v %v", n, err)
	}
}

func TestErrorClassification(t *testing.T) {
	type smtpLike struct{ code int }
	cases := []struct {
		name string
		err  error
		perm bool
		ra   time.Duration
	}{
		{"plain", errors.New("boom"), false, 0},
		{"permanent", Permanent(errors.New("550")), true, 0},
		{"wrapped permanent", fmt.Errorf("send: %w", Permanent(errors.New("550"))), true, 0},
		{"temporary() false", tempErr{false}, true, 0},
		{"temporary() true", tempErr{true}, false, 0},
		{"net error", &net.OpError{Op: "dial", Err: errors.New("refused")}, false, 0},
		{"timeout", context.DeadlineExceeded, false, 0},
		{"retry after", RetryAfter(errors.New("429"), 5*time.Second), false, 5 * time.Second},
		{"wrapped retry after", fmt.Errorf("post: %w", RetryAfter(errors.New("429"), time.Minute)), false, time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := IsPermanent(c.err); got != c.perm {
				t.Errorf("IsPermanent = %v", got)
			}
			ra, ok := RetryAfterOf(c.err)
			if ra != c.ra || ok != (c.ra > 0) {
				t.Errorf("RetryAfterOf = %v %v", ra, ok)
			}
		})
	}
	if Permanent(nil) != nil || RetryAfter(nil, time.Second) != nil {
		t.Error("nil must stay nil")
	}
}

type tempErr struct{ t bool }

func (e tempErr) Error() string   { return "smtp" }
func (e tempErr) Temporary() bool { return e.t }
