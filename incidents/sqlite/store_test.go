package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func mustStore(tb testing.TB) *Store {
	tb.Helper()
	d, err := db.Open(filepath.Join(tb.TempDir(), "s.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	s, err := Open(context.Background(), d)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func note(inc *incidents.Incident, kind incidents.Kind, seq int, ch string) incidents.Notification {
	return incidents.Notification{Key: incidents.Key(inc.ID, kind, seq, ch), Channel: ch, Kind: kind, Incident: inc.ID,
		Subject: string(kind), Body: "b", Created: t0}
}

func TestApplyRoundTripAndConflict(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	inc := incidents.New(incidents.Opening{ID: "OIS-2026-0001", Target: "catalog", Cause: exportlog.CauseStorage, Class: exportlog.ClassSystem, Time: t0})
	inc.Failed(t0)
	raw := []byte("00026nam a2200025   4500\x1e\x1d")
	aff, _ := incidents.NewAffected(&exportlog.Attempt{ID: 5, Time: t0, User: "ann", Record: raw, Outcome: exportlog.OutcomeFailed, Title: "T"}, t0)
	inc.AddAffected(aff)
	lim := incidents.Limits{First: 1, Last: 1}
	for _, m := range []string{"a", "b", "c"} {
		inc.Capture(incidents.Message{Time: t0, Source: incidents.SourceReply, Text: m}, lim)
	}
	ch := &incidents.Change{Incident: inc, Journal: inc.TakeChanges(),
		Notifications: []incidents.Notification{note(inc, incidents.KindAlert, 1, "listserv")},
		Announced:     []incidents.Announcement{{Incident: inc.ID, Channel: "listserv", State: incidents.AnnouncedProblem, Time: t0}},
		State:         map[string]string{"k": "v"}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incident(ctx, "ois-2026-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Target != "catalog" || !got.Opened.Equal(t0) || len(got.Timeline) != 1 ||
		len(got.Affected) != 1 || string(got.Affected[0].Raw) != string(raw) || got.MessageCount != 3 || len(got.Messages) != 2 ||
		got.Messages[0].Text != "a" || got.Messages[1].Text != "c" {
		t.Fatalf("round trip: %+v", got)
	}
	if v, ok, _ := s.State(ctx, "k"); !ok || v != "v" {
		t.Error("state not saved")
	}
	// Two copies of version 1: the second save must fail and write nothing.
	a, _ := s.Incident(ctx, inc.ID)
	b, _ := s.Incident(ctx, inc.ID)
	if _, err := a.Acknowledge("ann", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, &incidents.Change{Incident: a, Journal: a.TakeChanges()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Solve("bob", t0, ""); err != nil {
		t.Fatal(err)
	}
	err = s.Apply(ctx, &incidents.Change{Incident: b, Journal: b.TakeChanges(), Notifications: []incidents.Notification{note(b, incidents.KindSolved, 3, "listserv")}})
	if !errors.Is(err, incidents.ErrConflict) {
		t.Fatalf("stale save: %v", err)
	}
	now, _ := s.Incident(ctx, inc.ID)
	if now.State != incidents.StateAcknowledged || len(now.Timeline) != 2 {
		t.Fatalf("the stale save leaked: %s, %d events", now.State, len(now.Timeline))
	}
	if _, err := s.Notification(ctx, incidents.Key(inc.ID, incidents.KindSolved, 3, "listserv")); !errors.Is(err, incidents.ErrNotFound) {
		t.Fatalf("the stale save's notification leaked: %v", err)
	}
}

func TestOutboxOrderThreadsAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	inc := incidents.New(incidents.Opening{ID: "OIS-2026-0001", Target: "catalog", Time: t0})
	other := incidents.New(incidents.Opening{ID: "OIS-2026-0002", Target: "index", Time: t0})
	alert, upd, solved := note(inc, incidents.KindAlert, 1, "mail"), note(inc, incidents.KindUpdate, 2, "mail"), note(inc, incidents.KindSolved, 3, "mail")
	if err := s.Apply(ctx, &incidents.Change{Incident: inc, Journal: inc.TakeChanges(), Notifications: []incidents.Notification{alert, upd}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, &incidents.Change{Incident: other, Journal: other.TakeChanges(), Notifications: []incidents.Notification{note(other, incidents.KindAlert, 1, "mail")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, []incidents.Notification{solved, alert}); err != nil { // alert again: ignored
		t.Fatal(err)
	}
	due, err := s.Due(ctx, "mail", t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].Key != alert.Key || due[1].Incident != "OIS-2026-0002" {
		t.Fatalf("due: %+v", due)
	}
	got, _ := s.Notification(ctx, solved.Key)
	if got.ThreadKey != alert.Key {
		t.Errorf("thread key %q", got.ThreadKey)
	}
	if err := s.MarkRetry(ctx, alert.Key, t0.Add(time.Minute), 1, "421"); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Due(ctx, "mail", t0, 10); len(due) != 1 || due[0].Incident != "OIS-2026-0002" {
		t.Fatalf("a waiting ALERT must hold its thread back: %+v", due)
	}
	if next, ok, _ := s.NextDue(ctx, "mail"); !ok || !next.Equal(t0) {
		t.Errorf("next due %s %v", next, ok)
	}
	if err := s.MarkDead(ctx, alert.Key, 2, "550", nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{upd.Key, solved.Key} {
		n, _ := s.Notification(ctx, k)
		if n.State != incidents.DeliveryDead || n.SkippedFor != alert.Key {
			t.Errorf("%s: %s skipped for %q", k, n.State, n.SkippedFor)
		}
	}
	late := note(inc, incidents.KindReminder, 4, "mail")
	if err := s.Enqueue(ctx, []incidents.Notification{late}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Notification(ctx, late.Key); n.State != incidents.DeliveryDead {
		t.Errorf("a follow-up queued after its ALERT died: %s", n.State)
	}
	if err := s.Retry(ctx, alert.Key, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	dead, _ := s.Outbox(ctx, OutboxFilter{States: []incidents.Delivery{incidents.DeliveryDead}})
	if len(dead) != 0 {
		t.Errorf("after retry %d still dead", len(dead))
	}
	if err := s.MarkSent(ctx, alert.Key, t0.Add(time.Hour), 3, true); err != nil {
		t.Fatal(err)
	}
	if late, _ := s.EchoOverdue(ctx, t0.Add(2*time.Hour)); len(late) != 1 {
		t.Errorf("overdue echoes: %d", len(late))
	}
	if ok, _ := s.MarkEchoed(ctx, alert.Key); !ok {
		t.Error("echo not recorded")
	}
	if late, _ := s.EchoOverdue(ctx, t0.Add(2*time.Hour)); len(late) != 0 {
		t.Errorf("overdue echoes after the echo: %d", len(late))
	}
}

func TestSilencesAndWindows(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	g0, _ := s.SilenceGen(ctx)
	si := &incidents.Silence{Target: "catalog", Until: t0.Add(time.Hour), Reason: "r", Actor: "a", Created: t0}
	if err := s.AddSilence(ctx, si); err != nil || si.ID == 0 {
		t.Fatal(err)
	}
	if act, _ := s.ActiveSilences(ctx, t0.Add(time.Minute)); len(act) != 1 {
		t.Fatalf("active: %d", len(act))
	}
	if act, _ := s.ActiveSilences(ctx, t0.Add(time.Hour)); len(act) != 0 {
		t.Fatalf("expired silence still active")
	}
	if n, err := s.EndSilences(ctx, "catalog", t0.Add(time.Minute)); n != 1 || err != nil {
		t.Fatalf("end: %d %v", n, err)
	}
	sch, _ := incidents.ParseSchedule("Sun 02:00-04:00 America/Chicago", nil)
	w := &incidents.Window{Target: "upstream:*", Schedule: sch, Reason: "restart", Actor: "a", Created: t0}
	if err := s.AddWindow(ctx, w); err != nil {
		t.Fatal(err)
	}
	ws, err := s.Windows(ctx)
	if err != nil || len(ws) != 1 || ws[0].Schedule.String() != sch.String() {
		t.Fatalf("windows: %+v %v", ws, err)
	}
	if g1, _ := s.SilenceGen(ctx); g1 != g0+3 {
		t.Errorf("generation %d -> %d, want +3", g0, g1)
	}
	if err := s.DeleteWindow(ctx, 99); !errors.Is(err, incidents.ErrNotFound) {
		t.Errorf("delete missing window: %v", err)
	}
}
