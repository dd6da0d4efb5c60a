package mailbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
)

// testSelf is the bot of the fixtures in testdata/mail.
var testSelf = Self{
	Addresses: []string{"oclcbot <oclcbot@bot.example.edu>"},
	Domain:    "bot.example.edu",
	Prefix:    "OIS",
	Lists:     []List{{Address: "catalogers@lists.example.edu", Channel: "listserv"}},
	Targets: []Target{
		{Name: "upstream:ils.example.edu:5500", Words: []string{"Alma"}},
		{Name: "upstream:ils2.example.edu:5500"},
	},
}

func readMail(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func classifyFile(t *testing.T, name string) (bot.MailEvent, Reason) {
	t.Helper()
	ev, why, err := Classify(readMail(t, name), testSelf)
	if err != nil {
		t.Fatalf("Classify(%s): %v", name, err)
	}
	return ev, why
}

func TestClassifyEcho(t *testing.T) {
	ev, why := classifyFile(t, "echo.eml")
	e, ok := ev.(*bot.Echo)
	if !ok || why != ReasonEcho {
		t.Fatalf("got %T %q, want an echo", ev, why)
	}
	if e.MessageID != "<OIS-2026-0042/alert/1/listserv@bot.example.edu>" {
		t.Errorf("MessageID %q", e.MessageID)
	}
	if want := time.Date(2026, 3, 3, 15, 0, 2, 0, time.UTC); !e.Time.Equal(want) {
		t.Errorf("Time %v, want %v", e.Time, want)
	}
	// Under another domain it is no echo: the bot's automatic post,
	// ignored.
	self := testSelf
	self.Domain = "other.example.edu"
	if ev, why, _ := Classify(readMail(t, "echo.eml"), self); ev != nil || why != ReasonAutoSubmitted {
		t.Errorf("echo under another domain: %T %q, want ignored as auto-submitted", ev, why)
	}
}

func TestClassifyReplies(t *testing.T) {
	for _, tc := range []struct {
		file, from, inReplyTo string
		verb                  bot.Verb
		refs                  int
	}{
		{"reply_ack_outlook.eml", "Jane.Doe@example.edu", "<OIS-2026-0042/escalation/3/ois@bot.example.edu>", bot.VerbAck, 1},
		{"reply_solved_gmail.eml", "rpatel@example.edu", "<OIS-2026-0042/alert/1/listserv@bot.example.edu>", bot.VerbSolved, 2},
		{"reply_ack_bottom.eml", "mutt@example.edu", "<OIS-2026-0042/alert/1/listserv@bot.example.edu>", bot.VerbAck, 0},
		{"reply_ack_owa_jp.eml", "tanaka@example.edu", "<OIS-2026-0042/escalation/3/ois@bot.example.edu>", bot.VerbAck, 0},
		{"reply_solved_via_list.eml", "jane.doe@example.edu", "<OIS-2026-0042/alert/1/listserv@bot.example.edu>", bot.VerbSolved, 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev, why := classifyFile(t, tc.file)
			r, ok := ev.(*bot.Reply)
			if !ok || why != ReasonReply {
				t.Fatalf("got %T %q, want a reply", ev, why)
			}
			if r.Verb != tc.verb || r.From != tc.from || r.InReplyTo != tc.inReplyTo || len(r.References) != tc.refs {
				t.Errorf("got %+v, want verb %s from %s in reply to %s with %d references", r, tc.verb, tc.from, tc.inReplyTo, tc.refs)
			}
			if r.MessageID == "" || r.Time.IsZero() {
				t.Errorf("no Message-ID or time: %+v", r)
			}
		})
	}
}

func TestClassifyReplyWithoutVerb(t *testing.T) {
	// The quote says SOLVED, the sender did not.
	ev, why := classifyFile(t, "reply_noverb.eml")
	if ev != nil || why != ReasonNoVerb {
		t.Fatalf("got %T %q, want ignored: %q", ev, why, ReasonNoVerb)
	}
}

func TestClassifyListPosts(t *testing.T) {
	ev, why := classifyFile(t, "listpost_alert.eml")
	p, ok := ev.(*bot.ListPost)
	if !ok || why != ReasonListPost {
		t.Fatalf("got %T %q, want a list post", ev, why)
	}
	want := bot.ListPost{From: "mlopez@example.edu", Subject: "[Catalogers] OCLC EXPORT PROBLEM ALERT", Kind: bot.ListAlert,
		Channel: "listserv", Target: "upstream:ils.example.edu:5500", MessageID: "<5f2e-4a1b@example.edu>", Time: p.Time}
	if *p != want {
		t.Errorf("got %+v\nwant %+v", *p, want)
	}

	ev, _ = classifyFile(t, "listpost_solved.eml")
	p, ok = ev.(*bot.ListPost)
	if !ok || p.Kind != bot.ListSolved || p.Incident != "OIS-2026-0042" || p.Channel != "listserv" {
		t.Fatalf("got %T %+v, want a SOLVED list post for OIS-2026-0042", ev, ev)
	}
}

