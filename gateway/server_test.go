package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

const okRequest = "UEabcdePChij" + rec10 + "\x00"

// The Windows client reports an error when the server closes first, so
// after the reply the connection stays open until the client closes it.
func TestServerRepliesThenWaitsForClientClose(t *testing.T) {
	bothConnKinds(t, testServerRepliesThenWaitsForClientClose)
}

func testServerRepliesThenWaitsForClientClose(t *testing.T, startServer startServerFunc) {
	h := newRecorder("Import ok\n")
	srv := &Server{Handler: h, IdleTimeout: time.Hour}
	addr, _ := startServer(t, srv)

	c := dial(t, addr)
	send(t, c, okRequest)
	if got := recvReply(t, c); got != "Import ok\n" {
		t.Fatalf("reply = %q", got)
	}
	req := h.nextRequest(t)
	if req.User != "abcde" || req.Password != "hij" || len(req.Records) != 1 || string(req.Records[0]) != rec10 {
		t.Errorf("handler got %+v", req)
	}
	if req.ID == 0 || req.RemoteAddr.String() != c.LocalAddr().String() {
		t.Errorf("ID %d, RemoteAddr %v (client is %v)", req.ID, req.RemoteAddr, c.LocalAddr())
	}
	if req.Received.IsZero() || req.Complete.Before(req.Received) {
		t.Errorf("Received %v, Complete %v", req.Received, req.Complete)
	}
	if !stillOpen(t, c) {
		t.Fatal("server closed the connection after replying, before the client did")
	}
	c.Close()

	// With an hour of IdleTimeout, Shutdown returns promptly only if the
	// server noticed the client's close.
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after the client closed: %v", err)
	}
	h.noMoreCalls(t)
}

func TestServerClosesAfterIdleTimeout(t *testing.T) {
	bothConnKinds(t, testServerClosesAfterIdleTimeout)
}

func testServerClosesAfterIdleTimeout(t *testing.T, startServer startServerFunc) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h, IdleTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	send(t, c, okRequest)
	recvReply(t, c)
	if err := waitClosed(t, c); err != io.EOF {
		t.Errorf("connection ended with %v, want an orderly close", err)
	}
	h.nextRequest(t)
	h.noMoreCalls(t)
}

func TestServerHalfCloseEndsRequest(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h, IdleTimeout: time.Hour})
	c := dial(t, addr)
	send(t, c, "A17testlib user bøf00007æ00008123") // no NUL
	c.CloseWrite()
	if got := recvReply(t, c); got != "Import ok\n" {
		t.Fatalf("reply = %q", got)
	}
	// The client has closed its side; the server closes after the reply.
	if err := waitClosed(t, c); err != io.EOF {
		t.Errorf("connection ended with %v, want an orderly close", err)
	}
	req := h.nextRequest(t)
	if req.LocalUser != "testlib user bøf" || len(req.Records) != 2 || string(req.Records[1]) != "00008123" {
		t.Errorf("handler got %+v, records %q", req, req.Records)
	}
	if u, p := req.Credentials(); u != "testlib" || p != "user bøf" {
		t.Errorf("Credentials() = %q, %q", u, p)
	}
}

func TestServerSlowClientByteByByte(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h})
	c := dial(t, addr)
	in := " UEabcde ABfg PChij 0001012345 00008123\x00"
	for i := range len(in) {
		send(t, c, in[i:i+1])
		time.Sleep(time.Millisecond) // let the bytes travel separately; correctness does not depend on it
	}
	if got := recvReply(t, c); got != "Import ok\n" {
		t.Fatalf("reply = %q", got)
	}
	req := h.nextRequest(t)
	if req.User != "abcde" || req.LocalUser != "fg" || req.Password != "hij" || len(req.Records) != 2 {
		t.Errorf("handler got %+v", req)
	}
	if string(req.Raw) != " UEabcde ABfg PC*** 0001012345 00008123\x00" {
		t.Errorf("Raw = %q", req.Raw)
	}
}

