package bot

import (
	"context"
	"errors"
	"net"
	"time"
)

// Delivery errors are classified by what the error says about itself, so
// channels need not import bot:
//
//   - an error (anywhere in its chain) made by Permanent, or one whose
//     Temporary method returns false (go-smtp's *smtp.SMTPError for a 5xx
//     reply), is permanent: retrying cannot help;
//   - an error with a RetryAfter() time.Duration method (or made by
//     RetryAfter) is temporary and is not retried before that delay (a
//     Slack 429);
//   - everything else is temporary: network errors and timeouts (a
//     net.Error is temporary whatever its deprecated Temporary method
//     says), SMTP 4xx, HTTP 5xx.

// PermanentError marks a delivery failure that retrying cannot fix: a
// rejected address, an unknown Slack channel, a message the server will
// never take.
type PermanentError struct{ Err error }

// Error returns the wrapped error's text.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Temporary returns false.
func (e *PermanentError) Temporary() bool { return false }

// Permanent wraps err as a permanent delivery failure (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// RetryAfterError is a temporary failure that names the earliest time to
// try again.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

// Error returns the wrapped error's text.
func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Temporary returns true.
func (e *RetryAfterError) Temporary() bool { return true }

// RetryAfter returns the delay.
func (e *RetryAfterError) RetryAfter() time.Duration { return e.After }

// RetryAfter wraps err as a temporary failure not to be retried before d
// (nil stays nil).
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryAfterError{Err: err, After: d}
}

// IsPermanent reports whether a delivery error is permanent (see above).
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *PermanentError
	if errors.As(err, &p) {
		return true
	}
	if _, ok := RetryAfterOf(err); ok {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return !t.Temporary()
	}
	return false
}

// RetryAfterOf returns the delay a delivery error asks for, if any.
func RetryAfterOf(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	return 0, false
}
