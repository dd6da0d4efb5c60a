package mailbox

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/incidents"
)

// Self is what the classifier must know about the bot to tell its own
// mail, replies to it and its lists' traffic from the rest.
type Self struct {
	// Addresses are the addresses the bot sends from (the From of its
	// list posts and OIS reports). Mail from them is never acted on,
	// except as an echo.
	Addresses []string
	// Domain is the domain of the bot's Message-IDs
	// (incidents.MessageID). Without it no mail is an echo or a reply by
	// its ids.
	Domain string
	// Prefix of incident ids in subject tags ("OIS"); "" accepts any.
	Prefix string
	// Lists are the mailing lists the bot posts to.
	Lists []List
	// Targets help guess which target a staff report or list post is
	// about.
	Targets []Target
}

// List is a mailing list the bot posts to.
type List struct {
	// Address is the list's posting address ("catalogers@lists.example.edu").
	Address string
	// Channel is the name of the bot's channel that posts to the list.
	Channel string
	// ID is the list's List-Id without brackets; default: Address with
	// "@" replaced by "." (what Mailman and LISTSERV send).
	ID string
}

// Target names a target for the guess: when a mail's subject or text
// contains one of Words (case-insensitively) and no other target's, it is
// about Name. An "upstream:HOST:PORT" target's HOST counts as a word.
type Target struct {
	Name  string
	Words []string
}

// Reason says what Classify made of a message: the kind of event, or why
// it is ignored.
type Reason string

// Reasons. The first four come with an event, the others without.
const (
	ReasonStaffReport Reason = "staff report"
	ReasonReply       Reason = "reply"
	ReasonListPost    Reason = "list post"
	ReasonEcho        Reason = "echo"
	// ReasonAutoSubmitted: Auto-Submitted (other than "no"), a vacation
	// or other automatic reply.
	ReasonAutoSubmitted Reason = "auto-submitted"
	// ReasonBounce: a delivery status notification (MAILER-DAEMON, an
	// empty Return-Path, multipart/report).
	ReasonBounce Reason = "bounce"
	// ReasonBulk: Precedence bulk or junk.
	ReasonBulk Reason = "bulk"
	// ReasonOtherList: traffic of a mailing list the bot does not post to.
	ReasonOtherList Reason = "other list"
	// ReasonOwn: mail from the bot's own address that is no echo.
	ReasonOwn Reason = "own mail"
	// ReasonNoVerb: a reply to the bot whose first word is not ACK or
	// SOLVED.
	ReasonNoVerb Reason = "reply without ACK or SOLVED"
	// ReasonUnrelated: none of the above; not about OCLC exports.
	ReasonUnrelated Reason = "unrelated"
)

// Subject phrases of the listserv posts (templates/default/email.tmpl).
const (
	alertPhrase  = "OCLC EXPORT PROBLEM ALERT"
	solvedPhrase = "OCLC EXPORT PROBLEM SOLVED"
)

// Classify reads one raw RFC 5322 message from the bot's mailbox and says
// what it is: an event for Engine.HandleMail with its Reason, or a nil
// event and the Reason it is ignored. The rules, in order:
//
//  1. a message whose Message-ID is one of the bot's (at Self.Domain) is
//     the list's echo of the bot's post (*bot.Echo), whatever else it
//     says: lists mark their traffic bulk or list;
//  2. auto-submitted mail, bounces, Precedence bulk or junk, and traffic
//     of lists not in Self.Lists are ignored; so is the bot's own mail;
//  3. a reply to one of the bot's mails (In-Reply-To or References)
//     whose own text (quotes and signature left out) starts with the word
//     ACK or SOLVED is a *bot.Reply (the engine checks the sender against
//     its allow-list; Reply.From carries it);
//  4. a new post with the subject "OCLC EXPORT PROBLEM ALERT" or
//     "... SOLVED" (optionally tagged) arriving through one of Self.Lists
//     is a *bot.ListPost; sent to the bot directly, an ALERT is a staff
//     report and a SOLVED a reply SOLVED (so the allow-list applies);
//  5. any other reply to the bot's mail is ignored (ReasonNoVerb), except
//     one whose subject carries an incident tag and whose first word is
//     ACK or SOLVED (a client that lost the thread headers);
//  6. a mail whose subject or text speaks of OCLC exports failing is a
//     *bot.StaffReport, its text and attachments captured;
//  7. the rest is ReasonUnrelated.
//
// Classify never answers or changes anything. It fails with ErrTooLarge
// or ErrMalformed (wrapped) only when the message cannot be read at all;
// damage inside the body is noted in a staff report's text.
func Classify(raw []byte, self Self) (bot.MailEvent, Reason, error) {
	p, err := parse(raw)
	if err != nil {
		return nil, "", err
	}
	ev, why := classify(p, self)
	return ev, why, nil
}

