//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// epollET is EPOLLET as the uint32 an EpollEvent carries (the syscall
// package spells it as a negative int).
const epollET = 1 << 31

// newEpollClient returns the epoll client: one goroutine runs all the
// connections with non-blocking socket system calls made directly and
// an epoll instance of its own. Per export: socket, connect, epoll_ctl
// (add), sendmsg, read up to the NUL, close; and one epoll_wait for
// however many connections are ready. No goroutine per connection, no
// pollDesc, timer or goroutine wake-up per export, no thread per
// connection: when nothing is ready the goroutine parks on Go's
// netpoller, which watches the one epoll instance. -timeout is kept by
// the loop (a deadline per connection, the earliest as the wait's
// deadline). See target for what it shares with gateway.Client.
func newEpollClient(o options) (*client, string, error) {
	t, err := newTarget(o)
	if err != nil {
		return nil, "", err
	}
	run := func(ctx context.Context, recs [][]byte, conns int, done doneFunc) {
		l := &loop{t: t, ctx: ctx, sa: t.sockaddr(), req: t.request(), recs: recs, done: done,
			conns: make([]econn, conns), events: make([]syscall.EpollEvent, conns), buf: make([]byte, 4096)}
		l.run()
	}
	return &client{name: clientEpoll, run: run}, "", nil
}

// loop is one run of the epoll client.
type loop struct {
	t      *target
	ctx    context.Context
	sa     syscall.Sockaddr
	req    gateway.Request
	recs   [][]byte
	next   int // the next record to send
	done   doneFunc
	epfd   int
	rc     syscall.RawConn // epfd on Go's netpoller, to wait for it
	file   *os.File        // what rc belongs to
	dl     time.Time       // file's read deadline; zero: none set
	conns  []econn         // one slot per concurrent connection
	active int             // slots with an open connection
	free   []int           // slots to start a new export on
	events []syscall.EpollEvent
	buf    []byte // read buffer
}

// econn is one slot's connection and export.
type econn struct {
	fd        int   // -1 when the slot has no connection
	gen       int32 // tells this connection's events from an earlier one's
	i         int   // the record's index
	start     time.Time
	deadline  time.Time // zero: none
	connected bool
	msg       []byte // the request
	sent      int    // bytes of msg written
	werr      error  // a failed write
	reply     []byte
}

// run sends every record, l.conns at a time.
func (l *loop) run() {
	for k := range l.conns {
		l.conns[k].fd = -1
	}
	if err := l.open(); err != nil {
		l.abort(err)
		return
	}
	defer l.file.Close()
	for k := range l.conns {
		l.start(k)
	}
	for l.active > 0 {
		n, err := l.wait()
		if err != nil {
			l.abort(err)
			return
		}
		for _, ev := range l.events[:n] {
			if c := &l.conns[ev.Fd]; c.fd >= 0 && c.gen == ev.Pad {
				l.handle(int(ev.Fd), ev.Events)
			}
		}
		if l.t.timeout > 0 {
			now := time.Now()
			for k := range l.conns {
				if c := &l.conns[k]; c.fd >= 0 && now.After(c.deadline) {
					l.finish(k, os.ErrDeadlineExceeded)
				}
			}
		}
		for len(l.free) > 0 {
			k := l.free[len(l.free)-1]
			l.free = l.free[:len(l.free)-1]
			l.start(k)
		}
	}
}

// open creates the loop's epoll instance and puts it, non-blocking, on
// Go's netpoller.
func (l *loop) open() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return fmt.Errorf("epoll: %w", err)
	}
	l.epfd, l.file = epfd, os.NewFile(uintptr(epfd), "epoll")
	if l.rc, err = l.file.SyscallConn(); err != nil {
		l.file.Close()
		return fmt.Errorf("epoll: %w", err)
	}
	return nil
}

// wait returns how many events epoll_wait put in l.events. When none is
// ready it waits for one, or for the earliest deadline, parked on Go's
// netpoller (which watches the epoll instance itself) rather than in a
// blocking epoll_wait: a thread blocked in a system call for long is one
// the Go runtime keeps taking its P back from and handing it on, at a
// cost in wake-ups. A passed deadline returns 0 events.
func (l *loop) wait() (int, error) {
	if l.t.timeout > 0 {
		l.armDeadline()
	}
	var n int
	var errno error
	err := l.rc.Read(func(uintptr) bool {
		n, errno = syscall.EpollWait(l.epfd, l.events, 0)
		return n > 0 || errno != nil
	})
	switch {
	case errno == syscall.EINTR:
		return 0, nil
	case errno != nil:
		return 0, fmt.Errorf("epoll_wait: %w", errno)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("epoll: %w", err)
	}
	return n, nil
}

// armDeadline sets the epoll file's read deadline to the earliest
// deadline of the open connections: wait returns then, for run to time
// them out. The deadline is set again only when it has passed, is later
// than the earliest or trails it by more than 1/64 of -timeout (so a
// prompt run costs a timer update now and then, not one per wait).
func (l *loop) armDeadline() {
	var first time.Time
	for k := range l.conns {
		if c := &l.conns[k]; c.fd >= 0 && (first.IsZero() || c.deadline.Before(first)) {
			first = c.deadline
		}
	}
	if first.IsZero() {
		return
	}
	if l.dl.IsZero() || first.Before(l.dl) || first.Sub(l.dl) > l.t.timeout/64 || !time.Now().Before(l.dl) {
		l.file.SetReadDeadline(first)
		l.dl = first
	}
}

