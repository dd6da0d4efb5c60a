package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the Server's zero-valued fields.
const (
	// DefaultAddr is where ListenAndServe listens when Addr is empty:
	// loopback only, so that exposing the receiver to the network is
	// always a deliberate choice. 5500 is the port Alma and Koha use.
	DefaultAddr = "127.0.0.1:5500"

	// DefaultMaxRecords is the most records one request may carry.
	// Connexion sends one per connection; the spec bounds other tools'
	// batches at 100.
	DefaultMaxRecords = 100

	// DefaultMaxRequestBytes (10 MiB) holds DefaultMaxRecords records of
	// the largest size ISO 2709 can express (100 x 99,999 = 9,999,900
	// bytes) with over 450 KiB to spare for credentials and spaces.
	DefaultMaxRequestBytes int64 = 10 << 20

	// DefaultReadTimeout bounds the time from accepting a connection to
	// the end of its request. A Connexion export of a few kilobytes
	// arrives in milliseconds; a minute tolerates very slow links while
	// staying below the client's own timeout (libraries set about 100
	// s), so a stalled cataloger sees our explanation in the status
	// window rather than the client's generic timeout.
	DefaultReadTimeout = 60 * time.Second

	// DefaultWriteTimeout bounds writing a reply.
	DefaultWriteTimeout = 30 * time.Second

	// DefaultIdleTimeout is how long the connection stays open after the
	// reply waiting for the client to close it (the spec's 30 s).
	DefaultIdleTimeout = 30 * time.Second

	// DefaultMaxConns bounds connections served at once. Each Connexion
	// client exports one record per connection, one after another, so
	// 64 is many times a cataloging department's concurrent exports,
	// while bounding the memory of requests being read to 64 x
	// MaxRequestBytes under abuse.
	DefaultMaxConns = 64
)

// Handler imports the records of an export request.
type Handler interface {
	// ServeExport handles one complete request and returns the reply
	// text for the cataloger (the Server appends the NUL that ends the
	// reply and removes any NUL inside it). It must return only once the
	// outcome is final: a reply that says "received" must mean stored.
	//
	// ctx is cancelled when the Server is closed (Close, not Shutdown)
	// and after ServeExport returns; it is not cancelled when the client
	// goes away, so that an import in progress is not abandoned halfway.
	// req and its byte slices must not be modified; they may be retained.
	ServeExport(ctx context.Context, req *Request) string
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) string

// ServeExport returns f(ctx, req).
func (f HandlerFunc) ServeExport(ctx context.Context, req *Request) string { return f(ctx, req) }

// FailureObserver is an optional interface for a Handler that wants to
// hear about exports that failed in transport or framing, before or
// after the Handler ran, so that every attempt can be logged.
type FailureObserver interface {
	// ExportFailed is called once per failed connection with what was
	// received (Raw scrubbed of secrets; possibly empty) and an error
	// matching one of: ErrIncomplete, ErrReadTimeout, ErrClientGone
	// (after ServeExport: its reply could not be delivered, because the
	// client went away or the Server was closed), ErrTooLarge,
	// ErrTooManyRecords, ErrBusy, ErrHandlerPanic, or a *ProtocolError.
	// A connection that closes without sending a byte (a TCP probe) is
	// not reported. It is called from the connection's goroutine after
	// any error reply was written; it must not block for long.
	ExportFailed(ctx context.Context, req *Request, err error)
}