func classify(p *parsed, self Self) (bot.MailEvent, Reason) {
	if p.messageID != "" && self.ours(p.messageID) {
		return &bot.Echo{MessageID: p.messageID, Time: p.date}, ReasonEcho
	}
	if why := loopGuard(p, self); why != "" {
		return nil, why
	}
	if self.isSelf(p.from) {
		return nil, ReasonOwn
	}
	answersUs := false
	for _, id := range append(append([]string(nil), p.inReplyTo...), p.references...) {
		if self.ours(id) {
			answersUs = true
			break
		}
	}
	verb := bot.Verb(firstWord(ownText(p.text)))
	isVerb := verb == bot.VerbAck || verb == bot.VerbSolved
	if answersUs && isVerb {
		return p.reply(verb), ReasonReply
	}
	kind, isReply := subjectKind(p.subject)
	if kind != "" && !isReply {
		if l, ok := self.viaList(p); ok {
			tag, _ := incidents.FindTag(p.subject, self.Prefix)
			return &bot.ListPost{From: p.from, Subject: p.subject, Kind: kind, Incident: tag, Channel: l.Channel,
				Target: self.guessTarget(p), MessageID: p.messageID, Time: p.date}, ReasonListPost
		}
		if kind == bot.ListSolved {
			return p.reply(bot.VerbSolved), ReasonReply
		}
		return p.staffReport(self), ReasonStaffReport
	}
	if answersUs {
		return nil, ReasonNoVerb
	}
	if _, tagged := incidents.FindTag(p.subject, self.Prefix); tagged && isVerb && self.Domain != "" {
		return p.reply(verb), ReasonReply
	}
	if reportsFailure(p.subject + "\n" + head(p.text, 64<<10)) {
		return p.staffReport(self), ReasonStaffReport
	}
	return nil, ReasonUnrelated
}

// loopGuard returns why p must be ignored as automatic mail, or "".
func loopGuard(p *parsed, self Self) Reason {
	h := p.h
	if v := strings.ToLower(rawHeader(h.Header, "Auto-Submitted")); v != "" && v != "no" && !strings.HasPrefix(v, "no ") && !strings.HasPrefix(v, "no;") {
		return ReasonAutoSubmitted
	}
	if h.Has("X-Autoreply") || h.Has("X-Autorespond") || h.Has("X-Autoresponse") {
		return ReasonAutoSubmitted
	}
	prec := strings.ToLower(rawHeader(h.Header, "Precedence"))
	if prec == "auto_reply" {
		return ReasonAutoSubmitted
	}
	if at := strings.LastIndexByte(p.from, '@'); at > 0 && strings.EqualFold(p.from[:at], "mailer-daemon") {
		return ReasonBounce
	}
	if h.Has("Return-Path") && strings.Trim(rawHeader(h.Header, "Return-Path"), "<> ") == "" {
		return ReasonBounce
	}
	if p.mediaType == "multipart/report" {
		return ReasonBounce
	}
	if prec == "bulk" || prec == "junk" {
		return ReasonBulk
	}
	isList := prec == "list" || h.Has("List-Id") || h.Has("List-Post") || h.Has("List-Unsubscribe")
	if _, ours := self.viaList(p); isList && !ours {
		return ReasonOtherList
	}
	return ""
}

// subjectKind finds the ALERT or SOLVED phrase at the start of subject,
// after list tags ("[Catalogers]") and, when isReply, after "Re:"-like
// prefixes.
func subjectKind(subject string) (kind bot.ListPostKind, isReply bool) {
	s := strings.TrimSpace(subject)
	for range 10 {
		t := strings.TrimSpace(s)
		if strings.HasPrefix(t, "[") {
			if j := strings.IndexByte(t, ']'); j > 0 {
				s = t[j+1:]
				continue
			}
		}
		if i := strings.IndexByte(t, ':'); i > 0 && i <= 4 {
			switch strings.ToLower(t[:i]) {
			case "re", "aw", "sv", "vs", "fw", "fwd", "wg", "tr", "rv", "r":
				s, isReply = t[i+1:], true
				continue
			}
		}
		s = t
		break
	}
	up := strings.ToUpper(strings.Join(strings.Fields(s), " "))
	switch {
	case strings.HasPrefix(up, alertPhrase):
		return bot.ListAlert, isReply
	case strings.HasPrefix(up, solvedPhrase):
		return bot.ListSolved, isReply
	}
	return "", isReply
}

