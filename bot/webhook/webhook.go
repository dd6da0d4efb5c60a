// Package webhook delivers oclcbot's notifications (usually the OIS
// incident report) as signed JSON POSTs to a URL: a ticketing system, an
// incident tool, a chat relay.
//
// # Request
//
// Each notification is one POST of Content-Type application/json whose
// body is a Payload. The headers are:
//
//	X-Oclcbot-Timestamp: 1772461800            (Unix seconds, when signed)
//	X-Oclcbot-Signature: sha256=<hex>          (see below)
//	X-Oclcbot-Event:     escalation            (the notification kind)
//	Idempotency-Key:     OIS-2026-0042/escalation/3/ticket
//
// plus Config.Headers. A notification delivered twice (after a timeout,
// or a crash between the POST and its record) carries the same
// Idempotency-Key and the same body: receivers should drop the copy.
//
// # Signature
//
// The signature is HMAC-SHA256, keyed with Config.Secret, over the
// timestamp header's value, a ".", and the body exactly as received:
//
//	hex(HMAC_SHA256(secret, timestamp + "." + body))
//
// Receivers recompute it (Verify does), compare in constant time, and
// refuse a timestamp far from their clock (a replay).
//
// # Answers
//
// A 2xx answer is success. 429, 408, 425 and 5xx are temporary: retried
// by the dispatcher with backoff, not before the Retry-After the answer
// asks for (capped by Config.MaxRetryAfter). Any other answer (3xx:
// redirects are not followed; 4xx) is permanent. Network errors and
// timeouts are temporary; a certificate that does not verify is permanent.
// Neither the secret nor Config.Headers values nor the URL's path and
// query (which may hold a token) appear in errors.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/internal/netutil"
)

// Request headers.
const (
	HeaderTimestamp = "X-Oclcbot-Timestamp"
	HeaderSignature = "X-Oclcbot-Signature"
	HeaderEvent     = "X-Oclcbot-Event"
	HeaderKey       = "Idempotency-Key"
)

// Defaults of Config.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMaxRetryAfter = time.Hour
	// MinSecretLen is the shortest Secret New accepts.
	MinSecretLen = 16
)

// ErrConfig is wrapped by every configuration error of New.
var ErrConfig = errors.New("webhook: invalid configuration")

// Config configures a webhook channel.
type Config struct {
	// URL receives the POSTs. Required; https, or http to a loopback
	// host (localhost, 127.0.0.0/8, ::1) unless AllowInsecure.
	URL string
	// Secret keys the HMAC-SHA256 signature; at least MinSecretLen
	// bytes. Required. Never logged or shown in errors.
	Secret string
	// AllowInsecure permits plain http to a host that is not loopback.
	AllowInsecure bool
	// Headers are added to every request (an Authorization token the
	// receiver wants, for one). Their values are treated as secrets.
	Headers map[string]string
	// Timeout bounds one request, answer included (default
	// DefaultTimeout). The context bounds it too.
	Timeout time.Duration
	// MaxRetryAfter caps the delay a Retry-After answer can ask for
	// (default DefaultMaxRetryAfter), so that a receiver cannot stall the
	// channel for days.
	MaxRetryAfter time.Duration
	// TLS is the base TLS configuration (default: TLS 1.2 at least,
	// system roots); CAFile adds a PEM file of trusted authorities.
	TLS    *tls.Config
	CAFile string
	// Client sends the requests (default: one built from TLS, CAFile and
	// Timeout, with the environment's proxy settings). Redirects are
	// never followed, whichever client is used.
	Client *http.Client
	// Now is the clock of the timestamp header (default time.Now).
	Now func() time.Time
}

// Payload is the JSON body of each POST. Its field names are a stable
// interface.
type Payload struct {
	Key       string         `json:"key"`        // idempotency key, as in the Idempotency-Key header
	Channel   string         `json:"channel"`    // the channel's name
	Kind      incidents.Kind `json:"kind"`       // alert, escalation, update, ack, solved, ...
	Incident  string         `json:"incident"`   // "OIS-2026-0042", "" for admin notices about no incident
	ThreadKey string         `json:"thread_key"` // key of the incident's first notification on the channel: group by it
	Subject   string         `json:"subject"`    // rendered subject (report.subject), "" for families without one
	Body      string         `json:"body"`       // rendered text
	// Notice is the notification's data (incidents.Notice as JSON): the
	// incident summary, records (with raw ISO 2709 bytes in base64 when
	// the channel has attachments), the full report for report channels.
	Notice json.RawMessage `json:"notice,omitempty"`
}

// Channel posts notifications to a webhook. It implements bot.Channel
// and is safe for concurrent use.
type Channel struct {
	cfg     Config
	url     string
	shown   string // scheme://host, for errors
	client  *http.Client
	secrets []string
}

