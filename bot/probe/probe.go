// Package probe checks the export path actively, the way a cataloger's
// Connexion client would use it, instead of waiting for a cataloger to
// find it broken: it connects to the public Connexion listener, talks to
// the relay upstream, sends a canary export through the whole path, and
// checks that every imported record becomes findable in the catalog.
//
// A probe is a plain function (Func) that checks one thing once, within
// the deadline of its context, and returns a Result. A Scheduler runs each
// probe at its own interval with its own timeout, turns every Result into
// a bot.Observation for the detectors, and keeps a short history of each
// probe (recent results, recent failures kept visible) for the status
// page and the CLI.
//
// Probes never put a secret in a Result: the canary password is removed
// from every message before it leaves this package.
package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Func is a probe: it checks one thing once and reports how it went. It
// must return promptly once ctx is done (the Scheduler gives every run a
// deadline) and must not keep ctx or anything derived from it after it
// returns. A Func may be called from several goroutines, never
// concurrently with itself by one Scheduler.
type Func func(ctx context.Context) Result

// Result is the outcome of one probe run.
type Result struct {
	// OK reports whether the check passed.
	OK bool
	// Cause is a short, stable word saying why a check failed (one of the
	// Cause constants, or a word the checked component supplied); "" when
	// OK.
	Cause string
	// Message is the verbatim text worth capturing: the error the dial
	// returned, the reply the canary export got, the system numbers the
	// catalog cannot find. Never a secret.
	Message string
	// Latency is how long the check took (connect time, round trip).
	// Zero means not measured: the Scheduler then records the run's
	// duration.
	Latency time.Duration
	// Target, when not empty, is the detector target this result counts
	// toward instead of the Probe's: a probe that crosses several parts
	// of the path (the canary) blames the part that failed, so that one
	// outage feeds one detector.
	Target string
}

// Pass returns a successful Result with msg.
func Pass(msg string) Result { return Result{OK: true, Message: msg} }

// Fail returns a failed Result with cause and msg. An empty cause becomes
// CauseError.
func Fail(cause, msg string) Result {
	if cause == "" {
		cause = CauseError
	}
	return Result{Cause: cause, Message: msg}
}

// FromError returns the failed Result for err: Cause from Classify, Message
// err's text. FromError(nil) is Pass("").
func FromError(err error) Result {
	if err == nil {
		return Pass("")
	}
	return Fail(Classify(err), err.Error())
}

// Probe names, as they appear in bot.Observation.Probe and in History.
const (
	NameListenerTCP       = "listener-tcp"       // TCP connect to the public Connexion listener
	NameListenerHTTP      = "listener-http"      // HTTP GET health check on the listener's port
	NameUpstreamTCP       = "upstream-tcp"       // TCP connect to the relay upstream
	NameUpstreamRoundTrip = "upstream-roundtrip" // Gateway round trip to the relay upstream
	NameCanary            = "canary"             // canary export through the public listener
	NameIndex             = "index"              // imported records findable by title
)

// Detector targets the probes report on (bot.Observation.Target). Upstream
// targets are "upstream:HOST:PORT", named by the relay (see UpstreamTarget).
const (
	TargetListener = "listener"
	TargetIndex    = "index"
)

// UpstreamTarget returns the detector target of the relay upstream at addr
// (host:port): "upstream:" + addr, the name the relay sink uses.
func UpstreamTarget(addr string) string { return "upstream:" + addr }

// Cause words of failed probe results.
const (
	CauseRefused      = "refused"       // the peer refused the TCP connection (nothing listens)
	CauseTimeout      = "timeout"       // no connection or no answer before the deadline
	CauseUnreachable  = "unreachable"   // no route to the host or network
	CauseDNS          = "dns"           // the host name did not resolve
	CauseClosed       = "closed"        // the peer closed or reset the connection before answering
	CauseBadReply     = "bad-reply"     // an answer came, but not the expected one
	CauseIndexStalled = "index-stalled" // imported records not findable within the set time
	CauseSearch       = "search-error"  // the catalog search itself failed
	CauseInternal     = "internal"      // the probe panicked: a bug, logged with its stack
	CauseError        = "error"         // any other failure
)

// Classify returns the cause word for err. An error in err's chain that
// has a method Cause() string supplies its own word (a relay can say
// "upstream-error"); otherwise network conditions are recognised
// (refused, timeout, unreachable, dns, closed; an error with a method
// Timeout() bool reporting true is a timeout) and anything else is
// CauseError. Classify(nil) is "".
func Classify(err error) string {
	if err == nil {
		return ""
	}
	var c interface{ Cause() string }
	if errors.As(err, &c) {
		if w := c.Cause(); w != "" {
			return w
		}
	}
	var dns *net.DNSError
	var t interface{ Timeout() bool }
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &t) && t.Timeout():
		return CauseTimeout
	case errors.As(err, &dns):
		if dns.IsTimeout {
			return CauseTimeout
		}
		return CauseDNS
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CauseUnreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return CauseClosed
	}
	return CauseError
}
