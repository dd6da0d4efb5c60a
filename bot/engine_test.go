package bot

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

const upstream = "upstream:ils.example.edu:5500"

func TestOutageGivesOneAlertOneSolvedPerChannel(t *testing.T) {
	h := newHarness(t, nil)
	for range 5 {
		h.export(upstream, true)
		h.step(10 * time.Second)
	}
	h.export(upstream, false)
	h.export(upstream, false)
	h.want("listserv") // two failures confirm nothing
	h.export(upstream, false)
	const id = "OIS-2026-0001"
	h.want("listserv", "alert "+id)
	h.want("slack", "alert "+id)
	h.want("ois") // the report waits for escalation

	alert := h.ch["listserv"].last()
	if alert.Subject != "OCLC EXPORT PROBLEM ALERT [OIS-2026-0001]" {
		t.Errorf("subject = %q", alert.Subject)
	}
	for _, w := range []string{"Do NOT export a record a second time", "Record 6", "Record 7", "Record 8", "OIS-2026-0001", "=245  14$aThe art of cataloging"} {
		if !strings.Contains(alert.Body, w) {
			t.Errorf("alert body lacks %q:\n%s", w, alert.Body)
		}
	}
	if alert.Key != "OIS-2026-0001/alert/1/listserv" || alert.ThreadKey != alert.Key {
		t.Errorf("key %q thread %q", alert.Key, alert.ThreadKey)
	}

	// More failures while it is open: added to it, one update a minute.
	for range 4 {
		h.step(5 * time.Second)
		h.export(upstream, false)
	}
	h.want("listserv", "alert "+id)
	h.step(time.Minute)
	h.want("listserv", "alert "+id, "update "+id)
	upd := h.ch["listserv"].last()
	if !strings.HasPrefix(upd.Subject, "Re: OCLC EXPORT PROBLEM ALERT [OIS-2026-0001]") || upd.ThreadKey != alert.Key {
		t.Errorf("update subject %q thread %q", upd.Subject, upd.ThreadKey)
	}
	n, err := upd.Notice()
	if err != nil || len(n.Records) != 4 {
		t.Fatalf("update lists %v records (err %v), want the 4 new ones", len(n.Records), err)
	}

	// Recovery: two successes in a row.
	h.step(time.Minute)
	h.export(upstream, true)
	h.want("listserv", "alert "+id, "update "+id)
	h.export(upstream, true)
	h.want("listserv", "alert "+id, "update "+id, "solved "+id)
	h.want("slack", "alert "+id, "update "+id, "solved "+id)
	solved := h.ch["listserv"].last()
	if solved.Subject != "OCLC EXPORT PROBLEM SOLVED [OIS-2026-0001]" || solved.ThreadKey != alert.Key {
		t.Errorf("solved subject %q thread %q", solved.Subject, solved.ThreadKey)
	}
	if !strings.Contains(solved.Body, "7 did not arrive and must be exported again") || !strings.Contains(solved.Body, "EXPORT IT AGAIN") {
		t.Errorf("solved body does not list records to export again:\n%s", solved.Body)
	}

	list := h.incidents()
	if len(list) != 1 || list[0].State != incidents.StateSolved || len(list[0].Affected) != 7 {
		t.Fatalf("incidents = %+v", list)
	}
	// Nothing more, however long we wait.
	for range 10 {
		h.step(time.Hour)
	}
	h.want("listserv", "alert "+id, "update "+id, "solved "+id)
}

func TestFlappingTargetReopensOneIncident(t *testing.T) {
	h := newHarness(t, nil)
	const id = "OIS-2026-0001"
	for cycle := range 4 {
		for range 3 {
			h.export(upstream, false)
		}
		h.step(time.Minute)
		h.export(upstream, true)
		h.export(upstream, true)
		h.step(5 * time.Minute) // back within the reopen window
		_ = cycle
	}
	if list := h.incidents(); len(list) != 1 || list[0].Reopens != 3 {
		t.Fatalf("incidents = %d (reopens %d), want 1 reopened 3 times", len(list), list[0].Reopens)
	}
	h.want("listserv",
		"alert "+id, "solved "+id,
		"reopened "+id, "solved "+id,
		"reopened "+id, "solved "+id,
		"reopened "+id, "solved "+id)
	// After the reopen window a new failure is a new incident.
	h.step(31 * time.Minute)
	for range 3 {
		h.export(upstream, false)
	}
	if list := h.incidents(); len(list) != 2 {
		t.Fatalf("incidents = %d, want 2", len(list))
	}
}

