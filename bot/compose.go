package bot

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/templates"
)

// composer turns a decision into a rendered outbox row.
type composer struct {
	t     *templates.Set
	tag   bool
	loc   *time.Location
	facts []incidents.Fact
	max   int
	log   *slog.Logger
}

// TemplateNames returns the template blocks a notification of kind is
// rendered from in family: its subject block ("" when the family has no
// subjects) and its body block.
//
//	email:  email.KIND.subject, email.KIND.body
//	slack:  slack.KIND
//	report: report.subject with report.body for thread openers (reported,
//	        escalation, alert, reopened) and report.update for the rest
//	admin notices, in every family: admin.subject, admin.body
func TemplateNames(family string, kind incidents.Kind) (subject, body string) {
	if kind == incidents.KindAdmin {
		if family == FamilySlack {
			return "", "admin.body"
		}
		return "admin.subject", "admin.body"
	}
	switch family {
	case FamilySlack:
		return "", "slack." + string(kind)
	case FamilyReport:
		if kind.Opens() {
			return "report.subject", "report.body"
		}
		return "report.subject", "report.update"
	}
	return "email." + string(kind) + ".subject", "email." + string(kind) + ".body"
}

// notice builds the template data of one notification.
func (c *composer) notice(ch *channel, kind incidents.Kind, key string, inc *incidents.Incident, now time.Time, actor, text string, records []incidents.Affected) *incidents.Notice {
	n := &incidents.Notice{Kind: kind, Key: key, Channel: ch.Name, Time: now, Actor: actor, Text: text}
	if inc != nil {
		n.Incident = incidents.Summarize(inc, now, c.tag)
		limit := c.max
		if kind == incidents.KindSolved {
			limit *= 10 // catalogers need the list of records to export again
		}
		if len(records) > limit {
			n.More = len(records) - limit
			records = records[len(records)-limit:]
		}
		n.Records = make([]incidents.Affected, len(records))
		for i, r := range records {
			if !ch.attach {
				r.Raw = nil
			}
			if kind == incidents.KindSolved || kind == incidents.KindAck {
				r.Printout = ""
			}
			n.Records[i] = r
		}
		if ch.Templates == FamilyReport {
			n.Report = incidents.NewReport(inc, c.facts, now, c.tag)
			if !ch.attach {
				for i := range n.Report.Records {
					n.Report.Records[i].Raw = nil
				}
			}
		}
	}
	localize(n, c.loc)
	return n
}

// notification renders the notification of kind for channel ch.
func (c *composer) notification(ch *channel, kind incidents.Kind, key string, inc *incidents.Incident, now time.Time, actor, text string, records []incidents.Affected) incidents.Notification {
	return c.render(ch, c.notice(ch, kind, key, inc, now, actor, text, records), now)
}

// admin renders an admin notice for channel ch.
func (c *composer) admin(ch *channel, key string, a *incidents.Admin, sum *incidents.Summary, now time.Time) incidents.Notification {
	n := &incidents.Notice{Kind: incidents.KindAdmin, Key: key, Channel: ch.Name, Time: now, Actor: incidents.System, Admin: a, Incident: sum}
	localize(n, c.loc)
	return c.render(ch, n, now)
}

func (c *composer) render(ch *channel, n *incidents.Notice, now time.Time) incidents.Notification {
	out := incidents.Notification{
		Key: n.Key, Channel: ch.Name, Kind: n.Kind, Created: now, NextAt: now,
		State: incidents.DeliveryPending,
	}
	if n.Incident != nil {
		out.Incident = n.Incident.ID
	}
	payload, err := json.Marshal(n)
	if err != nil {
		// Notice holds only plain data: this is a bug, not bad input.
		panic(fmt.Sprintf("bot: encode notice: %v", err))
	}
	out.Payload = payload
	sub, body := TemplateNames(ch.Templates, n.Kind)
	var errs []error
	if sub != "" {
		s, err := c.t.Render(sub, n)
		if err != nil {
			errs = append(errs, err)
		}
		out.Subject = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	}
	b, err := c.t.Render(body, n)
	if err != nil {
		errs = append(errs, err)
	}
	out.Body = b
	if len(errs) > 0 {
		// A broken template must never swallow an alert: send plain
		// words instead, and say why in the log.
		c.log.Error("render notification; sending the built-in text instead", "key", n.Key, "err", errs)
		out.Subject, out.Body = fallback(n, sub != "")
	}
	return out
}

// fallback is the built-in text used when a template fails.
func fallback(n *incidents.Notice, withSubject bool) (subject, body string) {
	var b strings.Builder
	var s string
	if n.Kind == incidents.KindAdmin && n.Admin != nil {
		s = "oclcbot: " + n.Admin.Summary
		fmt.Fprintf(&b, "%s\n\n%s\n", n.Admin.Summary, n.Admin.Detail)
	} else if i := n.Incident; i != nil {
		s = "OCLC EXPORT PROBLEM ALERT"
		if n.Kind == incidents.KindSolved {
			s = "OCLC EXPORT PROBLEM SOLVED"
		}
		if i.Tag != "" {
			s += " " + i.Tag
		}
		fmt.Fprintf(&b, "Incident %s (%s): %s.\nFailing: %s, since %s.\n", i.ID, n.Kind, i.CauseWords, i.TargetWords, i.Since.Format("2006-01-02 15:04 MST"))
		if n.Kind != incidents.KindSolved {
			b.WriteString("Do not export a second time; records listed here did not arrive.\n")
		}
		for _, r := range n.Records {
			fmt.Fprintf(&b, "- %s %s (%s): %s\n", r.OCLCNumber, r.Title, r.User, r.Status.Words())
		}
	}
	if !withSubject {
		return "", s + "\n" + b.String()
	}
	return s, b.String()
}

// localize shows every time of n in loc.
func localize(n *incidents.Notice, loc *time.Location) {
	if loc == nil {
		return
	}
	in := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.In(loc)
		}
	}
	in(&n.Time)
	if s := n.Incident; s != nil {
		for _, t := range []*time.Time{&s.Opened, &s.Since, &s.FirstFailure, &s.LastFailure, &s.AckedAt, &s.SolvedAt} {
			in(t)
		}
	}
	recs := func(rs []incidents.Affected) {
		for i := range rs {
			in(&rs[i].Time)
			in(&rs[i].Updated)
		}
	}
	recs(n.Records)
	if r := n.Report; r != nil {
		for _, t := range []*time.Time{&r.Summary.Opened, &r.Summary.Since, &r.Summary.FirstFailure, &r.Summary.LastFailure, &r.Summary.AckedAt, &r.Summary.SolvedAt} {
			in(t)
		}
		for i := range r.Timeline {
			in(&r.Timeline[i].Time)
		}
		for i := range r.Messages {
			in(&r.Messages[i].Time)
			in(&r.Messages[i].Last)
		}
		recs(r.Records)
	}
}
