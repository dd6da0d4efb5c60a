package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The credentials a cataloger types travel intact, whatever their length
// (each length form and the boundaries between them) and bytes.
func TestClientServerRoundTrip(t *testing.T) {
	h := newRecorder("")
	h.reply = func(_ context.Context, req *Request) string {
		return "Import ok: " + string(req.Records[0][5:]) + "\n"
	}
	addr, _ := startServer(t, &Server{Handler: h})
	cl := &Client{Addr: addr, Timeout: waitLong}

	value := func(n int, fill string) string {
		if n == 0 {
			return ""
		}
		v := strings.Repeat(fill, n/len(fill)+1)[:n]
		return "v" + v[1:] // never starts with a digit
	}
	for _, n := range []int{0, 1, 63, 64, 191, 192, 300} {
		for _, fill := range []string{"abc123", "\x00\xff\x40 0", "øæ"} {
			want := Request{
				User:      value(n, fill),
				LocalUser: value(n, fill+"L"),
				Password:  value(n, "P"+fill),
				Records:   [][]byte{[]byte("00011record"), []byte("00005")},
			}
			reply, err := cl.Do(context.Background(), &want)
			if err != nil {
				t.Fatalf("n=%d fill %q: %v", n, fill, err)
			}
			if reply != "Import ok: record\n" {
				t.Errorf("n=%d: reply %q", n, reply)
			}
			got := h.nextRequest(t)
			if got.User != want.User || got.LocalUser != want.LocalUser || got.Password != want.Password {
				t.Errorf("n=%d fill %q: got U=%q A=%q P=%q", n, fill, got.User, got.LocalUser, got.Password)
			}
			if len(got.Records) != 2 || string(got.Records[0]) != "00011record" || string(got.Records[1]) != "00005" {
				t.Errorf("n=%d: records %q", n, got.Records)
			}
		}
	}

	// Export sends U and P.
	if _, err := cl.Export(context.Background(), "cat1", "1234", []byte(rec10)); err != nil {
		t.Fatal(err)
	}
	if got := h.nextRequest(t); got.User != "cat1" || got.Password != "1234" || got.LocalUser != "" {
		t.Errorf("Export sent U=%q A=%q P=%q", got.User, got.LocalUser, got.Password)
	}
	h.noMoreCalls(t)
}

// fakeServer accepts one connection on a loopback listener and runs
// serve on it.
func fakeServer(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	l := newListener(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c.(*net.TCPConn))
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

// readRequest reads a request up to its NUL.
func readRequest(c net.Conn) []byte {
	var p Parser
	buf := make([]byte, 4096)
	for !p.Done() {
		c.SetReadDeadline(time.Now().Add(waitLong))
		n, err := c.Read(buf)
		if _, ferr := p.Feed(buf[:n]); ferr != nil || err != nil {
			break
		}
	}
	return p.Request().Raw
}

const clientSecret = "Sup3r-S3cret"

func checkClientError(t *testing.T, err error, op string, sent bool, kinds ...error) *ClientError {
	t.Helper()
	var ce *ClientError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a *ClientError", err, err)
	}
	if ce.Op != op || ce.Sent != sent {
		t.Errorf("Op %q, Sent %v; want %q, %v (%v)", ce.Op, ce.Sent, op, sent, err)
	}
	for _, k := range kinds {
		if !errors.Is(err, k) {
			t.Errorf("error %v does not match %v", err, k)
		}
	}
	for _, k := range []error{ErrDial, ErrTimeout, ErrConnClosed} {
		want := false
		for _, w := range kinds {
			want = want || w == k
		}
		if errors.Is(err, k) != want {
			t.Errorf("errors.Is(err, %v) = %v, want %v (%v)", k, !want, want, err)
		}
	}
	if strings.Contains(err.Error(), clientSecret) {
		t.Errorf("error contains the password: %v", err)
	}
	return ce
}