func (p *parsed) reply(v bot.Verb) *bot.Reply {
	r := &bot.Reply{From: p.from, Subject: p.subject, Verb: v, MessageID: p.messageID, Time: p.date}
	if len(p.inReplyTo) > 0 {
		r.InReplyTo = p.inReplyTo[0]
	}
	r.References = append(r.References, p.references...)
	return r
}

func (p *parsed) staffReport(self Self) *bot.StaffReport {
	text := p.text
	if notes := p.notes; len(notes) > 0 {
		if len(notes) > 10 {
			notes = append(notes[:10:10], fmt.Sprintf("%d more", len(notes)-10))
		}
		// Notes quote parser errors, which quote the message's bytes.
		text += "\n\n[oclcbot: " + oneLine(head(strings.Join(notes, "; "), 4096)) + "]"
	}
	return &bot.StaffReport{From: p.from, Subject: p.subject, Text: text, Attachments: p.atts,
		Target: self.guessTarget(p), MessageID: p.messageID, Time: p.date}
}

// ours reports whether id is a Message-ID the bot made.
func (s Self) ours(id string) bool {
	if s.Domain == "" {
		return false
	}
	_, ok := incidents.KeyFromMessageID(id, s.Domain)
	return ok
}

func (s Self) isSelf(addr string) bool {
	for _, a := range s.Addresses {
		if bare(a) != "" && strings.EqualFold(bare(a), addr) {
			return true
		}
	}
	return false
}

// viaList returns the list (of Self.Lists) p came through: by List-Id,
// List-Post, or the list's address among the recipients.
func (s Self) viaList(p *parsed) (List, bool) {
	if len(s.Lists) == 0 {
		return List{}, false
	}
	listID := strings.ToLower(rawHeader(p.h.Header, "List-Id"))
	listPost := strings.ToLower(rawHeader(p.h.Header, "List-Post"))
	var rcpts []string
	for _, k := range []string{"To", "Cc", "Delivered-To", "X-Original-To"} {
		if addrs, err := p.h.AddressList(k); err == nil {
			for _, a := range addrs {
				rcpts = append(rcpts, a.Address)
			}
		} else {
			for _, f := range strings.Split(p.h.Get(k), ",") {
				rcpts = append(rcpts, looseAddress(f))
			}
		}
	}
	for _, l := range s.Lists {
		addr := strings.ToLower(bare(l.Address))
		if addr == "" {
			continue
		}
		id := strings.ToLower(l.ID)
		if id == "" {
			id = strings.Replace(addr, "@", ".", 1)
		}
		if listID != "" && strings.Contains(listID, "<"+id+">") || listID == id {
			return l, true
		}
		if listPost != "" && strings.Contains(listPost, "mailto:"+addr) {
			return l, true
		}
		for _, r := range rcpts {
			if strings.EqualFold(r, addr) {
				return l, true
			}
		}
	}
	return List{}, false
}

// guessTarget returns the one target p's subject or text names, or "".
func (s Self) guessTarget(p *parsed) string {
	text := strings.ToLower(p.subject + "\n" + head(p.text, 64<<10))
	found := ""
	for _, t := range s.Targets {
		words := t.Words
		if host, ok := strings.CutPrefix(t.Name, "upstream:"); ok {
			if i := strings.LastIndexByte(host, ':'); i > 0 {
				host = host[:i]
			}
			words = append([]string{host}, words...)
		}
		for _, w := range words {
			if w = strings.ToLower(strings.TrimSpace(w)); w != "" && containsWord(text, w) {
				if found != "" && found != t.Name {
					return ""
				}
				found = t.Name
				break
			}
		}
	}
	return found
}

// reportsFailure reports whether text speaks of OCLC exports failing.
func reportsFailure(text string) bool {
	t := strings.ToLower(text)
	if !strings.Contains(t, "oclc") && !strings.Contains(t, "connexion") && !strings.Contains(t, "worldcat") {
		return false
	}
	if !strings.Contains(t, "export") {
		return false
	}
	for _, w := range []string{"fail", "error", "problem", "not work", "isn't work", "stopped work", "not going through",
		"doesn't", "does not", "didn't", "did not", "won't", "can't", "cannot", "unable", "stuck", "broken", "issue",
		"trouble", "refused", "timed out", "timeout", "time out", "reject", "missing", "not arriv", "not show", "hang", "hung"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return containsWord(t, "down")
}

// containsWord reports whether w occurs in s not inside a longer word.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		after := j+len(w) == len(s) || !isWordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// bare returns the address in a (a bare address or "Name <addr>").
func bare(a string) string {
	if p, err := mail.ParseAddress(a); err == nil {
		return p.Address
	}
	return strings.TrimSpace(a)
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