// start opens a connection for the next record in slot k. Exports that
// fail before there is a connection to wait on are done at once, and
// the next record is tried.
func (l *loop) start(k int) {
	c := &l.conns[k]
	for l.next < len(l.recs) {
		i := l.next
		l.next++
		*c = econn{gen: c.gen + 1, i: i, start: time.Now(), fd: -1, msg: c.msg[:0], reply: c.reply[:0]}
		if l.t.timeout > 0 {
			c.deadline = c.start.Add(l.t.timeout)
		}
		if err := l.ctx.Err(); err != nil {
			l.done(i, 0, nil, err)
			continue
		}
		l.req.Records[0] = l.recs[i]
		msg, err := gateway.AppendRequest(c.msg, &l.req)
		if err != nil {
			l.done(i, time.Since(c.start), nil, err)
			continue
		}
		c.msg = msg
		fd, err := syscall.Socket(l.t.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
		if err != nil {
			l.done(i, time.Since(c.start), nil, l.t.fail("dial", false, 0, err))
			continue
		}
		switch err = syscall.Connect(fd, l.sa); err {
		case nil:
			c.connected = true
		case syscall.EINPROGRESS, syscall.EINTR:
			// Connecting goes on; EPOLLOUT says when it is done.
		default:
			syscall.Close(fd)
			l.done(i, time.Since(c.start), nil, l.t.fail("dial", false, 0, err))
			continue
		}
		// Edge-triggered: connected (EPOLLOUT), reply bytes or the end
		// of the stream (EPOLLIN, EPOLLRDHUP), each reported once.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET, Fd: int32(k), Pad: c.gen}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			syscall.Close(fd)
			l.done(i, time.Since(c.start), nil, l.t.fail("dial", false, 0, fmt.Errorf("epoll_ctl: %w", err)))
			continue
		}
		c.fd = fd
		l.active++
		return
	}
}

// handle acts on the events of slot k's connection.
func (l *loop) handle(k int, events uint32) {
	c := &l.conns[k]
	if !c.connected {
		if events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			if soerr, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err == nil && soerr != 0 {
				l.finish(k, syscall.Errno(soerr))
				return
			}
		} else if events&syscall.EPOLLOUT == 0 {
			return
		}
		c.connected = true
	}
	if c.sent < len(c.msg) && c.werr == nil {
		l.write(c)
	}
	// Read on any event once the request is out (or cannot be): a
	// server that refused it may have answered before it stopped
	// reading, and that answer counts, as for gateway.Client.
	if c.sent == len(c.msg) || c.werr != nil {
		l.read(k)
	}
}

// write sends what is left of c's request, until the socket is full.
func (l *loop) write(c *econn) {
	for c.sent < len(c.msg) {
		n, err := syscall.SendmsgN(c.fd, c.msg[c.sent:], nil, nil, syscall.MSG_NOSIGNAL)
		if n > 0 {
			c.sent += n
		}
		switch err {
		case nil, syscall.EINTR:
		case syscall.EAGAIN:
			return // EPOLLOUT again when there is room
		default:
			c.werr = err
			return
		}
	}
}

// read takes what has arrived of slot k's reply and finishes the export
// at its NUL, at the end of the stream or on an error.
func (l *loop) read(k int) {
	c := &l.conns[k]
	for {
		n, err := syscall.Read(c.fd, l.buf)
		if n > 0 {
			if i := bytes.IndexByte(l.buf[:n], 0); i >= 0 {
				c.reply = append(c.reply, l.buf[:i]...)
				l.finish(k, nil)
				return
			}
			c.reply = append(c.reply, l.buf[:n]...)
			if len(c.reply) > maxReplyBytes {
				l.finish(k, errReplyTooLarge)
				return
			}
			continue
		}
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return // EPOLLIN again when more arrives
		case nil:
			err = io.EOF
		}
		l.finish(k, err)
		return
	}
}

// finish closes slot k's connection (which also leaves the epoll set),
// reports its export (a failure when cause is not nil) and frees the
// slot.
func (l *loop) finish(k int, cause error) {
	c := &l.conns[k]
	syscall.Close(c.fd)
	c.fd = -1
	l.active--
	l.free = append(l.free, k)
	latency := time.Since(c.start)
	if cause == nil {
		l.done(c.i, latency, c.reply, nil)
		return
	}
	op, complete := "receive", c.sent == len(c.msg)
	switch {
	case !c.connected:
		op = "dial"
	case c.werr != nil && !complete:
		op = "send"
	}
	l.done(c.i, latency, nil, l.t.fail(op, complete, len(c.reply), cause))
}

// abort ends every open export and every one not started with err.
func (l *loop) abort(err error) {
	for k := range l.conns {
		if c := &l.conns[k]; c.fd >= 0 {
			syscall.Close(c.fd)
			c.fd = -1
			l.done(c.i, time.Since(c.start), nil, err)
		}
	}
	for ; l.next < len(l.recs); l.next++ {
		l.done(l.next, 0, nil, err)
	}
}
