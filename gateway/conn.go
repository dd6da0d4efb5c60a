package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Log attribute keys.
const (
	keyConn    = "conn"
	keyRemote  = "remote"
	keyErr     = "err"
	keyRequest = "request"
)

// Connection states, for Shutdown.
const (
	stateNew    int32 = iota // accepted, no byte received: Shutdown closes it
	stateActive              // receiving a request, handling it or replying: Shutdown waits
	stateIdle                // replied, waiting for the client to close: Shutdown waits until its ctx ends
	stateClosed              // closed by Shutdown or Close
)

const readBufSize = 32 << 10

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// conn is one accepted connection.
type conn struct {
	srv      *Server
	rwc      net.Conn
	id       uint64
	accepted time.Time
	busy     bool               // refused with the busy reply
	ctx      context.Context    // the handler's and FailureObserver's; set by startConn
	cancel   context.CancelFunc // cancels ctx: called by serve on return and by Server.Close
	state    atomic.Int32
	log      *slog.Logger // built by logger on first use; only the connection's goroutine uses it
	watch    *peerWatch   // set before the handler runs, when the request ended with NUL and is not answered by a sockDelivery
}

// logger returns the connection's logger (the Server's, with the
// connection's ID and remote address). It is built on first use: With
// formats its attributes at once, and most connections log nothing at
// the levels production runs at.
func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.srv.log.With(slog.Uint64(keyConn, c.id), slog.String(keyRemote, addrString(c.rwc.RemoteAddr())))
	}
	return c.log
}

// debugLogger returns the connection's logger when the Server's logger
// is enabled at debug level, and nil otherwise.
func (c *conn) debugLogger() *slog.Logger {
	if !c.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return c.logger()
}

func (c *conn) closeIf(state int32) {
	if c.state.CompareAndSwap(state, stateClosed) {
		c.rwc.Close()
	}
}

func (c *conn) close() {
	c.state.Store(stateClosed)
	c.rwc.Close()
}

// toIdle marks the connection as only waiting for the client to close; it
// reports false if the connection was closed meanwhile.
func (c *conn) toIdle() bool {
	for {
		st := c.state.Load()
		switch st {
		case stateClosed:
			return false
		case stateIdle:
			return true
		}
		if c.state.CompareAndSwap(st, stateIdle) {
			return true
		}
	}
}

// serve serves the connection until it ends and closes it. The caller
// then calls Server.forget.
func (c *conn) serve() {
	s := c.srv
	ctx := c.ctx
	defer func() {
		c.cancel()
		c.rwc.Close()
		if c.watch != nil {
			<-c.watch.done
		}
	}()
	if c.busy {
		c.refuseBusy(ctx)
		return
	}

	bufp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bufp)
	buf := *bufp

	if d := s.readTimeout(); d > 0 {
		c.rwc.SetReadDeadline(c.accepted.Add(d))
	}
	p := &Parser{MaxBytes: s.maxRequestBytes(), MaxRecords: s.maxRecords()}
	res := c.readRequest(p, buf)
	switch {
	case res.abandoned:
		return
	case res.health != nil:
		c.serveHealth(res.health, buf)
		return
	case res.empty:
		if l := c.debugLogger(); l != nil {
			l.Debug("connection closed without a request")
		}
		return
	}

	req := p.Request()
	req.ID = c.id
	req.RemoteAddr = c.rwc.RemoteAddr()
	req.Received = res.received
	req.Complete = time.Now()

	if res.err != nil {
		if !res.reset {
			c.writeReply(s.errorReply(res.err), buf)
		}
		c.report(ctx, req, res.err)
		if !res.eof && !res.reset {
			c.lingerUntilClosed(buf)
		}
		return
	}

	if l := c.debugLogger(); l != nil {
		l.Debug("request received", slog.Any(keyRequest, req))
	}
	var sock syscall.RawConn // answers with a sockDelivery when set
	if !res.eof {
		if sock = socketOf(c.rwc); sock == nil {
			// Watch for the client closing while the handler runs
			// (reply undeliverable), and afterwards for its close
			// after the reply.
			c.rwc.SetReadDeadline(time.Time{})
			c.watch = c.watchPeer()
		}
	}
	watch := c.watch
	reply, herr := c.callHandler(ctx, req)
	if herr != nil {
		reply = s.errorReply(herr)
	}
	if sock != nil {
		c.deliver(ctx, req, sock, reply, herr, buf)
		return
	}
	if watch != nil && watch.ended() {
		c.report(ctx, req, failure(herr, goneBeforeReply(watch.err)))
		return
	}
	if werr := c.writeReply(reply, buf); werr != nil {
		c.report(ctx, req, failure(herr, fmt.Errorf("%w: %w", ErrClientGone, werr)))
		return
	}
	if herr != nil {
		c.report(ctx, req, herr)
	}
	if watch == nil || !c.toIdle() {
		// After a half-close there is nothing left to wait for: the
		// client's side is closed and it reads our reply up to the
		// close that follows it.
		return
	}
	c.setIdleDeadline()
	<-watch.done
	c.logClose(watch.err)
}

