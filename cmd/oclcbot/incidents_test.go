package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
	isqlite "github.com/oclcbot/oclcbot/incidents/sqlite"
)

// seedIncident records three exports the catalog could not store and has
// the real bot engine judge them: the default rule (3 system failures in
// a row) opens one incident and queues its ALERT. It returns the id.
func seedIncident(t *testing.T, ae *adminEnv) string {
	t.Helper()
	var id string
	ae.with(func(a *app) {
		ctx := context.Background()
		eng, err := a.openEngine(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, title := range []string{"Café society", "War and peace", "Emma"} {
			at := &exportlog.Attempt{
				Time: time.Now(), RemoteAddr: "192.0.2.10:50123", User: "alice", Target: "catalog",
				OCLCNumber: "11111111", Title: title,
				Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseStorage,
				Detail: "database is locked", Reply: "Not imported: the catalog could not store the record.",
				Record: testRecord(t, "11111111", "Müller, Hans.", title),
			}
			if err := a.exports.Append(ctx, at); err != nil {
				t.Fatal(err)
			}
			if err := eng.ObserveAttempt(ctx, at); err != nil {
				t.Fatal(err)
			}
		}
		list, err := a.incidents.List(ctx, isqlite.Filter{})
		if err != nil || len(list) != 1 {
			t.Fatalf("seed: want one incident, got %v %v", list, err)
		}
		id = list[0].ID
	})
	return id
}

// incident reads incident id from the store.
func (ae *adminEnv) incident(id string) *incidents.Incident {
	ae.t.Helper()
	var inc *incidents.Incident
	ae.with(func(a *app) {
		var err error
		if inc, err = a.incidents.Incident(context.Background(), id); err != nil {
			ae.t.Fatal(err)
		}
	})
	return inc
}

func TestIncidentsListAndShow(t *testing.T) {
	ae := newAdminEnv(t, "")
	id := seedIncident(t, ae)

	out := ae.mustRun("incidents", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], id) || !strings.Contains(lines[1], "open") ||
		!strings.Contains(lines[1], "catalog") || !strings.Contains(lines[1], "storage") || !strings.Contains(lines[1], "  3  ") {
		t.Errorf("incidents list:\n%s", out)
	}
	var sums []incidents.Summary
	if err := json.Unmarshal([]byte(ae.mustRun("incidents", "list", "--json")), &sums); err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].ID != id || sums[0].State != incidents.StateOpen || sums[0].Counts.Records != 3 || sums[0].Tag != "["+id+"]" {
		t.Errorf("incidents list --json: %+v", sums)
	}
	if out := ae.mustRun("incidents", "list", "--state", "solved"); strings.TrimSpace(out) != "no incidents match" {
		t.Errorf("--state solved: %q", out)
	}
	if out := ae.mustRun("incidents", "list", "--active"); !strings.Contains(out, id) {
		t.Errorf("--active:\n%s", out)
	}

	show := ae.mustRun("incidents", "show", strings.ToLower(id))
	for _, want := range []string{"Incident " + id + ": open", "Timeline:", "Affected records (3):", "War and peace", "Not imported: the catalog could not store the record."} {
		if !strings.Contains(show, want) {
			t.Errorf("incidents show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "=245") {
		t.Errorf("printouts without --printouts:\n%s", show)
	}
	if show := ae.mustRun("incidents", "show", id, "--printouts"); !strings.Contains(show, "=245  10$aEmma") {
		t.Errorf("show --printouts lacks the record:\n%s", show)
	}
	var rep incidents.Report
	if err := json.Unmarshal([]byte(ae.mustRun("incidents", "show", id, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.ID != id || len(rep.Records) != 3 || len(rep.Timeline) == 0 {
		t.Errorf("show --json: %+v", rep.Summary)
	}

	if _, errOut, code := ae.run("incidents", "show", "OIS-2020-0999"); code != exitFailure || !strings.Contains(errOut, "no incident OIS-2020-0999") {
		t.Errorf("show of an unknown incident: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := ae.run("incidents", "show", "banana"); code != exitUsage || !strings.Contains(errOut, `"banana" is not an incident id`) {
		t.Errorf("show banana: exit %d, stderr %q", code, errOut)
	}
}

func TestIncidentsAckNoteSolve(t *testing.T) {
	ae := newAdminEnv(t, "")
	id := seedIncident(t, ae)

	// ack without --by records the login at this host.
	out := ae.mustRun("incidents", "ack", id)
	if !strings.HasPrefix(out, id+" acknowledged by "+defaultActor()) {
		t.Errorf("ack: %q", out)
	}
	inc := ae.incident(id)
	if inc.State != incidents.StateAcknowledged || inc.AckedBy != defaultActor() || inc.AckedAt.IsZero() {
		t.Errorf("after ack: state %s, by %q at %v", inc.State, inc.AckedBy, inc.AckedAt)
	}
	if _, errOut, code := ae.run("incidents", "ack", id, "--by", "bob"); code != exitFailure || !strings.Contains(errOut, id+" is already acknowledged, by "+defaultActor()) {
		t.Errorf("ack twice: exit %d, stderr %q", code, errOut)
	}

	if out := ae.mustRun("incidents", "note", id, "called", "the", "ILS", "vendor", "--by", "bob"); strings.TrimSpace(out) != "note added to "+id {
		t.Errorf("note: %q", out)
	}
	if _, _, code := ae.run("incidents", "note", id, "--by", "bob"); code != exitUsage {
		t.Errorf("note without text: exit %d, want %d", code, exitUsage)
	}
	inc = ae.incident(id)
	last := inc.Timeline[len(inc.Timeline)-1]
	if last.Kind != incidents.EventNote || last.Actor != "bob" || last.Text != "called the ILS vendor" {
		t.Errorf("the note in the timeline: %+v", last)
	}

	out = ae.mustRun("incidents", "solve", id, "--by", "carol")
	if !strings.HasPrefix(out, id+" solved by carol") || !strings.Contains(out, "3 records must be exported again") {
		t.Errorf("solve: %q", out)
	}
	inc = ae.incident(id)
	if inc.State != incidents.StateSolved || inc.SolvedBy != "carol" || inc.CountRecords().Reexport != 3 {
		t.Errorf("after solve: state %s, by %q, counts %+v", inc.State, inc.SolvedBy, inc.CountRecords())
	}
	if _, errOut, code := ae.run("incidents", "solve", id, "--by", "dave"); code != exitFailure || !strings.Contains(errOut, "is already solved, by carol") {
		t.Errorf("solve twice: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := ae.run("incidents", "ack", "OIS-2020-0999", "--by", "x"); code != exitFailure || !strings.Contains(errOut, "no incident OIS-2020-0999") {
		t.Errorf("ack of an unknown incident: exit %d, stderr %q", code, errOut)
	}

	// The acknowledgement and the SOLVED are queued for the daemon.
	ae.with(func(a *app) {
		ns, err := a.incidents.Outbox(context.Background(), isqlite.OutboxFilter{Incident: id})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[incidents.Kind]bool{}
		for _, n := range ns {
			kinds[n.Kind] = true
		}
		if !kinds[incidents.KindAlert] || !kinds[incidents.KindAck] || !kinds[incidents.KindSolved] {
			t.Errorf("outbox of %s has kinds %v; want alert, ack and solved", id, kinds)
		}
	})
}

func TestIncidentsSilence(t *testing.T) {
	ae := newAdminEnv(t, "")
	ae.with(func(*app) {})

	if _, errOut, code := ae.run("incidents", "silence", "catalog", "2h"); code != exitUsage || !strings.Contains(errOut, "--reason is required") {
		t.Errorf("silence without a reason: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := ae.run("incidents", "silence", "catalog", "2000-01-01", "--reason", "x", "--by", "carol"); code != exitFailure || !strings.Contains(errOut, "not in the future") {
		t.Errorf("silence ending in the past: exit %d, stderr %q", code, errOut)
	}
	before := time.Now()
	out := ae.mustRun("incidents", "silence", "catalog", "2h", "--reason", "ILS upgrade", "--by", "carol")
	if !strings.HasPrefix(out, "silenced catalog until ") || !strings.Contains(out, "by carol") {
		t.Errorf("silence: %q", out)
	}
	ae.with(func(a *app) {
		ss, err := a.incidents.ActiveSilences(context.Background(), time.Now())
		if err != nil || len(ss) != 1 {
			t.Fatalf("active silences: %v %v", ss, err)
		}
		s := ss[0]
		if s.Target != "catalog" || s.Actor != "carol" || s.Reason != "ILS upgrade" ||
			s.Until.Before(before.Add(2*time.Hour)) || s.Until.After(time.Now().Add(2*time.Hour)) {
			t.Errorf("stored silence: %+v", s)
		}
	})
	_, errOut, code := ae.run("incidents", "silence", "catalgo", "1h", "--reason", "typo", "--by", "carol")
	if code != exitOK || !strings.Contains(errOut, `"catalgo" is not a target oclcbot checks`) {
		t.Errorf("silence of an unknown target: exit %d, stderr %q", code, errOut)
	}

	out = ae.mustRun("incidents", "window", "add", "upstream:*", "Sun", "02:00-04:00", "--reason", "weekly patching", "--by", "dave")
	if !strings.HasPrefix(out, "maintenance window 1: upstream:*, Sun 02:00-04:00") {
		t.Errorf("window add: %q", out)
	}
	list := ae.mustRun("incidents", "silences")
	for _, want := range []string{"catalog", "ILS upgrade", "carol", "upstream:*", "Sun 02:00-04:00", "weekly patching"} {
		if !strings.Contains(list, want) {
			t.Errorf("silences lacks %q:\n%s", want, list)
		}
	}

	if out := ae.mustRun("incidents", "unsilence", "catalog", "--by", "carol"); strings.TrimSpace(out) != "lifted 1 silence on catalog" {
		t.Errorf("unsilence: %q", out)
	}
	if _, errOut, code := ae.run("incidents", "unsilence", "catalog", "--by", "carol"); code != exitFailure || !strings.Contains(errOut, "no running silence") {
		t.Errorf("unsilence twice: exit %d, stderr %q", code, errOut)
	}
	ae.mustRun("incidents", "unsilence", "catalgo")
	if out := ae.mustRun("incidents", "window", "delete", "1"); strings.TrimSpace(out) != "deleted maintenance window 1" {
		t.Errorf("window delete: %q", out)
	}
	if _, errOut, code := ae.run("incidents", "window", "delete", "1"); code != exitFailure || !strings.Contains(errOut, "no maintenance window 1") {
		t.Errorf("window delete twice: exit %d, stderr %q", code, errOut)
	}
	if out := ae.mustRun("incidents", "silences"); !strings.HasPrefix(out, "no silences or maintenance windows") {
		t.Errorf("silences after lifting everything: %q", out)
	}
	if _, _, code := ae.run("incidents", "window", "add", "catalog", "Someday", "--reason", "x"); code != exitUsage {
		t.Errorf("window with a bad schedule: exit %d, want %d", code, exitUsage)
	}
}

func TestIncidentsEmpty(t *testing.T) {
	ae := newAdminEnv(t, "")
	ae.with(func(*app) {})
	if out := ae.mustRun("incidents", "list"); strings.TrimSpace(out) != "no incidents" {
		t.Errorf("incidents list on a fresh database: %q", out)
	}
	if out := ae.mustRun("incidents", "list", "--active"); strings.TrimSpace(out) != "no open incidents" {
		t.Errorf("incidents list --active on a fresh database: %q", out)
	}
}
