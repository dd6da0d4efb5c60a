package probe_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/bot/probe/probetest"
)

// t0 is the fake clock's starting time in every test.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// guard bounds how long a test waits for something that must happen; it
// is a hang guard, never a timing assertion.
const guard = 10 * time.Second

// collector receives a Scheduler's observations and notices concurrent
// calls of Emit.
type collector struct {
	ch      chan bot.Observation
	active  atomic.Int32
	overlap atomic.Bool
}

func newCollector() *collector { return &collector{ch: make(chan bot.Observation, 1000)} }

func (c *collector) emit(o bot.Observation) {
	if c.active.Add(1) > 1 {
		c.overlap.Store(true)
	}
	c.ch <- o
	c.active.Add(-1)
}

// next returns the next observation.
func (c *collector) next(t *testing.T) bot.Observation {
	t.Helper()
	select {
	case o := <-c.ch:
		return o
	case <-time.After(guard):
		t.Fatal("no observation emitted")
		return bot.Observation{}
	}
}

// nextN returns the next n observations keyed by probe name.
func (c *collector) nextN(t *testing.T, n int) map[string]bot.Observation {
	t.Helper()
	m := make(map[string]bot.Observation)
	for range n {
		o := c.next(t)
		if _, dup := m[o.Probe]; dup {
			t.Fatalf("probe %s emitted twice in one round", o.Probe)
		}
		m[o.Probe] = o
	}
	return m
}

// none fails if an observation is waiting.
func (c *collector) none(t *testing.T) {
	t.Helper()
	select {
	case o := <-c.ch:
		t.Fatalf("unexpected observation %+v", o)
	default:
	}
}

// startScheduler runs a Scheduler built from cfg (with a fake clock and a
// collector) until the test ends.
func startScheduler(t *testing.T, cfg probe.Config) (*probe.Scheduler, *probetest.Clock, *collector) {
	t.Helper()
	return startSchedulerWithClock(t, probetest.NewClock(t0), cfg)
}

// startSchedulerWithClock is startScheduler with a given fake clock.
func startSchedulerWithClock(t *testing.T, clock *probetest.Clock, cfg probe.Config) (*probe.Scheduler, *probetest.Clock, *collector) {
	t.Helper()
	col := newCollector()
	cfg.Clock = clock
	cfg.Emit = col.emit
	s, err := probe.NewScheduler(cfg)
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil after cancellation", err)
			}
		case <-time.After(guard):
			t.Error("Run did not return after cancellation")
		}
		if col.overlap.Load() {
			t.Error("Emit was called concurrently")
		}
	})
	return s, clock, col
}

// waitIdle waits until n probes wait for their next run.
func waitIdle(t *testing.T, clock *probetest.Clock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	if err := clock.BlockUntil(ctx, n); err != nil {
		t.Fatalf("%d probes never waited for their next run: %v", n, err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentListener accepts connections and never writes to them; it reads
// and discards what they send. It is closed when the test ends.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
			go func() {
				var b [512]byte
				for {
					if _, err := c.Read(b[:]); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

// answeringListener accepts connections on a loopback address and, on
// each, reads the client's request (up to a blank line or a NUL), writes
// answer, half-closes, and waits for the client to close.
func answeringListener(t *testing.T, answer string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(guard))
				var req []byte
				b := make([]byte, 512)
				for !bytes.Contains(req, []byte("\r\n\r\n")) && !bytes.Contains(req, []byte{0}) {
					n, err := c.Read(b)
					req = append(req, b[:n]...)
					if err != nil {
						return
					}
				}
				io.WriteString(c, answer)
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

// shortCtx returns a context with a short real deadline, for dials and
// reads that must time out.
func shortCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// causeErr is an error that names its own cause word, as a relay's errors
// may.
type causeErr struct{ cause, msg string }

func (e *causeErr) Error() string { return e.msg }
func (e *causeErr) Cause() string { return e.cause }
