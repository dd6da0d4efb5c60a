//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// newRawClient returns the raw client: each of the conns workers is a
// goroutine locked to its own OS thread that makes blocking socket system
// calls itself: socket, setsockopt (SO_SNDTIMEO, SO_RCVTIMEO: the
// -timeout), connect, sendmsg, read until the NUL, close. No netpoller:
// no epoll registration, no goroutine parked and woken per connect and
// read; instead one thread wakes per reply, and the Go runtime hands Ps
// between the threads blocked in system calls (sysmon retaking them,
// futex hand-offs): measured at 32 connections, that costs about three
// times gateway.Client's context switches and more system CPU than the
// user CPU it saves, which is why epoll is the default. See target for
// what it shares with gateway.Client.
//
// Unlike gateway.Client it writes the whole request before reading: a
// request of one record fits in the socket's send buffer, so a server
// that answers before reading everything is still heard.
func newRawClient(o options) (*client, string, error) {
	t, err := newTarget(o)
	if err != nil {
		return nil, "", err
	}
	newExporter := func() exporter {
		s := &rawSession{t: t, sa: t.sockaddr(), req: t.request(), buf: make([]byte, 4096), slack: t.timeout / 64}
		return s.export
	}
	return &client{name: clientRaw, run: workers(true, newExporter)}, "", nil
}

// rawSession is one worker's state, reused from export to export.
type rawSession struct {
	t     *target
	sa    syscall.Sockaddr // the worker's own copy
	slack time.Duration    // how far a blocking call may overrun -timeout
	req   gateway.Request
	msg   []byte // the encoded request
	buf   []byte // read buffer
	reply []byte
}

// export sends record and returns the reply. ctx is checked before
// connecting only: the load generator never cancels an export midway.
func (s *rawSession) export(ctx context.Context, record []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.req.Records[0] = record
	msg, err := gateway.AppendRequest(s.msg[:0], &s.req)
	if err != nil {
		return nil, err
	}
	s.msg = msg
	s.reply, err = s.exchange(msg, s.reply[:0])
	if err != nil {
		return nil, err
	}
	return s.reply, nil
}

// exchange makes one connection, sends msg and reads the reply (appended
// to reply) up to its NUL. On failure it returns what arrived of the
// reply and a *rawError.
func (s *rawSession) exchange(msg, reply []byte) ([]byte, error) {
	b := bound{slack: s.slack}
	if s.t.timeout > 0 {
		b.deadline = time.Now().Add(s.t.timeout)
	}
	fd, err := syscall.Socket(s.t.family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return reply, s.t.fail("dial", false, 0, err)
	}
	defer syscall.Close(fd)
	b.fd = fd

	if err := connect(&b, s.sa); err != nil {
		return reply, s.t.fail("dial", false, 0, err)
	}

	// Write everything, then read. A failed write does not end the
	// exchange: a server that refused the request (busy, too large) may
	// have answered before it stopped reading, and that answer counts.
	sent, werr := 0, error(nil)
	for sent < len(msg) {
		if werr = b.arm(syscall.SO_SNDTIMEO); werr != nil {
			break
		}
		n, err := syscall.SendmsgN(fd, msg[sent:], nil, nil, syscall.MSG_NOSIGNAL)
		if n > 0 {
			sent += n
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			werr = err
			break
		}
	}
	complete := sent == len(msg)

	reply, rerr := readReply(&b, s.buf, reply)
	if rerr == nil {
		return reply, nil
	}
	op := "receive"
	if werr != nil && !complete {
		op = "send"
	}
	return reply, s.t.fail(op, complete, len(reply), rerr)
}

// connect connects b.fd to sa, retrying when a signal interrupts the
// wait.
func connect(b *bound, sa syscall.Sockaddr) error {
	retried := false
	for {
		if err := b.arm(syscall.SO_SNDTIMEO); err != nil {
			return err
		}
		err := syscall.Connect(b.fd, sa)
		switch {
		case err == syscall.EINTR:
			// The connection attempt goes on; connecting again waits
			// for it (or says it is done).
			retried = true
			continue
		case err == syscall.EISCONN && retried:
			return nil
		case err == syscall.EINPROGRESS || err == syscall.EALREADY:
			// SO_SNDTIMEO passed while connecting.
			return os.ErrDeadlineExceeded
		}
		return err
	}
}

// readReply reads from b.fd up to the NUL that ends the reply and returns
// reply extended by the bytes before it; on failure it returns what
// arrived and the cause (io.EOF when the server closed first).
func readReply(b *bound, buf, reply []byte) ([]byte, error) {
	for {
		if err := b.arm(syscall.SO_RCVTIMEO); err != nil {
			return reply, err
		}
		n, err := syscall.Read(b.fd, buf)
		if n > 0 {
			if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
				return append(reply, buf[:i]...), nil
			}
			reply = append(reply, buf[:n]...)
			if len(reply) > maxReplyBytes {
				return reply, errReplyTooLarge
			}
			continue
		}
		switch err {
		case syscall.EINTR:
			continue
		case nil:
			return reply, io.EOF
		case syscall.EAGAIN:
			// SO_RCVTIMEO passed.
			return reply, os.ErrDeadlineExceeded
		}
		return reply, err
	}
}

// bound keeps each blocking call on fd within the exchange's deadline by
// setting SO_SNDTIMEO and SO_RCVTIMEO to the time left. An option is set
// again only when its current value would let a call overrun the
// deadline by more than slack, so a prompt exchange costs one setsockopt
// for each (none without a deadline).
type bound struct {
	fd       int
	deadline time.Time // zero: none
	slack    time.Duration
	snd, rcv time.Duration // current values; zero: not set
}

// arm bounds the next blocking call governed by opt (SO_SNDTIMEO or
// SO_RCVTIMEO). It returns os.ErrDeadlineExceeded once the deadline has
// passed.
func (b *bound) arm(opt int) error {
	if b.deadline.IsZero() {
		return nil
	}
	cur := &b.rcv
	if opt == syscall.SO_SNDTIMEO {
		cur = &b.snd
	}
	left := time.Until(b.deadline)
	if left <= 0 {
		return os.ErrDeadlineExceeded
	}
	if *cur != 0 && *cur <= left+b.slack {
		return nil
	}
	// NsecToTimeval rounds up to a microsecond: never zero, which
	// would mean no timeout.
	tv := syscall.NsecToTimeval(left.Nanoseconds())
	if err := syscall.SetsockoptTimeval(b.fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
		return err
	}
	*cur = left
	return nil
}
