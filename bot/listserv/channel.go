package listserv

import (
	"context"

	"github.com/oclcbot/oclcbot/incidents"
)

// Channel sends notifications by email. It implements bot.Channel and is
// safe for concurrent use (each Send has its own connection).
type Channel struct {
	s      *settings
	report bool
}

// New returns the listserv channel: plain-text posts to the list (Config.To),
// rendered with the email templates (bot.FamilyEmail). It never attaches
// files, whatever the notification carries: lists strip attachments, and
// the printouts are inline in the text. New checks cfg and returns an
// error wrapping ErrConfig that names the bad field (never the password);
// it does not connect (see Check).
func New(cfg Config) (*Channel, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return &Channel{s: s}, nil
}

// NewReport returns the OIS report channel: the report, rendered with the
// report templates (bot.FamilyReport), to the on-call address(es) in
// Config.To, with the affected records attached as .mrc (the raw bytes,
// application/marc) and as MARCXML (application/marcxml+xml) when the
// notification carries them (bot.ChannelConfig.Attachments, on by
// default for the report family). Updates, acknowledgements and SOLVED
// are replies in the thread the first report opened. cfg is checked as by
// New.
func NewReport(cfg Config) (*Channel, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return &Channel{s: s, report: true}, nil
}

// Send builds n's message and submits it over one SMTP connection. It
// returns nil only once the server has accepted the message. Errors are
// *Error values: Temporary reports whether a retry may help (SMTP 4xx,
// network errors, timeouts, ctx ending) or not (SMTP 5xx, a certificate
// that does not verify, no STARTTLS or AUTH, too large, a bad key).
//
// Sending the same n again gives the same Message-ID, so receivers that
// dedupe by Message-ID keep one copy.
func (c *Channel) Send(ctx context.Context, n *incidents.Notification) error {
	msg, err := c.build(n, c.s.Now())
	if err != nil {
		return err
	}
	ss, err := c.s.open(ctx)
	if err != nil {
		return err
	}
	defer ss.close()
	if err := ss.send(ctx, msg); err != nil {
		return err
	}
	c.s.Logger.DebugContext(ctx, "mail sent", "component", "listserv", "key", n.Key, "to", c.s.rcpts, "bytes", len(msg))
	return nil
}

// Message returns the message Send would submit for n at the current
// time of Config.Now, headers and body with CRLF line ends: for previews
// and tests.
func (c *Channel) Message(n *incidents.Notification) ([]byte, error) {
	return c.build(n, c.s.Now())
}

// Check connects, negotiates TLS, says HELO, authenticates and quits
// without sending anything: a start-up test of the configuration. Its
// errors are those of Send.
func (c *Channel) Check(ctx context.Context) error {
	ss, err := c.s.open(ctx)
	if err != nil {
		return err
	}
	ss.close()
	return nil
}
