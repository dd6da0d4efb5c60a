package probe_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/internal/testutil"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/templates"
)

const canaryPassword = "s3cret-Canary-pw"

// canaryReceiver is a gateway handler that answers as the receiver does
// for its canary account, and records what it got.
type canaryReceiver struct {
	reply func(user, password string, rec *marc.Record, err error) string

	mu       sync.Mutex
	requests int
}

func (h *canaryReceiver) serve(_ context.Context, req *gateway.Request) string {
	h.mu.Lock()
	h.requests++
	h.mu.Unlock()
	user, password := req.Credentials()
	if len(req.Records) != 1 {
		return "Error: expected one record"
	}
	rec, err := marc.Decode(req.Records[0])
	return h.reply(user, password, rec, err)
}

// receiverCanaryReply is the reply the receiver sends for a canary export:
// its default "reply.canary" template, rendered as the receiver renders
// replies (one line).
func receiverCanaryReply(t *testing.T) string {
	t.Helper()
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	s, err := set.Render(receiver.ReplyCanary, receiver.ReplyData{Number: 1, Count: 1, Outcome: string(exportlog.OutcomeCanary)})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// recognisesCanary returns a reply function that answers the receiver's
// canary reply only for the canary account with the right password and
// a valid record.
func recognisesCanary(t *testing.T) func(user, password string, rec *marc.Record, err error) string {
	ok := receiverCanaryReply(t)
	return func(user, password string, rec *marc.Record, err error) string {
		switch {
		case err != nil:
			return "Not imported: the record is not valid MARC: " + err.Error()
		case user != probe.DefaultCanaryUser || password != canaryPassword:
			return "Not imported: wrong user name or password."
		}
		return ok
	}
}

func canaryProbe(t *testing.T, addr string, timeout time.Duration) probe.Probe {
	t.Helper()
	p, err := probe.NewCanary(probe.CanaryConfig{
		Exporter: &gateway.Client{Addr: addr},
		Password: config.NewSecret(canaryPassword),
		Timeout:  timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCanaryThroughTheListener(t *testing.T) {
	h := &canaryReceiver{reply: recognisesCanary(t)}
	addr, shutdown := gatewayServer(t, h.serve)
	p := canaryProbe(t, addr, 0)
	if p.Name != probe.NameCanary || p.Target != probe.TargetListener || p.Interval != probe.DefaultCanaryInterval || p.Timeout != probe.DefaultCanaryTimeout {
		t.Fatalf("canary probe settings: %+v", p)
	}
	r := p.Func(shortCtx(t, guard))
	want := "Test export received by oclcbot; nothing was stored."
	if !r.OK || r.Message != want || r.Latency <= 0 {
		t.Fatalf("canary = %+v, want success with the reply %q verbatim", r, want)
	}
	if failures := shutdown(); len(failures) != 0 || h.requests != 1 {
		t.Fatalf("gateway saw %d requests and failures %v; want one clean export", h.requests, failures)
	}
}

func TestCanaryFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		addr    func(*testing.T) string
		timeout time.Duration
		cause   string
		message string // exact, or a substring when prefixed with "~"
		target  string // Result.Target: "" (the probe's) for replies
	}{
		{"password changed on one side",
			func(t *testing.T) string {
				ok := recognisesCanary(t)
				h := &canaryReceiver{reply: func(user, password string, rec *marc.Record, err error) string {
					return ok(user, password+" changed", rec, err)
				}}
				a, _ := gatewayServer(t, h.serve)
				return a
			},
			guard, probe.CauseBadReply, "Not imported: wrong user name or password.", ""},
		{"receiver stores the canary like a normal record",
			func(t *testing.T) string {
				a, _ := gatewayServer(t, replyWith("Added to the catalog as system number 000000123."))
				return a
			},
			guard, probe.CauseBadReply, "Added to the catalog as system number 000000123.", ""},
		{"reply quotes the password",
			func(t *testing.T) string {
				a, _ := gatewayServer(t, func(_ context.Context, req *gateway.Request) string {
					return "Error: password " + req.Password + " expired; password was " + req.Password
				})
				return a
			},
			guard, probe.CauseBadReply, "Error: password [redacted] expired; password was [redacted]", ""},
		{"listener down", closedAddr, guard, probe.CauseRefused, "~connection refused", probe.TargetListener},
		{"listener never answers", silentListener, 200 * time.Millisecond, probe.CauseTimeout, "~timed out", probe.TargetListener},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			r := canaryProbe(t, addr, tc.timeout).Func(shortCtx(t, tc.timeout))
			if r.OK || r.Cause != tc.cause || r.Target != tc.target {
				t.Fatalf("canary = %+v, want a failure with cause %q counting toward %q", r, tc.cause, tc.target)
			}
			if sub, ok := strings.CutPrefix(tc.message, "~"); ok {
				if !strings.Contains(r.Message, sub) {
					t.Fatalf("message %q does not contain %q", r.Message, sub)
				}
			} else if r.Message != tc.message {
				t.Fatalf("message %q, want %q", r.Message, tc.message)
			}
			if strings.Contains(r.Message, canaryPassword) {
				t.Fatalf("message %q contains the canary password", r.Message)
			}
		})
	}
}