// Server accepts Connexion Gateway export connections and hands each
// complete request to its Handler. It also answers an HTTP GET or HEAD on
// the same port with "HTTP/1.0 200 OK", for load balancers and probes.
//
// For each connection the Server reads one request, calls the Handler,
// writes the reply followed by one NUL, and then waits for the client to
// close the connection (or for IdleTimeout): closing first makes the
// Windows client report "connection has been closed by remote host".
// Failures that can be explained (a protocol error, an oversize request,
// a timeout, too many connections) get an error reply from ErrorReply.
//
// The zero value of each field means its default. Fields must not be
// changed after Serve is called.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on; DefaultAddr
	// when empty.
	Addr string
	// Handler handles complete requests. Required. If it also
	// implements FailureObserver, it hears about failed ones.
	Handler Handler

	// MaxRequestBytes bounds a request's size (DefaultMaxRequestBytes;
	// negative: no limit). A request that exceeds it gets an error reply
	// as soon as the limit is passed.
	MaxRequestBytes int64
	// MaxRecords bounds the records per request (DefaultMaxRecords;
	// negative: no limit).
	MaxRecords int
	// ReadTimeout bounds the time from accepting a connection to the end
	// of its request (DefaultReadTimeout; negative: none).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a reply (DefaultWriteTimeout;
	// negative: none).
	WriteTimeout time.Duration
	// IdleTimeout is how long to wait, after the reply, for the client
	// to close the connection before closing it (DefaultIdleTimeout;
	// negative: wait indefinitely).
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once (DefaultMaxConns;
	// negative: no limit). A connection beyond it gets the ErrBusy
	// reply without its request being read; beyond twice MaxConns,
	// connections are closed at once.
	MaxConns int

	// ErrorReply returns the reply text for a failure the Server answers
	// itself; err matches ErrBusy, ErrTooLarge, ErrTooManyRecords,
	// ErrReadTimeout, ErrIncomplete, ErrHandlerPanic or is a
	// *ProtocolError. Nil means DefaultErrorReply.
	ErrorReply func(err error) string

	// Logger receives the Server's logs (never a secret); nil means
	// slog.Default(). Lines carry component=gateway.
	Logger *slog.Logger

	initOnce sync.Once
	log      *slog.Logger
	done     chan struct{} // closed by Shutdown or Close
	nextID   atomic.Uint64
	handoff  chan *conn   // to a goroutine waiting in serveConns for a connection
	waiting  atomic.Int32 // goroutines waiting in serveConns, or about to

	mu        sync.Mutex
	closed    bool // Shutdown or Close called; guarded by mu
	listeners map[*net.Listener]struct{}
	noServe   chan struct{} // closed, and replaced, when the last Serve returns: ends serveConns' waits; guarded by mu
	conns     map[*conn]struct{}
	active    int // conns being served normally
	busy      int // conns being refused with the busy reply
	wg        sync.WaitGroup
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		l := s.Logger
		if l == nil {
			l = slog.Default()
		}
		s.log = l.With(slog.String("component", "gateway"))
		s.done = make(chan struct{})
		s.handoff = make(chan *conn)
		s.noServe = make(chan struct{})
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	})
}

