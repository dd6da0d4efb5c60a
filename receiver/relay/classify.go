package relay

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Verdict is what an upstream reply says happened to the record.
type Verdict int

// Verdicts. Only VerdictFailed makes the relay send the record again: an
// unrecognised reply may come from an upstream that imported the record
// and phrases success in a way no rule knows, an uncertain one from an
// upstream whose own ILS may have stored it, and resending either would
// import it again. A failure whose rule is a Refusal is sent again only
// up to Config.MaxRefusals times in a row.
const (
	// VerdictImported: the upstream says it stored the record.
	VerdictImported Verdict = iota + 1
	// VerdictFailed: the upstream says it did not store the record (an
	// error reply, or an empty one): safe to send again.
	VerdictFailed
	// VerdictUnrecognised: the reply matches no rule. The record may or
	// may not be stored; the relay does not resend it unless configured
	// to (Config.ResendUncertain).
	VerdictUnrecognised
	// VerdictUncertain: the reply is an error that does not prove the
	// record was not stored: the listener's own call to its ILS timed out
	// or lost its connection, and the ILS may have finished the import
	// (see Rule.Uncertain). Treated like VerdictUnrecognised.
	VerdictUncertain
)

// String returns "imported", "failed", "unrecognised" or "uncertain".
func (v Verdict) String() string {
	switch v {
	case VerdictImported:
		return "imported"
	case VerdictFailed:
		return "failed"
	case VerdictUnrecognised:
		return "unrecognised"
	case VerdictUncertain:
		return "uncertain"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Rule is one reply pattern. Its Match may have a named group "number"
// capturing the upstream's record number (Koha's biblionumber, Aleph's
// system number), reported as Result.SystemNumber.
type Rule struct {
	Name    string         // short stable name, shown in the queue and the export log ("koha-success")
	Match   *regexp.Regexp // matched against the whole reply text
	Success bool           // true: a match means imported; false: a match means failed
	// Uncertain, on a failure rule, makes a match VerdictUncertain: the
	// reply says the listener's call to its ILS failed in a way the ILS
	// may have survived with the record stored (a timeout, a dropped
	// connection), so sending the record again could import it twice.
	Uncertain bool
	// UncertainAfter limits Uncertain to replies that came at least this
	// long after the relay started sending the request; an earlier match
	// is VerdictFailed. Koha's daemon answers "Unsuccessful request"
	// whatever went wrong, and only one that came after its 10-second
	// HTTP timeout can hide a stored record. Zero: always uncertain.
	UncertainAfter time.Duration
	// Refusal, on a failure rule that is not Uncertain, says that a
	// match is the ILS refusing the record on its own merits (it could
	// not parse or import this record), not the upstream failing to take
	// records (its ILS down, a login refused, a timeout): the same record
	// will be refused again until someone corrects it or the ILS's
	// settings. Config.MaxRefusals such replies in a row set the record
	// aside (StateHeld) so that the records queued behind it go on. Mark
	// a rule a Refusal only when its text is the ILS judging the record:
	// an ILS that answers it to every record, for trouble of its own,
	// has each record set aside in turn, out of order, instead of the
	// queue waiting for it.
	Refusal bool
}

// NewRule compiles expr into a Rule. It returns an error naming the rule
// when expr is not a valid Go regular expression.
func NewRule(name string, success bool, expr string) (Rule, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return Rule{}, fmt.Errorf("relay: reply pattern %q: %w", name, err)
	}
	return Rule{Name: name, Match: re, Success: success}, nil
}

// Patterns classifies upstream replies. Rules are tried in order and the
// first that matches decides; a reply no rule matches is unrecognised.
type Patterns struct {
	Rules []Rule
	// AcceptEmpty makes an empty reply, or a connection the upstream
	// closed without a byte of reply after receiving the whole request,
	// count as imported. For receivers that never answer (Evergreen's
	// marc_stream_importer before 2010). Default false: an empty reply is
	// a failure and the record is sent again.
	AcceptEmpty bool
	// AcceptUnrecognised makes a non-empty reply that matches no rule
	// count as imported. Default false: it is unrecognised, and the
	// record is set aside as uncertain for an operator to decide.
	AcceptUnrecognised bool
}

// Classification is the result of Patterns.Classify.
type Classification struct {
	Verdict      Verdict
	Rule         string // the deciding rule's Name, "empty" or "unrecognised"
	SystemNumber string // the rule's "number" group, "" when none
	// Refusal is true for a VerdictFailed whose rule is a Refusal: the
	// ILS refused the record itself (see Rule.Refusal). An empty reply is
	// never one here; the relay counts it as one from Evergreen's
	// importer only (see Listener).
	Refusal bool
}

// MaxClassifyBytes is how much of a reply Classify reads. Connexion
// replies are a few lines; matching a dozen rules against the megabyte
// an odd upstream may send would take seconds.
const MaxClassifyBytes = 2 << 10

// Classify judges reply, the upstream's text without its NUL, by its
// first MaxClassifyBytes bytes, not knowing how long the upstream took:
// a rule with Uncertain set then always gives VerdictUncertain. It never
// fails: any byte sequence gets a Classification.
func (p *Patterns) Classify(reply string) Classification {
	return p.ClassifyAfter(reply, math.MaxInt64)
}

// ClassifyAfter is Classify for a reply that came elapsed after the
// relay started sending the request, which decides the rules with an
// UncertainAfter.
func (p *Patterns) ClassifyAfter(reply string, elapsed time.Duration) Classification {
	if len(reply) > MaxClassifyBytes {
		reply = reply[:MaxClassifyBytes]
		if strings.TrimSpace(reply) == "" {
			// Not empty, only blank as far as we read: say nothing.
			return Classification{Verdict: VerdictUnrecognised, Rule: "unrecognised"}
		}
	}
	if strings.TrimSpace(reply) == "" {
		if p.AcceptEmpty {
			return Classification{Verdict: VerdictImported, Rule: "empty"}
		}
		return Classification{Verdict: VerdictFailed, Rule: "empty"}
	}
	for _, r := range p.Rules {
		// MatchString tracks no groups, which makes a miss (the usual
		// case) several times cheaper than FindStringSubmatchIndex.
		if !r.Match.MatchString(reply) {
			continue
		}
		c := Classification{Verdict: VerdictFailed, Rule: r.Name}
		if !r.Success && r.Uncertain && elapsed >= r.UncertainAfter {
			c.Verdict = VerdictUncertain
		}
		c.Refusal = !r.Success && !r.Uncertain && r.Refusal
		if r.Success {
			c.Verdict = VerdictImported
			if m := r.Match.FindStringSubmatchIndex(reply); m != nil {
				c.SystemNumber = number(r.Match, reply, m)
			}
		}
		return c
	}
	if p.AcceptUnrecognised {
		return Classification{Verdict: VerdictImported, Rule: "unrecognised"}
	}
	return Classification{Verdict: VerdictUnrecognised, Rule: "unrecognised"}
}

// number returns the first non-empty "number" group of a match.
func number(re *regexp.Regexp, s string, m []int) string {
	for i, name := range re.SubexpNames() {
		if name == "number" && m[2*i] >= 0 && m[2*i+1] > m[2*i] {
			return s[m[2*i]:m[2*i+1]]
		}
	}
	return ""
}

// KohaHTTPTimeout is the timeout of the HTTP client in Koha's
// connexion_import_daemon.pl (LWP::UserAgent timeout 10): its
// "Unsuccessful request" can hide a stored record only when it came at
// least this long after the request.
const KohaHTTPTimeout = 10 * time.Second

// The default rules recognise the replies of the open-source Connexion
// receivers libraries run, read from their source:
//
//   - Koha, misc/bin/connexion_import_daemon.pl (Koha-Community/Koha):
//     success is "Success.  Batch number B - biblio record number N"
//     followed by " added to Koha." or " overlaid by import." and "\n\n"
//     and the record's URL; failures are "Bad request" (no record in
//     the request, including an empty one), "Unauthorized request"
//     (newer versions with connexion_user set: the login did not match),
//     "Unsuccessful request" (the HTTP call to svc/import_bib failed
//     even after logging in again: Koha down, an expired session as in
//     bug 38382, or its 10-second timeout, after which Koha may still
//     store the record: uncertain when it came that late),
//     "Invalid response" (Koha's answer was not XML), and
//     "<error>.  Please contact administrator." (svc/import_bib answered
//     status "failed": "Batch create error" when it could not make its
//     import batch, which is Koha's trouble, or else MARC::Record's own
//     message: it could not read the record). Each ends with a NUL.
//     Refusals of the record itself: "Bad request" (the relay always
//     sends a record, so the daemon could not parse it) and the
//     svc/import_bib errors other than "Batch create error".
//   - FOLIO edge-connexion, MainVerticle (folio-org/edge-connexion):
//     "Import ok\n\0" on success, "Error: " + the failure's message +
//     "\n\0" otherwise: "access denied", "Bad format of localUser",
//     "Error retrieving password", "One record expected in OCLC
//     Connexion request", "Login failed. POST /authn/login for tenant
//     't' and username 'u' returned status 400: Bad Request", "Response
//     status code 400 is not equal to 200: ..." (older: "/authn/login
//     returned status 400", "/copycat/imports returned status 400"), and
//     the HTTP client's own: "Connection refused: host/addr:port", and
//     "Connection was closed" (its 30-second idle timeout, or Okapi
//     dropping the call), after which mod-copycat may still store the
//     record: uncertain, as are a gateway's 502 and 504. Refusals of the
//     record itself: mod-copycat's 400 ("Incomplete/missing MARC
//     record", marc4j's parse errors), 413 and 422. The login's own 400
//     names /authn/login and is not one. Note that mod-copycat also
//     answers 400 when its calls to FOLIO's data import fail, which
//     edge-connexion does not pass on: such records are set aside one
//     by one (new exports keep reporting the outage).
//   - Evergreen, Open-ILS/src/support-scripts/marc_stream_importer.pl.in
//     (evergreen-library-system/Evergreen, 2014 and later):
//     "Successfully imported N bib records using merge profile 'P'\n"
//     when N > 0, "Failed to import N bib records\n" when N > 0, then
//     "\x00"; an empty reply when nothing was imported or failed (a
//     login in front of the record does that). The 2010 version says
//     "N records" without "bib", and with --noqueue counts the bytes
//     after the record (our NUL) as a second record that failed, so a
//     success line wins over a failure line: the relay sends one record
//     per connection. The 2008 version answers nothing (see
//     Patterns.AcceptEmpty). "Failed to import" is Vandelay refusing the
//     record: a refusal of the record itself; so is an empty reply, for
//     a relay whose Listener is ListenerEvergreen (the record went alone,
//     and Vandelay found nothing it could import in it).
//   - Aleph's oclc_server: no source is public. Library staff pages say
//     the status window shows that the record was "added", or "merged
//     with" an existing record, with the bib system number
//     (www.library.umass.edu wiki, overlaying_instructions), and the
//     server logs "Input docx merged into ABC01.000271652" (Ex Libris
//     knowledge article "Overlay/merge *sometimes* not working for
//     oclc_server"); more than one match "returns an error" (Ex Libris,
//     "OCLC Export does not overlay"). The Aleph rules are therefore
//     looser, and come after a generic error rule so that "error ... not
//     added" is a failure.
//
// Our own receiver's error replies (gateway.DefaultErrorReply and the
// receiver's templates) start with "Error:" and are failures too, so a
// relay in front of another oclcbot works; the one that says the record
// "may or may not have been saved" is uncertain. Its success replies
// ("Added to the catalog as system number N", "Merged with system
// number N") are recognised as such, with N, before the generic rules
// scan their long text. Its default templates
// answer a record it refuses on its merits (invalid MARC, an import
// rule, a 035 target, a repeated export) "Not imported ... Nothing was
// changed ...": a refusal of the record itself.
var defaultRules = []struct {
	name      string
	success   bool
	expr      string
	uncertain bool
	after     time.Duration
	refusal   bool
}{
	// Errors that may hide a stored record, before the plain errors.
	{name: "uncertain-error", expr: `\A\s*Error:[^\n]*(?:Connection was closed|Connection reset|[Tt]imeout period|timed out|(?:status code|returned status) 50[24]\b|may or may not)`, uncertain: true},
	{name: "koha-unsuccessful", expr: `\A\s*Unsuccessful request\b`, uncertain: true, after: KohaHTTPTimeout},
	// Specific failures: an ILS's own error wording; the refusals of
	// the record itself before the other failures of the same receiver.
	{name: "folio-refused", expr: `\A\s*Error:\s*(?:Response status code|/copycat/imports returned status) 4(?:00|13|22)\b`, refusal: true},
	{name: "folio-error", expr: `\A\s*Error:`},
	{name: "koha-bad-request", expr: `\A\s*Bad request\b`, refusal: true},
	{name: "koha-unauthorized", expr: `\A\s*Unauthorized request\b`},
	{name: "koha-invalid-response", expr: `\A\s*Invalid response\b`},
	{name: "koha-batch-error", expr: `\A\s*Batch create error\b`},
	{name: "koha-error", expr: `Please contact administrator\.\s*\z`, refusal: true},
	{name: "oclcbot-refused", expr: `\A\s*Not imported\b[^\n]*\bNothing was changed\b`, refusal: true},
	{name: "oclcbot-success", success: true, expr: `\A\s*(?:Record [0-9]+ of [0-9]+: )?(?:Added to the catalog as|Merged with) system number (?P<number>[0-9]+)`},
	// Specific successes, which may contain any text (a merge profile's
	// name, a URL), so they come before the generic error words.
	{name: "koha-success", success: true, expr: `\A\s*Success\.(?:[^\n]*?biblio record number (?P<number>[0-9]+))?`},
	{name: "folio-success", success: true, expr: `\A\s*Import ok\b`},
	{name: "evergreen-success", success: true, expr: `(?m)^Successfully imported [1-9][0-9]* (?:bib |auth )?records?\b`},
	{name: "evergreen-failed", expr: `(?m)^Failed to import [1-9][0-9]* (?:bib |auth )?records?\b`, refusal: true},
	// Generic error words, before the loose Aleph successes.
	{name: "error", expr: `(?i)\b(?:error|errors|fail|failed|failure|rejected|refused|denied|invalid|unable|cannot|can't|could not|not (?:added|imported|loaded|saved|merged|stored))\b`},
	{name: "aleph-merged", success: true, expr: `(?i)\bmerged (?:with|into)\b[ \t:]*(?:[A-Z]{3}[0-9]{2}[.-])?(?P<number>[0-9]+)?`},
	{name: "aleph-added", success: true, expr: `(?i)(?:\b(?P<number>[0-9]{9})\b[^\n]*?)?\badded\b`},
}

// DefaultPatterns returns the default reply rules (see the sources
// above) with AcceptEmpty and AcceptUnrecognised false. Each call returns
// a new value the caller may change.
func DefaultPatterns() *Patterns {
	p := &Patterns{Rules: make([]Rule, 0, len(defaultRules))}
	for _, d := range defaultRules {
		p.Rules = append(p.Rules, Rule{Name: d.name, Match: regexp.MustCompile(d.expr), Success: d.success,
			Uncertain: d.uncertain, UncertainAfter: d.after, Refusal: d.refusal})
	}
	return p
}
