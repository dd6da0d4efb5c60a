package bot

import (
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// Source says where an observation came from.
type Source string

// Observation sources.
const (
	SourceExport Source = "export" // an export attempt recorded by the receiver
	SourceProbe  Source = "probe"  // an active check (bot/probe)
	SourceMail   Source = "mail"   // a mailbox event (staff report, reply, list post)
	SourceHuman  Source = "human"  // a person through the CLI, chat or web
)

// Observation is one fact the detectors judge: an export succeeded or
// failed, a probe passed or failed. Observations are values: the bot never
// keeps a pointer to one after Observe returns.
type Observation struct {
	Time   time.Time
	Target string // detector target: "listener", "catalog", "upstream:HOST:PORT", "index"
	Source Source
	Probe  string          // probe name for SourceProbe ("listener-tcp", "upstream-roundtrip", "canary", "index"), "" otherwise
	OK     bool            // success
	Class  exportlog.Class // failure class (ClassNone when OK)
	Cause  string          // exportlog.Cause* or a probe's cause word
	// Message is the verbatim text to capture if this observation joins an
	// incident: the reply the cataloger saw, the upstream's reply, the
	// probe's error. Never a secret.
	Message string
	// Attempt is the export attempt behind a SourceExport observation (nil
	// otherwise); it becomes an affected record of the incident.
	Attempt *exportlog.Attempt
	// Latency of the probe or export, when measured.
	Latency time.Duration
}
