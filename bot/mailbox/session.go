package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// session is one connection's life: from dial to the error that ends it.
type session struct {
	w        *Watcher
	c        *imapclient.Client
	conn     net.Conn      // the TCP connection under TLS and IMAP
	wake     chan struct{} // an EXISTS arrived
	validity uint32
	last     imap.UID
	// retryIn is set when a message's handler failed temporarily: look
	// again after that long, whatever IDLE says.
	retryIn time.Duration
}

// session connects, opens the folder and handles mail until an error or
// the end of ctx. healthy is true once the folder was opened and read:
// a later error is then news, not a persisting outage.
func (w *Watcher) session(ctx context.Context) (healthy bool, err error) {
	s := &session{w: w, wake: make(chan struct{}, 1)}
	if err := s.connect(ctx); err != nil {
		return false, err
	}
	defer s.c.Close()
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()

	if err := s.open(ctx); err != nil {
		return false, err
	}
	w.stats.connects.Add(1)
	var idle bool
	if err := s.guard("capability", func() error {
		caps := s.c.Caps()
		if caps == nil {
			return errors.New("no capabilities")
		}
		idle = caps.Has(imap.CapIdle)
		return nil
	}); err != nil {
		return false, err
	}
	w.log.Info("mailbox open", "uidvalidity", s.validity, "last_uid", s.last, "idle", idle)
	for {
		if err := s.scan(ctx); err != nil {
			return healthy, err
		}
		healthy = true
		wait := w.cfg.Poll
		if idle {
			wait = w.cfg.IdleRestart
		}
		if s.retryIn > 0 {
			wait = min(wait, s.retryIn)
		}
		if idle {
			err = s.idle(ctx, wait)
		} else {
			err = s.poll(ctx, wait)
		}
		if err != nil {
			return healthy, err
		}
	}
}

// guard runs one command under the watchdog: if it takes longer than
// CommandTimeout, the connection is closed, which ends the command.
func (s *session) guard(what string, f func() error) error {
	done := make(chan struct{})
	var fired atomic.Bool
	go func() {
		select {
		case <-done:
		case <-s.w.cfg.Clock.After(s.w.cfg.CommandTimeout):
			fired.Store(true)
			s.w.stats.watchdog.Add(1)
			s.w.log.Error("imap command stuck: closing the connection", "command", what, "timeout", s.w.cfg.CommandTimeout)
			s.conn.Close() // the raw connection: ends any command, TLS or not
		}
	}()
	err := f()
	close(done)
	if fired.Load() {
		return fmt.Errorf("%s: %w", what, ErrStuck)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// connect dials, secures the connection, waits for the greeting and logs in.
func (s *session) connect(ctx context.Context) error {
	cfg := s.w.cfg
	d := net.Dialer{Timeout: cfg.CommandTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	s.conn = conn
	opts := &imapclient.Options{
		TLSConfig: cfg.TLS,
		Dialer:    &d,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: only signal.
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					select {
					case s.wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	err = s.guard("secure the connection", func() error {
		switch cfg.Security {
		case SecurityTLS:
			tc := tls.Client(conn, cfg.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				return err
			}
			s.c = imapclient.New(tc, opts)
		case SecurityStartTLS:
			c, err := imapclient.NewStartTLS(conn, opts)
			if err != nil {
				return err
			}
			s.c = c
		default:
			s.c = imapclient.New(conn, opts)
		}
		return s.c.WaitGreeting()
	})
	if err != nil {
		conn.Close()
		return fmt.Errorf("%s: %w", cfg.Addr, err)
	}
	if err := s.guard("login", func() error {
		if s.c.Caps().Has(imap.CapLoginDisabled) {
			return errors.New("the server refuses LOGIN on this connection (LOGINDISABLED)")
		}
		return s.c.Login(cfg.Username, cfg.Password).Wait()
	}); err != nil {
		s.c.Close()
		return fmt.Errorf("%s as %s: %w", cfg.Addr, cfg.Username, err)
	}
	return nil
}

// open makes sure the done folder exists, selects the watched folder and
// reconciles its UIDVALIDITY with the stored one.
func (s *session) open(ctx context.Context) error {
	cfg := s.w.cfg
	if err := s.guard("status "+cfg.DoneFolder, func() error {
		_, err := s.c.Status(cfg.DoneFolder, &imap.StatusOptions{NumMessages: true}).Wait()
		return err
	}); err != nil {
		if s.c.State() == imap.ConnStateLogout {
			return err
		}
		if err := s.guard("create "+cfg.DoneFolder, func() error { return s.c.Create(cfg.DoneFolder, nil).Wait() }); err != nil {
			return err
		}
		s.w.log.Info("created the done folder", "done_folder", cfg.DoneFolder)
	}
	var sel *imap.SelectData
	if err := s.guard("select "+cfg.Folder, func() (err error) {
		sel, err = s.c.Select(cfg.Folder, nil).Wait()
		return err
	}); err != nil {
		return err
	}
	validity, last, ok, err := s.w.st.load(ctx)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		s.w.log.Info("first look at this folder: every message in it will be read", "uidvalidity", sel.UIDValidity)
		if err := s.w.st.reset(ctx, sel.UIDValidity); err != nil {
			return err
		}
		last = 0
	case validity != sel.UIDValidity:
		s.w.log.Warn("the folder's UIDVALIDITY changed: reading every message again, skipping those already handled",
			"old", validity, "new", sel.UIDValidity)
		if err := s.w.st.reset(ctx, sel.UIDValidity); err != nil {
			return err
		}
		last = 0
	}
	s.validity, s.last = sel.UIDValidity, last
	return s.moveLeftovers()
}

// moveLeftovers moves messages handled before but still in the folder (a
// crash or error between record and move).
func (s *session) moveLeftovers() error {
	if s.last == 0 {
		return nil
	}
	var uids []imap.UID
	if err := s.guard("search handled", func() error {
		data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: s.last}}}}, nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	}); err != nil {
		return err
	}
	uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return u > s.last })
	if len(uids) == 0 {
		return nil
	}
	s.w.log.Info("moving messages handled before", "count", len(uids))
	return s.move(uids...)
}

func (s *session) move(uids ...imap.UID) error {
	if err := s.guard("move to "+s.w.cfg.DoneFolder, func() error {
		_, err := s.c.Move(imap.UIDSetNum(uids...), s.w.cfg.DoneFolder).Wait()
		return err
	}); err != nil {
		return err
	}
	s.w.stats.moved.Add(int64(len(uids)))
	return nil
}

// idle waits, in IDLE, for new mail, for d, or for the end of ctx.
func (s *session) idle(ctx context.Context, d time.Duration) error {
	var cmd *imapclient.IdleCommand
	if err := s.guard("idle", func() (err error) {
		cmd, err = s.c.Idle()
		return err
	}); err != nil {
		return err
	}
	timer := s.w.cfg.Clock.After(d)
	select {
	case <-s.wake:
	case <-timer:
	case <-ctx.Done():
	case <-s.c.Closed():
	}
	err := s.guard("end idle", func() error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// poll waits d (or for ctx), then asks the server for news with NOOP.
func (s *session) poll(ctx context.Context, d time.Duration) error {
	select {
	case <-s.w.cfg.Clock.After(d):
	case <-ctx.Done():
		return ctx.Err()
	case <-s.c.Closed():
		return errors.New("connection closed")
	}
	return s.guard("noop", func() error { return s.c.Noop().Wait() })
}
