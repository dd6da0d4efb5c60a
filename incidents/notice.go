package incidents

import (
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// Notice is the data every notification template is rendered with
// (email.*, slack.*, report.*, admin.*) and, as JSON, the Payload of every
// outbox row, for channels that build their own messages (Slack blocks, a
// ticketing webhook). Its fields and their JSON names are a stable
// interface: add fields, do not rename them.
type Notice struct {
	Kind    Kind      `json:"kind"`
	Key     string    `json:"key"`     // the notification's idempotency key
	Channel string    `json:"channel"` // the channel it is for
	Time    time.Time `json:"time"`    // when the bot decided to send it
	// Incident is nil only for admin notices that concern no incident.
	Incident *Summary `json:"incident,omitempty"`
	// Actor is who acknowledged, solved, reopened or reported ("oclcbot"
	// for the bot's own decisions).
	Actor string `json:"actor,omitempty"`
	// Text says why, in plain words: "2 exports to the catalog succeeded
	// in a row", a note's text, "announced after the silence ended".
	Text string `json:"text,omitempty"`
	// Records are the affected records this notice lists: every record so
	// far for alert, reopened, reported, reminder and escalation; the ones
	// not listed before for update; all of them, each with its final
	// Status, for solved. Raw is empty except on channels with attachments.
	Records []Affected `json:"records,omitempty"`
	// More counts records not listed in Records because of the per-notice
	// limit (they are in the OIS report and `oclcbot incidents show`).
	More int `json:"more,omitempty"`
	// Report is the full OIS report; set on channels that use the report
	// templates (and always in the sample data).
	Report *Report `json:"report,omitempty"`
	// Admin is set for KindAdmin.
	Admin *Admin `json:"admin,omitempty"`
}

// Summary is an incident as notices show it.
type Summary struct {
	ID           string    `json:"id"`  // "OIS-2026-0042"
	Tag          string    `json:"tag"` // "[OIS-2026-0042]", "" when subject tags are turned off
	Target       string    `json:"target"`
	TargetWords  string    `json:"target_words"` // "the library system (ILS) at ils.example.edu:5500"
	Cause        string    `json:"cause"`
	CauseWords   string    `json:"cause_words"` // "the library system is not accepting connections"
	Severity     string    `json:"severity"`    // "minor", "major", "critical"
	State        State     `json:"state"`
	Reported     bool      `json:"reported"` // rests on a person's report only
	Opened       time.Time `json:"opened"`
	Since        time.Time `json:"since"` // start of the current episode
	FirstFailure time.Time `json:"first_failure"`
	LastFailure  time.Time `json:"last_failure"`
	AckedAt      time.Time `json:"acked_at"`
	AckedBy      string    `json:"acked_by"`
	SolvedAt     time.Time `json:"solved_at"`
	SolvedBy     string    `json:"solved_by"`
	Reopens      int       `json:"reopens"`
	Failures     int       `json:"failures"` // failures recorded: ExportFailures + CheckFailures
	// ExportFailures are the failed export attempts (the canary's included
	// when the export log recorded them) among Failures.
	ExportFailures int `json:"export_failures"`
	// CheckFailures are the failed checks (probes) among Failures.
	CheckFailures int           `json:"check_failures"`
	Duration      time.Duration `json:"duration"` // how long it has lasted (or lasted, once solved)
	Counts        Counts        `json:"counts"`   // affected records by status
}

// Admin is the content of an admin notice.
type Admin struct {
	Topic   string `json:"topic"`   // AdminDead, AdminEchoMissing, AdminMail ...
	Summary string `json:"summary"` // one line
	Detail  string `json:"detail"`  // what happened and what to do
	Ref     string `json:"ref"`     // key of the notification concerned, if any
	Channel string `json:"channel"` // channel concerned, if any
	Error   string `json:"error"`   // the error, if any
}

// Admin notice topics.
const (
	AdminDead        = "dead"         // a notification was given up
	AdminEchoMissing = "echo-missing" // a list post did not come back: probably held for moderation
	AdminMail        = "mail"         // a mail the bot could not act on
)

// Summarize returns the summary of inc at now. tag reports whether the
// subject tag is used.
func Summarize(inc *Incident, now time.Time, tag bool) *Summary {
	s := &Summary{
		ID: inc.ID, Target: inc.Target, TargetWords: TargetWords(inc.Target),
		Cause: inc.Cause, CauseWords: CauseWords(inc.Cause), Severity: inc.Severity.String(),
		State: inc.State, Reported: inc.Reported, Opened: inc.Opened, Since: inc.Since,
		FirstFailure: inc.FirstFailure, LastFailure: inc.LastFailure,
		AckedAt: inc.AckedAt, AckedBy: inc.AckedBy, SolvedAt: inc.SolvedAt, SolvedBy: inc.SolvedBy,
		Reopens: inc.Reopens, Failures: inc.Failures, ExportFailures: inc.ExportFailures(), CheckFailures: inc.CheckFailures,
		Duration: inc.Duration(now),
		Counts:   inc.CountRecords(),
	}
	if tag {
		s.Tag = Tag(inc.ID)
	}
	return s
}

// TargetWords describes a target for catalogers.
func TargetWords(target string) string {
	switch {
	case target == TargetListener:
		return "the oclcbot listener that Connexion sends exports to"
	case target == TargetCatalog:
		return "the catalog database"
	case target == TargetIndex:
		return "the catalog search index"
	case target == TargetUnknown || target == "":
		return "the export path (the failing part is not identified yet)"
	case strings.HasPrefix(target, "upstream:"):
		return "the library system (ILS) at " + strings.TrimPrefix(target, "upstream:")
	}
	return target
}

// CauseWords describes a cause for catalogers.
func CauseWords(cause string) string {
	switch cause {
	case exportlog.CauseUpstreamDown:
		return "the library system is not accepting connections"
	case exportlog.CauseUpstreamTimeout:
		return "the library system does not answer in time"
	case exportlog.CauseUpstreamError:
		return "the library system answers exports with an error"
	case exportlog.CauseStorage:
		return "records cannot be saved in the catalog"
	case exportlog.CauseAuth:
		return "logins of several catalogers are refused (a password was probably changed on one side)"
	case exportlog.CauseInternal:
		return "oclcbot has an internal error"
	case exportlog.CauseBusy:
		return "oclcbot refuses connections: too many at once"
	case exportlog.CauseClientGone, exportlog.CauseIncomplete, exportlog.CauseReadTimeout, CauseTransport:
		return "many exports break off before the reply arrives"
	case CauseListenerDown:
		return "Connexion cannot connect to oclcbot (\"Unable to open the TCP/IP connection\")"
	case CauseIndexStalled:
		return "new records do not become searchable in the catalog"
	case CauseReported:
		return "staff reported export failures; oclcbot's checks have not confirmed them yet"
	case CauseProbe:
		return "oclcbot's health check fails"
	// Probe cause words (bot/probe).
	case "refused":
		return "nothing accepts connections there (connection refused)"
	case "timeout":
		return "it does not answer in time"
	case "unreachable":
		return "the network cannot reach it"
	case "dns":
		return "its host name does not resolve"
	case "closed":
		return "it closes connections without answering"
	case "bad-reply":
		return "it answers, but not as it should"
	case "search-error":
		return "the catalog search fails"
	case "":
		return "exports fail"
	}
	return "exports fail (" + cause + ")"
}
