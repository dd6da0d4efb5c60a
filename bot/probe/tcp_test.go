package probe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/gateway"
)

// gatewayServer serves a real Connexion listener on a loopback port with
// handler and returns its address and a function that shuts it down and
// returns the failures it reported to its FailureObserver.
func gatewayServer(t *testing.T, handler gateway.HandlerFunc) (addr string, shutdown func() []error) {
	t.Helper()
	h := &observedHandler{HandlerFunc: handler}
	addr, stop := serveGateway(t, &gateway.Server{Handler: h, IdleTimeout: guard, Logger: discard()})
	return addr, func() []error {
		stop()
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.failures
	}
}

// serveGateway runs srv on a loopback port until the test ends and
// returns its address and a function that shuts it down gracefully (and
// may be called more than once).
func serveGateway(t *testing.T, srv *gateway.Server) (addr string, shutdown func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var once sync.Once
	shutdown = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("gateway Shutdown: %v", err)
			}
			if err := <-served; !errors.Is(err, gateway.ErrServerClosed) {
				t.Errorf("gateway Serve = %v, want ErrServerClosed", err)
			}
		})
	}
	t.Cleanup(shutdown)
	return l.Addr().String(), shutdown
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// observedHandler records what the gateway reports as failed exports.
type observedHandler struct {
	gateway.HandlerFunc
	mu       sync.Mutex
	failures []error
}

func (h *observedHandler) ExportFailed(_ context.Context, _ *gateway.Request, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures = append(h.failures, err)
}

func replyWith(text string) gateway.HandlerFunc {
	return func(context.Context, *gateway.Request) string { return text }
}

func TestTCPConnect(t *testing.T) {
	addr, shutdown := gatewayServer(t, replyWith("Import ok"))

	r := probe.TCPConnect(addr, nil)(shortCtx(t, guard))
	if !r.OK || r.Cause != "" || r.Message != "connected to "+addr || r.Latency <= 0 {
		t.Fatalf("TCPConnect to a live listener = %+v, want success with a latency", r)
	}
	// The connect probe is not an export: the listener must not log it as
	// a failed one, or every probe would look like a vanished cataloger.
	if failures := shutdown(); len(failures) != 0 {
		t.Fatalf("the gateway reported the probe's connection as failed exports: %v", failures)
	}
}

func TestTCPConnectRefused(t *testing.T) {
	addr := closedAddr(t)
	r := probe.TCPConnect(addr, nil)(shortCtx(t, guard))
	if r.OK || r.Cause != probe.CauseRefused || !strings.Contains(r.Message, "connection refused") || !strings.Contains(r.Message, addr) {
		t.Fatalf("TCPConnect to a closed port = %+v, want cause %q and the dial error naming %s", r, probe.CauseRefused, addr)
	}
}

func TestTCPConnectTimeout(t *testing.T) {
	// A deadline that has passed: the dial gives up before connecting.
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	r := probe.TCPConnect(silentListener(t), &net.Dialer{})(ctx)
	if r.OK || r.Cause != probe.CauseTimeout {
		t.Fatalf("TCPConnect past its deadline = %+v, want cause %q", r, probe.CauseTimeout)
	}
}

func TestHTTPHealthOnGateway(t *testing.T) {
	addr, shutdown := gatewayServer(t, replyWith("Import ok"))
	r := probe.HTTPHealth(addr, nil)(shortCtx(t, guard))
	if !r.OK || r.Message != "HTTP/1.0 200 OK" || r.Latency <= 0 {
		t.Fatalf("HTTPHealth on the gateway = %+v, want success with the status line", r)
	}
	if failures := shutdown(); len(failures) != 0 {
		t.Fatalf("the gateway reported the health check as failed exports: %v", failures)
	}
}

func TestHTTPHealthFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		addr      func(*testing.T) string
		timeout   time.Duration
		cause     string
		inMessage string
	}{
		{"closed port", closedAddr, guard, probe.CauseRefused, "connection refused"},
		{"never answers", silentListener, 200 * time.Millisecond, probe.CauseTimeout, "health check of"},
		{"not OK", func(t *testing.T) string {
			return answeringListener(t, "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
		}, guard, probe.CauseBadReply, `answered "HTTP/1.0 503 Service Unavailable"`},
		{"a Connexion listener that does not know HTTP", func(t *testing.T) string {
			return answeringListener(t, "Error: protocol error at byte 0\x00")
		}, guard, probe.CauseBadReply, `not an HTTP status line: "Error: protocol error at byte 0\x00"`},
		{"closes without answering", func(t *testing.T) string { return answeringListener(t, "") },
			guard, probe.CauseClosed, "unexpected EOF"},
		{"endless line", func(t *testing.T) string { return answeringListener(t, strings.Repeat("x", 4096)) },
			guard, probe.CauseError, "no line end within 512 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			r := probe.HTTPHealth(addr, nil)(shortCtx(t, tc.timeout))
			if r.OK || r.Cause != tc.cause || !strings.Contains(r.Message, tc.inMessage) {
				t.Fatalf("HTTPHealth = %+v, want cause %q and a message containing %q", r, tc.cause, tc.inMessage)
			}
		})
	}
}

