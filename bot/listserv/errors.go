package listserv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"strings"

	"github.com/emersion/go-smtp"
)

// Errors a send can wrap, for callers that decide by cause.
var (
	// ErrNoStartTLS: Security is "starttls" and the server does not offer
	// it (or someone between strips it). Permanent.
	ErrNoStartTLS = errors.New("the server does not offer STARTTLS")
	// ErrNoAuth: a Username is configured and the server does not offer
	// AUTH with the configured mechanism. Permanent.
	ErrNoAuth = errors.New("the server does not offer the configured AUTH mechanism")
	// ErrTooLarge: the message is larger than the server's SIZE limit.
	// Permanent.
	ErrTooLarge = errors.New("the message is larger than the server accepts")
	// ErrBadKey: the notification's key cannot make a Message-ID (it has
	// characters a dot-atom may not). Permanent: a bug upstream.
	ErrBadKey = errors.New("notification key cannot form a Message-ID")
)

// Error is a failed send. Permanent reports what the dispatcher should
// do; Temporary (its negation) is the method bot.IsPermanent reads.
type Error struct {
	// Step is where it failed: "connect", "tls", "hello", "starttls",
	// "auth", "mail", "rcpt", "data" or "message".
	Step string
	// Code is the SMTP reply code, 0 when the server gave none.
	Code int
	// Permanent is true when retrying cannot help.
	Permanent bool
	// Err is the cause, with the password scrubbed from server text.
	Err error
}

// Error returns "smtp STEP: CAUSE".
func (e *Error) Error() string { return "smtp " + e.Step + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later attempt may succeed.
func (e *Error) Temporary() bool { return !e.Permanent }

// classify says whether err, met at step, is permanent, and the SMTP code
// it carries:
//   - an SMTP 5xx reply is permanent, except 552 to RCPT, which RFC 5321
//     (4.5.3.1.10) says to treat as 452 (too many recipients);
//   - an SMTP 4xx reply, and a reply with any other code (a server that
//     does not follow the protocol), is temporary;
//   - a certificate that does not verify, ErrNoStartTLS, ErrNoAuth,
//     ErrTooLarge and ErrBadKey are permanent: they need a person;
//   - everything else (network errors, timeouts, a closed connection) is
//     temporary.
func classify(step string, err error) (code int, permanent bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		code = se.Code
		switch {
		case code == 552 && step == "rcpt":
			return code, false
		case code >= 500 && code <= 599:
			return code, true
		}
		return code, false
	}
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci),
		errors.Is(err, ErrNoStartTLS), errors.Is(err, ErrNoAuth), errors.Is(err, ErrTooLarge), errors.Is(err, ErrBadKey):
		return 0, true
	}
	return 0, false
}

// newError wraps err met at step, scrubbing secrets from the text the
// server sent.
func (s *settings) newError(step string, err error) *Error {
	code, perm := classify(step, err)
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		cp := *se
		cp.Message = redact(se.Message, s.secrets)
		if cp.Message != se.Message {
			err = &cp // the original text held a secret: drop it from the chain
		}
	} else if t := err.Error(); redact(t, s.secrets) != t {
		err = errors.New(redact(t, s.secrets))
	}
	if perm {
		// bot.IsPermanent treats any net.Error in the chain as
		// temporary: keep only the text of a permanent network-level
		// failure (a certificate that does not verify).
		var ne net.Error
		if errors.As(err, &ne) {
			err = errors.New(err.Error())
		}
	}
	return &Error{Step: step, Code: code, Permanent: perm, Err: err}
}

// secretForms returns the password as it could appear in a server's
// reply: itself and the base64 forms AUTH PLAIN and LOGIN send.
func secretForms(user, pass string) []string {
	if pass == "" {
		return nil
	}
	enc := base64.StdEncoding.EncodeToString
	return []string{
		enc([]byte("\x00" + user + "\x00" + pass)),
		enc([]byte(user + "\x00" + user + "\x00" + pass)),
		enc([]byte(pass)),
		pass,
	}
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			s = strings.ReplaceAll(s, x, "<redacted>")
		}
	}
	return s
}
