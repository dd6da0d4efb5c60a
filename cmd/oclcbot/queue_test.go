package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/receiver/relay"
)

// closedAddr returns a loopback address nothing listens on: connections
// to it are refused at once.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newRelayEnv is relay mode in front of an upstream that is down, with
// two records exported and queued.
func newRelayEnv(t *testing.T) (*adminEnv, string) {
	t.Helper()
	up := closedAddr(t)
	ae := newAdminEnv(t, fmt.Sprintf("\n[relay]\nupstream = %q\nconnect_timeout = \"1s\"\nreply_timeout = \"2s\"\n", up))
	ae.with(func(a *app) {
		for _, r := range [][]byte{
			testRecord(t, "11111111", "Müller, Hans.", "Café society"),
			testRecord(t, "22222222", "Tolstoy, Leo.", "War and peace"),
		} {
			if reply := exportThrough(t, a, "alice", "", r); !strings.Contains(strings.ToLower(reply), "queue") {
				t.Fatalf("the upstream is down, so the record should be queued; reply: %q", reply)
			}
		}
	})
	return ae, up
}

func TestQueueListShowRetry(t *testing.T) {
	ae, up := newRelayEnv(t)

	out := ae.mustRun("queue", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.HasPrefix(lines[1], "1 ") || !strings.Contains(lines[1], "queued") || !strings.Contains(lines[1], "11111111") || !strings.Contains(lines[1], "Café society") ||
		!strings.HasPrefix(lines[2], "2 ") || !strings.Contains(lines[2], "War and peace") ||
		!strings.HasPrefix(lines[3], "2 records waiting for "+up) {
		t.Errorf("queue list (oldest first, with the summary):\n%s", out)
	}
	var entries []queueEntryJSON
	if err := json.Unmarshal([]byte(ae.mustRun("queue", "list", "--json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ID != 1 || entries[0].State != "queued" || entries[0].User != "alice" || entries[0].OCLCNumber != "11111111" {
		t.Errorf("queue list --json: %+v", entries)
	}

	show := ae.mustRun("queue", "show", "2")
	for _, want := range []string{"Queue entry 2: queued", "by alice from 192.0.2.10:50123", "=245  10$aWar and peace"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show 2 lacks %q:\n%s", want, show)
		}
	}
	if _, errOut, code := ae.run("queue", "show", "9"); code != exitFailure || !strings.Contains(errOut, "no queue entry 9") {
		t.Errorf("queue show 9: exit %d, stderr %q", code, errOut)
	}

	if out := ae.mustRun("queue", "retry"); !strings.HasPrefix(out, "2 records due now") {
		t.Errorf("queue retry: %q", out)
	}
	if out := ae.mustRun("queue", "retry", "1"); strings.TrimSpace(out) != "1 due now" {
		t.Errorf("queue retry 1: %q", out)
	}
	if _, errOut, code := ae.run("queue", "retry", "1", "77"); code != exitFailure || !strings.Contains(errOut, "no queue entry 77") {
		t.Errorf("queue retry 1 77: exit %d, stderr %q", code, errOut)
	}
}

func TestQueueDrop(t *testing.T) {
	ae, _ := newRelayEnv(t)

	if _, errOut, code := ae.run("queue", "drop", "1"); code != exitUsage || !strings.Contains(errOut, "--reason is required") {
		t.Errorf("drop without a reason: exit %d, stderr %q", code, errOut)
	}
	out := ae.mustRun("queue", "drop", "1", "--reason", "imported by hand in the ILS", "--by", "dave")
	if !strings.HasPrefix(out, `dropped 1: OCLC 11111111 "Café society", exported by alice`) || !strings.Contains(out, "must be exported again") {
		t.Errorf("queue drop: %q", out)
	}
	ae.with(func(a *app) {
		q, err := a.relay.Get(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if q.State != relay.StateDropped || q.DropReason != "imported by hand in the ILS (dropped by dave)" {
			t.Errorf("after drop: state %s, reason %q", q.State, q.DropReason)
		}
		// The export log says the record must be exported again.
		list, err := a.exports.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeFailed})
		if err != nil || len(list) != 1 || list[0].Cause != exportlog.CauseDropped {
			t.Errorf("export log after drop: %v %+v", err, list)
		}
	})

	out = ae.mustRun("queue", "list")
	if strings.Contains(out, "Café society") || !strings.Contains(out, "War and peace") {
		t.Errorf("the dropped record should leave the default list:\n%s", out)
	}
	if out := ae.mustRun("queue", "list", "--all"); !strings.Contains(out, "dropped") || !strings.Contains(out, "imported by hand") {
		t.Errorf("queue list --all should keep the dropped entry:\n%s", out)
	}
	if out := ae.mustRun("queue", "list", "--state", "dropped"); !strings.Contains(out, "Café society") || strings.Contains(out, "War and peace") {
		t.Errorf("queue list --state dropped:\n%s", out)
	}
	if _, errOut, code := ae.run("queue", "drop", "1", "--reason", "again"); code != exitFailure || !strings.Contains(errOut, "entry 1 is dropped") {
		t.Errorf("dropping twice: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := ae.run("queue", "retry", "1"); code != exitFailure || !strings.Contains(errOut, "only queued, uncertain and held records can be retried") {
		t.Errorf("retrying a dropped entry: exit %d, stderr %q", code, errOut)
	}

	ae.mustRun("queue", "drop", "2", "--reason", "will be exported again", "--by", "dave")
	if out := ae.mustRun("queue", "list"); !strings.HasPrefix(out, "queue is empty") {
		t.Errorf("queue list after dropping everything: %q", out)
	}
}

func TestQueueNeedsRelayMode(t *testing.T) {
	ae := newAdminEnv(t, "")
	ae.with(func(*app) {})
	_, errOut, code := ae.run("queue", "list")
	if code != exitFailure || !strings.Contains(errOut, "only in relay mode") || !strings.Contains(errOut, "[relay]") {
		t.Errorf("queue list without [relay]: exit %d, stderr %q", code, errOut)
	}
}
