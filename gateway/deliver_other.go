//go:build !unix

package gateway

import (
	"net"
	"syscall"
)

// socketOf returns nil: replies are delivered with net.Conn's methods and
// a goroutine watches for the client's close (see sockDelivery).
func socketOf(net.Conn) syscall.RawConn { return nil }

// step is never called, as socketOf returns nil; it ends the Read.
func (d *sockDelivery) step(uintptr) bool { return true }
