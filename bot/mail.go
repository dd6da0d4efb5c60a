package bot

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

// MailEvent is something the mailbox reader (bot/mailbox, issue 5) found
// in the bot's mailbox: a *StaffReport, *Reply, *ListPost or *Echo.
// HandleMail acts on it.
type MailEvent interface{ mailEvent() }

// Attachment is a file attached to a staff report.
type Attachment struct {
	Name        string
	ContentType string // "text/plain", "application/marc", "image/png" ...
	Data        []byte
}

// StaffReport is a mail from staff saying exports fail.
type StaffReport struct {
	From        string // the sender's address (header From)
	Subject     string
	Text        string // the body as plain text
	Attachments []Attachment
	// Target is the mailbox reader's guess of the failing target ("" when
	// it cannot tell).
	Target    string
	MessageID string
	Time      time.Time // Date of the mail (zero: now)
}

// Verb is what a reply asks for.
type Verb string

// Reply verbs: the first word of the reply's text.
const (
	VerbAck    Verb = "ACK"
	VerbSolved Verb = "SOLVED"
)

// Reply is an answer to one of the bot's mails (an ALERT, an OIS report)
// whose first word is ACK or SOLVED.
type Reply struct {
	From       string // the sender's address; must be in Config.MailAllow
	InReplyTo  string // Message-ID it answers
	References []string
	Subject    string // searched for an incident tag when the ids do not tell
	Verb       Verb
	MessageID  string
	Time       time.Time
}

// ListPostKind is what a human post to the list announces.
type ListPostKind string

// List post kinds: the subject starts with "OCLC EXPORT PROBLEM ALERT" or
// "OCLC EXPORT PROBLEM SOLVED".
const (
	ListAlert  ListPostKind = "ALERT"
	ListSolved ListPostKind = "SOLVED"
)

// ListPost is a person's post to the listserv with the ALERT or SOLVED
// subject (not one of the bot's own).
type ListPost struct {
	From     string
	Subject  string
	Kind     ListPostKind
	Incident string // incident id from the subject's tag, "" when none
	// Channel is the name of the channel whose list it was posted to: that
	// channel needs no ALERT (or SOLVED) of its own now.
	Channel   string
	Target    string // the reader's guess of the target, "" when none
	MessageID string
	Time      time.Time
}

// Echo is the list's copy of one of the bot's own posts, matched by
// Message-ID (incidents.MessageID).
type Echo struct {
	MessageID string
	Time      time.Time
}

func (*StaffReport) mailEvent() {}
func (*Reply) mailEvent()       {}
func (*ListPost) mailEvent()    {}
func (*Echo) mailEvent()        {}

// Errors of HandleMail.
var (
	// ErrNotAllowed: a reply's sender is not in Config.MailAllow.
	ErrNotAllowed = errors.New("sender may not act on incidents by mail")
	// ErrNoIncident: a mail names no incident the bot knows.
	ErrNoIncident = errors.New("the mail names no known incident")
	// ErrAmbiguous: a mail without an incident tag could mean several
	// open incidents.
	ErrAmbiguous = errors.New("the mail could concern several open incidents")
)

// HandleMail acts on one mailbox event:
//   - a staff report is captured in the open incident of its target (or
//     the only open incident), or opens a "reported" incident that the
//     detectors then confirm or not;
//   - a reply ACK or SOLVED from an allowed sender acknowledges or solves
//     the incident it answers;
//   - a person's ALERT post to the list opens (or joins) an incident and
//     marks the list's channel as told, so the bot does not post a second
//     ALERT; a SOLVED post solves the incident; the other channels are
//     told;
//   - an echo marks the bot's post delivered by the list.
func (e *Engine) HandleMail(ctx context.Context, ev MailEvent) error {
	switch m := ev.(type) {
	case *StaffReport:
		return e.staffReport(ctx, m)
	case *Reply:
		return e.reply(ctx, m)
	case *ListPost:
		return e.listPost(ctx, m)
	case *Echo:
		key, ok := incidents.KeyFromMessageID(m.MessageID, "")
		if !ok {
			return fmt.Errorf("echo %q: not one of oclcbot's Message-IDs", m.MessageID)
		}
		_, err := e.st.MarkEchoed(ctx, key)
		return err
	}
	return fmt.Errorf("unknown mail event %T", ev)
}

