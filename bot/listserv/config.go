// Package listserv delivers oclcbot's notifications by email: the ALERT
// and SOLVED thread on the catalogers' mailing list (New) and the OIS
// incident report to the systems office on call (NewReport).
//
// Each Send opens one SMTP connection (plain, STARTTLS or implicit TLS),
// authenticates when configured, submits one message and quits. Every
// step is bounded by Config.Timeout and by the context. The message is
// built with go-message:
//
//   - Subject exactly as the templates rendered it ("OCLC EXPORT PROBLEM
//     ALERT [OIS-2026-0042]"), with control characters removed, runs of
//     white space made one space, and cut at 900 bytes;
//   - Message-ID incidents.MessageID(n.Key, Config.Domain), so a
//     notification sent twice (a crash between hand-over and record)
//     carries the same id and receivers can drop the copy;
//   - In-Reply-To and References naming the thread's opener
//     (n.ThreadKey) on everything but the opener itself;
//   - Auto-Submitted: auto-generated (RFC 3834), X-Auto-Response-Suppress:
//     All, X-Oclcbot-Key: n.Key; never any List-* header;
//   - Date from Config.Now in Config.Location, From and To from Config;
//   - a text/plain UTF-8 body, 7bit when it is short-lined ASCII and
//     quoted-printable otherwise, in which lines that look like a From:,
//     Sender: or Reply-To: header are neutralised (LISTSERV rejects a
//     post whose body has such lines naming the list);
//   - for the report channel only, the affected records as an .mrc
//     attachment (the raw bytes, application/marc) and as MARCXML.
//
// Errors say what the dispatcher should do (see bot.IsPermanent): an SMTP
// 4xx reply, a network error or a timeout is temporary; a 5xx reply, a
// certificate that does not verify, a server without STARTTLS or AUTH, or a
// message the server says is too large is permanent. No error or log line
// contains the password.
package listserv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/internal/netutil"
)

// Security modes of Config.Security.
const (
	SecurityStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587 or 25); the default
	SecurityTLS      = "tls"      // implicit TLS from the first byte (port 465)
	SecurityNone     = "none"     // no encryption: loopback only, unless AllowInsecure
)

// AUTH mechanisms of Config.Auth.
const (
	AuthPlain = "plain" // SASL PLAIN (RFC 4616); the default when Username is set
	AuthLogin = "login" // the LOGIN mechanism some Microsoft servers want
)

// DefaultTimeout bounds each SMTP step when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrConfig is wrapped by every configuration error of New and NewReport.
var ErrConfig = errors.New("listserv: invalid configuration")

// Config configures an email channel. The zero value of every optional
// field is its default.
type Config struct {
	// Addr is the SMTP server's host:port ("smtp.example.edu:587").
	// Required.
	Addr string
	// Security is SecurityStartTLS (default), SecurityTLS or
	// SecurityNone. "none" sends the password and the records in clear,
	// so New refuses it for a host that is not loopback (localhost,
	// 127.0.0.0/8, ::1) unless AllowInsecure is set.
	Security string
	// AllowInsecure permits Security "none" to a host that is not
	// loopback. Meant for a relay on a trusted segment; never set it for
	// a server across a network you do not control.
	AllowInsecure bool
	// Username, when not empty, makes the channel authenticate (AUTH)
	// with Password. A server that does not offer AUTH then fails every
	// send with a permanent error.
	Username string
	// Password is the AUTH password. It never appears in errors or logs:
	// error text from the server is scrubbed of it (and of its base64
	// forms) before it is returned.
	Password string
	// Auth is the SASL mechanism: AuthPlain (default) or AuthLogin.
	Auth string
	// From is the header From, an RFC 5322 address with an optional
	// display name ("oclcbot <oclcbot@library.example.edu>"). Required.
	From string
	// EnvelopeFrom is the SMTP MAIL FROM address, where bounces go
	// (default: From's address).
	EnvelopeFrom string
	// To are the recipients: the list address for the listserv, the
	// on-call address(es) for the report. Each is an RFC 5322 address;
	// at least one is required. If the server refuses any of them the
	// message is not sent to the others either (so a retry never
	// duplicates it).
	To []string
	// Domain is the right-hand side of Message-IDs
	// (<OIS-2026-0042/alert/1/listserv@Domain>); default: the domain of
	// From. The mailbox reader matches replies and list echoes by it.
	Domain string
	// HELO is the name given in EHLO/HELO (default: Domain). With
	// STARTTLS, go-smtp v0.25 says "localhost" in the EHLO before the TLS
	// handshake; HELO is used in the EHLO after it, the one servers check.
	HELO string
	// Timeout bounds each step: connecting, the TLS handshake, each
	// command's reply, each write of the message, and the reply after
	// the message (default DefaultTimeout). The context bounds the whole
	// send (the dispatcher gives each Send one minute by default).
	Timeout time.Duration
	// TLS is the base TLS configuration (default: a zero tls.Config, TLS
	// 1.2 at least, verifying against the system roots). It is cloned;
	// ServerName and RootCAs are filled in from ServerName and CAFile.
	TLS *tls.Config
	// CAFile is a PEM file of certificate authorities trusted in
	// addition to the system's (a local server with its own certificate).
	CAFile string
	// ServerName is the name the server's certificate must carry
	// (default: the host of Addr).
	ServerName string
	// Location is the time zone of the Date header (default time.Local).
	Location *time.Location
	// Now is the clock for the Date header (default time.Now).
	Now func() time.Time
	// DialContext opens the TCP connection (default: a net.Dialer). Set
	// it to go through a proxy.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives one debug line per message sent (default: discard).
	Logger *slog.Logger
}

