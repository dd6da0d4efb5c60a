package incidents

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

func TestTextOutput(t *testing.T) {
	inc := newInc()
	raw := []byte("00026nam a2200025   4500\x1e\x1d")
	a, _ := NewAffected(&exportlog.Attempt{ID: 9, Time: t0, User: "ann", OCLCNumber: "123", Title: "A book", RecordIndex: 0, Record: raw, Outcome: exportlog.OutcomeFailed}, t0)
	inc.AddAffected(a)
	inc.Capture(Message{Time: t0, Source: SourceReply, From: "ann", Text: "Waiting for local system"}, Limits{})
	inc.Solve("bob", t0.Add(90*time.Minute), "")
	var b bytes.Buffer
	if err := WriteList(&b, []*Incident{inc}, t0, time.UTC); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "OIS-2026-0042  solved") || !strings.Contains(b.String(), "1h30m") {
		t.Errorf("list:\n%s", b.String())
	}
	b.Reset()
	if err := WriteIncident(&b, inc, t0, time.UTC, true); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Incident OIS-2026-0042: solved", "solved by bob", "Waiting for local system", "did not arrive: export it again", "=LDR  00026nam"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("show lacks %q:\n%s", w, b.String())
		}
	}
	b.Reset()
	n := Notification{Key: "OIS-2026-0042/alert/1/listserv", State: DeliveryDead, Attempts: 3, LastError: "550 no\nway", Created: t0}
	if err := WriteOutbox(&b, []Notification{n}, time.UTC); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "error: 550 no way") {
		t.Errorf("outbox:\n%s", b.String())
	}
}
