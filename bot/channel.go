package bot

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

// Channel delivers notifications somewhere people read them: the listserv
// (email), Slack, the OIS report, the log. Channels live in their own
// packages and import incidents, never bot.
//
// Send delivers n once. It returns nil only when the far side accepted
// the message. On failure the error decides what the dispatcher does
// (see IsPermanent and RetryAfterOf): a temporary error is retried with
// backoff, a permanent one goes to the dead letter with an admin notice.
// Errors must not contain secrets. Send must honour ctx.
//
// The same n (same Key) may be handed to Send more than once: after a
// temporary error, and once more if oclcbot crashed after handing it over
// and before recording the outcome (n.Attempts > 0 and n.State is
// "sending" then). Channels that can dedupe should derive their message
// identity from n.Key (email: incidents.MessageID).
type Channel interface {
	Send(ctx context.Context, n *incidents.Notification) error
}

// Paced is implemented by channels that must not send faster than one
// message per MinInterval (Slack: one message a second per channel). The
// dispatcher waits that long between two sends on the channel.
type Paced interface {
	MinInterval() time.Duration
}

// Template families: which set of templates a channel's messages are
// rendered from.
const (
	FamilyEmail  = "email"  // email.KIND.subject, email.KIND.body
	FamilySlack  = "slack"  // slack.KIND
	FamilyReport = "report" // report.subject, report.body (thread openers), report.update (the rest)
)

// ChannelConfig is one configured channel.
type ChannelConfig struct {
	// Name identifies the channel in keys, Message-IDs and the outbox:
	// 1-32 of a-z, 0-9 and "-", starting with a letter ("listserv",
	// "slack", "ois", "log").
	Name string
	// Channel delivers; required by the dispatcher. The engine only routes
	// and renders, so a process that acknowledges or solves from the CLI
	// may leave it nil, but must configure the same channels (names,
	// templates, kinds) as the daemon.
	Channel Channel
	// Templates is the template family: FamilyEmail (default),
	// FamilySlack or FamilyReport.
	Templates string
	// Kinds are the notification kinds the channel receives; nil means
	// DefaultKinds(Templates). A channel that receives any thread opener
	// (alert, reopened, reported, escalation) always receives solved too.
	Kinds []incidents.Kind
	// Admin makes the channel receive admin notices (dead letters, posts
	// the list held back) about the other channels.
	Admin bool
	// AwaitEcho makes the bot expect each post to come back through the
	// mailing list into its mailbox; a post whose echo has not come after
	// Config.EchoTimeout raises an admin notice.
	AwaitEcho bool
	// Attachments puts each affected record's raw bytes in the payload
	// (the OIS report's .mrc attachment). Default: true for FamilyReport.
	Attachments *bool
}

// DefaultKinds returns the kinds a channel of template family receives by
// default:
//
//	email:  alert, reopened, update, reminder, solved (the listserv thread)
//	slack:  everything but admin
//	report: escalation, reported, reopened, update, ack, solved (the OIS
//	        report starts when an incident is escalated)
func DefaultKinds(family string) []incidents.Kind {
	switch family {
	case FamilySlack:
		return []incidents.Kind{incidents.KindAlert, incidents.KindReported, incidents.KindUpdate, incidents.KindReminder,
			incidents.KindEscalation, incidents.KindAck, incidents.KindSolved, incidents.KindReopened}
	case FamilyReport:
		return []incidents.Kind{incidents.KindEscalation, incidents.KindReported, incidents.KindReopened,
			incidents.KindUpdate, incidents.KindAck, incidents.KindSolved}
	}
	return []incidents.Kind{incidents.KindAlert, incidents.KindReopened, incidents.KindUpdate, incidents.KindReminder, incidents.KindSolved}
}

// AllKinds returns every kind but admin: for the log channel.
func AllKinds() []incidents.Kind {
	return slices.DeleteFunc(slices.Clone(incidents.Kinds), func(k incidents.Kind) bool { return k == incidents.KindAdmin })
}

// channel is a validated ChannelConfig.
type channel struct {
	ChannelConfig
	kinds  map[incidents.Kind]bool
	attach bool
}

func (c *channel) wants(k incidents.Kind) bool { return c.kinds[k] }

// compileChannels checks cfgs; the engine only routes and renders, so
// only the dispatcher (needImpl) needs the Channel implementations.
func compileChannels(cfgs []ChannelConfig, needImpl bool) ([]*channel, error) {
	var out []*channel
	seen := map[string]bool{}
	for _, c := range cfgs {
		if !incidents.ValidChannelName(c.Name) {
			return nil, fmt.Errorf("channel name %q: want 1-32 of a-z, 0-9 and -, starting with a letter", c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("channel %q is configured twice", c.Name)
		}
		seen[c.Name] = true
		if c.Channel == nil && needImpl {
			return nil, fmt.Errorf("channel %q has no implementation", c.Name)
		}
		switch c.Templates {
		case "":
			c.Templates = FamilyEmail
		case FamilyEmail, FamilySlack, FamilyReport:
		default:
			return nil, fmt.Errorf("channel %q: unknown template family %q (want email, slack or report)", c.Name, c.Templates)
		}
		if c.Kinds == nil {
			c.Kinds = DefaultKinds(c.Templates)
		}
		ch := &channel{ChannelConfig: c, kinds: map[incidents.Kind]bool{}, attach: c.Templates == FamilyReport}
		if c.Attachments != nil {
			ch.attach = *c.Attachments
		}
		for _, k := range c.Kinds {
			if !k.Valid() || k == incidents.KindAdmin {
				return nil, fmt.Errorf("channel %q: unknown notification kind %q", c.Name, k)
			}
			ch.kinds[k] = true
			if k.Opens() {
				ch.kinds[incidents.KindSolved] = true
			}
		}
		out = append(out, ch)
	}
	return out, nil
}
