package mailbox

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/bot"
)

// FuzzClassify: anyone can mail the bot anything. Classify must return
// an event, an ignore reason or ErrMalformed/ErrTooLarge, never panic,
// and hand the engine valid UTF-8. The seed corpus in
// testdata/fuzz/FuzzClassify holds every kind of mail of testdata/mail
// and malformed ones.
func FuzzClassify(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: OCLC export failed\r\n\r\nhello"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, why, err := Classify(raw, testSelf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if ev != nil || why != "" {
				t.Fatalf("error %v with an event %T %q", err, ev, why)
			}
			return
		}
		valid := func(what, s string) {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8: %q", what, s)
			}
		}
		switch e := ev.(type) {
		case nil:
			switch why {
			case ReasonAutoSubmitted, ReasonBounce, ReasonBulk, ReasonOtherList, ReasonOwn, ReasonNoVerb, ReasonUnrelated:
			default:
				t.Fatalf("no event but reason %q", why)
			}
		case *bot.Echo:
			if why != ReasonEcho || !testSelf.ours(e.MessageID) {
				t.Fatalf("echo %q (%q) is not one of the bot's ids", e.MessageID, why)
			}
		case *bot.Reply:
			if why != ReasonReply || (e.Verb != bot.VerbAck && e.Verb != bot.VerbSolved) {
				t.Fatalf("reply %q verb %q", why, e.Verb)
			}
			valid("reply subject", e.Subject)
		case *bot.ListPost:
			if why != ReasonListPost || (e.Kind != bot.ListAlert && e.Kind != bot.ListSolved) || e.Channel != "listserv" {
				t.Fatalf("list post %q %+v", why, e)
			}
			valid("list post subject", e.Subject)
		case *bot.StaffReport:
			if why != ReasonStaffReport {
				t.Fatalf("staff report with reason %q", why)
			}
			valid("report subject", e.Subject)
			valid("report text", e.Text)
			if len(e.Text) > MaxTextSize+64<<10 || len(e.Attachments) > MaxAttachments {
				t.Fatalf("limits exceeded: %d bytes of text, %d attachments", len(e.Text), len(e.Attachments))
			}
			n := 0
			for _, a := range e.Attachments {
				n += len(a.Data)
			}
			if n > MaxAttachmentBytes {
				t.Fatalf("%d attachment bytes", n)
			}
		default:
			t.Fatalf("unknown event %T", ev)
		}
	})
}
