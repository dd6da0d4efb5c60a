package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// sockDelivery answers a request that ended with NUL on a TCP socket
// within one syscall.RawConn.Read, in the connection's own goroutine:
//
//  1. It reads and discards, without waiting, what the client sent while
//     the handler ran, and so learns whether the client has already
//     closed or reset the connection (the reply cannot be delivered:
//     ErrClientGone).
//  2. It writes the reply without waiting. A reply almost always fits in
//     the socket's send buffer at once; the caller writes what does not,
//     within WriteTimeout.
//  3. It marks the connection idle, sets the idle deadline and waits on
//     Go's poller for the client to close, then reads the close.
//
// Doing the three in one Read lets step 3 wait without a read that would
// find nothing: the poller tracks readiness from the start of the Read,
// before step 1, so a close arriving between steps 1 and 3 ends the wait
// at once. Against a second goroutine that reads while the handler runs
// (what serve does for other connections), this saves per connection a
// goroutine and its wake-up, and two of the four deadline changes (with
// their timer updates), for the same system calls.
type sockDelivery struct {
	c       *conn
	reply   []byte // the reply, its NUL included
	scratch []byte // receives, to discard, what the client sends
	wait    bool   // after the reply, go idle and wait for the client's close

	gone    error // the connection had ended before the reply; nothing was written
	written int   // bytes of reply written
	werr    error // writing the reply failed
	replied bool  // the whole reply was written
	waited  bool  // the wait for the client's close ran and ended with end
	end     error // why the wait ended: io.EOF when the client closed
}

// deliver writes the reply to a request that ended with NUL on rc, the
// socket of c.rwc, and then waits for the client to close (or
// IdleTimeout), as serve does for other connections: herr is the
// handler's failure, if any, and buf is the connection's read buffer,
// free now. It reports failures like serve.
func (c *conn) deliver(ctx context.Context, req *Request, rc syscall.RawConn, reply string, herr error, buf []byte) {
	half := len(buf) / 2
	d := &sockDelivery{c: c, reply: appendReply(buf[:0:half], reply), scratch: buf[half:], wait: herr == nil}
	err := rc.Read(d.step)
	if errors.Is(err, os.ErrDeadlineExceeded) && !d.replied {
		// The read deadline, which bounds the request's arrival,
		// passed while the handler ran: the Read stopped before step.
		c.rwc.SetReadDeadline(time.Time{})
		err = rc.Read(d.step)
	}
	switch {
	case err == nil:
	case d.replied:
		d.waited, d.end = true, err
	default: // the Read failed before step ran: the Server closed the connection
		d.gone = err
	}

	if d.gone != nil {
		c.report(ctx, req, failure(herr, goneBeforeReply(d.gone)))
		return
	}
	if d.werr == nil && d.written < len(d.reply) {
		d.werr = c.write(d.reply[d.written:])
	}
	if d.werr != nil {
		c.report(ctx, req, failure(herr, fmt.Errorf("%w: %w", ErrClientGone, d.werr)))
		return
	}
	if herr != nil {
		c.report(ctx, req, herr)
	}
	if d.waited {
		c.logClose(d.end)
		return
	}
	c.lingerUntilClosed(d.scratch)
}

// goneBeforeReply is the error reported when the connection of a
// request that ended with NUL ended, with err, while the handler ran.
func goneBeforeReply(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: the server was closed while the export was handled", ErrClientGone)
	}
	return fmt.Errorf("%w: the client closed the connection while the export was handled: %w", ErrClientGone, err)
}

// opError returns err, a system call's *os.SyscallError on c.rwc, as
// c.rwc's own methods return it: wrapped in a *net.OpError that names the
// operation and the addresses. Other errors (io.EOF) are returned as they
// are.
func (c *conn) opError(op string, err error) error {
	if _, ok := err.(*os.SyscallError); !ok {
		return err
	}
	local := c.rwc.LocalAddr()
	return &net.OpError{Op: op, Net: local.Network(), Source: local, Addr: c.rwc.RemoteAddr(), Err: err}
}
