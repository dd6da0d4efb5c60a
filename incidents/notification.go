package incidents

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind says what a notification announces.
type Kind string

// Notification kinds.
const (
	KindAlert      Kind = "alert"      // a problem is confirmed: OCLC EXPORT PROBLEM ALERT
	KindReported   Kind = "reported"   // a person reported a problem the checks have not confirmed
	KindUpdate     Kind = "update"     // more records failed (at most one a minute, a reply in the thread)
	KindReminder   Kind = "reminder"   // still failing and nobody has acknowledged it
	KindEscalation Kind = "escalation" // unacknowledged too long: the OIS report
	KindAck        Kind = "ack"        // someone acknowledged it
	KindSolved     Kind = "solved"     // over: OCLC EXPORT PROBLEM SOLVED
	KindReopened   Kind = "reopened"   // back within the reopen window: an ALERT in the same thread
	KindAdmin      Kind = "admin"      // for whoever runs oclcbot: a dead letter, a post held by the list
)

// Kinds lists every kind, in lifecycle order.
var Kinds = []Kind{KindAlert, KindReported, KindUpdate, KindReminder, KindEscalation, KindAck, KindSolved, KindReopened, KindAdmin}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// Opens reports whether k starts (or restarts) the incident's thread on a
// channel: alert, reopened, reported or escalation (for a channel that
// hears only escalations).
func (k Kind) Opens() bool {
	return k == KindAlert || k == KindReopened || k == KindReported || k == KindEscalation
}

// Delivery is the state of one notification in the outbox.
type Delivery string

// Delivery states.
const (
	DeliveryPending Delivery = "pending" // waiting for its turn or its next attempt
	DeliverySending Delivery = "sending" // handed to the channel; the outcome is not recorded yet
	DeliverySent    Delivery = "sent"    // the channel accepted it
	DeliveryDead    Delivery = "dead"    // given up (permanent error, too old, or its ALERT was not delivered)
)

// Echo is whether a mailing list has sent a post back to the bot's
// mailbox.
type Echo int

// Echo states.
const (
	EchoNone     Echo = 0 // no echo expected
	EchoAwaited  Echo = 1 // sent to a list, echo not seen yet
	EchoReceived Echo = 2 // the list delivered it
	EchoMissing  Echo = 3 // no echo in time: the admin was told
)

// Notification is one message for one channel: a row of the outbox. The
// store never holds two notifications with the same Key, and a channel
// delivers the notifications of one incident in the order they were made.
type Notification struct {
	// Key is deterministic from the incident, the timeline event and the
	// channel ("OIS-2026-0042/alert/1/email"); email derives its
	// Message-ID from it (MessageID).
	Key     string
	Channel string
	Kind    Kind
	// Incident is the incident id, "" for admin notices about no incident.
	Incident string
	// ThreadKey is the Key of the first notification of this incident on
	// this channel (== Key for that first one): email's In-Reply-To and
	// References, Slack's thread. Set by the store.
	ThreadKey string
	Subject   string          // rendered (empty for channels without subjects)
	Body      string          // rendered
	Payload   json.RawMessage // the Notice, as JSON, for channels that render for themselves

	State     Delivery
	Attempts  int       // times handed to the channel
	NextAt    time.Time // earliest time of the next attempt
	LastError string    // latest delivery error (never a secret: channels must scrub)
	Created   time.Time
	// AgeFrom is when its maximum age started counting: Created, or its
	// latest manual retry.
	AgeFrom time.Time
	Sent    time.Time // when the channel accepted it
	Echo    Echo
	// SkippedFor is set on a notification given up because the notification
	// that opened its thread (Key SkippedFor) went dead: a SOLVED is never
	// sent on a channel that did not get the ALERT.
	SkippedFor string
}

// Notice decodes the Payload.
func (n Notification) Notice() (*Notice, error) {
	var v Notice
	if err := json.Unmarshal(n.Payload, &v); err != nil {
		return nil, fmt.Errorf("notification %s: decode payload: %w", n.Key, err)
	}
	return &v, nil
}

// Key returns the idempotency key of the notification of incident id for
// the timeline event seq, of kind k, on channel: "OIS-2026-0042/alert/1/email".
func Key(id string, k Kind, seq int, channel string) string {
	return id + "/" + string(k) + "/" + strconv.Itoa(seq) + "/" + channel
}

// AdminKey returns the key of an admin notice on channel about topic and
// ref (the dead notification's key, the post that did not come back):
// "admin/dead/OIS-2026-0042/alert/1/email/slack".
func AdminKey(topic, ref, channel string) string {
	return "admin/" + topic + "/" + ref + "/" + channel
}

// IncidentOfKey returns the incident id a notification key belongs to, ""
// for admin keys or text that is not a key.
func IncidentOfKey(key string) string {
	id, _, ok := strings.Cut(key, "/")
	if !ok || id == "admin" {
		return ""
	}
	if _, _, _, err := ParseID(id); err != nil {
		return ""
	}
	return id
}

// ValidChannelName reports whether name can name a channel: 1 to 32
// characters from a-z, 0-9 and "-", starting with a letter. Names appear
// in keys and Message-IDs.
func ValidChannelName(name string) bool {
	if len(name) == 0 || len(name) > 32 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// MessageID returns the RFC 5322 Message-ID, with angle brackets, of the
// email carrying the notification with key on domain:
// "<OIS-2026-0042/alert/1/email@oclcbot.example.edu>". Keys consist of
// characters allowed in a dot-atom, so the id needs no quoting. The same
// key always gives the same Message-ID, which lets receivers drop a copy
// sent twice across a crash.
func MessageID(key, domain string) string {
	return "<" + key + "@" + domain + ">"
}

// KeyFromMessageID returns the notification key inside a Message-ID made
// by MessageID (brackets and surrounding space optional), and whether the
// id was one of ours for domain (any domain when domain is "").
func KeyFromMessageID(id, domain string) (string, bool) {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	at := strings.LastIndexByte(id, '@')
	if at <= 0 {
		return "", false
	}
	key, dom := id[:at], id[at+1:]
	if domain != "" && !strings.EqualFold(dom, domain) {
		return "", false
	}
	if strings.HasPrefix(key, "admin/") {
		return key, len(key) > len("admin/")
	}
	if IncidentOfKey(key) == "" {
		return "", false
	}
	return key, true
}

// Announced is what a channel was last told about an incident.
type Announced string

// Announced states.
const (
	AnnouncedNone     Announced = ""         // nothing (yet)
	AnnouncedReported Announced = "reported" // a person's report, unconfirmed
	AnnouncedProblem  Announced = "problem"  // ALERT (or escalation) sent or about to be
	AnnouncedSolved   Announced = "solved"   // SOLVED sent or about to be
)

// Announcement records what channel was told about incident.
type Announcement struct {
	Incident string
	Channel  string
	State    Announced
	Time     time.Time
}

// Change is everything one decision writes, in one transaction: an
// incident's fields and journal, the notifications it causes, what each
// channel has now been told, echoes given up on, and bot state.
type Change struct {
	// Incident, when not nil, is saved: inserted when its Version is 0,
	// else updated only if the stored Version is still the same (otherwise
	// the store returns ErrConflict and writes nothing). On success the
	// store increments Version.
	Incident *Incident
	Journal  Journal
	// Notifications are added to the outbox; one whose Key is already
	// there is skipped.
	Notifications []Notification
	Announced     []Announcement
	// EchoMissing lists keys of notifications whose list echo did not come
	// (the admin notice about them is among Notifications).
	EchoMissing []string
	// State sets bot state keys (the export log cursor, for one).
	State map[string]string
}
