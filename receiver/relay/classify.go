package relay

import (
	"fmt"
	"regexp"
	"strings"
)

// Verdict is what an upstream reply says happened to the record.
type Verdict int

// Verdicts. Only VerdictFailed makes the relay send the record again: an
// unrecognised reply may come from an upstream that imported the record
// and phrases success in a way no rule knows, and resending it would
// import it again on every attempt.
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
)

// String returns "imported", "failed" or "unrecognised".
func (v Verdict) String() string {
	switch v {
	case VerdictImported:
		return "imported"
	case VerdictFailed:
		return "failed"
	case VerdictUnrecognised:
		return "unrecognised"
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
}

// MaxClassifyBytes is how much of a reply Classify reads. Connexion
// replies are a few lines; matching a dozen rules against the megabyte
// an odd upstream may send would take seconds.
const MaxClassifyBytes = 2 << 10

// Classify judges reply, the upstream's text without its NUL, by its
// first MaxClassifyBytes bytes. It never fails: any byte sequence gets a
// Classification.
func (p *Patterns) Classify(reply string) Classification {
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

// The default rules recognise the replies of the open-source Connexion
// receivers libraries run, read from their source:
//
//   - Koha, misc/bin/connexion_import_daemon.pl (Koha-Community/Koha):
//     success is sprintf("Success.  Batch number %s - biblio record
//     number %s", ...) followed by " added to Koha." or " overlaid by
//     import." and "\n\n" and the record's URL; failures are
//     error_response("Bad request") (the request did not parse, including
//     an empty one), "Unsuccessful request" (the HTTP call to Koha
//     failed: bug 38382's expired session), "Invalid response", and
//     "<error>.  Please contact administrator." (svc/import_bib refused
//     it). Each ends with a NUL.
//   - FOLIO edge-connexion, MainVerticle.handleRequest (folio-org/
//     edge-connexion): "Import ok\n\0" on success, "Error: " +
//     cause.getMessage() + "\n\0" otherwise, for example
//     "Error: /authn/login returned status 400", "Error: access denied",
//     "Error: One record expected in OCLC Connexion request",
//     "Error: /copycat/imports returned status 400" (MainVerticleTest).
//   - Evergreen, Open-ILS/src/support-scripts/marc_stream_importer.pl
//     (evergreen-library-system/Evergreen, 2010 and later):
//     "Successfully imported N records using merge profile 'P'\n" when N
//     > 0, "Failed to import N records\n" when N > 0, then "\x00"; an
//     empty reply when nothing was imported or failed. Earlier versions
//     answer nothing at all (see Patterns.AcceptEmpty).
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
// relay in front of another oclcbot works.
var defaultRules = []struct {
	name    string
	success bool
	expr    string
}{
	// Specific failures first: an ILS's own error wording.
	{"folio-error", false, `\A\s*Error:`},
	{"koha-bad-request", false, `\A\s*Bad request\b`},
	{"koha-unsuccessful", false, `\A\s*Unsuccessful request\b`},
	{"koha-invalid-response", false, `\A\s*Invalid response\b`},
	{"koha-error", false, `Please contact administrator\.\s*\z`},
	{"evergreen-failed", false, `(?m)^Failed to import [1-9][0-9]* records?\b`},
	// Specific successes, which may contain any text (a merge profile's
	// name, a URL), so they come before the generic error words.
	{"koha-success", true, `\A\s*Success\.(?:[^\n]*?biblio record number (?P<number>[0-9]+))?`},
	{"folio-success", true, `\A\s*Import ok\b`},
	{"evergreen-success", true, `(?m)^Successfully imported [1-9][0-9]* records?\b`},
	// Generic error words, before the loose Aleph successes.
	{"error", false, `(?i)\b(?:error|errors|fail|failed|failure|rejected|refused|denied|invalid|unable|cannot|can't|could not|not (?:added|imported|loaded|saved|merged|stored))\b`},
	{"aleph-merged", true, `(?i)\bmerged (?:with|into)\b[ \t:]*(?:[A-Z]{3}[0-9]{2}[.-])?(?P<number>[0-9]+)?`},
	{"aleph-added", true, `(?i)(?:\b(?P<number>[0-9]{9})\b[^\n]*?)?\badded\b`},
}

// DefaultPatterns returns the default reply rules (see the sources
// above) with AcceptEmpty and AcceptUnrecognised false. Each call returns
// a new value the caller may change.
func DefaultPatterns() *Patterns {
	p := &Patterns{Rules: make([]Rule, 0, len(defaultRules))}
	for _, d := range defaultRules {
		p.Rules = append(p.Rules, Rule{Name: d.name, Match: regexp.MustCompile(d.expr), Success: d.success})
	}
	return p
}