func TestCanaryCustomAccept(t *testing.T) {
	addr, _ := gatewayServer(t, replyWith("Canary fine"))
	// A library whose reply.canary template says something else.
	p, err := probe.NewCanary(probe.CanaryConfig{
		Exporter: &gateway.Client{Addr: addr},
		User:     "probe-user",
		Accept:   func(reply string) bool { return reply == "Canary fine" },
		Target:   "catalog",
		Interval: time.Minute,
		Timeout:  time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target != "catalog" || p.Interval != time.Minute || p.Timeout != time.Second {
		t.Fatalf("settings not kept: %+v", p)
	}
	if r := p.Func(shortCtx(t, guard)); !r.OK || r.Message != "Canary fine" {
		t.Fatalf("canary with a custom matcher = %+v", r)
	}
}

func TestNewCanaryNeedsExporter(t *testing.T) {
	if _, err := probe.NewCanary(probe.CanaryConfig{}); !errors.Is(err, probe.ErrConfig) {
		t.Fatalf("NewCanary without an Exporter = %v, want ErrConfig", err)
	}
}

func TestIsCanaryReply(t *testing.T) {
	for reply, want := range map[string]bool{
		receiverCanaryReply(t):                                                                                true,
		"Test export received by oclcbot; nothing was stored.":                                                true,
		"\r\n  Test export received by oclcbot; nothing was stored.\n":                                        true,
		"Not imported: wrong user name or password.":                                                          false,
		"Not saved: the local system cannot be reached. Test export received by oclcbot; nothing was stored.": false,
		"Added to the catalog as system number 000000123.":                                                    false,
		"Test export received":                                                                                false,
		"":                                                                                                    false,
	} {
		if got := probe.IsCanaryReply(reply); got != want {
			t.Errorf("IsCanaryReply(%q) = %v, want %v", reply, got, want)
		}
	}
	if got := receiverCanaryReply(t); got != probe.CanaryReplyText {
		t.Errorf("the receiver's default canary reply is %q; CanaryReplyText is %q", got, probe.CanaryReplyText)
	}
}

func TestCanaryRecord(t *testing.T) {
	b, err := probe.CanaryRecord()
	if err != nil {
		t.Fatal(err)
	}
	r, err := marc.Decode(b)
	if err != nil {
		t.Fatalf("the canary record is not valid MARC: %v", err)
	}
	if got, want := r.SubfieldValue("245", 'a')+" "+r.SubfieldValue("245", 'b'), "oclcbot canary record : a probe export, never stored."; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	if r.Leader[marc.CharCodingPos] != 'a' {
		t.Errorf("leader/09 = %q, want 'a' (UTF-8)", r.Leader[marc.CharCodingPos])
	}
	// No OCLC number: a receiver that failed to recognise the canary
	// account could not merge it into a real record.
	if n := marc.OCLCNumbers(r); len(n) != 0 {
		t.Errorf("the canary record carries OCLC numbers %v:\n%s", n, marc.AppendMnemonic(nil, r))
	}
}

func TestCanaryInScheduler(t *testing.T) {
	var failing atomic.Bool // the receiver answers with an error
	ok := recognisesCanary(t)
	h := &canaryReceiver{reply: func(user, password string, rec *marc.Record, err error) string {
		if failing.Load() {
			return "Not saved: the catalog could not save it."
		}
		return ok(user, password, rec, err)
	}}
	addr, shutdown := gatewayServer(t, h.serve)
	p, err := probe.NewCanary(probe.CanaryConfig{
		Exporter: &gateway.Client{Addr: addr},
		Password: config.NewSecret(canaryPassword),
		Target:   "catalog",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, clock, col := startScheduler(t, probe.Config{Probes: []probe.Probe{p}})
	step := func() bot.Observation {
		waitIdle(t, clock, 1)
		clock.Advance(probe.DefaultCanaryInterval)
		return col.next(t)
	}

	if o := col.next(t); !o.OK || o.Probe != probe.NameCanary || o.Target != "catalog" {
		t.Fatalf("first canary observation: %+v", o)
	}
	// The receiver answers, with a failure: the sink's target.
	failing.Store(true)
	o := step()
	if o.OK || o.Class != exportlog.ClassSystem || o.Cause != probe.CauseBadReply || o.Target != "catalog" ||
		o.Message != "Not saved: the catalog could not save it." {
		t.Fatalf("failed canary observation: %+v", o)
	}
	// No answer at all: the listener's target.
	shutdown()
	if o := step(); o.OK || o.Cause != probe.CauseRefused || o.Target != probe.TargetListener {
		t.Fatalf("canary with the listener closed: %+v", o)
	}
}

func TestResultTargetOverridesProbeTarget(t *testing.T) {
	_, _, col := startScheduler(t, probe.Config{Probes: []probe.Probe{
		{Name: "p", Target: "catalog", Interval: time.Minute, Timeout: guard,
			Func: func(context.Context) probe.Result {
				r := probe.Fail(probe.CauseRefused, "no")
				r.Target = probe.TargetListener
				return r
			}},
	}})
	if o := col.next(t); o.Target != probe.TargetListener {
		t.Fatalf("observation target %q, want the result's %q", o.Target, probe.TargetListener)
	}
}

func TestCanaryNeverLeaksThePassword(t *testing.T) {
	// A receiver that echoes the password in its reply, and a probe that
	// logs at debug level: neither the observation, the history nor the
	// log may show it.
	addr, _ := gatewayServer(t, func(_ context.Context, req *gateway.Request) string {
		return "Error: the password " + req.Password + " has expired"
	})
	var logBuf syncBuffer
	s, _, col := startScheduler(t, probe.Config{
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Probes: []probe.Probe{canaryProbe(t, addr, 0)},
	})
	o := col.next(t)
	if o.OK || o.Message != "Error: the password [redacted] has expired" {
		t.Fatalf("observation %+v, want the reply with the password redacted", o)
	}
	if !strings.Contains(logBuf.String(), "the password [redacted] has expired") {
		t.Fatalf("the failure was not logged at debug level: %q", logBuf.String())
	}
	for what, text := range map[string]string{
		"observation": fmt.Sprintf("%+v", o),
		"history":     fmt.Sprintf("%+v", s.History()),
		"log":         logBuf.String(),
	} {
		if strings.Contains(text, canaryPassword) {
			t.Errorf("the %s shows the canary password: %s", what, text)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.Buffer
