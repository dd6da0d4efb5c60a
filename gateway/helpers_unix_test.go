//go:build unix

package gateway

import (
	"net"
	"syscall"
)

// peerClosed reports whether nc, the server's side of a TCP connection,
// has received the client's close or reset, without reading what it
// holds. (A reset's error is consumed, but the connection then reads as
// closed.)
func peerClosed(nc net.Conn) bool {
	rc := socketOf(nc)
	if rc == nil {
		return false
	}
	var closed bool
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = err == nil && n == 0 || err != nil && err != syscall.EAGAIN && err != syscall.EINTR
	})
	return closed
}
