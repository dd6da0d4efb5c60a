//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// maxReplyBytes bounds the reply the system-call clients accept, as
// gateway.Client bounds it.
const maxReplyBytes = 1 << 20

// target is the server the system-call clients (raw and epoll) export
// to, and the credentials they send. Both send exactly the bytes
// gateway.Client sends (all three encode with gateway.AppendRequest),
// read the reply the same way (up to its NUL, at most maxReplyBytes) and
// fail the same ways (a *rawError matches the gateway sentinels a
// *gateway.ClientError matches). The -to address is resolved once, at
// start.
type target struct {
	addr     string // as given, for messages
	family   int
	sa       syscall.Sockaddr
	timeout  time.Duration // bound on one export; <= 0: none
	user     string
	password string
}

// newTarget resolves o.to. A zero o.timeout means
// gateway.DefaultClientTimeout and a negative one none, as for
// gateway.Client.
func newTarget(o options) (*target, error) {
	ta, err := net.ResolveTCPAddr("tcp", o.to)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", o.to, err)
	}
	t := &target{addr: o.to, user: o.user, password: o.password, timeout: o.timeout}
	if t.timeout == 0 {
		t.timeout = gateway.DefaultClientTimeout
	}
	switch ip := ta.IP; {
	case ip == nil || ip.IsUnspecified() && ip.To4() != nil:
		// As net.Dial: no host (or 0.0.0.0) means this machine.
		t.family, t.sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: ta.Port, Addr: [4]byte{127, 0, 0, 1}}
	case ip.To4() != nil:
		t.family, t.sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip.To4())}
	default:
		sa := &syscall.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ip.To16())}
		if ta.Zone != "" {
			if sa.ZoneId, err = zoneIndex(ta.Zone); err != nil {
				return nil, fmt.Errorf("resolve %s: %w", o.to, err)
			}
		}
		t.family, t.sa = syscall.AF_INET6, sa
	}
	return t, nil
}

// zoneIndex returns the interface index an IPv6 zone names.
func zoneIndex(zone string) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

// sockaddr returns a copy of the server's address: syscall.Connect
// writes into the Sockaddr it is given, so each goroutine needs its own.
func (t *target) sockaddr() syscall.Sockaddr {
	switch sa := t.sa.(type) {
	case *syscall.SockaddrInet4:
		cp := *sa
		return &cp
	case *syscall.SockaddrInet6:
		cp := *sa
		return &cp
	}
	panic(fmt.Sprintf("loadgen: unexpected address type %T", t.sa))
}

// request returns the gateway.Request sending record with t's
// credentials.
func (t *target) request() gateway.Request {
	return gateway.Request{User: t.user, Password: t.password, Records: make([][]byte, 1)}
}

// errReplyTooLarge: the reply passed maxReplyBytes without a NUL.
var errReplyTooLarge = fmt.Errorf("reply over %d bytes", maxReplyBytes)

// fail builds the *rawError for cause, classifying it as gateway.Client
// does: ErrDial (with ErrTimeout if connecting timed out), ErrTimeout,
// ErrTooLarge or ErrConnClosed. A passed deadline is
// os.ErrDeadlineExceeded.
func (t *target) fail(op string, sent bool, replyBytes int, cause error) error {
	e := &rawError{Op: op, Addr: t.addr, Sent: sent, ReplyBytes: replyBytes, Err: cause}
	timedOut := cause == os.ErrDeadlineExceeded
	switch {
	case op == "dial" && timedOut:
		e.kinds = []error{gateway.ErrDial, gateway.ErrTimeout}
	case op == "dial":
		e.kinds = []error{gateway.ErrDial}
	case timedOut:
		e.kinds = []error{gateway.ErrTimeout}
	case cause == errReplyTooLarge:
		e.kinds, e.Err = []error{gateway.ErrTooLarge}, nil
	default:
		e.kinds = []error{gateway.ErrConnClosed}
	}
	return e
}

// rawError is a failed exchange of a system-call client, worded like
// gateway.ClientError. errors.Is matches its kinds (gateway.ErrDial,
// ErrTimeout, ErrConnClosed, ErrTooLarge) and its cause.
type rawError struct {
	Op         string // "dial", "send" or "receive"
	Addr       string
	Sent       bool // the whole request was written
	ReplyBytes int  // reply bytes received before the failure
	Err        error
	kinds      []error
}

// Error returns a line such as "export to host:5500: receive: connection
// closed before the end of the reply (12 reply bytes received): EOF".
func (e *rawError) Error() string {
	var s strings.Builder
	s.WriteString("export to ")
	s.WriteString(e.Addr)
	s.WriteString(": ")
	s.WriteString(e.Op)
	for _, k := range e.kinds {
		s.WriteString(": ")
		s.WriteString(strings.TrimPrefix(k.Error(), "gateway: "))
	}
	if e.ReplyBytes > 0 {
		fmt.Fprintf(&s, " (%d reply bytes received)", e.ReplyBytes)
	}
	if e.Err != nil {
		s.WriteString(": ")
		s.WriteString(e.Err.Error())
	}
	return s.String()
}

// Unwrap returns the kinds followed by the cause.
func (e *rawError) Unwrap() []error {
	if e.Err == nil {
		return e.kinds
	}
	return append(e.kinds[:len(e.kinds):len(e.kinds)], e.Err)
}
