package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
)

// notification reads outbox row key from the store.
func (ae *adminEnv) notification(key string) *incidents.Notification {
	ae.t.Helper()
	var n *incidents.Notification
	ae.with(func(a *app) {
		var err error
		if n, err = a.incidents.Notification(context.Background(), key); err != nil {
			ae.t.Fatal(err)
		}
	})
	return n
}

func TestOutboxListShow(t *testing.T) {
	ae := newAdminEnv(t, "")
	id := seedIncident(t, ae)
	key := incidents.Key(id, incidents.KindAlert, 1, "log")

	out := ae.mustRun("outbox", "list")
	if !strings.Contains(out, key) || !strings.Contains(out, "pending") || !strings.Contains(out, "OCLC EXPORT PROBLEM ALERT ["+id+"]") {
		t.Errorf("outbox list:\n%s", out)
	}
	var ns []notificationJSON
	if err := json.Unmarshal([]byte(ae.mustRun("outbox", "list", "--json", "--incident", strings.ToLower(id))), &ns); err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Key != key || ns[0].State != "pending" || ns[0].Channel != "log" || ns[0].Kind != "alert" {
		t.Errorf("outbox list --json --incident: %+v", ns)
	}
	if out := ae.mustRun("outbox", "list", "--state", "sent"); strings.TrimSpace(out) != "no notifications match" {
		t.Errorf("--state sent: %q", out)
	}
	if out := ae.mustRun("outbox", "list", "--channel", "slack"); strings.TrimSpace(out) != "no notifications match" {
		t.Errorf("--channel slack: %q", out)
	}

	show := ae.mustRun("outbox", "show", key)
	for _, want := range []string{"Notification " + key + ": pending", "channel:   log", "Subject: OCLC EXPORT PROBLEM ALERT [" + id + "]", "Do NOT export a record a second time", "=245  10$aEmma"} {
		if !strings.Contains(show, want) {
			t.Errorf("outbox show lacks %q:\n%s", want, show)
		}
	}
	if _, errOut, code := ae.run("outbox", "show", "OIS-2020-0001/alert/1/log"); code != exitFailure || !strings.Contains(errOut, "no notification OIS-2020-0001/alert/1/log") {
		t.Errorf("show of an unknown key: exit %d, stderr %q", code, errOut)
	}
}

func TestOutboxDeadAndRetry(t *testing.T) {
	ae := newAdminEnv(t, "")
	id := seedIncident(t, ae)
	key := incidents.Key(id, incidents.KindAlert, 1, "log")

	if out := ae.mustRun("outbox", "dead"); !strings.HasPrefix(out, "no dead letters") {
		t.Errorf("outbox dead with none: %q", out)
	}
	if out := ae.mustRun("outbox", "retry"); strings.TrimSpace(out) != "no dead letters to retry" {
		t.Errorf("outbox retry with none: %q", out)
	}

	giveUp := func() {
		ae.with(func(a *app) {
			if err := a.incidents.MarkDead(context.Background(), key, 7, "550 5.1.1 mailbox unavailable", nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	giveUp()
	out := ae.mustRun("outbox", "dead")
	if !strings.Contains(out, key) || !strings.Contains(out, "dead") || !strings.Contains(out, "error: 550 5.1.1 mailbox unavailable") || !strings.Contains(out, "oclcbot outbox retry") {
		t.Errorf("outbox dead:\n%s", out)
	}
	if out := ae.mustRun("outbox", "list", "--state", "pending"); strings.Contains(out, key) {
		t.Errorf("a dead letter listed as pending:\n%s", out)
	}

	// retry KEY: pending again, due now, with a fresh maximum age.
	before := time.Now()
	if out := ae.mustRun("outbox", "retry", key); strings.TrimSpace(out) != key+" pending, due now" {
		t.Errorf("outbox retry KEY: %q", out)
	}
	n := ae.notification(key)
	if n.State != incidents.DeliveryPending || n.NextAt.After(time.Now()) || n.AgeFrom.Before(before) {
		t.Errorf("after retry: state %s, next %v, age from %v", n.State, n.NextAt, n.AgeFrom)
	}

	// retry without KEY: every dead letter.
	giveUp()
	if out := ae.mustRun("outbox", "retry", "--channel", "slack"); strings.TrimSpace(out) != "no dead letters to retry" {
		t.Errorf("retry --channel slack: %q", out)
	}
	if out := ae.mustRun("outbox", "retry"); !strings.HasPrefix(out, "1 notification pending again") {
		t.Errorf("outbox retry: %q", out)
	}
	if n := ae.notification(key); n.State != incidents.DeliveryPending {
		t.Errorf("after retry of all dead letters: %s", n.State)
	}

	// A notification waiting out its backoff is made due now, its history kept.
	ae.with(func(a *app) {
		if err := a.incidents.MarkRetry(context.Background(), key, time.Now().Add(time.Hour), 3, "connection refused"); err != nil {
			t.Fatal(err)
		}
	})
	ae.mustRun("outbox", "retry", key)
	if n := ae.notification(key); n.State != incidents.DeliveryPending || n.NextAt.After(time.Now()) || n.Attempts != 3 || n.LastError != "connection refused" {
		t.Errorf("after retry of a backing-off notification: %+v", n)
	}

	// A sent notification is not sent again.
	ae.with(func(a *app) {
		if err := a.incidents.MarkSent(context.Background(), key, time.Now(), 4, false); err != nil {
			t.Fatal(err)
		}
	})
	if _, errOut, code := ae.run("outbox", "retry", key); code != exitFailure || !strings.Contains(errOut, "nothing to retry") {
		t.Errorf("retry of a sent notification: exit %d, stderr %q", code, errOut)
	}
	if n := ae.notification(key); n.State != incidents.DeliverySent {
		t.Errorf("retry changed a sent notification to %s", n.State)
	}
	if _, errOut, code := ae.run("outbox", "retry", "no/such/1/key"); code != exitFailure || !strings.Contains(errOut, "no notification no/such/1/key") {
		t.Errorf("retry of an unknown key: exit %d, stderr %q", code, errOut)
	}
	if _, _, code := ae.run("outbox", "retry", key, "--channel", "log"); code != exitUsage {
		t.Errorf("retry KEY --channel: exit %d, want %d", code, exitUsage)
	}
}
