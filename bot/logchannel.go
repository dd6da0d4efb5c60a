package bot

import (
	"context"
	"log/slog"

	"github.com/oclcbot/oclcbot/incidents"
)

// LogChannel is the channel used when no other is configured: it writes
// each notification to the log, and the outbox keeps it as sent, so the
// status page and `oclcbot outbox list` show what would have gone out.
type LogChannel struct {
	log *slog.Logger
}

// NewLogChannel returns a log channel writing to l (slog.Default when nil).
func NewLogChannel(l *slog.Logger) *LogChannel {
	if l == nil {
		l = slog.Default()
	}
	return &LogChannel{log: l.With("component", "notifications")}
}

// Send logs n at level INFO (WARN for alerts) and never fails.
func (c *LogChannel) Send(ctx context.Context, n *incidents.Notification) error {
	level := slog.LevelInfo
	if n.Kind == incidents.KindAlert || n.Kind == incidents.KindReopened || n.Kind == incidents.KindAdmin {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, "notification (no channel configured: recorded, not sent)",
		"key", n.Key, "kind", string(n.Kind), "incident", n.Incident, "subject", n.Subject, "body", n.Body)
	return nil
}

// LogChannelConfig is the channel configuration to use when none is
// configured: a channel named "log" that receives every kind, admin
// notices included, rendered with the email templates.
func LogChannelConfig(l *slog.Logger) ChannelConfig {
	return ChannelConfig{Name: "log", Channel: NewLogChannel(l), Templates: FamilyEmail, Kinds: AllKinds(), Admin: true}
}