func TestClassifyDirectSubjects(t *testing.T) {
	// Sent to the bot, not the list: an ALERT is a staff report, a
	// SOLVED a reply (so the engine checks the sender).
	ev, why := classifyFile(t, "direct_alert.eml")
	if sr, ok := ev.(*bot.StaffReport); !ok || why != ReasonStaffReport || sr.Subject != "OCLC EXPORT PROBLEM ALERT" {
		t.Errorf("direct ALERT: %T %q", ev, why)
	}
	ev, why = classifyFile(t, "direct_solved.eml")
	if r, ok := ev.(*bot.Reply); !ok || why != ReasonReply || r.Verb != bot.VerbSolved || r.From != "oncall@example.edu" ||
		r.Subject != "OCLC EXPORT PROBLEM SOLVED [OIS-2026-0042]" {
		t.Errorf("direct SOLVED: %T %+v", ev, ev)
	}
}

func TestClassifyStaffReport(t *testing.T) {
	ev, why := classifyFile(t, "staff_report.eml")
	sr, ok := ev.(*bot.StaffReport)
	if !ok || why != ReasonStaffReport {
		t.Fatalf("got %T %q, want a staff report", ev, why)
	}
	if sr.From != "jmueller@example.edu" || sr.Subject != "Connexion export failing this morning" || sr.MessageID != "<a1b2c3@example.edu>" {
		t.Errorf("header fields: %+v", sr)
	}
	if !strings.Contains(sr.Text, "Müller tried twice") || !strings.Contains(sr.Text, "connection refused by ils2.example.edu") {
		t.Errorf("text (ISO-8859-1, quoted-printable) not decoded: %q", sr.Text)
	}
	if sr.Target != "upstream:ils2.example.edu:5500" {
		t.Errorf("Target %q", sr.Target)
	}
	if len(sr.Attachments) != 2 {
		t.Fatalf("%d attachments, want 2: %+v", len(sr.Attachments), sr.Attachments)
	}
	marc := sr.Attachments[0]
	if marc.Name != "record.mrc" || marc.ContentType != "application/marc" || !bytes.HasPrefix(marc.Data, []byte("00098nam")) || !bytes.HasSuffix(marc.Data, []byte{0x1e, 0x1d}) {
		t.Errorf("MARC attachment: %q %q %q", marc.Name, marc.ContentType, marc.Data)
	}
	png := sr.Attachments[1]
	if png.Name != "Screenshot é.png" || png.ContentType != "image/png" || !bytes.HasPrefix(png.Data, []byte("\x89PNG")) {
		t.Errorf("screenshot: %q %q %d bytes", png.Name, png.ContentType, len(png.Data))
	}
}

func TestClassifyStaffReportHTML(t *testing.T) {
	ev, _ := classifyFile(t, "staff_report_html.eml")
	sr, ok := ev.(*bot.StaffReport)
	if !ok {
		t.Fatalf("got %T, want a staff report", ev)
	}
	if sr.Subject != "Problème: OCLC export error" {
		t.Errorf("subject %q", sr.Subject)
	}
	if want := "every OCLC export since 10:00 ends with “connection timed out”."; !strings.Contains(sr.Text, want) {
		t.Errorf("text %q lacks %q", sr.Text, want)
	}
	if strings.Contains(sr.Text, "color") || strings.Contains(sr.Text, "<p>") || !strings.Contains(sr.Text, "Thanks & regards") {
		t.Errorf("HTML not rendered as text: %q", sr.Text)
	}
	if sr.Target != "" {
		t.Errorf("Target %q, want none", sr.Target)
	}
}

func TestClassifyIgnored(t *testing.T) {
	for _, tc := range []struct {
		file string
		why  Reason
	}{
		{"vacation.eml", ReasonAutoSubmitted},
		{"bounce.eml", ReasonBounce},
		{"bulk.eml", ReasonBulk},
		{"otherlist.eml", ReasonOtherList},
		{"own_rewritten.eml", ReasonOwn},
		{"unrelated.eml", ReasonUnrelated},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev, why := classifyFile(t, tc.file)
			if ev != nil || why != tc.why {
				t.Errorf("got %T %q, want ignored: %q", ev, why, tc.why)
			}
		})
	}
}

