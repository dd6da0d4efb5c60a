package incidents

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Message sources: where a captured message came from.
const (
	SourceReply    = "reply"    // the reply the cataloger saw in Connexion
	SourceUpstream = "upstream" // the upstream ILS's reply, verbatim
	SourceDetail   = "detail"   // the receiver's explanation for the systems office
	SourceProbe    = "probe"    // a probe's error
	SourceMail     = "mail"     // a staff report mail or a list post
)

// Message is one piece of text captured verbatim while an incident lasted.
// Identical consecutive messages from the same source are kept once, with
// Repeats counting the copies after the first and Last the time of the
// latest copy.
type Message struct {
	Seq     int       `json:"seq"`     // 1, 2, ... within the incident
	Time    time.Time `json:"time"`    // when it was first captured
	Last    time.Time `json:"last"`    // when its latest repeat was captured (== Time when Repeats == 0)
	Source  string    `json:"source"`  // Source* constant
	From    string    `json:"from"`    // who or what said it: a user, a probe name, a mail address, a target
	Text    string    `json:"text"`    // verbatim (cut at Limits.MaxText bytes with a note saying so)
	Repeats int       `json:"repeats"` // identical copies captured after this one
}

// Limits bounds what an incident keeps. An outage of a day can produce
// thousands of identical replies: the first First and the last Last
// messages are kept, the count of the others is shown.
type Limits struct {
	First   int // messages kept from the start (default 25)
	Last    int // messages kept from the end (default 25)
	MaxText int // bytes of one message kept (default 64 KiB)
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{First: 25, Last: 25, MaxText: 64 << 10}

func (l Limits) withDefaults() Limits {
	if l.First <= 0 {
		l.First = DefaultLimits.First
	}
	if l.Last <= 0 {
		l.Last = DefaultLimits.Last
	}
	if l.MaxText <= 0 {
		l.MaxText = DefaultLimits.MaxText
	}
	return l
}

// Capture records m (Seq is assigned) within the limits lim. A message
// equal in source, sender and text to the latest one kept only counts as a
// repeat. It reports whether a new message was kept.
func (inc *Incident) Capture(m Message, lim Limits) bool {
	lim = lim.withDefaults()
	m.Text = cutText(m.Text, lim.MaxText)
	if n := len(inc.Messages); n > 0 {
		last := &inc.Messages[n-1]
		if last.Source == m.Source && last.From == m.From && last.Text == m.Text && last.Seq == inc.MessageCount {
			last.Repeats++
			if m.Time.After(last.Last) {
				last.Last = m.Time
			}
			inc.journalMessage(*last)
			return false
		}
	}
	inc.MessageCount++
	m.Seq = inc.MessageCount
	m.Repeats = 0
	m.Last = m.Time
	inc.Messages = append(inc.Messages, m)
	inc.journalMessage(m)
	if len(inc.Messages) > lim.First+lim.Last {
		// Drop the oldest of the tail: the first First stay, the last
		// Last stay.
		gone := inc.Messages[lim.First]
		inc.Messages = append(inc.Messages[:lim.First], inc.Messages[lim.First+1:]...)
		inc.journal.Dropped = append(inc.journal.Dropped, gone.Seq)
		for i, jm := range inc.journal.Messages {
			if jm.Seq == gone.Seq {
				inc.journal.Messages = append(inc.journal.Messages[:i], inc.journal.Messages[i+1:]...)
				break
			}
		}
	}
	return true
}

func (inc *Incident) journalMessage(m Message) {
	for i := range inc.journal.Messages {
		if inc.journal.Messages[i].Seq == m.Seq {
			inc.journal.Messages[i] = m
			return
		}
	}
	inc.journal.Messages = append(inc.journal.Messages, m)
}

// cutText keeps at most n bytes of s, cut on a rune boundary, and says how
// much was left out.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n[... %d more bytes not kept]", len(s)-cut)
}
