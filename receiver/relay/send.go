package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
)

// outcome is what one delivery attempt established.
type outcome int

const (
	imported   outcome = iota + 1 // the upstream took it
	failed                        // definitely not taken: safe to resend
	uncertain                     // may or may not be taken: never resent automatically
	unsendable                    // cannot be put on the wire (a bug): resending is pointless
	abandoned                     // our side gave up before the request was sent: nothing happened
)

// attempt is the judged result of one exchange with the upstream.
type attempt struct {
	outcome  outcome
	cause    string // exportlog.Cause* when not imported
	err      string // for the queue's last_error and Result.Detail; never a secret
	reply    string // the upstream's reply (possibly partial), secrets scrubbed
	sysno    string // the upstream's record number, when its reply names it
	elapsed  time.Duration
	complete bool // reply ended by its NUL
	// refusal: a failed attempt whose reply says the ILS refused the
	// record itself (Rule.Refusal); never set for any other outcome.
	refusal bool
}

// promptClose bounds how soon after the relay starts sending a listener
// that closes the connection without a byte of reply is taken to have
// refused the record (or died) before doing anything with it, so that it
// is sent again. One that held the record longer was working on it:
// FOLIO's edge-connexion closes a connection idle for 30 seconds while
// its call to mod-copycat, which may still store the record, goes on;
// Koha's daemon and Evergreen's importer close without a reply only
// when they die, perhaps after their ILS stored the record. The limit is
// ReplyTimeout when that is shorter.
const promptClose = 2 * time.Second

// send forwards one record on its own connection. Elapsed time is read
// from Config.Now, so tests can stand for a listener's long timeouts.
func (r *Relay) send(ctx context.Context, c *gateway.Client, rec []byte, f forward) attempt {
	start := r.now()
	reply, err := c.Do(ctx, &gateway.Request{User: f.user, LocalUser: f.localUser, Password: f.password, Records: [][]byte{rec}})
	elapsed := r.now().Sub(start)
	a := r.judge(reply, err, f, elapsed)
	a.elapsed = elapsed
	return a
}

// judge turns an exchange's result, which took elapsed, into an
// attempt. See the package comment for why each case is resent or not.
func (r *Relay) judge(reply string, err error, f forward, elapsed time.Duration) attempt {
	if err == nil {
		a := r.classify(scrub(reply, f), elapsed)
		a.complete = true
		return a
	}
	if errors.Is(err, gateway.ErrUnencodable) {
		return attempt{outcome: unsendable, cause: exportlog.CauseInternal, err: err.Error()}
	}
	var ce *gateway.ClientError
	if !errors.As(err, &ce) {
		return attempt{outcome: uncertain, cause: exportlog.CauseUpstreamError, err: err.Error()}
	}
	msg := scrub(ce.Error(), f)
	partial := scrub(ce.Reply, f)
	timeout := errors.Is(ce, gateway.ErrTimeout)
	switch {
	case errors.Is(ce, gateway.ErrDial):
		cause := exportlog.CauseUpstreamDown
		if timeout {
			msg = fmt.Sprintf("no connection within %v: %s", r.cfg.ConnectTimeout, msg)
		}
		return attempt{outcome: failed, cause: cause, err: msg}
	case !ce.Sent && errors.Is(ce, context.Canceled):
		return attempt{outcome: abandoned, cause: exportlog.CauseUpstreamDown, err: msg, reply: partial}
	case !ce.Sent && partial == "":
		cause := exportlog.CauseUpstreamDown
		if timeout {
			cause = exportlog.CauseUpstreamTimeout
		}
		return attempt{outcome: failed, cause: cause, err: "the request was not sent completely: " + msg}
	case strings.TrimSpace(partial) != "" && !errors.Is(ce, gateway.ErrTooLarge):
		// A reply that stopped short of its NUL still says what the
		// upstream did (FOLIO once closed right after "Import ok\n").
		a := r.classify(partial, elapsed)
		if a.outcome != imported {
			a.err = fmt.Sprintf("%s (%s)", a.err, msg)
		}
		return a
	case errors.Is(ce, gateway.ErrConnClosed) && !timeout:
		if r.patterns.AcceptEmpty {
			return attempt{outcome: imported}
		}
		if held := min(promptClose, r.cfg.ReplyTimeout); elapsed >= held {
			return attempt{outcome: uncertain, cause: exportlog.CauseUpstreamError,
				err: fmt.Sprintf("the upstream closed the connection without replying, %v after the relay began sending the record; it may have imported it: %s", elapsed.Round(time.Millisecond), msg)}
		}
		return attempt{outcome: failed, cause: exportlog.CauseUpstreamDown, err: "the upstream closed the connection without replying: " + msg}
	case errors.Is(ce, gateway.ErrTooLarge):
		return attempt{outcome: uncertain, cause: exportlog.CauseUpstreamError, err: msg, reply: partial}
	default: // a timeout, or our side cancelled, after the whole request was sent
		return attempt{outcome: uncertain, cause: exportlog.CauseUpstreamTimeout,
			err: "no reply after the whole record was sent; the upstream may have imported it: " + msg, reply: partial}
	}
}

// classify judges a reply text that came elapsed after the relay
// started sending.
func (r *Relay) classify(reply string, elapsed time.Duration) attempt {
	c := r.patterns.ClassifyAfter(reply, elapsed)
	a := attempt{reply: reply, sysno: c.SystemNumber}
	switch c.Verdict {
	case VerdictImported:
		a.outcome = imported
	case VerdictFailed:
		a.outcome = failed
		a.cause = exportlog.CauseUpstreamError
		a.refusal = c.Refusal
		switch {
		case c.Rule == "empty" && r.cfg.Listener == ListenerEvergreen:
			// The record went alone: Vandelay found nothing in it that
			// it could import.
			a.refusal = true
			a.err = "the upstream sent an empty reply: it imported nothing from the record"
		case c.Rule == "empty":
			a.err = "the upstream sent an empty reply"
		case c.Refusal:
			a.err = fmt.Sprintf("the upstream refused the record (rule %s): %s", c.Rule, firstLine(reply))
		default:
			a.err = fmt.Sprintf("the upstream answered with an error (rule %s): %s", c.Rule, firstLine(reply))
		}
	case VerdictUncertain:
		a.outcome = uncertain
		a.cause = exportlog.CauseUpstreamError
		a.err = fmt.Sprintf("the upstream answered with an error that does not prove the record was not stored (rule %s): %s", c.Rule, firstLine(reply))
	default:
		a.outcome = uncertain
		a.cause = exportlog.CauseUpstreamError
		a.err = "the upstream's reply matches no success or failure pattern, so it may or may not have imported the record: " + firstLine(reply)
	}
	return a
}

// firstLine returns the first non-blank line of s, at most 200 bytes.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// clipReply is an upstream reply for the logs: trimmed, quoted, at most
// 500 bytes of it (an error reply's second line may say what was wrong).
func clipReply(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// scrub replaces the secrets of f, should an upstream echo them, by
// asterisks. Secrets shorter than 4 bytes are left: replacing every "a"
// would garble the reply and protect nothing.
func scrub(s string, f forward) string {
	for _, secret := range [...]string{f.password, secretPart(f.localUser)} {
		if len(secret) >= 4 && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, strings.Repeat("*", len(secret)))
		}
	}
	return s
}

// secretPart returns what follows the first space of an A value.
func secretPart(a string) string {
	_, p, _ := strings.Cut(a, " ")
	return p
}