// TestClassifyLoopGuards changes one header of a mail that would be acted
// on and checks the guard that stops it.
func TestClassifyLoopGuards(t *testing.T) {
	base := string(readMail(t, "reply_ack_bottom.eml"))
	for _, tc := range []struct {
		name, header string
		why          Reason
	}{
		{"auto-generated", "Auto-Submitted: auto-generated", ReasonAutoSubmitted},
		{"auto-replied", "Auto-Submitted: auto-replied", ReasonAutoSubmitted},
		{"x-autoreply", "X-Autoreply: yes", ReasonAutoSubmitted},
		{"precedence junk", "Precedence: junk", ReasonBulk},
		{"precedence bulk", "Precedence: Bulk", ReasonBulk},
		{"empty return path", "Return-Path: <>", ReasonBounce},
		{"mailer-daemon", "Sender: x\r\nFrom: Mailer-Daemon@mx.example.edu", ReasonBounce},
		{"another list", "List-Id: <autocat.listserv.example.org>", ReasonOtherList},
		{"auto-submitted no", "Auto-Submitted: no", ReasonReply},
		{"our list", "List-Id: Catalogers <catalogers.lists.example.edu>\r\nPrecedence: list", ReasonReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := base
			if strings.Contains(tc.header, "From: ") {
				msg = strings.Replace(msg, `From: "Mutt User" <mutt@example.edu>`, strings.SplitN(tc.header, "\r\n", 2)[1], 1)
			} else {
				msg = tc.header + "\r\n" + msg
			}
			_, why, err := Classify([]byte(msg), testSelf)
			if err != nil || why != tc.why {
				t.Errorf("got %q %v, want %q", why, err, tc.why)
			}
		})
	}
	// The echo passes every guard: lists mark their traffic.
	echo := "Auto-Submitted: auto-generated\r\nPrecedence: bulk\r\n" + string(readMail(t, "echo.eml"))
	if ev, _, _ := Classify([]byte(echo), testSelf); ev == nil {
		t.Error("an echo marked bulk and auto-generated was ignored")
	}
}

func TestClassifyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"blank", []byte("\r\n\r\n  \r\n"), ErrMalformed},
		{"no header", []byte("just some text without any header\r\n"), ErrMalformed},
		{"too large", make([]byte, MaxMessageSize+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, _, err := Classify(tc.raw, testSelf)
			if !errors.Is(err, tc.want) || ev != nil {
				t.Errorf("got %v %v, want %v", ev, err, tc.want)
			}
		})
	}
}

func TestClassifyDamagedBody(t *testing.T) {
	// A report whose attachment is bad base64 and whose text has an
	// unknown charset: the text is kept, the damage noted.
	raw := "From: cat@example.edu\r\nSubject: OCLC export failed\r\nMessage-ID: <d@example.edu>\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\n" +
		"Export to OCLC failed for r\xe9cord 5\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"!!!not base64!!!\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part, cut off with no closing boundary"
	ev, why, err := Classify([]byte(raw), testSelf)
	if err != nil {
		t.Fatal(err)
	}
	sr, ok := ev.(*bot.StaffReport)
	if !ok || why != ReasonStaffReport {
		t.Fatalf("got %T %q", ev, why)
	}
	if !strings.Contains(sr.Text, "Export to OCLC failed for récord 5") || !strings.Contains(sr.Text, "[oclcbot: ") {
		t.Errorf("text %q: want the readable text (Latin-1 guessed) and a note of the damage", sr.Text)
	}
}

func TestClassifyLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: cat@example.edu\r\nSubject: OCLC export errors\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\n")
	b.WriteString(strings.Repeat("export failed again\r\n", MaxTextSize/20+10))
	for i := range MaxAttachments + 3 {
		b.WriteString("--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f" + string(rune('a'+i)) + "\r\n\r\nxx\r\n")
	}
	b.WriteString("--b--\r\n")
	ev, _, err := Classify([]byte(b.String()), testSelf)
	if err != nil {
		t.Fatal(err)
	}
	sr := ev.(*bot.StaffReport)
	if len(sr.Text) > MaxTextSize+1000 || !strings.Contains(sr.Text, "text cut at") {
		t.Errorf("text of %d bytes, want at most about %d and a note", len(sr.Text), MaxTextSize)
	}
	if len(sr.Attachments) != MaxAttachments || !strings.Contains(sr.Text, "more than 20 attachments") {
		t.Errorf("%d attachments, want %d and a note", len(sr.Attachments), MaxAttachments)
	}
}

func TestParseCharsets(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"reply_ack_outlook.eml", "Ack – I’m on it"},          // Windows-1252, quoted-printable
		{"reply_ack_owa_jp.eml", "ACK\n対応します。"},               // ISO-2022-JP
		{"reply_solved_gmail.eml", "SOLVED, the ILS is back"}, // base64, alternative: the plain part
		{"listpost_solved.eml", "Le problème d'export est résolu, ça marche."},
	} {
		p, err := parse(readMail(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.text, tc.want) {
			t.Errorf("%s: text %q, want it to start with %q", tc.file, p.text, tc.want)
		}
	}
}
