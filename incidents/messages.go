package incidents

import (
	"fmt"
	"strings"
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

// MaxOthers is how many other senders of one distinct message are listed
// in Message.Others.
const MaxOthers = 10

// Message is one distinct piece of text captured verbatim while an
// incident lasted. A message with the same Source and the same text
// (compared without leading and trailing white space) as one captured
// earlier in the incident is not kept again: it increments Count of the
// first one and moves its Last, whoever sent it and whatever came in
// between. During an outage the probes fail every interval with the same
// error; the incident keeps that error once, with how many times and
// when it was first and last seen.
type Message struct {
	Seq    int       `json:"seq"`    // 1, 2, ... within the incident, in order of first appearance
	Time   time.Time `json:"time"`   // when it was first captured
	Last   time.Time `json:"last"`   // when it was last captured (== Time when Count == 1)
	Source string    `json:"source"` // Source* constant
	From   string    `json:"from"`   // who or what said it first: a user, a probe name, a mail address, a target
	// Others are the other senders of the same text, in order of first
	// appearance, at most MaxOthers.
	Others []string `json:"others,omitempty"`
	Text   string   `json:"text"` // verbatim as first captured (cut at Limits.MaxText bytes with a note saying so)
	// Count is how many times the message was captured, 1 or more.
	Count int `json:"count"`
	// Repeats is Count - 1, kept for readers of the JSON payload and
	// template overrides written before Count existed.
	Repeats int `json:"repeats"`
}

// Limits bounds what an incident keeps. Identical messages are kept once
// (see Message), so the limits bound distinct messages: when an incident
// has more than First + Last distinct messages, the first First and the
// last Last are kept and the count of the others is shown. A message
// identical to one dropped from the middle is kept again as a new one.
type Limits struct {
	First   int // distinct messages kept from the start (default 25)
	Last    int // distinct messages kept from the end (default 25)
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

// Capture records m within the limits lim. When a message kept in the
// incident has m's Source and the same text (after cutting at
// lim.MaxText and trimming white space at both ends), that message counts
// one more copy: its Count grows, its Last becomes m.Time if later (its
// Time m.Time if earlier), m.From joins its Others, and Capture returns
// false. Otherwise m is kept as a new message (Seq and Count are
// assigned; the oldest message after the first lim.First is dropped when
// more than lim.First + lim.Last are kept) and Capture returns true.
func (inc *Incident) Capture(m Message, lim Limits) bool {
	lim = lim.withDefaults()
	m.Text = cutText(m.Text, lim.MaxText)
	if k := inc.sameMessage(m.Source, m.Text); k != nil {
		k.Count++
		k.Repeats = k.Count - 1
		if m.Time.After(k.Last) {
			k.Last = m.Time
		}
		if !m.Time.IsZero() && (k.Time.IsZero() || m.Time.Before(k.Time)) {
			k.Time = m.Time
		}
		k.addSender(m.From)
		inc.journalMessage(*k)
		return false
	}
	inc.MessageCount++
	m.Seq = inc.MessageCount
	m.Count, m.Repeats = 1, 0
	m.Last = m.Time
	m.Others = nil
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

// sameMessage returns the kept message from source whose text equals
// text without leading and trailing white space, or nil.
func (inc *Incident) sameMessage(source, text string) *Message {
	key := strings.TrimSpace(text)
	for i := range inc.Messages {
		k := &inc.Messages[i]
		if k.Source == source && strings.TrimSpace(k.Text) == key {
			return k
		}
	}
	return nil
}

// addSender lists from among the message's other senders, unless it is
// empty, already listed, or MaxOthers are listed.
func (m *Message) addSender(from string) {
	if from == "" || from == m.From || len(m.Others) >= MaxOthers {
		return
	}
	for _, o := range m.Others {
		if o == from {
			return
		}
	}
	m.Others = append(m.Others, from)
}

func (inc *Incident) journalMessage(m Message) {
	m.Others = append([]string(nil), m.Others...)
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
