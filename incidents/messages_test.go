package incidents

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// An outage makes every probe fail with the same error every interval:
// the incident keeps each distinct message once, in order of first
// appearance, with how many times and when it was first and last seen.
func TestCaptureKeepsEachDistinctMessageOnce(t *testing.T) {
	inc := newInc()
	lim := Limits{First: 2, Last: 2}
	refused := "dial tcp 10.0.0.5:5500: connect: connection refused"
	canary := "Export failed: the library system did not answer"
	for i := range 45 {
		at := t0.Add(time.Duration(i) * time.Second)
		inc.Capture(Message{Time: at, Source: SourceProbe, From: "upstream-tcp", Text: refused}, lim)
		inc.Capture(Message{Time: at, Source: SourceProbe, From: "upstream-roundtrip", Text: refused + "\n"}, lim)
		inc.Capture(Message{Time: at, Source: SourceProbe, From: "canary", Text: "  " + canary}, lim)
	}
	// The same text from another source is another message.
	inc.Capture(Message{Time: t0.Add(time.Minute), Source: SourceUpstream, From: "upstream:ils:5500", Text: refused}, lim)

	if len(inc.Messages) != 3 || inc.MessageCount != 3 || inc.Omitted() != 0 {
		t.Fatalf("kept %d messages of %d distinct, omitted %d: %+v", len(inc.Messages), inc.MessageCount, inc.Omitted(), inc.Messages)
	}
	want := []struct {
		seq          int
		source, from string
		text         string
		count        int
		others       []string
		last         time.Time
	}{
		{1, SourceProbe, "upstream-tcp", refused, 90, []string{"upstream-roundtrip"}, t0.Add(44 * time.Second)},
		{2, SourceProbe, "canary", "  " + canary, 45, nil, t0.Add(44 * time.Second)},
		{3, SourceUpstream, "upstream:ils:5500", refused, 1, nil, t0.Add(time.Minute)},
	}
	for i, w := range want {
		m := inc.Messages[i]
		if m.Seq != w.seq || m.Source != w.source || m.From != w.from || m.Text != w.text || m.Count != w.count ||
			m.Repeats != w.count-1 || strings.Join(m.Others, ",") != strings.Join(w.others, ",") || !m.Last.Equal(w.last) {
			t.Errorf("message %d = %+v, want %+v", i, m, w)
		}
	}
	if !inc.Messages[0].Time.Equal(t0) {
		t.Errorf("first seen %s, want %s", inc.Messages[0].Time, t0)
	}
	// The journal holds each message once, with its latest count.
	j := inc.TakeChanges()
	if len(j.Messages) != 3 || j.Messages[0].Count != 90 || len(j.Dropped) != 0 {
		t.Errorf("journal: %+v", j.Messages)
	}
	// A later copy after the journal was taken journals the message again.
	if inc.Capture(Message{Time: t0.Add(2 * time.Minute), Source: SourceProbe, From: "upstream-tcp", Text: refused}, lim) {
		t.Error("a repeated message was kept as a new one")
	}
	if j := inc.TakeChanges(); len(j.Messages) != 1 || j.Messages[0].Seq != 1 || j.Messages[0].Count != 91 ||
		!j.Messages[0].Last.Equal(t0.Add(2*time.Minute)) || !j.Messages[0].Time.Equal(t0) {
		t.Errorf("journal after a repeat: %+v", j.Messages)
	}
}