// ListenAndServe listens on s.Addr (DefaultAddr when empty) and calls
// Serve. It always returns a non-nil error: ErrServerClosed after
// Shutdown or Close.
func (s *Server) ListenAndServe() error {
	if s.isClosed() {
		return ErrServerClosed
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves each in its own goroutine
// until Shutdown or Close, then returns ErrServerClosed (without waiting
// for the connections: Shutdown does). A goroutine that has served a
// connection may serve a later one while a Serve call runs; none is left
// waiting once every Serve call has returned. Temporary accept errors
// (such as running out of file descriptors) are retried with backoff from
// 5 ms to 1 s; any other accept error is returned. Serve closes l on
// return.
func (s *Server) Serve(l net.Listener) error {
	if s.Handler == nil {
		return errors.New("gateway: Server.Handler is nil")
	}
	s.init()
	l = &onceCloseListener{Listener: l}
	defer l.Close()
	if !s.trackListener(&l, true) {
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)

	var delay time.Duration
	for {
		rw, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return fmt.Errorf("gateway: accept: %w", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", slog.Any(keyErr, err), slog.Duration("delay", delay))
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
			}
			continue
		}
		delay = 0
		s.startConn(rw)
	}
}

// Shutdown stops the server gracefully: it closes the listeners, closes
// connections that have not sent a byte yet, and waits for every other
// connection to end. Requests being received or handled run to
// completion and get their reply, and the Server still waits for each
// client to close after its reply (up to IdleTimeout), so Connexion shows
// every cataloger the outcome.
//
// If ctx ends first, Shutdown closes the connections that are only
// waiting for the client to close after their reply and returns ctx's
// error; exports still in progress are left to finish (call Close to
// abandon them). Otherwise it returns the error from closing the
// listeners, if any. Serve returns ErrServerClosed once Shutdown starts.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	lerr := s.closeLocked()
	for c := range s.conns {
		c.closeIf(stateNew)
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return lerr
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.closeIf(stateIdle)
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, and cancels
// the context of handlers still running. It does not wait for them. It
// returns the error from closing the listeners, if any.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	lerr := s.closeLocked()
	for c := range s.conns {
		c.close()
		c.cancel()
	}
	s.mu.Unlock()
	return lerr
}

// closeLocked marks the server closed and closes its listeners.
func (s *Server) closeLocked() error {
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	var err error
	for l := range s.listeners {
		if cerr := (*l).Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, l)
		if len(s.listeners) == 0 {
			close(s.noServe)
			s.noServe = make(chan struct{})
		}
		return true
	}
	if s.closed {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

// startConn registers rw and serves it, or refuses it when over the
// limits.
func (s *Server) startConn(rw net.Conn) {
	c := &conn{srv: s, rwc: rw, id: s.nextID.Add(1), accepted: time.Now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rw.Close()
		return
	}
	switch max := s.maxConns(); {
	case max < 0 || s.active < max:
		s.active++
	case s.busy < max:
		s.busy++
		c.busy = true
	default:
		s.mu.Unlock()
		rw.Close()
		s.log.Warn("connection dropped: too many connections, even for busy replies",
			slog.Uint64(keyConn, c.id), slog.String(keyRemote, addrString(rw.RemoteAddr())))
		return
	}
	// A context of its own, which Close cancels, rather than a child of
	// one for the Server: that would take a lock shared by all
	// connections, twice per connection.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	select {
	case s.handoff <- c: // to a goroutine that has served a connection
	default:
		go s.serveConns(c)
	}
}

// serveConns serves c and then, while Serve runs, further connections
// handed to it by startConn. A goroutine that has served a connection has
// the stack the next one needs, which a new goroutine would grow again,
// copying it each time, so goroutines are reused: at most MaxConns
// (DefaultMaxConns if MaxConns is negative) wait for a connection.
func (s *Server) serveConns(c *conn) {
	for {
		c.serve()
		noServe := s.forget(c)
		if noServe == nil {
			return
		}
		select {
		case c = <-s.handoff:
			s.waiting.Add(-1)
		case <-noServe:
			s.waiting.Add(-1)
			return
		}
	}
}

// forget unregisters c, which has ended. It returns, when the goroutine
// that served c is to wait for another connection, the channel whose
// close ends that wait, and nil when the goroutine is to end.
func (s *Server) forget(c *conn) (noServe <-chan struct{}) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.busy {
		s.busy--
	} else {
		s.active--
	}
	maxWaiting := int32(s.maxConns())
	if maxWaiting < 0 {
		maxWaiting = DefaultMaxConns
	}
	if !s.closed && len(s.listeners) > 0 && s.waiting.Load() < maxWaiting {
		s.waiting.Add(1)
		noServe = s.noServe
	}
	s.mu.Unlock()
	s.wg.Done()
	return noServe
}

func (s *Server) maxConns() int               { return orDefault(s.MaxConns, DefaultMaxConns) }
func (s *Server) maxRecords() int             { return orDefault(s.MaxRecords, DefaultMaxRecords) }
func (s *Server) maxRequestBytes() int64      { return orDefault(s.MaxRequestBytes, DefaultMaxRequestBytes) }
func (s *Server) readTimeout() time.Duration  { return orDefault(s.ReadTimeout, DefaultReadTimeout) }
func (s *Server) writeTimeout() time.Duration { return orDefault(s.WriteTimeout, DefaultWriteTimeout) }
func (s *Server) idleTimeout() time.Duration  { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }

func (s *Server) errorReply(err error) string {
	if s.ErrorReply != nil {
		return s.ErrorReply(err)
	}
	return DefaultErrorReply(err)
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// isTemporary reports accept errors worth retrying (EMFILE, ENFILE,
// ECONNABORTED, timeouts).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// onceCloseListener lets Serve's defer and Shutdown both close it.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