func TestProbesConfirmAndRecover(t *testing.T) {
	h := newHarness(t, nil)
	h.probe(incidents.TargetListener, false)
	h.step(30 * time.Second)
	h.want("listserv")
	h.probe(incidents.TargetListener, false)
	h.want("listserv", "alert OIS-2026-0001")
	// The listener is critical: reported to OIS at once.
	h.want("ois", "escalation OIS-2026-0001")
	inc := h.incidents()[0]
	if inc.Severity != incidents.SeverityCritical {
		t.Errorf("severity %v, want critical", inc.Severity)
	}
	// Probes healthy for 2 minutes: solved.
	for range 4 {
		h.step(30 * time.Second)
		h.probe(incidents.TargetListener, true)
	}
	h.want("listserv", "alert OIS-2026-0001")
	h.step(30 * time.Second)
	h.probe(incidents.TargetListener, true)
	h.want("listserv", "alert OIS-2026-0001", "solved OIS-2026-0001")
	h.want("ois", "escalation OIS-2026-0001", "solved OIS-2026-0001")
}

func TestRecordFailuresNeverOpenAnIncident(t *testing.T) {
	h := newHarness(t, nil)
	for range 50 {
		a := h.attempt(incidents.TargetCatalog, false, exportlog.ClassRecord, exportlog.CauseRule)
		if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
			t.Fatal(err)
		}
		h.step(time.Second)
	}
	if n := len(h.incidents()); n != 0 {
		t.Fatalf("%d incidents from record failures", n)
	}
}

func TestFailedLoginsFromManyUsersAreAnIncident(t *testing.T) {
	h := newHarness(t, nil)
	for i, user := range []string{"ann", "ann", "bob", "cy"} {
		a := h.attempt(incidents.TargetListener, false, exportlog.ClassRecord, exportlog.CauseAuth)
		a.User, a.RecordIndex, a.Record = user, -1, nil
		if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
			t.Fatal(err)
		}
		h.flush()
		if got := len(h.incidents()); (i < 3 && got != 0) || (i == 3 && got != 1) {
			t.Fatalf("after %d refused logins: %d incidents", i+1, got)
		}
		h.step(time.Minute)
	}
	if inc := h.incidents()[0]; inc.Cause != exportlog.CauseAuth {
		t.Errorf("cause %q", inc.Cause)
	}
	h.want("listserv", "alert OIS-2026-0001")
}

