package listserv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one SMTP connection, ready for a transaction: connected,
// encrypted as configured, greeted and authenticated.
type session struct {
	s    *settings
	cl   *smtp.Client
	stop func() bool // stops the context watcher
}

// open connects and prepares a session. Every error is an *Error.
func (s *settings) open(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, s.Timeout)
	raw, err := s.DialContext(dctx, "tcp", s.Addr)
	cancel()
	if err != nil {
		return nil, s.fail(ctx, "connect", err)
	}
	var conn net.Conn = &stepConn{Conn: raw, step: s.Timeout}
	// Closing the connection is the only way to interrupt go-smtp: do it
	// when ctx ends.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	ok := false
	defer func() {
		if !ok {
			stop()
			raw.Close()
		}
	}()
	if s.Security == SecurityTLS {
		tc := tls.Client(conn, s.tls)
		hctx, cancel := context.WithTimeout(ctx, s.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return nil, s.fail(ctx, "tls", err)
		}
		conn = tc
	}
	var cl *smtp.Client
	if s.Security == SecurityStartTLS {
		// go-smtp greets with EHLO localhost before STARTTLS; HELO is
		// said after it (see Config.HELO).
		cl, err = smtp.NewClientStartTLS(conn, s.tls)
		if err != nil {
			if err.Error() == "smtp: server doesn't support STARTTLS" {
				err = ErrNoStartTLS
			}
			return nil, s.fail(ctx, "starttls", err)
		}
	} else {
		cl = smtp.NewClient(conn)
	}
	cl.CommandTimeout = s.Timeout
	cl.SubmissionTimeout = s.Timeout
	if err := cl.Hello(s.HELO); err != nil {
		cl.Close()
		return nil, s.fail(ctx, "hello", err)
	}
	if s.Security != SecurityNone {
		if _, isTLS := cl.TLSConnectionState(); !isTLS {
			cl.Close()
			return nil, s.fail(ctx, "starttls", ErrNoStartTLS)
		}
	}
	if s.Username != "" {
		if err := s.auth(cl); err != nil {
			cl.Close()
			return nil, s.fail(ctx, "auth", err)
		}
	}
	ok = true
	return &session{s: s, cl: cl, stop: stop}, nil
}

// auth authenticates with the configured mechanism.
func (s *settings) auth(cl *smtp.Client) error {
	mech := strings.ToUpper(s.Auth)
	if !cl.SupportsAuth(mech) {
		_, offered := cl.Extension("AUTH")
		if offered == "" {
			offered = "none"
		}
		return fmt.Errorf("%w: %s (the server offers: %s)", ErrNoAuth, mech, offered)
	}
	var a sasl.Client
	if s.Auth == AuthLogin {
		a = sasl.NewLoginClient(s.Username, s.Password)
	} else {
		a = sasl.NewPlainClient("", s.Username, s.Password)
	}
	return cl.Auth(a)
}

// send submits msg to every recipient. Once the server has accepted the
// message (250 after DATA) it returns nil whatever QUIT does.
func (ss *session) send(ctx context.Context, msg []byte) error {
	s, cl := ss.s, ss.cl
	if max, ok := cl.MaxMessageSize(); ok && max > 0 && len(msg) > max {
		return s.fail(ctx, "mail", fmt.Errorf("%w: %d bytes, the server takes at most %d", ErrTooLarge, len(msg), max))
	}
	opts := &smtp.MailOptions{Size: int64(len(msg))}
	if !ascii(s.envFrom) || !allASCII(s.rcpts) {
		opts.UTF8 = true
	}
	if err := cl.Mail(s.envFrom, opts); err != nil {
		return s.fail(ctx, "mail", err)
	}
	for _, r := range s.rcpts {
		if err := cl.Rcpt(r, nil); err != nil {
			// No partial delivery: a retry goes to everyone once.
			_ = cl.Reset()
			return s.fail(ctx, "rcpt", fmt.Errorf("<%s>: %w", r, err))
		}
	}
	w, err := cl.Data()
	if err != nil {
		return s.fail(ctx, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return s.fail(ctx, "data", err)
	}
	if err := w.Close(); err != nil {
		return s.fail(ctx, "data", err)
	}
	return nil
}

// close quits politely and releases the connection.
func (ss *session) close() {
	_ = ss.cl.Quit()
	ss.cl.Close()
	ss.stop()
}

// fail turns err met at step into an *Error; when ctx has ended, the
// cause is ctx's error (the connection was closed because of it).
func (s *settings) fail(ctx context.Context, step string, err error) *Error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%v)", cerr, err)
	}
	return s.newError(step, err)
}

// stepConn bounds every step on a connection: a write must finish within
// step, and no deadline the SMTP client sets (go-smtp uses five minutes,
// and none at all between commands) reaches further than step ahead.
type stepConn struct {
	net.Conn
	step time.Duration
}

func (c *stepConn) clamp(t time.Time) time.Time {
	lim := time.Now().Add(c.step)
	if t.IsZero() || t.After(lim) {
		return lim
	}
	return t
}

func (c *stepConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *stepConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *stepConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

func (c *stepConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.step)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !ascii(s) {
			return false
		}
	}
	return true
}