// failure picks the error to report: a handler panic outranks what
// happened to the reply.
func failure(handlerErr, replyErr error) error {
	if handlerErr != nil {
		return fmt.Errorf("%w; %w", handlerErr, replyErr)
	}
	return replyErr
}

// readResult is how reading a request ended.
type readResult struct {
	received  time.Time
	err       error  // why the request is not complete; nil when it is
	eof       bool   // the client closed or half-closed its side
	reset     bool   // the connection failed: no reply can be delivered
	empty     bool   // closed or reset before sending a byte: a TCP probe, not an export
	abandoned bool   // closed by Shutdown or Close
	health    []byte // an HTTP health check: its first bytes
}

// readRequest reads into p until the request is complete or cannot be.
func (c *conn) readRequest(p *Parser, buf []byte) (res readResult) {
	var head []byte // first bytes, kept while they may be an HTTP request
	for {
		n, rerr := c.rwc.Read(buf)
		if n > 0 {
			if res.received.IsZero() {
				if !c.state.CompareAndSwap(stateNew, stateActive) {
					res.abandoned = true
					return res
				}
				res.received = time.Now()
			}
			data := buf[:n]
			if head != nil || (p.Offset() == 0 && (data[0] == 'G' || data[0] == 'H')) {
				head = append(head, data...)
				switch sniffHTTP(head) {
				case sniffYes:
					res.health = head
					return res
				case sniffMaybe:
					if rerr == nil {
						continue
					}
				}
				data, head = head, nil
			}
			if _, err := p.Feed(data); err != nil {
				res.err = err
				return res
			}
			if p.Done() {
				return res
			}
		}
		if rerr == nil {
			continue
		}
		if head != nil { // the connection ended while sniffing: not HTTP after all
			if _, err := p.Feed(head); err != nil {
				res.err = err
				return res
			}
		}
		switch {
		case errors.Is(rerr, net.ErrClosed):
			res.abandoned = true
		case errors.Is(rerr, io.EOF):
			res.eof = true
			if p.Offset() == 0 {
				res.empty = true
			} else {
				res.err = p.Finish()
			}
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			res.err = fmt.Errorf("%w (%d bytes received)", ErrReadTimeout, p.Offset())
		default:
			res.reset = true
			if p.Offset() == 0 {
				res.empty = true
			} else {
				res.err = fmt.Errorf("%w: connection failed after %d bytes: %w", ErrIncomplete, p.Offset(), rerr)
			}
		}
		return res
	}
}

func (c *conn) callHandler(ctx context.Context, req *Request) (reply string, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("handler panicked", slog.Any(keyRequest, req), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			err = ErrHandlerPanic
		}
	}()
	return c.srv.Handler.ServeExport(ctx, req), nil
}