func TestSilences(t *testing.T) {
	t.Run("started and ended inside: nothing", func(t *testing.T) {
		h := newHarness(t, nil)
		if _, err := h.eng.Silence(h.ctx, upstream, h.clk.Now().Add(time.Hour), "ILS upgrade", "admin"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			h.export(upstream, false)
		}
		h.export(upstream, true)
		h.export(upstream, true)
		if list := h.incidents(); len(list) != 1 || list[0].State != incidents.StateSolved {
			t.Fatalf("the incident must be recorded and solved: %+v", list)
		}
		h.step(2 * time.Hour)
		h.want("listserv")
		h.want("slack")
	})
	t.Run("started inside, still going on: ALERT when it ends", func(t *testing.T) {
		h := newHarness(t, nil)
		if _, err := h.eng.Silence(h.ctx, "upstream:*", h.clk.Now().Add(time.Hour), "ILS upgrade", "admin"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			h.export(upstream, false)
		}
		h.step(59 * time.Minute)
		h.want("listserv")
		h.step(time.Minute)
		h.want("listserv", "alert OIS-2026-0001")
		n, _ := h.ch["listserv"].last().Notice()
		if len(n.Records) != 3 {
			t.Errorf("the late ALERT lists %d records, want the 3 that failed inside the silence", len(n.Records))
		}
	})
	t.Run("alerted before, solved inside: SOLVED when it ends", func(t *testing.T) {
		h := newHarness(t, nil)
		for range 3 {
			h.export(upstream, false)
		}
		h.want("listserv", "alert OIS-2026-0001")
		if _, err := h.eng.Silence(h.ctx, upstream, h.clk.Now().Add(time.Hour), "maintenance", "admin"); err != nil {
			t.Fatal(err)
		}
		h.export(upstream, true)
		h.export(upstream, true)
		h.want("listserv", "alert OIS-2026-0001")
		if n, err := h.eng.Unsilence(h.ctx, upstream, "admin"); err != nil || n != 1 {
			t.Fatalf("unsilence: %d %v", n, err)
		}
		h.flush()
		h.want("listserv", "alert OIS-2026-0001", "solved OIS-2026-0001")
		h.step(2 * time.Hour)
		h.want("listserv", "alert OIS-2026-0001", "solved OIS-2026-0001")
	})
	t.Run("maintenance window", func(t *testing.T) {
		h := newHarness(t, nil)
		// Monday 10:00-11:00 UTC every week.
		s, err := incidents.ParseSchedule("Mon 10:00-11:00 UTC", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.eng.AddWindow(h.ctx, upstream, s, "weekly ILS restart", "admin"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			h.export(upstream, false)
		}
		h.step(30 * time.Minute)
		h.want("listserv")
		h.step(30 * time.Minute) // 11:00: the window is over, still failing
		h.want("listserv", "alert OIS-2026-0001")
	})
}

func TestEscalationAndReminders(t *testing.T) {
	wh, err := incidents.ParseSchedule("Mon-Fri 08:00-17:00 UTC", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config, _ *DispatcherConfig) { c.WorkingHours = &wh })
	const id = "OIS-2026-0001"
	for range 3 {
		h.export(upstream, false)
	}
	h.step(29 * time.Minute)
	h.want("ois")
	h.step(time.Minute)
	h.want("ois", "escalation "+id)
	rep := h.ch["ois"].last()
	for _, w := range []string{"Timeline", "Captured messages", "Waiting for local system response", "=245  14$a", "attempt 1,"} {
		if !strings.Contains(rep.Body, w) {
			t.Errorf("report lacks %q:\n%s", w, rep.Body)
		}
	}
	n, _ := rep.Notice()
	if n.Report == nil || len(n.Report.Records) != 3 || len(n.Report.Records[0].Raw) == 0 {
		t.Errorf("the report payload must carry the raw records")
	}
	h.step(3*time.Hour + 29*time.Minute) // 13:59
	h.want("listserv", "alert "+id)
	h.step(time.Minute) // 14:00, 4 h after the alert
	h.want("listserv", "alert "+id, "reminder "+id)
	h.step(4 * time.Hour) // 18:00: outside working hours
	h.want("listserv", "alert "+id, "reminder "+id)
	h.step(14 * time.Hour) // Tuesday 08:00
	h.want("listserv", "alert "+id, "reminder "+id, "reminder "+id)

	// Acknowledging stops reminders.
	if err := h.eng.Ack(h.ctx, "ois-2026-1", "oncall"); err != nil {
		t.Fatal(err)
	}
	h.flush()
	h.want("slack", "alert "+id, "escalation "+id, "reminder "+id, "reminder "+id, "ack "+id)
	h.want("ois", "escalation "+id, "ack "+id)
	if err := h.eng.Ack(h.ctx, id, "someone"); !errors.Is(err, incidents.ErrAlreadyAcknowledged) {
		t.Errorf("second ack: %v", err)
	}
	h.step(10 * time.Hour)
	h.want("listserv", "alert "+id, "reminder "+id, "reminder "+id)
}

