package receiver

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/templates"
)

// Reply template blocks (templates/default/reply.tmpl). Rejections use
// "reply.rejected." followed by the cause (exportlog.Cause*) when such a
// block exists, else "reply.rejected".
const (
	ReplyAdded      = "reply.added"       // stored as a new catalog record
	ReplyMerged     = "reply.merged"      // overlaid a catalog record (OCLC match or targeting 035)
	ReplyDuplicate  = "reply.duplicate"   // repeated export; ReplyData.Policy says what was done
	ReplyRelayed    = "reply.relayed"     // the upstream ILS accepted it (when its own reply is not passed on)
	ReplyQueued     = "reply.queued"      // kept for delivery to the upstream ILS later
	ReplyCanary     = "reply.canary"      // the probe's export
	ReplyRejected   = "reply.rejected"    // refused, nothing changed; "reply.rejected.CAUSE" when defined
	ReplyFailed     = "reply.failed"      // a system failure; ReplyData.Uncertain when it may have been saved
	ReplyAuth       = "reply.auth"        // wrong Login ID or password
	ReplyRateLimit  = "reply.ratelimited" // too many failed logins from the address
	ReplyEmpty      = "reply.empty"       // a request without records
	ReplyProtocol   = "reply.protocol"    // gateway: not a Connexion request
	ReplyTooLarge   = "reply.toolarge"    // gateway: over the size or record limit
	ReplyBusy       = "reply.busy"        // gateway: too many connections
	ReplyTimeout    = "reply.timeout"     // gateway: the request did not arrive in time
	ReplyIncomplete = "reply.incomplete"  // gateway: the request ended inside a record
)

// requiredReplies are the blocks New insists on.
var requiredReplies = []string{
	ReplyAdded, ReplyMerged, ReplyDuplicate, ReplyRelayed, ReplyQueued, ReplyCanary,
	ReplyRejected, ReplyRejected + "." + exportlog.CauseInvalidRecord, ReplyRejected + "." + exportlog.CauseCharset,
	ReplyRejected + "." + exportlog.CauseRule, ReplyRejected + "." + exportlog.CauseTargetNotFound,
	ReplyRejected + "." + exportlog.CauseTargetNotOurs, ReplyRejected + "." + exportlog.CauseAmbiguousMatch,
	ReplyRejected + "." + exportlog.CauseDuplicate,
	ReplyFailed, ReplyAuth, ReplyRateLimit, ReplyEmpty, ReplyProtocol, ReplyTooLarge, ReplyBusy, ReplyTimeout, ReplyIncomplete,
}

// ReplyData is what every reply.* template block is rendered with. Fields
// that do not apply are zero.
type ReplyData struct {
	Number int // the record's position in the export, from 1 (0 for replies about the whole export)
	Count  int // records in the export

	Outcome string // exportlog.Outcome
	Cause   string // exportlog.Cause* for failures

	SystemNumber string   // local record stored, overlaid or targeted
	OCLCNumber   string   // normalised OCLC number
	Title        string   // 245, for people
	Sharing      []string // other catalog records with the same OCLC number

	Target       string // system number the record's targeting 035 named
	TargetPrefix string // the configured targeting prefix, e.g. "(HVD01)"

	PreviousSystemNumber string    // for a repeated export: where the earlier one went
	PreviousTime         time.Time // for a repeated export: when the earlier one arrived (zero if unknown)
	Policy               string    // for a repeated export: "skip", "overlay" or "mark-deleted"

	Problem   string        // what is wrong, in plain words, for refusals and failures
	Uncertain bool          // a failure after the record may have been saved
	Wait      time.Duration // for reply.ratelimited: how long to wait
	Limit     string        // for reply.toolarge: the limit, e.g. "10485760 bytes" or "100 records"
}

// TemplateSamples returns sample data for templates.Set.Check covering
// every reply.* block (the key "reply." is the prefix they share, with
// richer samples for the blocks that use more fields).
func TemplateSamples() map[string]any {
	base := ReplyData{
		Number: 2, Count: 3, Outcome: string(exportlog.OutcomeAdded),
		SystemNumber: "000123457", OCLCNumber: "1234567", Title: "Les misérables",
		Sharing: []string{"000098765"}, Target: "000123456", TargetPrefix: "(HVD01)",
		PreviousSystemNumber: "000123450", PreviousTime: time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC),
		Policy: string(DuplicateSkip), Problem: "the record's 049 is \"XYZA\"", Wait: 42 * time.Second,
		Limit: "100 records",
	}
	uncertain := base
	uncertain.Outcome, uncertain.Cause, uncertain.Uncertain = string(exportlog.OutcomeFailed), exportlog.CauseInternal, true
	marked := base
	marked.Outcome, marked.Policy = string(exportlog.OutcomeDuplicate), string(DuplicateMarkDeleted)
	return map[string]any{
		"reply.":          base,
		ReplyFailed:       uncertain,
		ReplyDuplicate:    marked,
		ReplyMerged:       base,
		ReplyRejected:     base,
		ReplyRateLimit:    base,
		"reply.rejected.": base,
	}
}

// replies renders reply blocks.
type replies struct {
	t      *templates.Set
	prefix string
}

