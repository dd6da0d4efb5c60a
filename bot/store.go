package bot

import (
	"context"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

// Store is what the engine needs from storage; incidents/sqlite.Store
// implements it. Every method is safe for concurrent use, and other
// processes (the CLI) may change the same data: Apply refuses, with
// incidents.ErrConflict, a change made to a stale incident.
type Store interface {
	// Apply writes one decision in one transaction (see incidents.Change).
	Apply(ctx context.Context, ch *incidents.Change) error
	// Incident returns an incident with its detail (wrapping
	// incidents.ErrNotFound when there is none).
	Incident(ctx context.Context, id string) (*incidents.Incident, error)
	// Active returns the open and acknowledged incidents, those solved at
	// or after solvedSince, and solved ones some channel still believes
	// open, with their detail.
	Active(ctx context.Context, solvedSince time.Time) ([]*incidents.Incident, error)
	// Announcements returns what each channel was last told about id.
	Announcements(ctx context.Context, id string) (map[string]incidents.Announced, error)
	// ActiveVersions returns the version of every open or acknowledged
	// incident.
	ActiveVersions(ctx context.Context) (map[string]int, error)
	// MaxSeq returns the highest incident number used in year.
	MaxSeq(ctx context.Context, prefix string, year int) (int, error)
	// IncidentOfAttempt returns the incident listing attempt id, or "".
	IncidentOfAttempt(ctx context.Context, attemptID int64) (string, error)
	// State returns a bot state value.
	State(ctx context.Context, key string) (string, bool, error)

	// SilenceGen changes whenever silences or windows change.
	SilenceGen(ctx context.Context) (int64, error)
	// AddSilence stores a silence and sets its ID.
	AddSilence(ctx context.Context, s *incidents.Silence) error
	// EndSilences lifts the running silences on exactly target.
	EndSilences(ctx context.Context, target string, at time.Time) (int, error)
	// ActiveSilences returns the silences running at now.
	ActiveSilences(ctx context.Context, now time.Time) ([]incidents.Silence, error)
	// Windows returns the maintenance windows.
	Windows(ctx context.Context) ([]incidents.Window, error)
	// AddWindow stores a maintenance window and sets its ID.
	AddWindow(ctx context.Context, w *incidents.Window) error
	// DeleteWindow removes a maintenance window.
	DeleteWindow(ctx context.Context, id int64) error

	// MarkEchoed records a list echo; it reports whether the post was
	// waiting for one.
	MarkEchoed(ctx context.Context, key string) (bool, error)
	// EchoOverdue returns posts sent before sentBefore whose echo has not
	// come.
	EchoOverdue(ctx context.Context, sentBefore time.Time) ([]incidents.Notification, error)
}

// Outbox is what the dispatcher needs from storage; incidents/sqlite.Store
// implements it.
type Outbox interface {
	// Due returns notifications of channel due at now, each the earliest
	// unfinished one of its incident on the channel.
	Due(ctx context.Context, channel string, now time.Time, limit int) ([]incidents.Notification, error)
	// NextDue returns when the next unfinished notification of channel is
	// due.
	NextDue(ctx context.Context, channel string) (time.Time, bool, error)
	// MarkSending records that attempt number attempts is being handed
	// to the channel.
	MarkSending(ctx context.Context, key string, attempts int) error
	// MarkSent records that the channel accepted the notification on
	// attempt number attempts.
	MarkSent(ctx context.Context, key string, at time.Time, attempts int, awaitEcho bool) error
	// MarkRetry schedules another attempt after attempt number attempts
	// failed.
	MarkRetry(ctx context.Context, key string, next time.Time, attempts int, errText string) error
	// MarkDead gives a notification up (and those of its thread that
	// depend on it) and queues notices in the same transaction.
	MarkDead(ctx context.Context, key string, attempts int, errText string, notices []incidents.Notification) error
}

// AttemptStream delivers export attempts in ID order (an
// *exportlog.Subscription).
type AttemptStream interface {
	// Next returns the next attempt, waiting for one.
	Next(ctx context.Context) (*exportlog.Attempt, error)
}

// AttemptSource opens AttemptStreams (the export log: see ExportLog).
type AttemptSource interface {
	// Subscribe returns the attempts with ID greater than afterID.
	Subscribe(afterID int64) AttemptStream
	// LastID returns the ID of the latest attempt recorded.
	LastID(ctx context.Context) (int64, error)
}

// ExportLog adapts *exportlog.Log to AttemptSource.
func ExportLog(l *exportlog.Log) AttemptSource { return exportLogSource{l} }

type exportLogSource struct{ l *exportlog.Log }

// Subscribe returns the log's subscription after afterID. The engine
// needs an attempt's raw bytes only for the affected records of an
// incident, which are failed or queued attempts: the others are read
// without them (exportlog.BlobsFailed), which spares reading every
// successful export's request back just after it was written.
func (s exportLogSource) Subscribe(afterID int64) AttemptStream {
	return s.l.Subscribe(afterID, exportlog.WithBlobs(exportlog.BlobsFailed))
}

// LastID returns the log's newest attempt ID.
func (s exportLogSource) LastID(ctx context.Context) (int64, error) {
	return s.l.LastID(ctx)
}