func TestManualSolveReAlertsWhenFailuresContinue(t *testing.T) {
	h := newHarness(t, nil)
	const id = "OIS-2026-0001"
	for range 3 {
		h.export(upstream, false)
	}
	if err := h.eng.Solve(h.ctx, id, "jane"); err != nil {
		t.Fatal(err)
	}
	h.flush()
	h.want("listserv", "alert "+id, "solved "+id)
	if err := h.eng.Note(h.ctx, id, "jane", "restarted the ILS"); err != nil {
		t.Fatal(err)
	}
	h.export(upstream, false)
	h.export(upstream, false)
	h.want("listserv", "alert "+id, "solved "+id)
	h.export(upstream, false)
	h.want("listserv", "alert "+id, "solved "+id, "reopened "+id)
	inc, err := h.st.Incident(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range inc.Timeline {
		kinds = append(kinds, string(e.Kind)+"/"+e.Actor)
	}
	want := "opened/oclcbot solved/jane note/jane reopened/oclcbot"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("timeline %s, want %s", got, want)
	}
}

func TestRestartAnnouncesNothingUnchanged(t *testing.T) {
	h := newHarness(t, nil)
	const id = "OIS-2026-0001"
	for range 3 {
		h.export(upstream, false)
	}
	h.want("listserv", "alert "+id)
	h.start() // a restart
	h.step(time.Second)
	h.export(upstream, false) // still failing: no new alert
	h.step(2 * time.Minute)
	h.want("listserv", "alert "+id, "update "+id)
	h.start()
	h.export(upstream, true)
	h.export(upstream, true)
	h.want("listserv", "alert "+id, "update "+id, "solved "+id)
	if n := len(h.incidents()); n != 1 {
		t.Fatalf("%d incidents", n)
	}
}