func TestServerReadTimeout(t *testing.T) {
	h := newRecorder("Import ok\n")
	// The timeout must leave the server time to read what was sent; a
	// correct server reads it at once.
	addr, _ := startServer(t, &Server{Handler: h, ReadTimeout: 500 * time.Millisecond, IdleTimeout: time.Hour})
	c := dial(t, addr)
	send(t, c, "UEabcdePEse") // stalls inside the password
	f := h.nextFailure(t)
	if !errors.Is(f.err, ErrReadTimeout) {
		t.Fatalf("failure = %v, want ErrReadTimeout", f.err)
	}
	if string(f.req.Raw) != "UEabcdePE**" || f.req.User != "abcde" {
		t.Errorf("partial request: Raw %q, User %q", f.req.Raw, f.req.User)
	}
	if got := recvReply(t, c); !strings.HasPrefix(got, "Error: ") || !strings.Contains(got, "did not arrive completely") {
		t.Errorf("reply = %q", got)
	}
	if !stillOpen(t, c) {
		t.Error("server closed the connection after the timeout reply, before the client did")
	}
	h.noMoreCalls(t)
}

// A connection that sends nothing and closes is a TCP probe, not a
// failed export.
func TestServerIgnoresEmptyConnection(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h})
	c := dial(t, addr)
	c.CloseWrite()
	if err := waitClosed(t, c); err != io.EOF {
		t.Errorf("connection ended with %v", err)
	}
	// A real export afterwards goes through, and nothing was reported before it.
	c2 := dial(t, addr)
	send(t, c2, okRequest)
	recvReply(t, c2)
	h.nextRequest(t)
	h.noMoreCalls(t)
}

func TestServerIncompleteRequest(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h})
	c := dial(t, addr)
	send(t, c, "U3ab")
	c.CloseWrite()
	f := h.nextFailure(t)
	if !errors.Is(f.err, ErrIncomplete) || string(f.req.Raw) != "U3ab" {
		t.Errorf("failure = %v, Raw %q; want ErrIncomplete, U3ab", f.err, f.req.Raw)
	}
	// Half-closed, the client can still read why.
	if got := recvReply(t, c); !strings.Contains(got, "ended before the record was complete") {
		t.Errorf("reply = %q", got)
	}
	h.noMoreCalls(t)
}

func TestServerOversizeRequestGetsReply(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h, MaxRequestBytes: 1000, IdleTimeout: time.Hour})
	c := dial(t, addr)
	rec := fmt.Sprintf("%05d", 5000) + strings.Repeat("x", 4995)
	send(t, c, "UEabcde"+rec+"\x00") // the client sends it all before reading
	got := recvReply(t, c)
	if !strings.HasPrefix(got, "Error: ") || !strings.Contains(got, "larger than this server accepts (1000 bytes)") {
		t.Errorf("reply = %q", got)
	}
	f := h.nextFailure(t)
	var le *LimitError
	if !errors.Is(f.err, ErrTooLarge) || !errors.As(f.err, &le) || le.Limit != 1000 {
		t.Errorf("failure = %v, want ErrTooLarge with limit 1000", f.err)
	}
	if !stillOpen(t, c) {
		t.Error("server closed before the client")
	}
	h.noMoreCalls(t)
}

func TestServerTooManyRecords(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h, MaxRecords: 2})
	c := dial(t, addr)
	send(t, c, rec10+rec10+rec10+"\x00")
	if got := recvReply(t, c); !strings.Contains(got, "more than 2 records") {
		t.Errorf("reply = %q", got)
	}
	if f := h.nextFailure(t); !errors.Is(f.err, ErrTooManyRecords) || len(f.req.Records) != 2 {
		t.Errorf("failure = %v with %d records", f.err, len(f.req.Records))
	}
	h.noMoreCalls(t)
}

func TestServerProtocolErrorReplyNamesOffset(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h})
	c := dial(t, addr)
	send(t, c, "U?abcde\x00")
	got := recvReply(t, c)
	if !strings.HasPrefix(got, "Error: ") || !strings.Contains(got, "(byte 1)") || !strings.Contains(got, "'?'") {
		t.Errorf("reply = %q, want an error naming byte 1 and '?'", got)
	}
	f := h.nextFailure(t)
	var pe *ProtocolError
	if !errors.As(f.err, &pe) || pe.Offset != 1 {
		t.Errorf("failure = %v, want a *ProtocolError at byte 1", f.err)
	}
	h.noMoreCalls(t)
}

