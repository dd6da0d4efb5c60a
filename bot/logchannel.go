package bot

import (
	"context"
	"log/slog"

	"github.com/oclcbot/oclcbot/incidents"
)

// LogChannel writes each notification to the daemon's log. It is on by
// default: alone, it shows what would go out before email is configured
// (`oclcbot outbox list` shows it too); beside other channels, it gives
// the log a copy of every notice. The line says which it is only as far
// as it knows: "logged copy", not whether another channel sent it.
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
	c.log.Log(ctx, level, "notification (logged copy)",
		"key", n.Key, "kind", string(n.Kind), "incident", n.Incident, "subject", n.Subject, "body", n.Body)
	return nil
}

// LogChannelConfig is the channel configuration to use when none is
// configured: a channel named "log" that receives every kind, admin
// notices included, rendered with the email templates.
func LogChannelConfig(l *slog.Logger) ChannelConfig {
	return ChannelConfig{Name: "log", Channel: NewLogChannel(l), Templates: FamilyEmail, Kinds: AllKinds(), Admin: true}
}