func TestClientDialFailure(t *testing.T) {
	l := newListener(t)
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cl := &Client{Addr: addr, Timeout: waitLong}
	_, err := cl.Export(context.Background(), "cat1", clientSecret, []byte(rec10))
	checkClientError(t, err, "dial", false, ErrDial)
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %v does not name the address", err)
	}
}

// expiringCtx is a context whose deadline is reported far away but which
// expires when told to: a deadline passing at a chosen point of the
// exchange, without depending on timing.
type expiringCtx struct {
	context.Context
	done chan struct{}
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) expire()                     { close(c.done) }
func (c *expiringCtx) Done() <-chan struct{}       { return c.done }
func (c *expiringCtx) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// A deadline that passes while waiting for the reply: the request was
// sent, so the upstream may have acted on it.
func TestClientDeadlineWhileWaitingForReply(t *testing.T) {
	ctx := newExpiringCtx()
	gotRequest := make(chan []byte, 1)
	addr := fakeServer(t, func(c *net.TCPConn) {
		gotRequest <- readRequest(c)
		ctx.expire()
		io.Copy(io.Discard, c) // never replies
	})
	cl := &Client{Addr: addr, Timeout: -1}
	_, err := cl.Export(ctx, "cat1", clientSecret, []byte(rec10))
	ce := checkClientError(t, err, "receive", true, ErrTimeout, context.DeadlineExceeded)
	if !ce.Timeout() {
		t.Error("Timeout() = false")
	}
	if raw := <-gotRequest; string(raw) != "UDcat1PL************"+rec10+"\x00" {
		t.Errorf("server received %q", raw)
	}
}

// Client.Timeout bounds the exchange on its own.
func TestClientTimeoutField(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	cl := &Client{Addr: addr, Timeout: 100 * time.Millisecond}
	_, err := cl.Export(context.Background(), "cat1", clientSecret, []byte(rec10))
	var ce *ClientError
	if !errors.As(err, &ce) || !ce.Timeout() || !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if errors.Is(err, ErrConnClosed) || strings.Contains(err.Error(), clientSecret) {
		t.Errorf("error = %v", err)
	}
}

func TestClientCancel(t *testing.T) {
	accepted := make(chan struct{})
	addr := fakeServer(t, func(c *net.TCPConn) {
		readRequest(c)
		close(accepted)
		io.Copy(io.Discard, c)
	})
	cl := &Client{Addr: addr, Timeout: waitLong}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-accepted
		cancel()
	}()
	_, err := cl.Export(ctx, "cat1", clientSecret, []byte(rec10))
	checkClientError(t, err, "receive", true, context.Canceled)
}

func TestClientConnectionClosedBeforeNUL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset bool
	}{{"orderly close", false}, {"reset", true}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(c *net.TCPConn) {
				readRequest(c)
				io.WriteString(c, "Import o")
				if tc.reset {
					time.Sleep(50 * time.Millisecond) // let the partial reply arrive before the reset destroys it
					c.SetLinger(0)
				}
			})
			cl := &Client{Addr: addr, Timeout: waitLong}
			_, err := cl.Export(context.Background(), "cat1", clientSecret, []byte(rec10))
			ce := checkClientError(t, err, "receive", true, ErrConnClosed)
			if !tc.reset && ce.Reply != "Import o" {
				t.Errorf("partial reply %q, want %q", ce.Reply, "Import o")
			}
		})
	}
}

func TestClientReplyTooLarge(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) {
		readRequest(c)
		c.Write(bytes.Repeat([]byte("x"), maxReplyBytes+8192))
	})
	cl := &Client{Addr: addr, Timeout: waitLong}
	_, err := cl.Export(context.Background(), "cat1", clientSecret, []byte(rec10))
	checkClientError(t, err, "receive", true)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error = %v, want ErrTooLarge", err)
	}
}

