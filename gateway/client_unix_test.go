//go:build unix

package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// connPair returns both ends of a loopback TCP connection: the client's
// and the server's.
func connPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l := newListener(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client = dial(t, l.Addr().String())
	c, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close() })
	// Small buffers, whatever the machine's TCP settings: a request of a
	// few megabytes never fits while the server does not read.
	server = c.(*net.TCPConn)
	if err := client.SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := server.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// writeNow writes a request that fits in the socket's buffer completely,
// and of one that does not what the buffer takes, without waiting for
// the peer to read; the peer receives the bytes in order.
func TestWriteNow(t *testing.T) {
	c, srv := connPair(t)
	small := encode(t, &Request{User: "cat01", Password: clientSecret, Records: [][]byte{typicalRecord}})
	if n, err := writeNow(c, small); n != len(small) || err != nil {
		t.Fatalf("writeNow(%d bytes) = %d, %v; want everything written", len(small), n, err)
	}
	big := encode(t, bigRequest())
	n, err := writeNow(c, big) // the server is not reading
	if err != nil || n <= 0 || n >= len(big) {
		t.Fatalf("writeNow(%d bytes) with the peer not reading = %d, %v; want part written", len(big), n, err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(big[n:])
		wrote <- err
	}()
	want := append(append([]byte(nil), small...), big...)
	got := make([]byte, len(want))
	srv.SetReadDeadline(time.Now().Add(waitLong))
	if _, err := io.ReadFull(srv, got); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the peer did not receive the bytes written")
	}

	// A reset connection fails the write.
	srv.SetLinger(0)
	srv.Close()
	c.SetReadDeadline(time.Now().Add(waitLong))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read after the reset: %v", err)
	}
	if n, err := writeNow(c, small); err == nil || n == len(small) {
		t.Errorf("writeNow on a reset connection = %d, %v; want an error", n, err)
	}
}

// writeNow honours the connection's deadline, which cancellation sets in
// the past: it writes nothing once it has passed.
func TestWriteNowAfterDeadline(t *testing.T) {
	c, _ := connPair(t)
	c.SetWriteDeadline(time.Unix(1, 0))
	n, err := writeNow(c, []byte("UDcat1\x00"))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("writeNow = %d, %v; want 0, a deadline error", n, err)
	}
}

// A server that refuses a request too big for the buffers, after
// reading only its start, and closes or resets the connection is heard:
// the write fails (most often during writeNow, before any goroutine
// writes) but the reply that arrived before the reset is read and
// returned. (Unix kernels keep bytes received before a reset readable.)
func TestClientHearsRefusalThenClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset bool
	}{{"close", false}, {"reset", true}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(c *net.TCPConn) {
				readByte(c) // the client is past connecting
				io.WriteString(c, "Error: request too large\x00")
				if tc.reset {
					c.SetLinger(0)
				}
				// Closing with the request unread resets the
				// connection either way.
			})
			cl := &Client{Addr: addr, Timeout: waitLong}
			reply, err := cl.Do(context.Background(), bigRequest())
			if err != nil || reply != "Error: request too large" {
				t.Errorf("Do = %q, %v", reply, err)
			}
		})
	}
}
