package probe_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/receiver/relay"
)

// openRelay opens the real relay sink for upstream with the given
// round-trip style and reply timeout.
func openRelay(t *testing.T, upstream string, style relay.Probe, replyTimeout time.Duration) *relay.Relay {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "oclcbot.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.Open(t.Context(), relay.Config{
		Upstream:       upstream,
		DB:             d,
		Probe:          style,
		ConnectTimeout: guard,
		ReplyTimeout:   replyTimeout,
	})
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		d.Close()
	})
	return r
}

func upstreamProbes(r *relay.Relay) []probe.Probe {
	return []probe.Probe{probe.NewUpstreamTCP(r.Name(), r), probe.NewUpstreamRoundTrip(r.Name(), r)}
}

func TestUpstreamProbesHealthy(t *testing.T) {
	addr, _ := gatewayServer(t, replyWith("Import ok"))
	r := openRelay(t, addr, relay.ProbeHTTP, guard)
	for _, p := range upstreamProbes(r) {
		if p.Target != probe.UpstreamTarget(addr) || p.Interval != probe.DefaultUpstreamInterval || p.Timeout != probe.DefaultUpstreamTimeout {
			t.Errorf("%s: target %q, interval %v, timeout %v", p.Name, p.Target, p.Interval, p.Timeout)
		}
		if res := p.Func(shortCtx(t, guard)); !res.OK || res.Latency <= 0 {
			t.Errorf("%s against a live upstream = %+v, want success with a latency", p.Name, res)
		}
	}
}

func TestUpstreamProbesDown(t *testing.T) {
	addr := closedAddr(t)
	r := openRelay(t, addr, relay.ProbeHTTP, guard)
	for _, p := range upstreamProbes(r) {
		res := p.Func(shortCtx(t, guard))
		if res.OK || res.Cause != probe.CauseRefused || !strings.Contains(res.Message, addr) || !strings.Contains(res.Message, "connection refused") {
			t.Errorf("%s against a stopped upstream = %+v, want cause %q naming %s", p.Name, res, probe.CauseRefused, addr)
		}
	}
}

func TestUpstreamRoundTripNoAnswer(t *testing.T) {
	addr := silentListener(t)
	r := openRelay(t, addr, relay.ProbeEmpty, 300*time.Millisecond)
	res := probe.NewUpstreamRoundTrip(r.Name(), r).Func(shortCtx(t, guard))
	if res.OK || res.Cause != probe.CauseTimeout || !strings.Contains(res.Message, addr) {
		t.Fatalf("round trip to an upstream that never answers = %+v, want cause %q", res, probe.CauseTimeout)
	}
	// The port is open, so the connect probe passes: the two probes tell
	// "down" from "hung".
	if res := probe.NewUpstreamTCP(r.Name(), r).Func(shortCtx(t, guard)); !res.OK {
		t.Fatalf("connect to a hung upstream = %+v, want success", res)
	}
}

func TestUpstreamRoundTripErrorReply(t *testing.T) {
	addr := answeringListener(t, "HTTP/1.0 503 Service Unavailable\r\n\r\n")
	r := openRelay(t, addr, relay.ProbeHTTP, guard)
	res := probe.NewUpstreamRoundTrip(r.Name(), r).Func(shortCtx(t, guard))
	if res.OK || !strings.Contains(res.Message, "503 Service Unavailable") {
		t.Fatalf("round trip to an upstream answering 503 = %+v, want a failure quoting the answer", res)
	}
}

func TestUpstreamErrorCauseWord(t *testing.T) {
	// An upstream error that names its own cause keeps it.
	u := upstreamFunc(func(context.Context) error {
		return &causeErr{"upstream-error", `upstream 10.0.0.5:5500 answered "Error: session expired"`}
	})
	res := probe.NewUpstreamRoundTrip("upstream:10.0.0.5:5500", u).Func(shortCtx(t, guard))
	if res.OK || res.Cause != "upstream-error" || res.Message != `upstream 10.0.0.5:5500 answered "Error: session expired"` {
		t.Fatalf("result = %+v", res)
	}
}

// upstreamFunc is an Upstream whose Ping and RoundTrip are both f: for
// the cause-word contract only; the relay's own behaviour is tested above.
type upstreamFunc func(context.Context) error

func (f upstreamFunc) Ping(ctx context.Context) error      { return f(ctx) }
func (f upstreamFunc) RoundTrip(ctx context.Context) error { return f(ctx) }