// A server that answers before reading the request (a refusal) is heard,
// even when the request is too big for the socket buffers.
func TestClientHearsEarlyReply(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) {
		io.WriteString(c, "Error: busy\x00")
		time.Sleep(100 * time.Millisecond)
	})
	big := make([]byte, 99999)
	copy(big, "99999")
	req := &Request{User: "cat1", Records: make([][]byte, 100)}
	for i := range req.Records {
		req.Records[i] = big
	}
	cl := &Client{Addr: addr, Timeout: waitLong}
	reply, err := cl.Do(context.Background(), req)
	if err != nil || reply != "Error: busy" {
		t.Errorf("Do = %q, %v", reply, err)
	}
}

func TestClientUnencodable(t *testing.T) {
	cl := &Client{Addr: "192.0.2.1:1", Timeout: waitLong} // never dialled
	_, err := cl.Export(context.Background(), "cat1", "1"+strings.Repeat(clientSecret, 20), []byte(rec10))
	if !errors.Is(err, ErrUnencodable) || strings.Contains(err.Error(), clientSecret) {
		t.Errorf("error = %v", err)
	}
	var ce *ClientError
	if errors.As(err, &ce) {
		t.Errorf("an encoding problem is not a transport failure: %v", err)
	}
}

// bigRequest returns a request of about 10 MB (100 records of 99,999
// bytes): more than a loopback connection's buffers hold, so the client
// cannot write it all while the server does not read.
func bigRequest() *Request {
	rec := make([]byte, 99999)
	copy(rec, "99999")
	for i := 5; i < len(rec); i++ {
		rec[i] = byte('a' + i%26)
	}
	req := &Request{User: "cat1", Password: clientSecret, Records: make([][]byte, 100)}
	for i := range req.Records {
		req.Records[i] = rec
	}
	return req
}

// encode returns req as AppendRequest puts it on the wire.
func encode(t *testing.T, req *Request) []byte {
	t.Helper()
	msg, err := AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// The server receives exactly the bytes of the request, nothing more,
// whether the request fits in the socket's buffer (written at once) or
// not (written while the server reads it, slowly).
func TestClientSendsRequestIntact(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *Request
	}{
		{"small", &Request{User: "cat1", LocalUser: "local \x00\xff", Password: clientSecret, Records: [][]byte{[]byte(rec10)}}},
		{"typical", &Request{User: "cat01", Password: clientSecret, Records: [][]byte{typicalRecord}}},
		{"big", bigRequest()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := encode(t, tc.req)
			type received struct {
				req   []byte
				extra int64
				err   error
			}
			got := make(chan received, 1)
			addr := fakeServer(t, func(c *net.TCPConn) {
				c.SetDeadline(time.Now().Add(waitLong))
				// Read in small pieces: a slow reader, so that a big
				// request fills the client's socket buffer.
				var r received
				buf := make([]byte, 4096)
				for len(r.req) < len(want) && r.err == nil {
					var n int
					n, r.err = c.Read(buf[:min(len(buf), len(want)-len(r.req))])
					r.req = append(r.req, buf[:n]...)
				}
				if r.err == nil {
					_, r.err = io.WriteString(c, "Import ok\x00")
				}
				if r.err == nil {
					r.extra, r.err = io.Copy(io.Discard, c) // until the client closes
				}
				got <- r
			})
			cl := &Client{Addr: addr, Timeout: waitLong}
			reply, err := cl.Do(context.Background(), tc.req)
			if err != nil || reply != "Import ok" {
				t.Fatalf("Do = %q, %v", reply, err)
			}
			r := <-got
			if r.err != nil {
				t.Fatalf("server: %v", r.err)
			}
			if !bytes.Equal(r.req, want) {
				i := 0
				for i < min(len(r.req), len(want)) && r.req[i] == want[i] {
					i++
				}
				t.Errorf("server received %d bytes differing from the request (%d bytes) at byte %d", len(r.req), len(want), i)
			}
			if r.extra != 0 {
				t.Errorf("server received %d bytes after the request", r.extra)
			}
		})
	}
}