// checkReplies verifies that every required block exists and renders
// with sample data, with each duplicate policy and both kinds of failure.
func checkReplies(t *templates.Set) error {
	var errs []error
	for _, name := range requiredReplies {
		if !t.Has(name) {
			errs = append(errs, fmt.Errorf("template block %q is missing", name))
		}
	}
	samples := TemplateSamples()
	for _, name := range requiredReplies {
		if !t.Has(name) {
			continue
		}
		d := samples["reply."].(ReplyData)
		variants := []ReplyData{d}
		for _, p := range []DuplicatePolicy{DuplicateSkip, DuplicateOverlay, DuplicateMarkDeleted} {
			v := d
			v.Policy = string(p)
			variants = append(variants, v)
		}
		v := d
		v.Uncertain = true
		variants = append(variants, v, ReplyData{Number: 1, Count: 1})
		for _, v := range variants {
			if _, err := t.Render(name, v); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// render renders block with d as one line: line breaks and runs of blanks
// become single spaces.
func (r *replies) render(block string, d ReplyData) (string, error) {
	d.TargetPrefix = r.prefix
	s, err := r.t.Render(block, d)
	if err != nil {
		return "", err
	}
	return oneLine(s), nil
}

// oneLine folds s into one line: it drops leading and trailing white
// space and turns each run of white space inside into one space, white
// space being what strings.Fields splits at (unicode.IsSpace). It equals
// strings.Join(strings.Fields(s), " ") in one allocation (none when s is
// already folded).
func oneLine(s string) string {
	if isOneLine(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	gap := false // white space since the last word
	for i := 0; i < len(s); {
		c, n := rune(s[i]), 1
		if c >= utf8.RuneSelf {
			c, n = utf8.DecodeRuneInString(s[i:])
		}
		if unicode.IsSpace(c) {
			gap = true
		} else {
			if gap && b.Len() > 0 {
				b.WriteByte(' ')
			}
			gap = false
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isOneLine reports whether oneLine(s) == s: s is ASCII without white
// space other than single spaces between words.
func isOneLine(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' '):
			return false
		}
	}
	return true
}

// blockFor picks the block for an outcome and cause.
func (r *replies) blockFor(outcome exportlog.Outcome, cause string) string {
	switch outcome {
	case exportlog.OutcomeAdded:
		return ReplyAdded
	case exportlog.OutcomeMerged:
		return ReplyMerged
	case exportlog.OutcomeDuplicate:
		return ReplyDuplicate
	case exportlog.OutcomeRelayed, exportlog.OutcomeDelivered:
		return ReplyRelayed
	case exportlog.OutcomeQueued:
		return ReplyQueued
	case exportlog.OutcomeCanary:
		return ReplyCanary
	case exportlog.OutcomeRejected:
		if cause == exportlog.CauseAuth {
			return ReplyAuth
		}
		if cause != "" && r.t.Has(ReplyRejected+"."+cause) {
			return ReplyRejected + "." + cause
		}
		return ReplyRejected
	}
	return ReplyFailed
}

// fallbackReply is sent when a template fails to render (which Check at
// start-up should have ruled out): it is true whatever happened, because
// it does not say what happened.
const fallbackReply = "The export was handled but its reply could not be written. " +
	"Do not export this record again: the systems office has been notified and can tell you its outcome."

// failureProblem says in plain words why a system failure happened.
func failureProblem(cause string) string {
	switch cause {
	case exportlog.CauseStorage:
		return "the catalog could not save it"
	case exportlog.CauseUpstreamDown:
		return "the local system cannot be reached"
	case exportlog.CauseUpstreamTimeout:
		return "the local system did not answer in time"
	case exportlog.CauseUpstreamError:
		return "the local system answered with an error"
	case exportlog.CauseBusy:
		return "the server is too busy"
	case exportlog.CauseClientGone:
		return "the export was abandoned before it could be saved"
	}
	return "an internal error occurred"
}

// errorBlock maps a gateway failure to its reply block and data.
func errorBlock(err error) (string, ReplyData) {
	var pe *gateway.ProtocolError
	var le *gateway.LimitError
	d := ReplyData{Outcome: string(exportlog.OutcomeFailed)}
	switch {
	case errors.Is(err, gateway.ErrHandlerPanic):
		d.Cause, d.Uncertain = exportlog.CauseInternal, true
		return ReplyFailed, d
	case errors.As(err, &pe):
		d.Cause, d.Problem = exportlog.CauseProtocol, fmt.Sprintf("%s, at byte %d", pe.Msg, pe.Offset)
		return ReplyProtocol, d
	case errors.Is(err, gateway.ErrTooLarge), errors.Is(err, gateway.ErrTooManyRecords):
		d.Cause = exportlog.CauseTooLarge
		if errors.As(err, &le) {
			unit := "bytes"
			if errors.Is(err, gateway.ErrTooManyRecords) {
				unit = "records"
			}
			d.Limit = fmt.Sprintf("%d %s", le.Limit, unit)
		}
		return ReplyTooLarge, d
	case errors.Is(err, gateway.ErrBusy):
		d.Cause = exportlog.CauseBusy
		return ReplyBusy, d
	case errors.Is(err, gateway.ErrReadTimeout):
		d.Cause = exportlog.CauseReadTimeout
		return ReplyTimeout, d
	case errors.Is(err, gateway.ErrIncomplete):
		d.Cause = exportlog.CauseIncomplete
		return ReplyIncomplete, d
	}
	d.Cause, d.Problem = exportlog.CauseInternal, failureProblem(exportlog.CauseInternal)
	return ReplyFailed, d
}

// ErrorReply returns the reply (one line ending in a newline) for a failure the gateway.Server answers
// itself (a protocol error, an oversize request, a timeout, too many
// connections, a handler panic), from the reply.* templates; set it as
// gateway.Server.ErrorReply. It falls back to gateway.DefaultErrorReply
// if a template fails.
func (r *Receiver) ErrorReply(err error) string {
	block, d := errorBlock(err)
	s, rerr := r.replies.render(block, d)
	if rerr != nil {
		r.log.Error("cannot render an error reply; sending the built-in one", "block", block, "err", rerr)
		return gateway.DefaultErrorReply(err)
	}
	return s + "\n"
}
