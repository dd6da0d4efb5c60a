package bot

import (
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

// route decides what channel c hears when the incident announces kind,
// given what c was last told (cur): the kind to send, what c will then
// have been told, and whether to send anything at all.
//
// The rules that keep every channel's story straight:
//   - a channel hears a problem at most once per episode (alert, or
//     escalation for a channel that hears only escalations), and
//     "reopened" when it had been told the problem was solved;
//   - updates, reminders and acknowledgements go only to channels that
//     were told of the problem;
//   - SOLVED goes only to channels that were told of the problem, so
//     never without its ALERT.
func route(kind incidents.Kind, cur incidents.Announced, c *channel, inc *incidents.Incident) (incidents.Kind, incidents.Announced, bool) {
	const (
		none     = incidents.AnnouncedNone
		reported = incidents.AnnouncedReported
		problem  = incidents.AnnouncedProblem
		solved   = incidents.AnnouncedSolved
	)
	told := cur == problem || cur == reported
	switch kind {
	case incidents.KindAlert, incidents.KindReopened:
		if cur == problem {
			return "", cur, false
		}
		switch {
		case cur == solved && c.wants(incidents.KindReopened):
			return incidents.KindReopened, problem, true
		case c.wants(incidents.KindAlert):
			return incidents.KindAlert, problem, true
		case c.wants(incidents.KindEscalation) && !inc.Escalated.IsZero():
			return incidents.KindEscalation, problem, true
		}
	case incidents.KindReported:
		if cur == none && c.wants(incidents.KindReported) {
			return incidents.KindReported, reported, true
		}
	case incidents.KindEscalation:
		if cur != solved && c.wants(incidents.KindEscalation) {
			return incidents.KindEscalation, problem, true
		}
	case incidents.KindUpdate, incidents.KindReminder:
		if cur == problem && c.wants(kind) {
			return kind, cur, true
		}
	case incidents.KindAck:
		if told && c.wants(kind) {
			return kind, cur, true
		}
	case incidents.KindSolved:
		if told {
			return incidents.KindSolved, solved, true
		}
	}
	return "", cur, false
}

// announce adds to p the notifications of kind for the timeline event seq
// to every channel route lets hear it, unless a silence or maintenance
// window holds announcements about the target back (then the incident is
// marked for reconciliation when it ends). records are the records the
// notice lists. It returns how many notifications it made.
func (e *Engine) announce(p *plan, kind incidents.Kind, seq int, now time.Time, actor, text string, records []incidents.Affected) int {
	inc := p.t.inc
	made := 0
	quiet := -1 // unknown yet: most announcements reach no channel
	for _, c := range e.chans {
		send, next, ok := route(kind, p.ann[c.Name], c, inc)
		if !ok {
			continue
		}
		if quiet < 0 {
			quiet = 0
			if e.suppressed(inc.Target, now) {
				quiet = 1
			}
		}
		if quiet == 1 {
			p.dirty = true
			continue
		}
		key := incidents.Key(inc.ID, send, seq, c.Name)
		p.notes = append(p.notes, e.comp.notification(c, send, key, inc, now, actor, text, records))
		if next != p.ann[c.Name] {
			p.ann[c.Name] = next
			p.annUpd = append(p.annUpd, incidents.Announcement{Incident: inc.ID, Channel: c.Name, State: next, Time: now})
		}
		made++
	}
	if made > 0 && kind != incidents.KindAck && kind != incidents.KindSolved {
		if inc.AnnouncedAt.IsZero() && inc.State.Active() {
			inc.AnnouncedAt = now
		}
		if kind != incidents.KindEscalation {
			inc.LastNotice = now
		}
	}
	return made
}

// suppressed reports whether a silence or a maintenance window holds back
// announcements about target at now.
func (e *Engine) suppressed(target string, now time.Time) bool {
	for i := range e.silences {
		s := &e.silences[i]
		if s.Active(now) && s.Matches(target) {
			return true
		}
	}
	for i := range e.windows {
		w := &e.windows[i]
		if w.Matches(target) && w.Schedule.Active(now) {
			return true
		}
	}
	return false
}

// reconcile announces, after a silence ended, whatever changed inside it
// relative to what each channel was last told: a problem that started and
// ended inside gives nothing; one that started inside and goes on gives an
// ALERT; one alerted before and solved inside gives SOLVED. It reports
// whether anything was announced.
func (e *Engine) reconcile(p *plan, now time.Time) bool {
	inc := p.t.inc
	if e.suppressed(inc.Target, now) {
		return false
	}
	kind := incidents.KindSolved
	text := "announced after the silence or maintenance window ended"
	switch {
	case inc.State.Active() && inc.Reported:
		kind = incidents.KindReported
	case inc.State.Active():
		kind = incidents.KindAlert
	}
	seq := inc.EventSeq() + 1
	records := inc.Affected
	if n := e.announce(p, kind, seq, now, incidents.System, text, records); n == 0 {
		return false
	}
	inc.Append(incidents.EventAnnounced, incidents.System, now, text)
	if kind != incidents.KindSolved {
		inc.MarkAnnounced(attemptIDs(records))
	}
	return true
}

func attemptIDs(rs []incidents.Affected) []int64 {
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.AttemptID
	}
	return ids
}
