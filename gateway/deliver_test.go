package gateway

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The read timeout bounds the request's arrival, not the handler: a reply
// that comes after it is delivered, and the connection then waits for the
// client's close as usual.
func TestServerReplyAfterReadTimeout(t *testing.T) {
	bothConnKinds(t, testServerReplyAfterReadTimeout)
}

func testServerReplyAfterReadTimeout(t *testing.T, startServer startServerFunc) {
	// Long enough for a loaded machine to read the request in time.
	const readTimeout = 300 * time.Millisecond
	h := newRecorder("")
	h.reply = func(_ context.Context, req *Request) string {
		// Outlast the read deadline (measured from the accept, which
		// precedes Received).
		for time.Since(req.Received) <= readTimeout {
			time.Sleep(readTimeout / 10)
		}
		return "Import ok\n"
	}
	srv := &Server{Handler: h, ReadTimeout: readTimeout, IdleTimeout: time.Hour}
	addr, _ := startServer(t, srv)
	c := dial(t, addr)
	send(t, c, okRequest)
	if got := recvReply(t, c); got != "Import ok\n" {
		t.Fatalf("reply = %q", got)
	}
	h.nextRequest(t)
	if !stillOpen(t, c) {
		t.Fatal("server closed the connection after replying, before the client did")
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after the client closed: %v", err)
	}
	h.noMoreCalls(t)
}

// bigReply is larger than a socket's send buffer can grow to (4 MiB by
// default on Linux), so that it cannot be written at once.
var bigReply = strings.Repeat("Record 1 of 1: added.\n", (16<<20)/22)

// A reply larger than the socket takes at once is written in full while
// the client reads it.
func TestServerLargeReply(t *testing.T) {
	bothConnKinds(t, testServerLargeReply)
}

func testServerLargeReply(t *testing.T, startServer startServerFunc) {
	h := newRecorder(bigReply)
	srv := &Server{Handler: h, IdleTimeout: time.Hour}
	addr, _ := startServer(t, srv)
	c := dial(t, addr)
	send(t, c, okRequest)
	c.SetReadDeadline(time.Now().Add(waitLong))
	got, err := bufio.NewReader(c).ReadString(0)
	if err != nil {
		t.Fatalf("reading the reply (%d bytes so far): %v", len(got), err)
	}
	if got != bigReply+"\x00" {
		t.Fatalf("reply of %d bytes, want %d and its NUL", len(got), len(bigReply))
	}
	h.nextRequest(t)
	if !stillOpen(t, c) {
		t.Fatal("server closed the connection after replying, before the client did")
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after the client closed: %v", err)
	}
	h.noMoreCalls(t)
}

// A client that does not read its reply is given up at the write
// timeout; the observer hears ErrClientGone.
func TestServerWriteTimeout(t *testing.T) {
	bothConnKinds(t, testServerWriteTimeout)
}

func testServerWriteTimeout(t *testing.T, startServer startServerFunc) {
	h := newRecorder(bigReply)
	addr, _ := startServer(t, &Server{Handler: h, WriteTimeout: 100 * time.Millisecond, IdleTimeout: time.Hour})
	c := dial(t, addr)
	send(t, c, okRequest) // and never read
	h.nextRequest(t)
	f := h.nextFailure(t)
	if !errors.Is(f.err, ErrClientGone) || !errors.Is(f.err, os.ErrDeadlineExceeded) {
		t.Errorf("failure = %v, want ErrClientGone after the write deadline", f.err)
	}
	var ne *net.OpError
	if !errors.As(f.err, &ne) || ne.Op != "write" {
		t.Errorf("failure = %v, want the write's *net.OpError", f.err)
	}
	if f.req.User != "abcde" || len(f.req.Records) != 1 {
		t.Errorf("failure for %+v", f.req)
	}
	h.noMoreCalls(t)
}