func TestServerErrorReplyOverride(t *testing.T) {
	h := newRecorder("Import ok\n")
	var got error
	addr, _ := startServer(t, &Server{Handler: h, ErrorReply: func(err error) string {
		got = err
		return "Fehler: \x00" + err.Error() // the NUL must not cut the reply short
	}})
	c := dial(t, addr)
	send(t, c, "X\x00")
	if reply := recvReply(t, c); !strings.HasPrefix(reply, "Fehler: gateway: protocol error at byte 0") {
		t.Errorf("reply = %q", reply)
	}
	h.nextFailure(t)
	var pe *ProtocolError
	if !errors.As(got, &pe) {
		t.Errorf("ErrorReply got %v", got)
	}
}

func TestServerHealthCheck(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h, IdleTimeout: time.Hour})
	for _, tc := range []struct{ req, wantBody string }{
		{"GET / HTTP/1.1\r\nHost: gateway\r\nUser-Agent: probe\r\n\r\n", healthBody},
		{"HEAD /health HTTP/1.0\r\n\r\n", ""},
	} {
		c := dial(t, addr)
		// Sent in two parts: the method alone does not decide.
		send(t, c, tc.req[:2])
		time.Sleep(time.Millisecond)
		send(t, c, tc.req[2:])
		c.SetReadDeadline(time.Now().Add(waitLong))
		resp, err := io.ReadAll(c) // HTTP/1.0: the body ends with the server's close
		if err != nil {
			t.Fatalf("%q: %v", tc.req, err)
		}
		head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
		if !strings.HasPrefix(head, "HTTP/1.0 200 OK\r\n") || body != tc.wantBody {
			t.Errorf("%q: response %q", tc.req, resp)
		}
		if !strings.Contains(head, fmt.Sprintf("Content-Length: %d", len(healthBody))) {
			t.Errorf("%q: header %q lacks the Content-Length", tc.req, head)
		}
	}
	h.noMoreCalls(t)
}