// Allowed reports whether addr (a From header or a bare address) may act
// on incidents by mail.
func (e *Engine) Allowed(addr string) bool {
	a := strings.ToLower(strings.TrimSpace(addr))
	if p, err := mail.ParseAddress(addr); err == nil {
		a = strings.ToLower(p.Address)
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 {
		return false
	}
	for _, w := range e.cfg.MailAllow {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == a || (strings.HasPrefix(w, "@") && a[at:] == w) || (!strings.Contains(w, "@") && a[at+1:] == w) {
			return true
		}
	}
	return false
}

// activeFor returns the active incident for target, or, when target is
// empty or has none, the only active incident; ErrAmbiguous when there
// are several.
func (e *Engine) activeFor(target string) (*tracked, error) {
	if t := e.byTarget[target]; t != nil && t.inc.State.Active() {
		return t, nil
	}
	var found []*tracked
	for _, t := range e.byID {
		if t.inc.State.Active() {
			found = append(found, t)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, ErrAmbiguous
	}
	return nil, nil
}

func (e *Engine) staffReport(ctx context.Context, m *StaffReport) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	at := m.Time
	if at.IsZero() {
		at = now
	}
	text := "Subject: " + m.Subject + "\n\n" + m.Text
	for _, a := range m.Attachments {
		if strings.HasPrefix(a.ContentType, "text/") {
			text += fmt.Sprintf("\n\n[attachment %s]\n%s", a.Name, a.Data)
		} else {
			text += fmt.Sprintf("\n\n[attachment %s, %s, %d bytes, not shown]", a.Name, a.ContentType, len(a.Data))
		}
	}
	msg := incidents.Message{Time: at, Source: incidents.SourceMail, From: m.From, Text: text}
	t, err := e.activeFor(m.Target)
	if err != nil && !errors.Is(err, ErrAmbiguous) {
		return err
	}
	if t != nil {
		return e.decide(ctx, t, func(p *plan) error {
			p.t.inc.Capture(msg, e.cfg.Limits)
			p.t.inc.Append(incidents.EventMail, m.From, now, "staff report: "+m.Subject)
			return nil
		})
	}
	target := m.Target
	if target == "" || errors.Is(err, ErrAmbiguous) {
		target = incidents.TargetUnknown
	}
	id, err := e.nextID(ctx, now)
	if err != nil {
		return err
	}
	inc := incidents.New(incidents.Opening{ID: id, Target: target, Cause: incidents.CauseReported, Time: now,
		Actor: m.From, Reported: true, Text: "reported by " + m.From + ": " + m.Subject})
	nt := &tracked{inc: inc, ann: map[string]incidents.Announced{}}
	err = e.decide(ctx, nt, func(p *plan) error {
		inc.Capture(msg, e.cfg.Limits)
		e.announce(p, incidents.KindReported, inc.EventSeq(), now, m.From, "reported by "+m.From, nil)
		return nil
	})
	if err != nil {
		e.forgetSeq(now)
	}
	return err
}

// incidentOfReply finds the incident a reply answers: through the keys in
// its In-Reply-To and References, else the tag in its subject.
func (e *Engine) incidentOfReply(m *Reply) string {
	ids := []string{m.InReplyTo}
	for i := len(m.References) - 1; i >= 0; i-- {
		ids = append(ids, m.References[i])
	}
	for _, id := range ids {
		if key, ok := incidents.KeyFromMessageID(id, ""); ok {
			if inc := incidents.IncidentOfKey(key); inc != "" {
				return inc
			}
		}
	}
	id, _ := incidents.FindTag(m.Subject, e.cfg.Prefix)
	return id
}

func (e *Engine) reply(ctx context.Context, m *Reply) error {
	if !e.Allowed(m.From) {
		e.log.Warn("mail reply from a sender not allowed to act", "from", m.From, "verb", m.Verb)
		return fmt.Errorf("%s from %s: %w", m.Verb, m.From, ErrNotAllowed)
	}
	id := e.incidentOfReply(m)
	if id == "" {
		return fmt.Errorf("%s from %s: %w", m.Verb, m.From, ErrNoIncident)
	}
	switch m.Verb {
	case VerbAck:
		err := e.Ack(ctx, id, m.From)
		if errors.Is(err, incidents.ErrAlreadyAcknowledged) {
			return nil // two people answered: the first one counts
		}
		return err
	case VerbSolved:
		err := e.Solve(ctx, id, m.From)
		if errors.Is(err, incidents.ErrAlreadySolved) {
			return nil
		}
		return err
	}
	return fmt.Errorf("reply verb %q: want ACK or SOLVED", m.Verb)
}

func (e *Engine) listPost(ctx context.Context, m *ListPost) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var t *tracked
	if m.Incident != "" {
		var err error
		if t, err = e.lookup(ctx, m.Incident); err != nil {
			return err
		}
	} else {
		var err error
		if t, err = e.activeFor(m.Target); err != nil {
			return fmt.Errorf("list post %q: %w", m.Subject, err)
		}
	}
	told := func(p *plan, st incidents.Announced) {
		if m.Channel != "" && p.ann[m.Channel] != st {
			p.ann[m.Channel] = st
			p.annUpd = append(p.annUpd, incidents.Announcement{Incident: p.t.inc.ID, Channel: m.Channel, State: st, Time: now})
		}
	}
	note := fmt.Sprintf("%s posted %q to the list", m.From, m.Subject)
	switch m.Kind {
	case ListAlert:
		if t != nil && t.inc.State.Active() {
			return e.decide(ctx, t, func(p *plan) error {
				told(p, incidents.AnnouncedProblem)
				p.t.inc.Append(incidents.EventMail, m.From, now, note)
				return nil
			})
		}
		if t != nil && now.Sub(t.inc.SolvedAt) <= e.cfg.ReopenWindow {
			return e.decide(ctx, t, func(p *plan) error {
				ev, err := p.t.inc.Reopen(m.From, now, note)
				if err != nil {
					return err
				}
				p.t.inc.Confirm(now, p.t.inc.Cause, p.t.inc.Class, note)
				told(p, incidents.AnnouncedProblem)
				e.announce(p, incidents.KindReopened, ev.Seq, now, m.From, note, p.t.inc.Affected)
				return nil
			})
		}
		target := m.Target
		if target == "" {
			target = incidents.TargetUnknown
		}
		id, err := e.nextID(ctx, now)
		if err != nil {
			return err
		}
		inc := incidents.New(incidents.Opening{ID: id, Target: target, Cause: incidents.CauseReported, Time: now, Actor: m.From, Text: note})
		nt := &tracked{inc: inc, ann: map[string]incidents.Announced{}}
		err = e.decide(ctx, nt, func(p *plan) error {
			told(p, incidents.AnnouncedProblem)
			e.announce(p, incidents.KindAlert, inc.EventSeq(), now, m.From, note, nil)
			return nil
		})
		if err != nil {
			e.forgetSeq(now)
		}
		return err
	case ListSolved:
		if t == nil {
			return fmt.Errorf("list post %q: %w", m.Subject, ErrNoIncident)
		}
		err := e.decide(ctx, t, func(p *plan) error {
			ev, err := p.t.inc.Solve(m.From, now, note)
			if err != nil {
				return err
			}
			told(p, incidents.AnnouncedSolved)
			e.announce(p, incidents.KindSolved, ev.Seq, now, m.From, note, p.t.inc.Affected)
			return nil
		})
		if errors.Is(err, incidents.ErrAlreadySolved) {
			return nil
		}
		if err == nil && e.byTarget[t.inc.Target] == t {
			e.detector(t.inc.Target).reset()
		}
		return err
	}
	return fmt.Errorf("list post kind %q: want ALERT or SOLVED", m.Kind)
}