func TestNewListenerProbes(t *testing.T) {
	addr, _ := gatewayServer(t, replyWith("Import ok"))
	for _, p := range []probe.Probe{probe.NewListenerTCP(addr, nil), probe.NewListenerHTTP(addr, nil)} {
		if p.Target != probe.TargetListener || p.Interval != probe.DefaultListenerInterval || p.Timeout != probe.DefaultListenerTimeout {
			t.Errorf("%s: %+v", p.Name, p)
		}
		if r := p.Func(shortCtx(t, guard)); !r.OK {
			t.Errorf("%s against a live listener: %+v", p.Name, r)
		}
	}
	if n1, n2 := probe.NewListenerTCP(addr, nil).Name, probe.NewListenerHTTP(addr, nil).Name; n1 != probe.NameListenerTCP || n2 != probe.NameListenerHTTP {
		t.Errorf("names %q, %q", n1, n2)
	}
}

func TestParseStatusLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
	}{
		{"HTTP/1.0 200 OK", 200},
		{"HTTP/1.1 200 OK", 200},
		{"HTTP/1.0 200", 200},
		{"HTTP/1.1 503 Service Unavailable", 503},
		{"HTTP/1.0 404 Not Found", 404},
	} {
		if code, err := probe.ParseStatusLine(tc.line); err != nil || code != tc.code {
			t.Errorf("ParseStatusLine(%q) = %d, %v; want %d", tc.line, code, err, tc.code)
		}
	}
	for _, line := range []string{
		"", "HTTP/1.0", "HTTP/1.0 ", "HTTP/1.0 2000 OK", "HTTP/1.0 20 OK", "HTTP/1.0 2x0 OK",
		"HTTP/2 200 OK", "http/1.0 200 OK", "HTTP/1.0 099 Low", "Import ok", "HTTP/1.0  200 OK",
	} {
		if code, err := probe.ParseStatusLine(line); !errors.Is(err, probe.ErrStatusLine) || code != 0 {
			t.Errorf("ParseStatusLine(%q) = %d, %v; want ErrStatusLine", line, code, err)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", line)) {
			t.Errorf("ParseStatusLine(%q) error %q does not quote the line", line, err)
		}
	}
}

func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.0 200 OK", "HTTP/1.1 503 Service Unavailable", "Error: x\x00", "HTTP/1.0 9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		code, err := probe.ParseStatusLine(line)
		if err != nil {
			if code != 0 || !errors.Is(err, probe.ErrStatusLine) {
				t.Fatalf("ParseStatusLine(%q) = %d, %v", line, code, err)
			}
			return
		}
		if code < 100 || code > 999 || !strings.HasPrefix(line, "HTTP/1.") {
			t.Fatalf("ParseStatusLine(%q) accepted code %d", line, code)
		}
		if want := fmt.Sprintf("%s %03d", line[:8], code); !strings.HasPrefix(line, want) {
			t.Fatalf("ParseStatusLine(%q) = %d, but the line does not start with %q", line, code, want)
		}
	})
}

func TestClassify(t *testing.T) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"refused", opErr(syscall.ECONNREFUSED), probe.CauseRefused},
		{"deadline", context.DeadlineExceeded, probe.CauseTimeout},
		{"wrapped deadline", fmt.Errorf("export: %w", context.DeadlineExceeded), probe.CauseTimeout},
		{"i/o timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, probe.CauseTimeout},
		{"gateway client, connection closed", &gateway.ClientError{Op: "receive", Addr: "ils:5500", Err: io.EOF}, probe.CauseClosed},
		{"host unreachable", opErr(syscall.EHOSTUNREACH), probe.CauseUnreachable},
		{"network unreachable", opErr(syscall.ENETUNREACH), probe.CauseUnreachable},
		{"no such host", &net.DNSError{Err: "no such host", Name: "ils.example", IsNotFound: true}, probe.CauseDNS},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "ils.example", IsTimeout: true}, probe.CauseTimeout},
		{"reset", opErr(syscall.ECONNRESET), probe.CauseClosed},
		{"eof", fmt.Errorf("read: %w", io.EOF), probe.CauseClosed},
		{"own cause word", fmt.Errorf("relay: %w", &causeErr{"upstream-error", "upstream said Error"}), "upstream-error"},
		{"empty own cause word", &causeErr{"", "x"}, probe.CauseError},
		{"anything else", errors.New("disk full"), probe.CauseError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probe.Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassifyGatewayClientErrors(t *testing.T) {
	// Real gateway.Client failures, as the canary and a relay see them.
	c := &gateway.Client{Addr: closedAddr(t)}
	rec, err := probe.CanaryRecord()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Export(shortCtx(t, guard), "u", "p", rec)
	if got := probe.Classify(err); got != probe.CauseRefused {
		t.Errorf("Classify(%v) = %q, want %q", err, got, probe.CauseRefused)
	}
	c = &gateway.Client{Addr: silentListener(t)}
	_, err = c.Export(shortCtx(t, 100*time.Millisecond), "u", "p", rec)
	if got := probe.Classify(err); got != probe.CauseTimeout {
		t.Errorf("Classify(%v) = %q, want %q", err, got, probe.CauseTimeout)
	}
	c = &gateway.Client{Addr: answeringListener(t, "Import o")} // closes before the NUL
	_, err = c.Export(shortCtx(t, guard), "u", "p", rec)
	if got := probe.Classify(err); got != probe.CauseClosed {
		t.Errorf("Classify(%v) = %q, want %q", err, got, probe.CauseClosed)
	}
}
