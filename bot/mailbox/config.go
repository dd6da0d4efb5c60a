package mailbox

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/internal/netutil"
)

// Security is how the watcher protects its IMAP connection.
type Security string

// Securities.
const (
	// SecurityTLS is implicit TLS (port 993), the default.
	SecurityTLS Security = "tls"
	// SecurityStartTLS upgrades a plain connection (port 143) with
	// STARTTLS before logging in.
	SecurityStartTLS Security = "starttls"
	// SecurityNone sends the password in clear text: allowed only to a
	// loopback address (a local Dovecot, tests).
	SecurityNone Security = "none"
)

// Defaults of Config.
const (
	DefaultFolder          = "INBOX"
	DefaultDoneFolder      = "oclcbot-processed"
	DefaultPoll            = time.Minute
	DefaultIdleRestart     = 25 * time.Minute
	DefaultCommandTimeout  = time.Minute
	DefaultBackoffMin      = time.Second
	DefaultBackoffMax      = 5 * time.Minute
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxAttempts     = 10
	DefaultSeenLimit       = 10000
	DefaultMaxAge          = 7 * 24 * time.Hour
	// MaxIdleRestart: RFC 9051 lets servers drop a client idle for 30
	// minutes, so IDLE is renewed before 29.
	MaxIdleRestart = 29 * time.Minute
)

// ErrConfig is wrapped by New's errors about its Config.
var ErrConfig = errors.New("mailbox configuration")

// Config configures a Watcher. Zero fields take the defaults above.
type Config struct {
	// Addr is the IMAP server's host:port.
	Addr string
	// Security: SecurityTLS (default), SecurityStartTLS or SecurityNone
	// (loopback only).
	Security Security
	// Username and Password log in. The password never appears in logs
	// or errors.
	Username string
	Password string
	// Folder is the watched folder (default INBOX).
	Folder string
	// DoneFolder receives every processed message (default
	// "oclcbot-processed"); it is created when missing.
	DoneFolder string

	// Self tells the classifier who the bot is.
	Self Self

	// Poll is how often a server without IDLE is asked for new mail
	// (NOOP and a search; default 1 min).
	Poll time.Duration
	// IdleRestart renews IDLE (and looks for mail a lost notification
	// would hide) this often; default 25 min, at most 29 min.
	IdleRestart time.Duration
	// CommandTimeout is the watchdog: a command (or the dial, TLS,
	// greeting, login) taking longer closes the connection, and the
	// watcher reconnects (default 1 min).
	CommandTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before reconnecting after
	// an error, and before retrying a message whose handler failed
	// temporarily: it doubles from min to max, with jitter (defaults 1 s,
	// 5 min).
	BackoffMin time.Duration
	BackoffMax time.Duration

	// TLS is the base TLS configuration (nil: system roots). ServerName
	// defaults to Addr's host.
	TLS *tls.Config
	// CAFile, when set, is a PEM file of the certificates trusted to sign
	// the server's (a self-signed test or campus CA), instead of the
	// system roots.
	CAFile string

	// MaxMessageBytes: only this much of a larger message is fetched and
	// classified (default 25 MiB, at most MaxMessageSize).
	MaxMessageBytes int
	// MaxAttempts: a message whose handler failed temporarily this many
	// times is given up (logged as an error, recorded and moved) so it
	// cannot block the mail behind it; default 10, negative: never.
	MaxAttempts int
	// SeenLimit is how many processed Message-IDs are remembered to drop
	// duplicates (the same mail to the bot and the list, a folder whose
	// UIDVALIDITY changed); default 10000.
	SeenLimit int
	// MaxAge: messages delivered longer ago than this are moved without
	// acting on them (a stale ACK must not solve today's incident);
	// default 7 days, negative: no limit.
	MaxAge time.Duration
	// Permanent reports whether a handler error is permanent: the message
	// is then recorded and moved, not retried. Default: PermanentError.
	Permanent func(error) bool

	// Clock drives polls, backoff, IDLE renewal and the watchdog
	// (default probe.SystemClock).
	Clock probe.Clock
	// Jitter returns a number in [0, 1) that spreads reconnects (default
	// math/rand/v2.Float64).
	Jitter func() float64
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return bad("address %q: want host:port", c.Addr)
	}
	switch c.Security {
	case "":
		c.Security = SecurityTLS
	case SecurityTLS, SecurityStartTLS:
	case SecurityNone:
		if !netutil.IsLoopback(host) {
			return bad("security %q sends the password in clear text: allowed only to a loopback address, not %s", c.Security, host)
		}
	default:
		return bad("security %q: want tls, starttls or none", c.Security)
	}
	if c.Username == "" {
		return bad("no username")
	}
	if c.Folder == "" {
		c.Folder = DefaultFolder
	}
	if c.DoneFolder == "" {
		c.DoneFolder = DefaultDoneFolder
	}
	if strings.EqualFold(c.Folder, c.DoneFolder) {
		return bad("the done folder must differ from the watched folder %q", c.Folder)
	}
	durations := []struct {
		p   *time.Duration
		def time.Duration
		n   string
	}{
		{&c.Poll, DefaultPoll, "poll"}, {&c.IdleRestart, DefaultIdleRestart, "idle restart"},
		{&c.CommandTimeout, DefaultCommandTimeout, "command timeout"},
		{&c.BackoffMin, DefaultBackoffMin, "backoff min"}, {&c.BackoffMax, DefaultBackoffMax, "backoff max"},
	}
	for _, d := range durations {
		if *d.p < 0 {
			return bad("%s %v is negative", d.n, *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if c.IdleRestart > MaxIdleRestart {
		return bad("idle restart %v: at most %v (servers drop idle clients after 30 min)", c.IdleRestart, MaxIdleRestart)
	}
	if c.BackoffMax < c.BackoffMin {
		return bad("backoff max %v is below backoff min %v", c.BackoffMax, c.BackoffMin)
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > MaxMessageSize {
		return bad("max message bytes %d: want 1024 to %d", c.MaxMessageBytes, MaxMessageSize)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.SeenLimit <= 0 {
		c.SeenLimit = DefaultSeenLimit
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Permanent == nil {
		c.Permanent = PermanentError
	}
	if c.Clock == nil {
		c.Clock = probe.SystemClock
	}
	if c.Security != SecurityNone {
		tc, err := c.tlsConfig(host)
		if err != nil {
			return c, err
		}
		c.TLS = tc
	}
	return c, nil
}

func (c Config) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{}
	if c.TLS != nil {
		tc = c.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	if c.CAFile != "" {
		pool, err := netutil.AppendCAFile(x509.NewCertPool(), c.CAFile) // instead of the system roots
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrConfig, err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