func TestCLIAcknowledgementReachesTheDaemon(t *testing.T) {
	h := newHarness(t, nil)
	const id = "OIS-2026-0001"
	for range 3 {
		h.export(upstream, false)
	}
	// Another process (the CLI) acknowledges through its own engine.
	cfg := h.cfg
	cfg.Wake = nil
	cli, err := New(h.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Ack(h.ctx, id, "cli-user"); err != nil {
		t.Fatal(err)
	}
	// The daemon keeps judging; its stale copy must not undo the ack.
	h.export(upstream, false)
	h.step(time.Hour) // no escalation: acknowledged
	h.want("ois")
	inc, _ := h.st.Incident(h.ctx, id)
	if inc.State != incidents.StateAcknowledged || inc.AckedBy != "cli-user" || inc.Failures != 4 {
		t.Fatalf("state %s by %q failures %d", inc.State, inc.AckedBy, inc.Failures)
	}
	h.want("slack", "alert "+id, "ack "+id, "update "+id)
}

func TestQueuedRecordsDeliveredLater(t *testing.T) {
	h := newHarness(t, nil)
	var queued []*exportlog.Attempt
	for range 3 {
		a := h.attempt(upstream, false, exportlog.ClassSystem, exportlog.CauseUpstreamDown)
		a.Outcome = exportlog.OutcomeQueued
		queued = append(queued, a)
		if err := h.eng.ObserveAttempt(h.ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	h.flush()
	for _, q := range queued[:2] {
		d := h.attempt(upstream, true, "", "")
		d.Outcome, d.Follows = exportlog.OutcomeDelivered, q.ID
		if err := h.eng.ObserveAttempt(h.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	h.flush()
	solved := h.ch["listserv"].last()
	if solved.Kind != incidents.KindSolved {
		t.Fatalf("last = %s", solved.Kind)
	}
	n, _ := solved.Notice()
	got := map[incidents.Status]int{}
	for _, r := range n.Records {
		got[r.Status]++
	}
	if got[incidents.StatusDelivered] != 2 || got[incidents.StatusQueued] != 1 {
		t.Fatalf("statuses %v", got)
	}
	// The third is refused by the ILS on its merits and set aside
	// (receiver/relay's held state): a record-class failure following it.
	r := h.attempt(upstream, false, exportlog.ClassRecord, exportlog.CauseUpstreamError)
	r.Outcome, r.Follows = exportlog.OutcomeFailed, queued[2].ID
	if err := h.eng.ObserveAttempt(h.ctx, r); err != nil {
		t.Fatal(err)
	}
	h.flush()
	inc, err := h.st.Incident(h.ctx, solved.Incident)
	if err != nil {
		t.Fatal(err)
	}
	if c := inc.CountRecords(); c.Refused != 1 || c.Delivered != 2 {
		t.Fatalf("counts %+v, want 2 delivered and 1 refused by the ILS", c)
	}
}

func TestMailEvents(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *DispatcherConfig) { c.MailAllow = []string{"@library.example.edu"} })
	ctx := h.ctx
	// A staff report with no failures seen: a reported incident, not an ALERT.
	if err := h.eng.HandleMail(ctx, &StaffReport{From: "cat@library.example.edu", Subject: "OCLC export failing",
		Text: "Connexion says waiting for local system", Target: upstream}); err != nil {
		t.Fatal(err)
	}
	h.flush()
	h.want("listserv")
	h.want("slack", "reported OIS-2026-0001")
	// The detectors confirm it.
	for range 3 {
		h.export(upstream, false)
	}
	h.want("listserv", "alert OIS-2026-0001")
	h.want("slack", "reported OIS-2026-0001", "alert OIS-2026-0001")
	alertKey := h.ch["listserv"].last().Key

	// ACK by mail, from an allowed sender, in reply to the ALERT.
	err := h.eng.HandleMail(ctx, &Reply{From: "Evil <evil@elsewhere.example>", InReplyTo: incidents.MessageID(alertKey, "bot.example.edu"), Verb: VerbAck})
	if !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("reply from outsider: %v", err)
	}
	if err := h.eng.HandleMail(ctx, &Reply{From: "On Call <oncall@library.example.edu>",
		InReplyTo: incidents.MessageID(alertKey, "bot.example.edu"), Verb: VerbAck}); err != nil {
		t.Fatal(err)
	}
	inc, _ := h.st.Incident(ctx, "OIS-2026-0001")
	if inc.State != incidents.StateAcknowledged {
		t.Fatalf("state %s", inc.State)
	}
	// A person posts SOLVED to the list: the list needs no SOLVED from us,
	// the others are told.
	if err := h.eng.HandleMail(ctx, &ListPost{From: "oncall@library.example.edu", Subject: "OCLC EXPORT PROBLEM SOLVED [OIS-2026-0001]",
		Kind: ListSolved, Incident: "OIS-2026-0001", Channel: "listserv"}); err != nil {
		t.Fatal(err)
	}
	h.flush()
	h.want("listserv", "alert OIS-2026-0001")
	h.want("slack", "reported OIS-2026-0001", "alert OIS-2026-0001", "ack OIS-2026-0001", "solved OIS-2026-0001")
	h.want("ois", "reported OIS-2026-0001", "ack OIS-2026-0001", "solved OIS-2026-0001")
}

func TestMissingEchoRaisesAdminNotice(t *testing.T) {
	h := newHarness(t, func(c *Config, d *DispatcherConfig) {
		c.Channels[0].AwaitEcho = true
		d.Channels = c.Channels
	})
	for range 3 {
		h.export(upstream, false)
	}
	alert := h.ch["listserv"].last()
	// The ALERT came back through the list; a later post does not.
	if err := h.eng.HandleMail(h.ctx, &Echo{MessageID: incidents.MessageID(alert.Key, "x.example")}); err != nil {
		t.Fatal(err)
	}
	h.export(upstream, true)
	h.export(upstream, true)
	h.step(14 * time.Minute)
	h.want("ois")
	h.step(2 * time.Minute)
	h.want("ois", "admin OIS-2026-0001")
	if a := h.ch["ois"].last(); !strings.Contains(a.Body, "moderation") || !strings.Contains(a.Key, "solved/") {
		t.Errorf("admin notice %s:\n%s", a.Key, a.Body)
	}
	h.step(time.Hour)
	h.want("ois", "admin OIS-2026-0001")
}
