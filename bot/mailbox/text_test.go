package mailbox

import "testing"

func TestOwnTextFirstWord(t *testing.T) {
	for _, tc := range []struct {
		name, body, word string
	}{
		{"plain", "ACK\n", "ACK"},
		{"punctuation", "Ack. On it.", "ACK"},
		{"bold", "*SOLVED* - back", "SOLVED"},
		{"leading blank lines", "\n\n  solved: firewall\n", "SOLVED"},
		{"outlook", "Ack\n\n-----Original Message-----\nFrom: oclcbot\nSOLVED", "ACK"},
		{"outlook spaced", "\n----- Original Message -----\nACK", ""},
		{"owa rule", "________________________________\nFrom: oclcbot <b@x>\nSent: today\nACK", ""},
		{"outlook header block", "From: oclcbot <b@x>\nSent: Tuesday\nTo: me\nSubject: x\n\nACK", ""},
		{"gmail attribution", "On Tue, Mar 3, 2026 at 10:02 AM oclcbot <b@x> wrote:\n> ALERT\n\nSOLVED", "SOLVED"},
		{"gmail wrapped attribution", "On Tue, Mar 3, 2026 at 10:02 AM oclcbot <\nb@x> wrote:\n> ALERT\nack", "ACK"},
		{"german attribution", "Am 03.03.2026 um 10:02 schrieb oclcbot:\n> ALERT\n\nACK", "ACK"},
		{"only quote", "> SOLVED\n> ACK\n", ""},
		{"signature first", "-- \nACK\n", ""},
		{"forwarded", "---------- Forwarded message ---------\nSOLVED", ""},
		{"acknowledged is not ack", "Acknowledged", "ACKNOWLEDGED"},
		{"bom", "\ufeffACK", "ACK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstWord(ownText(tc.body)); got != tc.word {
				t.Errorf("first word %q, want %q (own text %q)", got, tc.word, ownText(tc.body))
			}
		})
	}
}

func TestSubjectKind(t *testing.T) {
	for _, tc := range []struct {
		subject string
		kind    string
		reply   bool
	}{
		{"OCLC EXPORT PROBLEM ALERT", "ALERT", false},
		{"OCLC EXPORT PROBLEM SOLVED [OIS-2026-0042]", "SOLVED", false},
		{"[Catalogers] OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]", "ALERT", false},
		{"Oclc  export problem alert", "ALERT", false},
		{"Re: [Catalogers] OCLC EXPORT PROBLEM ALERT", "ALERT", true},
		{"AW: OCLC EXPORT PROBLEM SOLVED", "SOLVED", true},
		{"Fwd: RE: OCLC EXPORT PROBLEM ALERT", "ALERT", true},
		{"OCLC export problem OIS-2026-0042 escalated", "", false},
		{"Re: lunch", "", true},
		{"[", "", false},
	} {
		k, r := subjectKind(tc.subject)
		if string(k) != tc.kind || r != tc.reply {
			t.Errorf("subjectKind(%q) = %q %v, want %q %v", tc.subject, k, r, tc.kind, tc.reply)
		}
	}
}

func TestHTMLText(t *testing.T) {
	got := htmlText(`<html><head><title>t</title><style>p{}</style></head><body><p>Hello&nbsp;<b>there</b></p>` +
		`<blockquote>quoted<br>more</blockquote><script>x()</script><!-- c --><div>end</div></body></html>`)
	want := "Hello there\n\n> quoted\n> more\n\nend"
	if got != want {
		t.Errorf("htmlText = %q, want %q", got, want)
	}
}
