package gateway

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"time"
)

// DefaultClientTimeout bounds a Client exchange when Client.Timeout is
// zero: the value libraries configure in Connexion's own destination
// dialog.
const DefaultClientTimeout = 100 * time.Second

// maxReplyBytes bounds the reply a Client accepts: replies are a few
// lines for a cataloger.
const maxReplyBytes = 1 << 20

// Client sends export requests to a Connexion Gateway listener the way
// Connexion does: one connection per request, the request (ending with a
// NUL), the reply read up to its NUL, then the client closes. It is used
// by the export command, by probes, by the relay and by tests. A Client
// is safe for concurrent use; its fields must not change meanwhile.
type Client struct {
	// Addr is the listener's "host:port".
	Addr string
	// Timeout bounds a whole exchange, connecting included, on top of
	// the context's deadline. Zero means DefaultClientTimeout; negative
	// means none.
	Timeout time.Duration
	// Dialer opens connections; nil means a zero net.Dialer.
	Dialer *net.Dialer
}

// Export sends one record with a user and password (U and P fields) and
// returns the reply text without its NUL. See Do.
func (c *Client) Export(ctx context.Context, user, password string, record []byte) (reply string, err error) {
	return c.Do(ctx, &Request{User: user, Password: password, Records: [][]byte{record}})
}

// Do sends req's non-empty User, LocalUser and Password fields and its
// Records as AppendRequest encodes them (other fields are ignored) and
// returns the reply text without its NUL. A reply that arrives
// completely counts as success even if the server sent it before reading
// the whole request (a "busy" or "too large" refusal): what the reply
// says is for the caller to judge.
//
// A request that cannot be encoded returns an error wrapping
// ErrUnencodable, before connecting. Any other failure is a *ClientError
// matching ErrDial (nothing was sent), ErrTimeout, ErrConnClosed or
// ErrTooLarge (reply over 1 MiB), or the context's error if ctx was
// cancelled; its Sent field says whether the server may have received
// the whole request. Errors never contain a credential.
func (c *Client) Do(ctx context.Context, req *Request) (reply string, err error) {
	msg, err := AppendRequest(nil, req)
	if err != nil {
		return "", err
	}
	return c.exchange(ctx, msg)
}

func (c *Client) exchange(ctx context.Context, msg []byte) (string, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultClientTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	d := c.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return "", c.fail(ctx, "dial", false, nil, err, ErrDial)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancellation interrupts blocked reads and writes.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// Write what the socket takes at once: a request of a few records
	// goes out in full and no goroutine is needed. What remains (a big
	// request, or a server that stopped reading) is written while the
	// reply is read, so that a server that answers before reading
	// everything (a refusal) is heard even if it stops reading. A failed
	// write is not the end: the server may have answered before closing.
	n, werr := writeNow(conn, msg)
	var wrote chan error
	if werr == nil && n < len(msg) {
		wrote = make(chan error, 1)
		go func(rest []byte) {
			_, err := conn.Write(rest)
			wrote <- err
		}(msg[n:])
	}
	reply, rerr := readReply(conn)
	if rerr == nil {
		return string(reply), nil
	}
	if wrote != nil {
		conn.Close() // unblock the writer
		werr = <-wrote
	}
	sent, op := werr == nil, "receive"
	if !sent {
		op = "send"
	}
	if errors.Is(rerr, errReplyTooLarge) {
		return "", c.fail(ctx, op, sent, reply, nil, ErrTooLarge)
	}
	return "", c.fail(ctx, op, sent, reply, rerr, ErrConnClosed)
}

var errReplyTooLarge = errors.New("reply too large")

// readReply reads up to the NUL that ends the reply and returns the bytes
// before it; on failure it returns what arrived and the read error.
func readReply(conn net.Conn) ([]byte, error) {
	var reply []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return append(reply, buf[:i]...), nil
		}
		reply = append(reply, buf[:n]...)
		if len(reply) > maxReplyBytes {
			return reply, errReplyTooLarge
		}
		if err != nil {
			return reply, err
		}
	}
}

// fail builds the *ClientError for cause, classifying it: a passed
// deadline is ErrTimeout, a cancelled ctx is the context's error, and
// anything else is kind.
func (c *Client) fail(ctx context.Context, op string, sent bool, reply []byte, cause, kind error) error {
	e := &ClientError{Op: op, Addr: c.Addr, Sent: sent, Reply: string(reply), Err: cause}
	ctxErr := ctx.Err()
	var ne net.Error
	timedOut := errors.Is(ctxErr, context.DeadlineExceeded) ||
		ctxErr == nil && (errors.Is(cause, os.ErrDeadlineExceeded) || errors.As(cause, &ne) && ne.Timeout())
	switch {
	case errors.Is(ctxErr, context.Canceled):
		// The caller gave up: not the server's failure.
		e.Err = ctxErr
	case kind == ErrDial && timedOut:
		e.kinds = []error{ErrDial, ErrTimeout}
	case kind == ErrDial:
		e.kinds = []error{ErrDial}
	case timedOut:
		e.kinds = []error{ErrTimeout}
	default:
		e.kinds = []error{kind}
	}
	if timedOut && !errors.Is(e.Err, context.DeadlineExceeded) {
		// The connection's deadline (the context's) can pass a moment
		// before the context notices.
		e.also = context.DeadlineExceeded
	}
	return e
}