func TestServerSeveralRecords(t *testing.T) {
	h := newRecorder("")
	h.reply = func(_ context.Context, req *Request) string {
		var b strings.Builder
		for i, r := range req.Records {
			fmt.Fprintf(&b, "record %d: %s\n", i+1, r[5:])
		}
		return b.String()
	}
	addr, _ := startServer(t, &Server{Handler: h})
	c := dial(t, addr)
	send(t, c, "UEabcde 00006a 00006b00006c\x00")
	if got, want := recvReply(t, c), "record 1: a\nrecord 2: b\nrecord 3: c\n"; got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestServerMaxConns(t *testing.T) {
	h := newRecorder("Import ok\n")
	addr, _ := startServer(t, &Server{Handler: h, MaxConns: 1, IdleTimeout: time.Hour})

	first := dial(t, addr)
	send(t, first, "UEabcde") // holds the only slot, mid-request

	// The next connection is refused with a reply, through the Client.
	cl := &Client{Addr: addr, Timeout: waitLong}
	reply, err := cl.Export(context.Background(), "cat2", "pw", []byte(rec10))
	if err != nil {
		t.Fatalf("busy export: %v", err)
	}
	if !strings.Contains(reply, "busy") || !strings.Contains(reply, "try again in a minute") {
		t.Errorf("busy reply = %q", reply)
	}
	f := h.nextFailure(t)
	if !errors.Is(f.err, ErrBusy) || f.req.ID == 0 || f.req.RemoteAddr == nil {
		t.Errorf("failure = %v for %v", f.err, f.req)
	}

	// The first connection is unaffected.
	send(t, first, rec10+"\x00")
	if got := recvReply(t, first); got != "Import ok\n" {
		t.Errorf("first reply = %q", got)
	}
	h.nextRequest(t)
	first.Close()

	// Once it is gone, its slot is free again. The server notices
	// closes asynchronously, so until then a connection may still be
	// refused: with the busy reply, or dropped while the one busy slot
	// (MaxConns) is still taken by the earlier refusal.
	deadline := time.Now().Add(waitLong)
	for {
		reply, err := cl.Export(context.Background(), "cat3", "pw", []byte(rec10))
		if err == nil && reply == "Import ok\n" {
			break
		}
		switch {
		case errors.Is(err, ErrConnClosed):
		case err == nil && strings.Contains(reply, "busy"):
			h.nextFailure(t)
		default:
			t.Fatalf("export = %q, %v", reply, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("slot never freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.nextRequest(t)
}

func TestServerShutdownWaitsForInFlightExport(t *testing.T) {
	release := make(chan struct{})
	h := newRecorder("")
	h.reply = func(context.Context, *Request) string { <-release; return "Import ok\n" }
	srv := &Server{Handler: h, IdleTimeout: time.Hour}
	addr, _ := startServer(t, srv)

	idle := dial(t, addr) // connected, nothing sent: Shutdown closes it
	c := dial(t, addr)
	send(t, c, okRequest)
	h.nextRequest(t) // the handler is running

	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(context.Background()) }()

	// Shutdown has begun once new connections are refused.
	deadline := time.Now().Add(waitLong)
	for {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after Shutdown")
		}
		time.Sleep(time.Millisecond)
	}
	if err := waitClosed(t, idle); err != io.EOF {
		t.Errorf("connection without a request ended with %v", err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v while an export was in flight", err)
	default:
	}

	close(release)
	if got := recvReply(t, c); got != "Import ok\n" {
		t.Errorf("in-flight export's reply = %q", got)
	}
	if !stillOpen(t, c) {
		t.Error("server closed first during Shutdown")
	}
	c.Close()
	select {
	case err := <-shutdown:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Shutdown did not return after the last client closed")
	}
	if err := srv.Serve(newListener(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	if err := srv.ListenAndServe(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ListenAndServe after Shutdown = %v, want ErrServerClosed", err)
	}
	h.noMoreCalls(t)
}

// When Shutdown's context ends, connections that only wait for the
// client's close are closed; Shutdown reports the context's error.
func TestServerShutdownContextClosesIdle(t *testing.T) {
	h := newRecorder("Import ok\n")
	srv := &Server{Handler: h, IdleTimeout: time.Hour}
	addr, _ := startServer(t, srv)
	c := dial(t, addr)
	send(t, c, okRequest)
	recvReply(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if err := waitClosed(t, c); err != io.EOF {
		t.Errorf("idle connection ended with %v", err)
	}
}

func TestServerCloseCancelsHandlers(t *testing.T) {
	h := newRecorder("")
	h.reply = func(ctx context.Context, _ *Request) string { <-ctx.Done(); return "cancelled" }
	srv := &Server{Handler: h}
	addr, _ := startServer(t, srv)
	c := dial(t, addr)
	send(t, c, okRequest)
	h.nextRequest(t)
	if err := srv.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	waitClosed(t, c)
}

// A client that closes or resets the connection while its export is
// handled never sees the reply: the observer hears ErrClientGone, with
// the request.
func TestServerClientGoneBeforeReply(t *testing.T) {
	bothConnKinds(t, testServerClientGoneBeforeReply)
}

func testServerClientGoneBeforeReply(t *testing.T, startServer startServerFunc) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			release := make(chan struct{})
			h := newRecorder("")
			h.reply = func(context.Context, *Request) string { <-release; return "Import ok\n" }
			srv := &Server{Handler: h}
			addr, _ := startServer(t, srv)
			c := dial(t, addr)
			send(t, c, okRequest)
			h.nextRequest(t)
			if reset {
				c.SetLinger(0)
			}
			c.Close()
			// Release the handler once the server has seen the close,
			// so the outcome does not depend on timing.
			waitFor(t, "the server to see the client's close", func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				for sc := range srv.conns {
					if serverSawClose(sc) {
						return true
					}
				}
				return false
			})
			close(release)
			f := h.nextFailure(t)
			if !errors.Is(f.err, ErrClientGone) || f.req.User != "abcde" || len(f.req.Records) != 1 {
				t.Errorf("failure = %v for %+v", f.err, f.req)
			}
		})
	}
}

// waitFor polls cond until it holds, failing after waitLong.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServerHandlerPanic(t *testing.T) {
	h := newRecorder("")
	h.reply = func(context.Context, *Request) string { panic("boom") }
	addr, logs := startServer(t, &Server{Handler: h})
	c := dial(t, addr)
	send(t, c, okRequest)
	if got := recvReply(t, c); !strings.Contains(got, "may or may not have been saved") {
		t.Errorf("reply = %q", got)
	}
	if f := h.nextFailure(t); !errors.Is(f.err, ErrHandlerPanic) {
		t.Errorf("failure = %v", f.err)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

func TestServeRequiresHandler(t *testing.T) {
	if err := (&Server{}).Serve(newListener(t)); err == nil || !strings.Contains(err.Error(), "Handler is nil") {
		t.Errorf("Serve without Handler = %v", err)
	}
}

// Passwords never reach Raw, the handler's printouts or the logs, on
// success or failure, whichever field carries them.
func TestServerKeepsPasswordsSecret(t *testing.T) {
	const secret = "Pw-0f-Cat4loger" // 15 bytes
	h := newRecorder("Import ok\n")
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr, _ := startServer(t, &Server{Handler: h, Logger: logger})
	timeoutAddr, _ := startServer(t, &Server{Handler: h, Logger: logger, ReadTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name, in  string
		halfClose bool
		wantFail  bool
	}{
		{"U and P", "UEcat01PO" + secret + rec10 + "\x00", false, false},
		{"A user password", "AUcat01 " + secret + rec10 + "\x00", false, false},
		{"P then protocol error", "POPw-0f-Cat4loger!" + rec10, true, true},
		{"P then incomplete", "POPw-0f-Cat4loger000", true, true},
		{"P cut short by timeout", "POPw-0f-Cat4", false, true},
		{"A cut short by close", "AUcat01 Pw-0f-Cat4lo", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			if strings.Contains(tc.name, "timeout") {
				c = dial(t, timeoutAddr)
			}
			send(t, c, tc.in)
			if tc.halfClose {
				c.CloseWrite()
			}
			recvReply(t, c)
			var req *Request
			if tc.wantFail {
				f := h.nextFailure(t)
				req = f.req
				if strings.Contains(f.err.Error(), "Cat4") {
					t.Errorf("error %q contains the secret", f.err)
				}
			} else {
				req = h.nextRequest(t)
				if u, p := req.Credentials(); u != "cat01" || p != secret {
					t.Errorf("Credentials() = %q, %q", u, p)
				}
			}
			if strings.Contains(string(req.Raw), "Cat4") || strings.Contains(string(req.Raw), "Pw-0") {
				t.Errorf("Raw contains the password: %q", req.Raw)
			}
			for _, out := range []string{fmt.Sprint(req), fmt.Sprintf("%+v", req), fmt.Sprintf("%#v", req)} {
				if strings.Contains(out, "Cat4") {
					t.Errorf("printed request contains the password: %s", out)
				}
			}
		})
	}
	if strings.Contains(logs.String(), "Cat4") || strings.Contains(logs.String(), "Pw-0") {
		t.Errorf("logs contain the password:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "export failed") {
		t.Errorf("failures were not logged:\n%s", logs)
	}
}

func newListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Goroutines that have served a connection wait to serve another only
// while Serve runs: whether the Server is closed or its listener fails,
// none is left once Serve has returned.
func TestServeLeavesNoGoroutine(t *testing.T) {
	for _, stop := range []string{"Close", "listener failure"} {
		t.Run(stop, func(t *testing.T) {
			h := newRecorder("Import ok\n")
			srv := &Server{Handler: h, Logger: slog.New(slog.DiscardHandler)}
			l := newListener(t)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			t.Cleanup(func() { srv.Close() })

			cl := &Client{Addr: l.Addr().String(), Timeout: waitLong}
			for range 3 {
				if reply, err := cl.Export(context.Background(), "cat01", "pw", []byte(rec10)); err != nil || reply != "Import ok\n" {
					t.Fatalf("export: %q, %v", reply, err)
				}
				h.nextRequest(t)
			}
			waitFor(t, "a goroutine to wait for the next connection", func() bool { return srv.waiting.Load() > 0 })

			if stop == "Close" {
				srv.Close()
			} else {
				l.Close()
			}
			select {
			case <-served:
			case <-time.After(waitLong):
				t.Fatal("Serve did not return")
			}
			waitFor(t, "the connection goroutines to end", func() bool {
				return srv.waiting.Load() == 0 && !goroutineRunning("gateway.(*Server).serveConns")
			})
		})
	}
}

// goroutineRunning reports whether a goroutine has fn in its stack.
func goroutineRunning(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}