// New checks cfg and returns the channel. Its errors wrap ErrConfig and
// never show the secret, the headers' values or the URL's path and query.
func New(cfg Config) (*Channel, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, bad("url: want an http(s) URL")
	}
	shown := u.Scheme + "://" + u.Host
	if u.Scheme == "http" && !cfg.AllowInsecure && !netutil.IsLoopback(u.Hostname()) {
		return nil, bad("url %s: plain http only to loopback (the report carries records and its signature), or set AllowInsecure", shown)
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, bad("secret: want at least %d bytes", MinSecretLen)
	}
	secrets := []string{cfg.Secret}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
	}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
	}
	if len(u.Path) > 1 {
		secrets = append(secrets, u.EscapedPath())
	}
	for k, v := range cfg.Headers {
		if http.CanonicalHeaderKey(k) == HeaderSignature || http.CanonicalHeaderKey(k) == HeaderTimestamp ||
			http.CanonicalHeaderKey(k) == HeaderKey || http.CanonicalHeaderKey(k) == "Content-Type" {
			return nil, bad("header %s is set by oclcbot", k)
		}
		if !validHeader(k, v) {
			return nil, bad("header %q: not a valid header name or value", k)
		}
		if v != "" {
			secrets = append(secrets, v)
		}
	}
	if cfg.Timeout < 0 || cfg.MaxRetryAfter < 0 {
		return nil, bad("timeout and max retry-after must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var client http.Client
	if cfg.Client != nil {
		client = *cfg.Client
	} else {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, bad("%v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		client.Transport = tr
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Channel{cfg: cfg, url: cfg.URL, shown: shown, client: &client, secrets: secrets}, nil
}

// Send POSTs n once and returns nil on a 2xx answer. Errors are *Error
// values (see the package doc for what is temporary).
func (c *Channel) Send(ctx context.Context, n *incidents.Notification) error {
	p := Payload{Key: n.Key, Channel: n.Channel, Kind: n.Kind, Incident: n.Incident, ThreadKey: n.ThreadKey,
		Subject: n.Subject, Body: n.Body}
	if json.Valid(n.Payload) {
		p.Notice = n.Payload
	}
	body, err := json.Marshal(p)
	if err != nil {
		return &Error{Permanent: true, Err: fmt.Errorf("encode payload: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Permanent: true, Err: fmt.Errorf("post to %s: %s", c.shown, c.redact(err.Error()))}
	}
	ts := strconv.FormatInt(c.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "oclcbot")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(c.cfg.Secret), ts, body))
	req.Header.Set(HeaderEvent, string(n.Kind))
	req.Header.Set(HeaderKey, n.Key)
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := &Error{Status: resp.StatusCode, Err: fmt.Errorf("post to %s: %s%s", c.shown, resp.Status, c.describe(snippet))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode == http.StatusTooEarly, resp.StatusCode >= 500:
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()); ok {
			e.Delay = min(d, c.cfg.MaxRetryAfter)
		}
	default:
		e.Permanent = true
	}
	return e
}

// transportError classifies a failed round trip: a certificate that does
// not verify is permanent, everything else (refused, reset, timeout)
// temporary. The text drops the URL, which may hold a token.
func (c *Channel) transportError(err error) error {
	var ue *url.Error
	inner := err
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	text := fmt.Sprintf("post to %s: %s", c.shown, c.redact(inner.Error()))
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return &Error{Permanent: true, Err: errors.New(text)}
	}
	return &Error{Err: &scrubbed{text: text, err: inner}}
}

// scrubbed is an error whose text was scrubbed of secrets but whose
// chain still holds the cause, for errors.Is and errors.As (context
// errors, net.Error).
type scrubbed struct {
	text string
	err  error
}

func (s *scrubbed) Error() string { return s.text }
func (s *scrubbed) Unwrap() error { return s.err }

// describe turns the start of an answer's body into a short, printable,
// scrubbed suffix for an error.
func (c *Channel) describe(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), " "))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + c.redact(s)
}

func (c *Channel) redact(s string) string {
	for _, x := range c.secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "<redacted>")
		}
	}
	return s
}

// Error is a failed POST.
type Error struct {
	// Status is the HTTP status of the answer, 0 when there was none.
	Status int
	// Delay is how long the answer asked to wait (Retry-After), 0 when
	// it did not say.
	Delay time.Duration
	// Permanent is true when retrying cannot help.
	Permanent bool
	// Err is the cause, its text scrubbed of secrets.
	Err error
}

// Error returns the cause's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later attempt may succeed.
func (e *Error) Temporary() bool { return !e.Permanent }

// RetryAfter returns the delay the receiver asked for (0: none).
func (e *Error) RetryAfter() time.Duration { return e.Delay }

// Sign returns the X-Oclcbot-Signature value for body sent with the
// timestamp header ts: "sha256=" and the hex HMAC-SHA256 of ts "." body.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature missing or wrong")
	ErrStale        = errors.New("webhook: timestamp too far from now")
)

// Verify checks a received request's signature, for receivers: h holds
// the request's headers, body its bytes exactly as received. A timestamp
// more than tolerance away from now is refused (ErrStale), so a captured
// request cannot be replayed later.
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	var t *tls.Config
	if cfg.TLS != nil {
		t = cfg.TLS.Clone()
	} else {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.CAFile == "" {
		return t, nil
	}
	pool, err := netutil.AppendCAFile(t.RootCAs, cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	t.RootCAs = pool
	return t, nil
}

func validHeader(k, v string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return !strings.ContainsAny(v, "\r\n\x00")
}
