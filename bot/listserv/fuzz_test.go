package listserv

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/oclcbot/oclcbot/incidents"
)

var fuzzHeaderLike = regexp.MustCompile(`(?im)^[ \t>|]*(from|sender|reply-to)[ \t]*:`)

// FuzzMessage builds messages from arbitrary subjects and bodies (text
// that comes from records, upstream replies and mail) and reads them back:
// the header holds exactly the fields the channel sets, the subject is the
// cleaned text, no line is longer than 998 bytes, and the body has no
// header-like From:/Sender:/Reply-To: line.
func FuzzMessage(f *testing.F) {
	f.Add("OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]", "OCLC exports are failing.\n")
	f.Add("x\r\nBcc: a@b.example\r\n\r\nbody", "From: list@lists.example.edu\r\n>Sender : x\rReply-To:y\n.\n")
	f.Add(strings.Repeat("a", 2000), strings.Repeat("é", 3000))
	f.Add("=?utf-8?q?=0D=0ABcc:_x?=", "\x00\x1b\xff\u2028From: x\u0085sender: y")
	ch, err := NewReport(Config{Addr: "127.0.0.1:25", Security: SecurityNone, From: "oclcbot <oclcbot@library.example.edu>",
		To: []string{"list@lists.example.edu"}, Now: func() time.Time { return time.Unix(1772460000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[string]bool{"Date": true, "From": true, "To": true, "Subject": true, "Message-Id": true, "In-Reply-To": true,
		"References": true, "Auto-Submitted": true, "X-Auto-Response-Suppress": true, "X-Oclcbot-Key": true,
		"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}
	f.Fuzz(func(t *testing.T, subject, body string) {
		n := &incidents.Notification{Key: "OIS-2026-0042/update/2/ois", ThreadKey: "OIS-2026-0042/alert/1/ois", Channel: "ois",
			Kind: incidents.KindUpdate, Incident: "OIS-2026-0042", Subject: subject, Body: body, Payload: []byte(`{}`)}
		msg, err := ch.Message(n)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		for _, l := range bytes.Split(msg, []byte("\r\n")) {
			if len(l) > 998 {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		r, err := mail.CreateReader(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("parse: %v\n%q", err, msg)
		}
		fields := r.Header.Fields()
		for fields.Next() {
			if !allowed[fields.Key()] {
				t.Fatalf("unexpected header %q: %q", fields.Key(), fields.Value())
			}
		}
		want := subjectText(subject)
		if want == "" {
			want = "oclcbot update [OIS-2026-0042]"
		}
		if got, err := r.Header.Subject(); err != nil || got != want {
			t.Fatalf("subject %q (%v), want %q", got, err, want)
		}
		if id, _ := r.Header.MessageID(); id != "OIS-2026-0042/update/2/ois@library.example.edu" {
			t.Fatalf("message-id %q", id)
		}
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("body part: %v", err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("body: %v", err)
		}
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		if fuzzHeaderLike.MatchString(text) {
			t.Fatalf("header-like line in body:\n%s", text)
		}
		if text != bodyText(body) {
			t.Fatalf("body changed in transit:\n%q\nwant\n%q", text, bodyText(body))
		}
	})
}
