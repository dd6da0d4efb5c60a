package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/internal/testutil"
)

// waitLong bounds waits for things that happen promptly in a correct
// server; only a broken (or badly stalled) one reaches it.
const waitLong = 10 * time.Second

// failureCall is one FailureObserver call.
type failureCall struct {
	req *Request
	err error
}

// recorder is a Handler and FailureObserver that records its calls.
type recorder struct {
	reply func(ctx context.Context, req *Request) string
	reqs  chan *Request
	fails chan failureCall
}

func newRecorder(reply string) *recorder {
	return &recorder{
		reply: func(context.Context, *Request) string { return reply },
		reqs:  make(chan *Request, 64),
		fails: make(chan failureCall, 64),
	}
}

func (h *recorder) ServeExport(ctx context.Context, req *Request) string {
	h.reqs <- req
	return h.reply(ctx, req)
}

func (h *recorder) ExportFailed(ctx context.Context, req *Request, err error) {
	h.fails <- failureCall{req, err}
}

func (h *recorder) nextRequest(t *testing.T) *Request {
	t.Helper()
	select {
	case r := <-h.reqs:
		return r
	case <-time.After(waitLong):
		t.Fatal("handler not called")
		return nil
	}
}

func (h *recorder) nextFailure(t *testing.T) failureCall {
	t.Helper()
	select {
	case f := <-h.fails:
		return f
	case <-time.After(waitLong):
		t.Fatal("FailureObserver not called")
		return failureCall{}
	}
}

// noMoreCalls checks the handler and observer were not called (beyond
// what was already consumed) at the time of the check.
func (h *recorder) noMoreCalls(t *testing.T) {
	t.Helper()
	select {
	case r := <-h.reqs:
		t.Errorf("unexpected handler call: %v", r)
	case f := <-h.fails:
		t.Errorf("unexpected failure report: %v: %v", f.err, f.req)
	default:
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.Buffer

// startServer serves srv on a 127.0.0.1:0 listener and returns its
// address and the server's debug log. Cleanup closes the server and
// checks that Serve returned ErrServerClosed.
func startServer(t *testing.T, srv *Server) (addr string, logs *syncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, srv, l)
}

// startOpaqueServer is startServer with a listener whose connections
// are not *net.TCPConn, as a wrapping listener's are: the Server serves
// them with net.Conn's methods only, watching for the client's close
// with a goroutine instead of a sockDelivery.
func startOpaqueServer(t *testing.T, srv *Server) (addr string, logs *syncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, srv, opaqueListener{l})
}

// opaqueListener accepts connections whose type hides what they wrap.
type opaqueListener struct{ net.Listener }

func (l opaqueListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// startServerFunc starts a server for a test: startServer or
// startOpaqueServer.
type startServerFunc func(t *testing.T, srv *Server) (addr string, logs *syncBuffer)

// bothConnKinds runs f as subtests for connections the Server answers
// on their socket (TCP) and for connections it serves with net.Conn's
// methods only.
func bothConnKinds(t *testing.T, f func(t *testing.T, start startServerFunc)) {
	t.Run("tcp", func(t *testing.T) { f(t, startServer) })
	t.Run("opaque", func(t *testing.T) { f(t, startOpaqueServer) })
}

// serverSawClose reports whether the server's side of sc has received
// the client's close or reset, while sc's handler runs.
func serverSawClose(sc *conn) bool {
	if sc.watch != nil {
		return sc.watch.ended()
	}
	return peerClosed(sc.rwc)
}

// serveOn serves srv on l; see startServer.
func serveOn(t *testing.T, srv *Server, l net.Listener) (addr string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	if srv.Logger == nil {
		srv.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(waitLong):
			t.Error("Serve did not return after Close")
		}
	})
	return l.Addr().String(), logs
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// recvReply reads a reply up to its NUL, failing the test if the
// connection ends first.
func recvReply(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	var reply []byte
	b := make([]byte, 1)
	for {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("reading reply (got %q so far): %v", reply, err)
		}
		if b[0] == 0 {
			return string(reply)
		}
		reply = append(reply, b[0])
	}
}

// stillOpen reports whether the server keeps c open: a short read times
// out instead of finding the end of the stream.
func stillOpen(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Read(make([]byte, 1))
	if n > 0 {
		t.Fatalf("unexpected byte after the reply")
	}
	return errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
}

// waitClosed waits for the server to close c and returns the read error
// (io.EOF for an orderly close).
func waitClosed(t *testing.T, c net.Conn) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF
	}
	if isTimeout(err) {
		t.Fatal("server did not close the connection")
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
