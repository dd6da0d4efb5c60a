//go:build unix

package gateway

import (
	"net"
	"os"
	"syscall"
)

// writeNow writes to conn, from the calling goroutine and without
// waiting, as much of msg as its socket buffer takes, and returns the
// number of bytes written: len(msg) when the whole request went out at
// once, as a request of a few records does, fewer when the buffer filled
// (a big request, or a server that stopped reading). err is non-nil when
// the write failed (the server closed or reset the connection, or the
// deadline passed); n then counts the bytes written before the failure.
// A conn without a descriptor gets n = 0 and a nil err: the caller writes
// everything its usual way.
//
// The descriptor of a net.Conn is in non-blocking mode (Go's poller
// waits for it), so write(2) on it returns EAGAIN instead of blocking;
// the callback always returns true so that RawConn.Write never waits.
func writeNow(conn net.Conn, msg []byte) (n int, err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, nil
	}
	// One variable shared with the callback: one allocation, not two.
	var w struct {
		n   int
		err error
	}
	err = rc.Write(func(fd uintptr) bool {
		for w.n < len(msg) {
			k, err := syscall.Write(int(fd), msg[w.n:])
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return true
			case err != nil:
				w.err = os.NewSyscallError("write", err)
				return true
			case k <= 0:
				return true // not expected of a socket; the caller writes on
			default:
				w.n += k
			}
		}
		return true
	})
	if err == nil {
		err = w.err
	}
	return w.n, err
}