// settings is a validated Config.
type settings struct {
	Config
	host     string
	from     *mail.Address
	envFrom  string
	to       []*mail.Address
	rcpts    []string
	tls      *tls.Config
	secrets  []string // what redact removes from error text
	loopback bool
}

// compile checks cfg and fills in its defaults. Its errors name the field
// and never include the password.
func compile(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, bad("addr %q: want host:port (smtp.example.edu:587)", cfg.Addr)
	}
	s.host = host
	s.loopback = netutil.IsLoopback(host)
	switch s.Security {
	case "":
		s.Security = SecurityStartTLS
	case SecurityStartTLS, SecurityTLS:
	case SecurityNone:
		if !s.loopback && !cfg.AllowInsecure {
			return nil, bad(`security "none" to %s sends the password and the records in clear: only for a server on loopback (or set AllowInsecure)`, host)
		}
	default:
		return nil, bad("security %q: want starttls, tls or none", cfg.Security)
	}
	switch s.Auth {
	case "":
		s.Auth = AuthPlain
	case AuthPlain, AuthLogin:
	default:
		return nil, bad("auth %q: want plain or login", cfg.Auth)
	}
	if cfg.Username != "" && cfg.Password == "" {
		return nil, bad("password missing: username %q is set", cfg.Username)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, bad("password set without a username")
	}
	if strings.ContainsAny(cfg.Username, "\x00\r\n") {
		return nil, bad("username contains a control character")
	}
	if s.from, err = parseAddress(cfg.From); err != nil {
		return nil, bad("from %q: %v (want \"oclcbot <oclcbot@library.example.edu>\")", cfg.From, err)
	}
	s.envFrom = s.from.Address
	if cfg.EnvelopeFrom != "" {
		a, err := parseAddress(cfg.EnvelopeFrom)
		if err != nil {
			return nil, bad("envelope from %q: %v", cfg.EnvelopeFrom, err)
		}
		s.envFrom = a.Address
	}
	if len(cfg.To) == 0 {
		return nil, bad("no recipient (to)")
	}
	for _, t := range cfg.To {
		a, err := parseAddress(t)
		if err != nil {
			return nil, bad("to %q: %v", t, err)
		}
		s.to = append(s.to, a)
		s.rcpts = append(s.rcpts, a.Address)
	}
	if s.Domain == "" {
		s.Domain = s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	}
	if !validDomain(s.Domain) {
		return nil, bad("domain %q: want a host name such as oclcbot.library.example.edu", s.Domain)
	}
	if s.HELO == "" {
		s.HELO = s.Domain
	}
	if !validDomain(s.HELO) {
		return nil, bad("helo %q: want a host name", s.HELO)
	}
	if s.Timeout < 0 {
		return nil, bad("timeout %v is negative", s.Timeout)
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Location == nil {
		s.Location = time.Local
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.DialContext == nil {
		d := &net.Dialer{}
		s.DialContext = d.DialContext
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.tls, err = tlsConfig(cfg, host); err != nil {
		return nil, bad("%v", err)
	}
	s.secrets = secretForms(cfg.Username, cfg.Password)
	return s, nil
}

// tlsConfig builds the TLS configuration: cfg.TLS cloned, the server
// name, and the CA file's roots added to the system's.
func tlsConfig(cfg Config, host string) (*tls.Config, error) {
	var t *tls.Config
	if cfg.TLS != nil {
		t = cfg.TLS.Clone()
	} else {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName != "" {
		t.ServerName = cfg.ServerName
	}
	if t.ServerName == "" {
		t.ServerName = host
	}
	if cfg.CAFile != "" {
		pool, err := netutil.AppendCAFile(t.RootCAs, cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// parseAddress parses one RFC 5322 address and refuses what cannot go in
// an SMTP command or a header.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, errors.New("contains a line break or NUL")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return nil, errors.New("no domain")
	}
	if strings.ContainsAny(a.Address, "<> \t") {
		return nil, errors.New("not a plain address")
	}
	return a, nil
}

// validDomain reports whether d is a host name usable in a Message-ID and
// in EHLO: dot-separated labels of letters, digits and hyphens.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