// writeReply writes text, without any NUL it contains, and the NUL that
// ends a reply, in one write. It builds the reply in scratch when it fits
// there (the read buffer, free once the request is read).
func (c *conn) writeReply(text string, scratch []byte) error {
	return c.write(appendReply(scratch[:0], text))
}

// appendReply appends text, without any NUL it contains, and the NUL that
// ends a reply to b, growing b only if it lacks the room.
func appendReply(b []byte, text string) []byte {
	if strings.IndexByte(text, 0) >= 0 {
		text = strings.ReplaceAll(text, "\x00", "")
	}
	b = slices.Grow(b, len(text)+1)
	return append(append(b, text...), 0)
}

// write writes b within WriteTimeout.
func (c *conn) write(b []byte) error {
	if d := c.srv.writeTimeout(); d > 0 {
		c.rwc.SetWriteDeadline(time.Now().Add(d))
	}
	_, err := c.rwc.Write(b)
	return err
}

// report logs a failed export and tells the FailureObserver, if any.
func (c *conn) report(ctx context.Context, req *Request, err error) {
	level := slog.LevelInfo // transport: the client's business unless frequent
	var pe *ProtocolError
	switch {
	case errors.Is(err, ErrHandlerPanic):
		level = slog.LevelError
	case errors.As(err, &pe), errors.Is(err, ErrTooLarge), errors.Is(err, ErrTooManyRecords), errors.Is(err, ErrBusy):
		level = slog.LevelWarn
	}
	c.logger().Log(ctx, level, "export failed", slog.Any(keyErr, err), slog.Any(keyRequest, req))
	o, ok := c.srv.Handler.(FailureObserver)
	if !ok {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("failure observer panicked", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		}
	}()
	o.ExportFailed(ctx, req, err)
}

// refuseBusy answers a connection over MaxConns without reading its
// request, then waits for the client to close.
func (c *conn) refuseBusy(ctx context.Context) {
	if !c.toIdle() {
		return
	}
	now := time.Now()
	req := &Request{ID: c.id, RemoteAddr: c.rwc.RemoteAddr(), Received: now, Complete: now}
	werr := c.writeReply(c.srv.errorReply(ErrBusy), nil)
	c.report(ctx, req, ErrBusy)
	if werr == nil {
		c.lingerUntilClosed(make([]byte, 4096))
	}
}

// lingerUntilClosed reads and discards until the client closes the
// connection or IdleTimeout passes, so that the client, not the server,
// closes first and unread bytes do not turn the close into a reset that
// could destroy the reply.
func (c *conn) lingerUntilClosed(buf []byte) {
	if !c.toIdle() {
		return
	}
	c.setIdleDeadline()
	for {
		if _, err := c.rwc.Read(buf); err != nil {
			c.logClose(err)
			return
		}
	}
}

func (c *conn) setIdleDeadline() {
	var t time.Time
	if d := c.srv.idleTimeout(); d > 0 {
		t = time.Now().Add(d)
	}
	c.rwc.SetReadDeadline(t)
}

func (c *conn) logClose(err error) {
	l := c.debugLogger()
	if l == nil {
		return
	}
	switch {
	case errors.Is(err, io.EOF):
		l.Debug("client closed the connection")
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.Debug("idle timeout after the reply: closing the connection")
	case errors.Is(err, net.ErrClosed):
		l.Debug("connection closed by shutdown")
	default:
		l.Debug("connection ended", slog.Any(keyErr, err))
	}
}

// peerWatch reads a connection after its request, discarding anything,
// until the read fails: the client closed or reset it, a deadline passed,
// or the server closed it.
type peerWatch struct {
	done chan struct{}
	err  error     // valid once done is closed
	buf  [512]byte // what the client sends meanwhile, discarded
}

func (c *conn) watchPeer() *peerWatch {
	w := &peerWatch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if _, err := c.rwc.Read(w.buf[:]); err != nil {
				w.err = err
				return
			}
		}
	}()
	return w
}

// ended reports whether the watched connection has already failed.
func (w *peerWatch) ended() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}
