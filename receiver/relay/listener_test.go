package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// TestKohaTimeoutWhileItsILSStores: Koha's daemon gives up on Koha after
// its 10-second HTTP timeout and answers "Unsuccessful request", while
// Koha goes on and stores the record. The relay must not send it again.
func TestKohaTimeoutWhileItsILSStores(t *testing.T) {
	ils := newFakeILS(t, "koha")
	clock := &testClock{}
	ils.tune(func(k *knobs) { k.clock, k.kohaHTTP = clock, 50*time.Millisecond })
	ils.set(modeHang, 0) // Koha takes longer than the daemon waits
	d, _ := newDB(t)
	cfg := ils.relayConfig(d)
	cfg.Now = clock.Now
	r := openRelay(t, cfg)
	defer r.Close()
	runRelay(t, r)

	res := deliver1(t, r, makeRecord(t, 81, "Stored after the timeout"))
	if res.Outcome != exportlog.OutcomeQueued || res.Upstream != "Unsuccessful request" {
		t.Fatalf("result %+v, want queued with Koha's reply", res)
	}
	e := listAll(t, r)[0]
	if e.State != StateUncertain || !strings.Contains(e.LastError, "koha-unsuccessful") {
		t.Fatalf("entry %+v, want uncertain (rule koha-unsuccessful)", e)
	}
	ils.set(modeOK, 0) // Koha finishes: the record is stored
	ils.waitImports(1, 5*time.Second)
	// Several PollEvery, and a new record after it: nothing is resent.
	if res := deliver1(t, r, makeRecord(t, 82, "Next")); res.Outcome != exportlog.OutcomeRelayed {
		t.Fatalf("next record %+v, want relayed (an uncertain one holds nothing up)", res)
	}
	time.Sleep(150 * time.Millisecond)
	if n, imp := ils.requestCount(), ils.importsCopy(); n != 2 || len(imp) != 2 {
		t.Errorf("Koha saw %d requests and stored %d records, want 2 and 2: the uncertain one was resent", n, len(imp))
	}
	if e := entry(t, r, e.ID); e.State != StateUncertain {
		t.Errorf("state %s, want uncertain until an operator decides", e.State)
	}
}

// TestFOLIOIdleCloseWhileItsILSStores: edge-connexion closes a connection
// idle for 30 seconds without a word while mod-copycat may still store
// the record. The relay must not send it again.
func TestFOLIOIdleCloseWhileItsILSStores(t *testing.T) {
	ils := newFakeILS(t, "folio")
	clock := &testClock{}
	ils.tune(func(k *knobs) { k.clock, k.folioIdle = clock, 50*time.Millisecond })
	ils.set(modeHang, 0) // mod-copycat takes longer than 30 s
	d, _ := newDB(t)
	cfg := ils.relayConfig(d)
	cfg.Now = clock.Now
	r := openRelay(t, cfg)
	defer r.Close()
	runRelay(t, r)

	res := deliver1(t, r, makeRecord(t, 83, "Copycat is slow"))
	if res.Outcome != exportlog.OutcomeQueued || res.Cause != exportlog.CauseUpstreamError {
		t.Fatalf("result %+v, want queued, upstream-error", res)
	}
	e := listAll(t, r)[0]
	if e.State != StateUncertain || !strings.Contains(e.LastError, "may have imported it") {
		t.Fatalf("entry %+v, want uncertain", e)
	}
	ils.set(modeOK, 0)
	ils.waitImports(1, 5*time.Second)
	time.Sleep(150 * time.Millisecond)
	if n := ils.requestCount(); n != 1 {
		t.Errorf("FOLIO saw %d requests, want 1: the uncertain record was resent", n)
	}
}

// TestEvergreenGetsTheRecordAlone: Vandelay takes a request that does not
// start with a digit for MARCXML and imports nothing, so a relay in front
// of Evergreen must not send a login.
func TestEvergreenGetsTheRecordAlone(t *testing.T) {
	ils := newFakeILS(t, "evergreen")
	d, _ := newDB(t)
	cfg := ils.relayConfig(d)
	r := openRelay(t, cfg)
	res := deliver1(t, r, makeRecord(t, 84, "Bare"))
	r.Close()
	if res.Outcome != exportlog.OutcomeRelayed {
		t.Fatalf("result %+v, want relayed", res)
	}
	if imp := ils.importsCopy(); len(imp) != 1 || imp[0].ilsLogin != (ilsLogin{}) {
		t.Fatalf("imports %+v, want one, without a login", imp)
	}

	// Forwarding the cataloger's login, as for another receiver, makes
	// it import nothing: an empty reply, and the record stays queued.
	cfg.Listener = ListenerOther
	r = openRelay(t, cfg)
	defer r.Close()
	res = deliver1(t, r, makeRecord(t, 85, "With a login"))
	if res.Outcome != exportlog.OutcomeQueued || !strings.Contains(res.Detail, "empty reply") {
		t.Fatalf("result %+v, want queued after an empty reply", res)
	}
	if n := len(ils.importsCopy()); n != 1 {
		t.Errorf("%d imports, want still 1", n)
	}

	cfg.Listener = ListenerEvergreen
	cfg.Credentials = &Credentials{User: "svc", Password: "pw"}
	if _, err := Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no login") {
		t.Errorf("Open(Evergreen with credentials) = %v, want an error saying it takes no login", err)
	}
}
