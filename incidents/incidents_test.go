package incidents

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newInc() *Incident {
	return New(Opening{ID: "OIS-2026-0042", Target: "catalog", Cause: exportlog.CauseStorage, Class: exportlog.ClassSystem, Time: t0, Text: "3 exports failed"})
}

func TestLifecycle(t *testing.T) {
	inc := newInc()
	if inc.State != StateOpen || inc.Severity != SeverityMajor {
		t.Fatalf("new: %s %s", inc.State, inc.Severity)
	}
	if _, err := inc.Reopen("x", t0, ""); !errors.Is(err, ErrNotSolved) {
		t.Errorf("reopen open: %v", err)
	}
	if _, err := inc.Acknowledge("", t0); !errors.Is(err, ErrNoActor) {
		t.Errorf("ack without actor: %v", err)
	}
	if _, err := inc.Acknowledge("ann", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := inc.Acknowledge("bob", t0.Add(time.Minute)); !errors.Is(err, ErrAlreadyAcknowledged) || !strings.Contains(err.Error(), "ann") {
		t.Errorf("second ack: %v", err)
	}
	if _, err := inc.AddNote("ann", t0, "  "); !errors.Is(err, ErrEmptyNote) {
		t.Errorf("empty note: %v", err)
	}
	a, _ := NewAffected(&exportlog.Attempt{ID: 7, RecordIndex: 0, Record: []byte("not marc"), Outcome: exportlog.OutcomeFailed}, t0)
	q, _ := NewAffected(&exportlog.Attempt{ID: 8, RecordIndex: 0, Record: []byte("x"), Outcome: exportlog.OutcomeQueued}, t0)
	if !inc.AddAffected(a) || inc.AddAffected(a) || !inc.AddAffected(q) {
		t.Fatal("AddAffected must add each attempt once")
	}
	if _, err := inc.Solve("ann", t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if inc.Affected[0].Status != StatusReexport || inc.Affected[1].Status != StatusQueued {
		t.Errorf("after solve: %s %s", inc.Affected[0].Status, inc.Affected[1].Status)
	}
	if _, err := inc.Solve("ann", t0, ""); !errors.Is(err, ErrAlreadySolved) {
		t.Errorf("solve twice: %v", err)
	}
	if _, err := inc.Acknowledge("ann", t0); !errors.Is(err, ErrAlreadySolved) {
		t.Errorf("ack solved: %v", err)
	}
	if d := inc.Duration(t0.Add(5 * time.Hour)); d != time.Hour {
		t.Errorf("duration %s", d)
	}
	ev, err := inc.Reopen(System, t0.Add(2*time.Hour), "")
	if err != nil || inc.State != StateOpen || inc.AckedBy != "" || inc.Reopens != 1 || inc.ID != "OIS-2026-0042" {
		t.Fatalf("reopen: %v %+v", err, inc)
	}
	j := inc.TakeChanges()
	var kinds []string
	for _, e := range j.Events {
		kinds = append(kinds, string(e.Kind))
	}
	if got := strings.Join(kinds, ","); got != "opened,acknowledged,solved,reopened" || ev.Seq != 4 {
		t.Errorf("journal events %s (seq %d)", got, ev.Seq)
	}
	if !inc.TakeChanges().Empty() {
		t.Error("TakeChanges must reset the journal")
	}
}

func TestCaptureKeepsFirstAndLast(t *testing.T) {
	inc := newInc()
	lim := Limits{First: 3, Last: 2, MaxText: 20}
	for i := range 10 {
		inc.Capture(Message{Time: t0, Source: SourceReply, Text: fmt.Sprint("message ", i)}, lim)
	}
	// Identical consecutive messages only count.
	inc.Capture(Message{Time: t0.Add(time.Minute), Source: SourceReply, Text: "message 9"}, lim)
	var got []string
	for _, m := range inc.Messages {
		got = append(got, m.Text)
	}
	if strings.Join(got, "|") != "message 0|message 1|message 2|message 8|message 9" || inc.Omitted() != 5 {
		t.Fatalf("kept %q, omitted %d", got, inc.Omitted())
	}
	if last := inc.Messages[4]; last.Repeats != 1 || !last.Last.Equal(t0.Add(time.Minute)) {
		t.Errorf("repeat not counted: %+v", last)
	}
	j := inc.TakeChanges()
	if len(j.Dropped) != 5 || len(j.Messages) != 5 {
		t.Errorf("journal: %d dropped, %d messages", len(j.Dropped), len(j.Messages))
	}
	inc.Capture(Message{Source: SourceMail, Text: strings.Repeat("é", 30)}, lim)
	if m := inc.Messages[len(inc.Messages)-1]; !strings.Contains(m.Text, "more bytes not kept") || !strings.HasPrefix(m.Text, strings.Repeat("é", 10)+"\n") {
		t.Errorf("long message: %q", m.Text)
	}
}

func TestIDs(t *testing.T) {
	for in, want := range map[string]string{
		"OIS-2026-0042": "OIS-2026-0042", "ois-2026-42": "OIS-2026-0042", " OIS-2026-12345 ": "OIS-2026-12345",
	} {
		got, err := CanonicalID(in)
		if err != nil || got != want {
			t.Errorf("CanonicalID(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "OIS", "OIS-26-1", "OIS-2026-0", "1IS-2026-1", "OIS-2026-1x", "O-I-S-2026-1", "OIS-2026--1"} {
		if _, err := CanonicalID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("CanonicalID(%q): %v", bad, err)
		}
	}
	if id, ok := FindTag("Re: OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]", "OIS"); !ok || id != "OIS-2026-0042" {
		t.Errorf("FindTag: %q %v", id, ok)
	}
	if _, ok := FindTag("[LIST] [OTHER-2026-1]", "OIS"); ok {
		t.Error("FindTag must ignore other prefixes")
	}
	key := Key("OIS-2026-0042", KindSolved, 7, "listserv")
	mid := MessageID(key, "bot.example.edu")
	if mid != "<OIS-2026-0042/solved/7/listserv@bot.example.edu>" {
		t.Errorf("MessageID %s", mid)
	}
	if k, ok := KeyFromMessageID(mid, "BOT.example.edu"); !ok || k != key || IncidentOfKey(k) != "OIS-2026-0042" {
		t.Errorf("KeyFromMessageID: %q %v", k, ok)
	}
	if _, ok := KeyFromMessageID(mid, "other.example"); ok {
		t.Error("another domain's id matched")
	}
	if _, ok := KeyFromMessageID("<CAF123@mail.gmail.com>", ""); ok {
		t.Error("a stranger's id matched")
	}
}

func TestSchedule(t *testing.T) {
	s, err := ParseSchedule("Sat-Sun 22:00-02:00 UTC", nil)
	if err != nil {
		t.Fatal(err)
	}
	sat := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC) // a Saturday
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{
		{23 * time.Hour, true},    // Saturday 23:00
		{22*time.Hour - 1, false}, // Saturday 21:59:59
		{25 * time.Hour, true},    // Sunday 01:00, Saturday's range
		{49 * time.Hour, true},    // Monday 01:00, Sunday's range
		{50 * time.Hour, false},   // Monday 02:00
		{time.Hour, false},        // Saturday 01:00: Friday is not in the schedule
	} {
		if got := s.Active(sat.Add(c.at)); got != c.want {
			t.Errorf("Active(Sat+%s) = %v", c.at, got)
		}
	}
	wh, err := ParseSchedule("mon-fri 08:00-17:00 America/New_York", nil)
	if err != nil {
		t.Fatal(err)
	}
	fri := time.Date(2026, 3, 6, 22, 30, 0, 0, time.UTC) // 17:30 in New York
	next, ok := wh.Next(fri)
	if want := time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC); !ok || !next.Equal(want) { // Monday 08:00 EDT
		t.Errorf("Next = %s, want %s", next, want)
	}
	back, err := ParseSchedule(wh.String(), nil)
	if err != nil || back.String() != wh.String() {
		t.Errorf("round trip %q: %v", wh.String(), err)
	}
	for _, bad := range []string{"", "Mon", "Mon 8-9", "Xyz 08:00-09:00", "Mon 08:00-08:00", "Mon 25:00-26:00", "Mon 08:00-09:00 Mars/Olympus", "Mon 08:00-09:00 UTC extra"} {
		if _, err := ParseSchedule(bad, nil); !errors.Is(err, ErrBadSchedule) {
			t.Errorf("ParseSchedule(%q): %v", bad, err)
		}
	}
}

func TestPrintout(t *testing.T) {
	if p := Printout([]byte("garbage\x1e\x1d")); !strings.Contains(p, "could not be decoded") || !strings.Contains(p, "^^") {
		t.Errorf("printout of garbage: %q", p)
	}
}

func TestSilenceMatching(t *testing.T) {
	s := Silence{Target: "upstream:*", Until: t0.Add(time.Hour), Created: t0}
	if !s.Matches("upstream:ils:5500") || s.Matches("catalog") || !s.Active(t0) || s.Active(t0.Add(time.Hour)) {
		t.Error("silence matching")
	}
	if ValidPattern("[") || !ValidPattern("*") {
		t.Error("ValidPattern")
	}
}