func TestCaptureLimitsBoundDistinctMessages(t *testing.T) {
	inc := newInc()
	lim := Limits{First: 2, Last: 2}
	// 6 distinct messages, each repeated 10 times, interleaved.
	for round := range 10 {
		for i := range 6 {
			inc.Capture(Message{Time: t0.Add(time.Duration(round) * time.Minute), Source: SourceReply, From: "ann", Text: fmt.Sprint("message ", i)}, lim)
		}
	}
	var got []string
	for _, m := range inc.Messages {
		got = append(got, fmt.Sprintf("%s x%d", m.Text, m.Count))
	}
	// Message 0 and 1 stay from the start; 4 and 5 are the last distinct
	// ones. 2 and 3 were dropped once 4 and 5 arrived in round 0: when
	// they come again they are new (and push each other out) until the
	// tail settles on the latest two distinct texts.
	if inc.Messages[0].Text != "message 0" || inc.Messages[0].Count != 10 || inc.Messages[1].Text != "message 1" || inc.Messages[1].Count != 10 {
		t.Errorf("first messages: %v", got)
	}
	if len(inc.Messages) != 4 || inc.Omitted() != inc.MessageCount-4 {
		t.Errorf("kept %v, %d distinct captured, %d omitted", got, inc.MessageCount, inc.Omitted())
	}
	// Many copies of few distinct messages never drop anything.
	inc = newInc()
	for i := range 1000 {
		inc.Capture(Message{Time: t0.Add(time.Duration(i) * time.Second), Source: SourceProbe, From: "canary", Text: fmt.Sprint("error ", i%3)}, lim)
	}
	if len(inc.Messages) != 3 || inc.Omitted() != 0 || inc.Messages[0].Count != 334 || inc.Messages[2].Count != 333 {
		t.Errorf("3 distinct messages: kept %d, omitted %d: %+v", len(inc.Messages), inc.Omitted(), inc.Messages)
	}
}

func TestCaptureListsOtherSendersOnce(t *testing.T) {
	inc := newInc()
	for i := range 3 * MaxOthers {
		inc.Capture(Message{Time: t0, Source: SourceReply, From: fmt.Sprint("user", i%(MaxOthers+5)), Text: "Record kept by oclcbot"}, Limits{})
	}
	inc.Capture(Message{Time: t0, Source: SourceReply, Text: "Record kept by oclcbot"}, Limits{})
	m := inc.Messages[0]
	if m.From != "user0" || len(m.Others) != MaxOthers || m.Others[0] != "user1" || m.Others[MaxOthers-1] != fmt.Sprint("user", MaxOthers) || m.Count != 3*MaxOthers+1 {
		t.Errorf("senders: from %q, others %v, count %d", m.From, m.Others, m.Count)
	}
}

func TestReportShowsCountsAndFailureKinds(t *testing.T) {
	inc := newInc()
	inc.Failed(t0)
	for i := range 4 {
		at := t0.Add(time.Duration(i+1) * time.Second)
		inc.CheckFailed(at)
		inc.Capture(Message{Time: at, Source: SourceProbe, From: "upstream-tcp", Text: "connection refused"}, Limits{})
	}
	r := NewReport(inc, nil, t0.Add(time.Minute), true)
	if r.Summary.Failures != 5 || r.Summary.ExportFailures != 1 || r.Summary.CheckFailures != 4 {
		t.Errorf("failures %d = %d exports + %d checks", r.Summary.Failures, r.Summary.ExportFailures, r.Summary.CheckFailures)
	}
	if len(r.Messages) != 1 || r.Messages[0].Count != 4 || r.Captured != 4 || !r.Messages[0].Last.Equal(t0.Add(4*time.Second)) {
		t.Errorf("report messages %+v, captured %d", r.Messages, r.Captured)
	}
	b, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(b), `"count":4`) || !strings.Contains(string(b), `"repeats":3`) || !strings.Contains(string(b), `"check_failures":4`) {
		t.Errorf("report JSON %s %v", b, err)
	}
	// The report shares no slices with the incident.
	r.Messages[0].Count = 99
	if inc.Messages[0].Count != 4 {
		t.Error("the report shares its messages with the incident")
	}
	var w strings.Builder
	if err := WriteIncident(&w, inc, t0.Add(time.Minute), time.UTC, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"5 (1 failed export, 4 failed checks)", "(seen 4 times, first 2026-03-02 10:00, last 2026-03-02 10:00)", "Captured messages (1 distinct)"} {
		if !strings.Contains(w.String(), s) {
			t.Errorf("incidents show lacks %q:\n%s", s, w.String())
		}
	}
}