// typicalRecord is a record of typical size for an export (1.5 KB).
var typicalRecord = []byte("01500" + strings.Repeat("x", 1495))

// A server that refuses before reading anything and then stops reading
// is heard even though the request does not fit in the socket's buffers:
// the client does not wait for its write to end before reading.
func TestClientHearsRefusalFromServerNotReading(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr := fakeServer(t, func(c *net.TCPConn) {
		io.WriteString(c, "Error: busy\x00")
		<-release // neither reads nor closes until the client has the reply
	})
	cl := &Client{Addr: addr, Timeout: waitLong}
	reply, err := cl.Do(context.Background(), bigRequest())
	if err != nil || reply != "Error: busy" {
		t.Errorf("Do = %q, %v", reply, err)
	}
}

// A server that reads the whole request and closes without replying may
// have acted on it: Sent is true.
func TestClientServerClosesAfterReading(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *Request
	}{
		{"typical", &Request{User: "cat01", Password: clientSecret, Records: [][]byte{typicalRecord}}},
		{"big", bigRequest()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := int64(len(encode(t, tc.req)))
			addr := fakeServer(t, func(c *net.TCPConn) {
				c.SetDeadline(time.Now().Add(waitLong))
				io.CopyN(io.Discard, c, n)
			})
			cl := &Client{Addr: addr, Timeout: waitLong}
			_, err := cl.Do(context.Background(), tc.req)
			checkClientError(t, err, "receive", true, ErrConnClosed)
		})
	}
}

// A server that closes or resets the connection before reading the whole
// of a request too big for the socket's buffers cannot have seen it:
// Sent is false and the failure is the send's.
func TestClientServerClosesBeforeReading(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(c *net.TCPConn)
	}{
		// Reading the first byte makes sure the client is past connecting.
		{"close after the first byte", func(c *net.TCPConn) { readByte(c) }},
		{"reset after the first byte", func(c *net.TCPConn) {
			readByte(c)
			c.SetLinger(0)
		}},
		{"close after reading part", func(c *net.TCPConn) {
			c.SetDeadline(time.Now().Add(waitLong))
			io.CopyN(io.Discard, c, 1<<20)
		}},
		{"reset after reading part", func(c *net.TCPConn) {
			c.SetDeadline(time.Now().Add(waitLong))
			io.CopyN(io.Discard, c, 1<<20)
			c.SetLinger(0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, tc.serve)
			cl := &Client{Addr: addr, Timeout: waitLong}
			_, err := cl.Do(context.Background(), bigRequest())
			checkClientError(t, err, "send", false, ErrConnClosed)
		})
	}
}

// Cancellation and the deadline interrupt a write blocked on a server
// that does not read: nothing complete was sent.
func TestClientInterruptedWhileSending(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		release := make(chan struct{})
		defer close(release)
		addr := fakeServer(t, func(c *net.TCPConn) {
			readByte(c) // the client is sending
			cancel()
			<-release
		})
		cl := &Client{Addr: addr, Timeout: waitLong}
		_, err := cl.Do(ctx, bigRequest())
		checkClientError(t, err, "send", false, context.Canceled)
	})
	t.Run("deadline", func(t *testing.T) {
		ctx := newExpiringCtx()
		release := make(chan struct{})
		defer close(release)
		addr := fakeServer(t, func(c *net.TCPConn) {
			readByte(c) // the client is sending
			ctx.expire()
			<-release
		})
		cl := &Client{Addr: addr, Timeout: -1}
		_, err := cl.Do(ctx, bigRequest())
		ce := checkClientError(t, err, "send", false, ErrTimeout, context.DeadlineExceeded)
		if !ce.Timeout() {
			t.Error("Timeout() = false")
		}
	})
}

// readByte reads one byte of the request from c.
func readByte(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(waitLong))
	c.Read(make([]byte, 1))
}
