package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

// A probe that fails every interval with the same error during an outage
// leaves one captured message with its count and first and last times,
// not a wall of identical lines in the OIS report; the first occurrence
// is on record as soon as the incident is.
func TestRepeatedProbeFailureIsCapturedOnce(t *testing.T) {
	h := newHarness(t, nil)
	const id = "OIS-2026-0001"
	const text = "dial tcp 127.0.0.1:5500: connection refused"
	h.probe(incidents.TargetListener, false)
	h.step(time.Second)
	h.probe(incidents.TargetListener, false) // confirms: alert, and the listener escalates at once
	h.want("ois", "escalation "+id)
	if rep := h.ch["ois"].last(); strings.Count(rep.Body, text) != 1 {
		t.Errorf("the escalation report must show the probe error once:\n%s", rep.Body)
	}
	inc, err := h.st.Incident(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Messages) != 1 || inc.Messages[0].Text != text || !inc.Messages[0].Time.Equal(harnessStart) {
		t.Fatalf("at confirmation: %+v", inc.Messages)
	}
	for range 48 {
		h.step(time.Second)
		h.probe(incidents.TargetListener, false)
	}
	last := h.clk.Now()
	inc, err = h.st.Incident(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Messages) != 1 || inc.MessageCount != 1 || inc.Failures != 50 || inc.CheckFailures != 50 || inc.ExportFailures() != 0 {
		t.Fatalf("after 50 failed probes: %d messages (%d distinct), %d failures (%d checks): %+v",
			len(inc.Messages), inc.MessageCount, inc.Failures, inc.CheckFailures, inc.Messages)
	}
	m := inc.Messages[0]
	if m.Count != 50 || m.Source != incidents.SourceProbe || m.From != "tcp" || !m.Time.Equal(harnessStart) || !m.Last.Equal(last) {
		t.Errorf("captured message: %+v, want count 50 from %s to %s", m, harnessStart, last)
	}
	n := &incidents.Notice{Kind: incidents.KindEscalation, Incident: incidents.Summarize(inc, last, true),
		Report: incidents.NewReport(inc, nil, last, true)}
	body, err := h.tmpls.Render("report.body", n)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(seen 50 times, first 2026-03-02 10:00 UTC, last 2026-03-02 10:00 UTC)", "Failures:       50 (0 failed exports, 50 failed checks by oclcbot)"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q:\n%s", want, body)
		}
	}
	if c := strings.Count(body, text); c != 1 {
		t.Errorf("the report shows the probe error %d times:\n%s", c, body)
	}

	// A restarted daemon goes on counting the stored message.
	h.start()
	h.step(time.Second)
	h.probe(incidents.TargetListener, false)
	inc, _ = h.st.Incident(h.ctx, id)
	if len(inc.Messages) != 1 || inc.Messages[0].Count != 51 || !inc.Messages[0].Last.Equal(h.clk.Now()) {
		t.Errorf("after a restart: %+v", inc.Messages)
	}
}
