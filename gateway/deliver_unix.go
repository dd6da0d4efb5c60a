//go:build unix

package gateway

import (
	"io"
	"net"
	"os"
	"syscall"
)

// socketOf returns the raw connection of nc when a sockDelivery can use
// it: nc is a *net.TCPConn, whose descriptor Go's poller keeps in
// non-blocking mode. Otherwise it returns nil.
func socketOf(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// step is the function d hands to syscall.RawConn.Read. It returns false
// to have Read wait until the socket is readable (the poller's readiness
// is tracked from the start of Read) and true when it is done.
func (d *sockDelivery) step(fd uintptr) bool {
	if d.replied {
		if err := discard(int(fd), d.scratch); err != nil {
			d.waited, d.end = true, d.c.opError("read", err)
			return true
		}
		return false
	}
	if err := discard(int(fd), d.scratch); err != nil {
		d.gone = d.c.opError("read", err)
		return true
	}
	for d.written < len(d.reply) {
		n, err := syscall.Write(int(fd), d.reply[d.written:])
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return true // the caller writes the rest with the write deadline
		case err != nil:
			d.werr = d.c.opError("write", os.NewSyscallError("write", err))
			return true
		default:
			d.written += n
		}
	}
	d.replied = true
	if !d.wait || !d.c.toIdle() {
		return true
	}
	d.c.setIdleDeadline()
	return false
}

// discard reads from the non-blocking descriptor fd into buf, discarding,
// until nothing is left to read, and then returns nil. It returns io.EOF
// when the peer has closed or half-closed the connection and the
// *os.SyscallError of any other failure (a reset). buf must not be empty.
func discard(fd int, buf []byte) error {
	for {
		n, err := syscall.Read(fd, buf)
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return nil
		case err != nil:
			return os.NewSyscallError("read", err)
		case n == 0:
			return io.EOF
		}
	}
}
