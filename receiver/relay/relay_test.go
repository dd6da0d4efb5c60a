package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/receiver"
)

func TestRelayedReplyGoesBackVerbatim(t *testing.T) {
	for _, tc := range []struct {
		style  string
		sysno  string
		prefix string
	}{
		{"koha", "1", "Success.  Batch number 1001 - biblio record number 1 added to Koha."},
		{"folio", "", "Import ok\n"},
		{"evergreen", "", "Successfully imported 1 bib records"},
		{"aleph", "000000001", "New record 000000001 added"},
	} {
		t.Run(tc.style, func(t *testing.T) {
			ils := newFakeILS(t, tc.style)
			d, _ := newDB(t)
			r := openRelay(t, ils.relayConfig(d))
			defer r.Close()
			raw := makeRecord(t, 12345678, "Relayed title")
			res := deliver1(t, r, raw)
			if res.Outcome != exportlog.OutcomeRelayed || res.Class != exportlog.ClassNone {
				t.Fatalf("result %+v, want relayed", res)
			}
			want := ils.successReply(1)
			if res.Reply != want || res.Upstream != want {
				t.Errorf("Reply %q, Upstream %q; want the upstream's reply %q verbatim", res.Reply, res.Upstream, want)
			}
			if !strings.HasPrefix(res.Reply, tc.prefix) || res.SystemNumber != tc.sysno {
				t.Errorf("Reply %q, SystemNumber %q; want prefix %q and number %q", res.Reply, res.SystemNumber, tc.prefix, tc.sysno)
			}
			imp := ils.importsCopy()
			if len(imp) != 1 || imp[0].record != string(raw) || imp[0].ilsLogin != ils.loginFor("cat1", "catsecret") {
				t.Errorf("upstream got %+v, want the record once with login %+v", imp, ils.loginFor("cat1", "catsecret"))
			}
			if es := listAll(t, r); len(es) != 0 {
				t.Errorf("queue holds %d entries after a relayed record", len(es))
			}
		})
	}
}

func TestUpstreamDownQueuesAndDeliversLater(t *testing.T) {
	ils := newFakeILS(t, "koha")
	ils.stop()
	d, _ := newDB(t)
	log, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ils.relayConfig(d)
	cfg.Log = log
	r := openRelay(t, cfg)
	defer r.Close()

	exp := exportOf(t, "cat1", "catsecret", makeRecord(t, 1, "First"))
	res := r.Deliver(context.Background(), exp)[0]
	if res.Outcome != exportlog.OutcomeQueued || res.Class != exportlog.ClassSystem || res.Cause != exportlog.CauseUpstreamDown {
		t.Fatalf("result %+v, want queued, system, upstream-down", res)
	}
	if res.Reply != "" {
		t.Errorf("Reply %q: a queued record's reply is the receiver's template", res.Reply)
	}
	// The receiver logs the queued attempt, as it does after Deliver.
	queuedAttempt := &exportlog.Attempt{RequestID: exp.Request.ID, Time: exp.Request.Received, Done: time.Now(),
		User: "cat1", Target: r.Name(), RecordIndex: 0, Outcome: res.Outcome, Class: res.Class, Cause: res.Cause}
	if err := log.Append(context.Background(), queuedAttempt); err != nil {
		t.Fatal(err)
	}
	es := listAll(t, r)
	if len(es) != 1 || es[0].State != StateQueued || es[0].Attempts != 1 || es[0].LastError == "" ||
		es[0].OCLCNumber != "1" || es[0].Title != "First" || es[0].User != "cat1" {
		t.Fatalf("queue %+v, want one queued entry with its attempt and error", es)
	}
	st, err := r.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Waiting != 1 || st.Oldest.IsZero() || st.LastError == "" {
		t.Errorf("stats %+v, want 1 waiting with its age and error", st)
	}

	runRelay(t, r)
	ils.start()
	imp := ils.waitImports(1, 10*time.Second)
	if imp[0].record != string(makeRecord(t, 1, "First")) || imp[0].password != "catsecret" {
		t.Errorf("delivered %+v, want the record with the cataloger's login (kept in memory)", imp[0])
	}
	waitFor(t, 5*time.Second, "delivered state", func() bool { return entry(t, r, es[0].ID).State == StateDelivered })
	e := entry(t, r, es[0].ID)
	if e.Attempts != 2 || e.SystemNumber != "1" || !strings.HasPrefix(e.Upstream, "Success.") || e.Done.IsZero() {
		t.Errorf("delivered entry %+v", e)
	}
	var delivered *exportlog.Attempt
	waitFor(t, 5*time.Second, "delivered event in the export log", func() bool {
		as, err := log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeDelivered})
		if err != nil || len(as) == 0 {
			return false
		}
		delivered = as[0]
		return true
	})
	if delivered.Follows != queuedAttempt.ID || delivered.OCLCNumber != "1" || delivered.SystemNumber != "1" ||
		delivered.Target != r.Name() || delivered.RequestID != exp.Request.ID || len(delivered.Record) == 0 {
		t.Errorf("delivered event %+v, want it to follow attempt %d", delivered, queuedAttempt.ID)
	}
	if len(ils.importsCopy()) != 1 {
		t.Errorf("upstream imported %d records, want 1", len(ils.importsCopy()))
	}
}

func TestErrorReplyIsQueuedWithTheReply(t *testing.T) {
	for _, style := range []string{"koha", "folio", "evergreen", "aleph"} {
		t.Run(style, func(t *testing.T) {
			ils := newFakeILS(t, style)
			ils.set(modeError, 0)
			d, _ := newDB(t)
			r := openRelay(t, ils.relayConfig(d))
			defer r.Close()
			res := deliver1(t, r, makeRecord(t, 7, "Err"))
			if res.Outcome != exportlog.OutcomeQueued || res.Cause != exportlog.CauseUpstreamError || res.Upstream != ils.errorReply() {
				t.Fatalf("result %+v, want queued with cause upstream-error and the error reply", res)
			}
			if es := listAll(t, r); len(es) != 1 || es[0].State != StateQueued || es[0].Upstream != ils.errorReply() {
				t.Fatalf("queue %+v", es)
			}
			ils.set(modeOK, 0)
			runRelay(t, r)
			ils.waitImports(1, 10*time.Second)
			waitFor(t, 5*time.Second, "delivered", func() bool { return listAll(t, r)[0].State == StateDelivered })
			if n := len(ils.importsCopy()); n != 1 {
				t.Errorf("imported %d times", n)
			}
		})
	}
}

func TestRejectPolicy(t *testing.T) {
	d, _ := newDB(t)
	cfg := testConfig(d, closedPort(t))
	cfg.Policy = PolicyReject
	r := openRelay(t, cfg)
	defer r.Close()
	res := deliver1(t, r, makeRecord(t, 9, "Rejected"))
	if res.Outcome != exportlog.OutcomeFailed || res.Class != exportlog.ClassSystem || res.Cause != exportlog.CauseUpstreamDown || res.Reply != "" {
		t.Fatalf("result %+v, want failed, system, upstream-down, no verbatim reply", res)
	}
	if res.Outcome.Succeeded() {
		t.Error("a rejected record must not count as safe")
	}
	if es := listAll(t, r); len(es) != 0 {
		t.Errorf("policy reject queued %d records", len(es))
	}
	if res.Uncertain {
		t.Error("a refused connection was reported as possibly stored")
	}

	// An upstream that takes the record and says nothing may have it.
	ils := newFakeILS(t, "koha")
	ils.set(modeHang, 0)
	cfg.Upstream = ils.addr
	cfg.ReplyTimeout = 100 * time.Millisecond
	r2 := openRelay(t, cfg)
	defer r2.Close()
	res = deliver1(t, r2, makeRecord(t, 10, "Maybe"))
	if res.Outcome != exportlog.OutcomeFailed || res.Cause != exportlog.CauseUpstreamTimeout || !res.Uncertain {
		t.Fatalf("result %+v, want failed, upstream-timeout, uncertain", res)
	}
}

func TestLateSuccessIsNotResent(t *testing.T) {
	ils := newFakeILS(t, "folio")
	ils.set(modeHang, 0)
	d, _ := newDB(t)
	cfg := ils.relayConfig(d)
	cfg.ReplyTimeout = 100 * time.Millisecond
	r := openRelay(t, cfg)
	defer r.Close()
	runRelay(t, r)

	res := deliver1(t, r, makeRecord(t, 11, "Slow"))
	if res.Outcome != exportlog.OutcomeQueued || res.Cause != exportlog.CauseUpstreamTimeout {
		t.Fatalf("result %+v, want queued after the reply timeout", res)
	}
	es := listAll(t, r)
	if len(es) != 1 || es[0].State != StateSending {
		t.Fatalf("queue %+v, want one entry sending (waiting for the late reply)", es)
	}
	// A record exported meanwhile waits behind it.
	res2 := deliver1(t, r, makeRecord(t, 12, "Behind"))
	if res2.Outcome != exportlog.OutcomeQueued {
		t.Fatalf("second result %+v, want queued behind the first", res2)
	}
	if got := ils.requestCount(); got != 1 {
		t.Fatalf("upstream saw %d requests while the first waits, want 1 (no resend, no overtaking)", got)
	}
	ils.set(modeOK, 0) // the slow import finishes and replies
	imp := ils.waitImports(2, 10*time.Second)
	if imp[0].record != string(makeRecord(t, 11, "Slow")) || imp[1].record != string(makeRecord(t, 12, "Behind")) {
		t.Errorf("arrival order wrong")
	}
	waitFor(t, 5*time.Second, "both delivered", func() bool {
		es := listAll(t, r)
		return len(es) == 2 && es[0].State == StateDelivered && es[1].State == StateDelivered
	})
	if n := ils.requestCount(); n != 2 {
		t.Errorf("upstream saw %d requests, want 2: the late one must not be sent again", n)
	}
}

func TestLateErrorIsRequeued(t *testing.T) {
	ils := newFakeILS(t, "koha")
	ils.set(modeHang, 0)
	d, _ := newDB(t)
	cfg := testConfig(d, ils.addr)
	cfg.ReplyTimeout = 100 * time.Millisecond
	r := openRelay(t, cfg)
	defer r.Close()
	if res := deliver1(t, r, makeRecord(t, 13, "Late error")); res.Outcome != exportlog.OutcomeQueued {
		t.Fatalf("result %+v", res)
	}
	ils.set(modeError, 0) // the held request now answers an error
	waitFor(t, 5*time.Second, "requeued", func() bool { return listAll(t, r)[0].State == StateQueued })
	if e := listAll(t, r)[0]; e.Attempts != 1 || !strings.Contains(e.LastError, "Unsuccessful request") {
		t.Errorf("entry %+v, want the late error recorded", e)
	}
	ils.set(modeOK, 0)
	runRelay(t, r)
	ils.waitImports(1, 10*time.Second)
	waitFor(t, 5*time.Second, "delivered", func() bool { return listAll(t, r)[0].State == StateDelivered })
	if n := len(ils.importsCopy()); n != 1 {
		t.Errorf("imported %d times", n)
	}
}

func TestSilenceBecomesUncertainAndWaitsForAnOperator(t *testing.T) {
	ils := newFakeILS(t, "koha")
	ils.set(modeHang, 0)
	d, _ := newDB(t)
	cfg := testConfig(d, ils.addr)
	cfg.ReplyTimeout = 50 * time.Millisecond
	cfg.LateReplyLimit = 300 * time.Millisecond
	r := openRelay(t, cfg)
	defer r.Close()
	runRelay(t, r)
	deliver1(t, r, makeRecord(t, 21, "Silent"))
	waitFor(t, 5*time.Second, "uncertain", func() bool { return listAll(t, r)[0].State == StateUncertain })
	id := listAll(t, r)[0].ID

	// Uncertain records do not hold up new ones.
	ils.crash()
	ils.start()
	ils.set(modeOK, 0)
	if res := deliver1(t, r, makeRecord(t, 22, "Next")); res.Outcome != exportlog.OutcomeRelayed {
		t.Fatalf("record after an uncertain one: %+v, want relayed", res)
	}
	// Retry without IDs leaves it alone; naming it sends it.
	if n, err := r.Retry(context.Background()); err != nil || n != 0 {
		t.Fatalf("Retry() = %d, %v; want 0 (uncertain entries only when named)", n, err)
	}
	if e := entry(t, r, id); e.State != StateUncertain {
		t.Fatalf("state %s after Retry(), want uncertain", e.State)
	}
	if n, err := r.Retry(context.Background(), id); err != nil || n != 1 {
		t.Fatalf("Retry(%d) = %d, %v", id, n, err)
	}
	waitFor(t, 5*time.Second, "delivered after retry", func() bool { return entry(t, r, id).State == StateDelivered })
	imp := ils.importsCopy()
	if len(imp) != 2 || imp[1].record != string(makeRecord(t, 21, "Silent")) {
		t.Errorf("imports %d, want the held one (never imported: the upstream crashed) delivered once on retry", len(imp))
	}
}

func TestUnrecognisedReplyIsUncertain(t *testing.T) {
	ils := newFakeILS(t, "koha")
	ils.weird("Thank you")
	d, _ := newDB(t)
	r := openRelay(t, testConfig(d, ils.addr))
	defer r.Close()
	runRelay(t, r)
	res := deliver1(t, r, makeRecord(t, 31, "Weird"))
	if res.Outcome != exportlog.OutcomeQueued || res.Upstream != "Thank you" {
		t.Fatalf("result %+v, want queued with the reply kept", res)
	}
	es := listAll(t, r)
	if len(es) != 1 || es[0].State != StateUncertain {
		t.Fatalf("queue %+v, want one uncertain entry", es)
	}
	time.Sleep(150 * time.Millisecond) // several PollEvery: Run must leave it alone
	if n := ils.requestCount(); n != 1 {
		t.Errorf("upstream saw %d requests; an unrecognised reply must not be resent", n)
	}
}

func TestOrderKeptBehindTheQueue(t *testing.T) {
	ils := newFakeILS(t, "koha")
	ils.stop()
	d, _ := newDB(t)
	r := openRelay(t, ils.relayConfig(d))
	defer r.Close()
	var raws [][]byte
	for i := range 5 {
		raws = append(raws, makeRecord(t, 100+i, "Order"))
	}
	if res := deliver1(t, r, raws[0]); res.Outcome != exportlog.OutcomeQueued {
		t.Fatal(res)
	}
	ils.start() // up again, but the queue is not drained yet (Run not started)
	// A multi-record export: every record goes behind the waiting one.
	results := r.Deliver(context.Background(), exportOf(t, "cat2", "pw2", raws[1:]...))
	for i, res := range results {
		if res.Outcome != exportlog.OutcomeQueued {
			t.Fatalf("record %d: %+v, want queued behind the waiting record", i+1, res)
		}
	}
	if n := ils.requestCount(); n != 0 {
		t.Fatalf("upstream saw %d requests before the queue was drained", n)
	}
	runRelay(t, r)
	imp := ils.waitImports(5, 10*time.Second)
	for i := range raws {
		if imp[i].record != string(raws[i]) {
			t.Errorf("arrival %d is not record %d", i, i)
		}
	}
	if imp[1].user != "cat2" || imp[1].password != "pw2" {
		t.Errorf("second export delivered with %q/%q", imp[1].user, imp[1].password)
	}
}

func TestRepeatedExports(t *testing.T) {
	for _, tc := range []struct {
		policy  receiver.DuplicatePolicy
		forward bool
	}{
		{receiver.DuplicateSkip, false},
		{receiver.DuplicateMarkDeleted, false}, // cannot mark a record in a remote ILS: acts as skip
		{receiver.DuplicateOverlay, true},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			ils := newFakeILS(t, "koha")
			d, _ := newDB(t)
			cfg := testConfig(d, ils.addr)
			cfg.Duplicates = receiver.Duplicates{Policy: tc.policy, Window: time.Hour}
			r := openRelay(t, cfg)
			raw := makeRecord(t, 555, "Twice")
			first := deliver1(t, r, raw)
			if first.Outcome != exportlog.OutcomeRelayed {
				t.Fatal(first)
			}
			second := deliver1(t, r, raw)
			if tc.forward {
				if second.Outcome != exportlog.OutcomeRelayed || len(ils.importsCopy()) != 2 {
					t.Fatalf("overlay: %+v, %d imports; want forwarded again", second, len(ils.importsCopy()))
				}
				r.Close()
				return
			}
			if second.Outcome != exportlog.OutcomeDuplicate || second.Previous == nil || second.Previous.SystemNumber != "1" ||
				second.Cause != exportlog.CauseDuplicate || second.Policy != receiver.DuplicateSkip || len(ils.importsCopy()) != 1 {
				t.Fatalf("second export %+v (previous %+v), %d imports; want a duplicate of record 1, not forwarded",
					second, second.Previous, len(ils.importsCopy()))
			}
			// Also after the background write and a restart.
			r.Close()
			r = openRelay(t, cfg)
			defer r.Close()
			third := deliver1(t, r, raw)
			if third.Outcome != exportlog.OutcomeDuplicate || third.Previous.SystemNumber != "1" {
				t.Errorf("after restart: %+v", third)
			}
			// A different record is not a duplicate.
			if other := deliver1(t, r, makeRecord(t, 556, "Other")); other.Outcome != exportlog.OutcomeRelayed {
				t.Errorf("other record: %+v", other)
			}
		})
	}
}

func TestQueuedRecordCountsAsPreviousUnlessDropped(t *testing.T) {
	d, _ := newDB(t)
	r := openRelay(t, testConfig(d, closedPort(t)))
	defer r.Close()
	raw := makeRecord(t, 600, "Queued twice")
	if res := deliver1(t, r, raw); res.Outcome != exportlog.OutcomeQueued {
		t.Fatal(res)
	}
	again := deliver1(t, r, raw)
	if again.Outcome != exportlog.OutcomeDuplicate || again.Previous == nil {
		t.Fatalf("re-export of a queued record: %+v, want duplicate", again)
	}
	id := listAll(t, r)[0].ID
	if err := r.Drop(context.Background(), id, "cataloger asked"); err != nil {
		t.Fatal(err)
	}
	if res := deliver1(t, r, raw); res.Outcome != exportlog.OutcomeQueued {
		t.Fatalf("re-export after the queued copy was dropped: %+v, want queued again", res)
	}
}

// probeFor pairs each probe with a receiver that answers it.
var probeFor = []struct {
	probe Probe
	style string
}{
	{ProbeConnect, "evergreen"},
	{ProbeHTTP, "folio"},
	{ProbeEmpty, "koha"},
}

func TestCanaryIsNeverForwarded(t *testing.T) {
	for _, tc := range probeFor {
		t.Run(string(tc.probe), func(t *testing.T) {
			ils := newFakeILS(t, tc.style)
			d, _ := newDB(t)
			r := openRelay(t, ils.relayConfig(d)) // the Listener's default probe
			defer r.Close()
			if r.cfg.Probe != tc.probe {
				t.Fatalf("listener %s: probe %s, want %s", tc.style, r.cfg.Probe, tc.probe)
			}
			exp := exportOf(t, "probe", "", makeRecord(t, 1, "Canary"))
			exp.Canary = true
			res := r.Deliver(context.Background(), exp)[0]
			if res.Outcome != exportlog.OutcomeCanary || res.Class != exportlog.ClassNone {
				t.Fatalf("canary result %+v", res)
			}
			ils.stop()
			res = r.Deliver(context.Background(), exp)[0]
			if res.Outcome != exportlog.OutcomeFailed || res.Class != exportlog.ClassSystem || res.Cause != exportlog.CauseUpstreamDown {
				t.Fatalf("canary against a stopped upstream: %+v", res)
			}
			if n := len(ils.importsCopy()); n != 0 {
				t.Errorf("canary imported %d records", n)
			}
			if es := listAll(t, r); len(es) != 0 {
				t.Errorf("canary queued %d records", len(es))
			}
		})
	}
}

func TestPingAndRoundTrip(t *testing.T) {
	for _, tc := range probeFor {
		ils := newFakeILS(t, tc.style)
		d, _ := newDB(t)
		cfg := ils.relayConfig(d)
		cfg.Probe = tc.probe
		r := openRelay(t, cfg)
		if err := r.Ping(context.Background()); err != nil {
			t.Errorf("%s: Ping: %v", tc.probe, err)
		}
		if err := r.RoundTrip(context.Background()); err != nil {
			t.Errorf("%s against %s: RoundTrip: %v", tc.probe, tc.style, err)
		}
		r.Close()
		cfg.Upstream = closedPort(t)
		r = openRelay(t, cfg)
		if err := r.RoundTrip(context.Background()); !errors.Is(err, ErrProbe) {
			t.Errorf("%s: RoundTrip to a closed port = %v, want ErrProbe", tc.probe, err)
		}
		r.Close()
		if n := len(ils.importsCopy()); n != 0 {
			t.Errorf("%s: probes imported %d records", tc.style, n)
		}
	}
}

func TestDropRetryAndStates(t *testing.T) {
	d, _ := newDB(t)
	r := openRelay(t, testConfig(d, closedPort(t)))
	defer r.Close()
	for i := range 3 {
		deliver1(t, r, makeRecord(t, 700+i, "Drop"))
	}
	es := listAll(t, r)
	if len(es) != 3 {
		t.Fatalf("%d entries", len(es))
	}
	ctx := context.Background()
	if err := r.Drop(ctx, es[1].ID, ""); err == nil {
		t.Error("Drop without a reason succeeded")
	}
	if err := r.Drop(ctx, es[1].ID, "wrong record"); err != nil {
		t.Fatal(err)
	}
	if err := r.Drop(ctx, es[1].ID, "again"); !errors.Is(err, ErrWrongState) {
		t.Errorf("second Drop = %v, want ErrWrongState", err)
	}
	if err := r.Drop(ctx, 999, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Drop(999) = %v, want ErrNotFound", err)
	}
	if _, err := r.Retry(ctx, es[1].ID); !errors.Is(err, ErrWrongState) {
		t.Errorf("Retry(dropped) = %v, want ErrWrongState", err)
	}
	e := entry(t, r, es[1].ID)
	if e.State != StateDropped || e.DropReason != "wrong record" || e.Done.IsZero() {
		t.Errorf("dropped entry %+v", e)
	}
	pending, err := r.List(ctx, ListOptions{})
	if err != nil || len(pending) != 2 {
		t.Fatalf("List() = %d entries, %v; want the 2 still queued", len(pending), err)
	}
	n, err := r.Retry(ctx)
	if err != nil || n != 2 {
		t.Errorf("Retry() = %d, %v; want 2", n, err)
	}
	if b, err := r.Record(ctx, es[0].ID); err != nil || string(b) != string(makeRecord(t, 700, "Drop")) {
		t.Errorf("Record = %q, %v", b, err)
	}
	st, err := r.Stats(ctx)
	if err != nil || st.Waiting != 2 || st.Uncertain != 0 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
}

func TestDeliverAfterClose(t *testing.T) {
	d, _ := newDB(t)
	r := openRelay(t, testConfig(d, closedPort(t)))
	r.Close()
	res := deliver1(t, r, makeRecord(t, 1, "Late"))
	if res.Outcome.Succeeded() {
		t.Fatalf("Deliver after Close: %+v", res)
	}
}

func TestConfigErrors(t *testing.T) {
	d, _ := newDB(t)
	for _, cfg := range []Config{
		{DB: d},
		{DB: d, Upstream: "nohost"},
		{Upstream: "127.0.0.1:1"},
		{DB: d, Upstream: "127.0.0.1:1", Policy: "drop"},
		{DB: d, Upstream: "127.0.0.1:1", Probe: "ping"},
		{DB: d, Upstream: "127.0.0.1:1", Listener: "voyager"},
		{DB: d, Upstream: "127.0.0.1:1", Duplicates: receiver.Duplicates{Policy: "ignore"}},
		{DB: d, Upstream: "127.0.0.1:1", Credentials: &Credentials{User: strings.Repeat("1", 200)}},
	} {
		if r, err := Open(context.Background(), cfg); err == nil {
			r.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestConnectionClosedWithoutReplyIsResent(t *testing.T) {
	ils := newFakeILS(t, "evergreen")
	ils.set(modeHang, 0)
	d, _ := newDB(t)
	r := openRelay(t, ils.relayConfig(d))
	defer r.Close()
	got := make(chan receiver.Result, 1)
	go func() { got <- deliver1(t, r, makeRecord(t, 41, "Crash")) }()
	waitFor(t, 5*time.Second, "the request to reach the upstream", func() bool { return ils.requestCount() == 1 })
	ils.crash() // the ILS dies before committing: the connection closes without a reply
	res := <-got
	if res.Outcome != exportlog.OutcomeQueued || res.Cause != exportlog.CauseUpstreamDown {
		t.Fatalf("result %+v, want queued, upstream-down", res)
	}
	e := listAll(t, r)[0]
	if e.State != StateQueued || !strings.Contains(e.LastError, "without replying") {
		t.Fatalf("entry %+v, want queued for redelivery", e)
	}
	ils.start()
	ils.set(modeOK, 0)
	runRelay(t, r)
	ils.waitImports(1, 10*time.Second)
	waitFor(t, 5*time.Second, "delivered", func() bool { return entry(t, r, e.ID).State == StateDelivered })
	if n := len(ils.importsCopy()); n != 1 {
		t.Errorf("imported %d times, want 1", n)
	}
}

// TestReplyWithoutNULStillCounts: an upstream that writes its reply and
// closes without the NUL (FOLIO did) has still said what it did.
func TestReplyWithoutNULStillCounts(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  exportlog.Outcome
	}{
		{"Import ok\n", exportlog.OutcomeRelayed},
		{"Error: access denied\n", exportlog.OutcomeQueued},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			p := &gateway.Parser{}
			buf := make([]byte, 4096)
			for !p.Done() {
				n, err := c.Read(buf)
				if _, ferr := p.Feed(buf[:n]); ferr != nil || err != nil {
					return
				}
			}
			io.WriteString(c, tc.reply)
		}()
		d, _ := newDB(t)
		r := openRelay(t, testConfig(d, ln.Addr().String()))
		res := deliver1(t, r, makeRecord(t, 51, "No NUL"))
		if res.Outcome != tc.want || res.Upstream != tc.reply {
			t.Errorf("reply %q without NUL: %+v, want %s", tc.reply, res, tc.want)
		}
		r.Close()
		ln.Close()
	}
}

func TestBackoffGrowsWithJitterAndIsRecorded(t *testing.T) {
	d, _ := newDB(t)
	now := time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)
	cfg := testConfig(d, closedPort(t))
	cfg.InitialBackoff, cfg.MaxBackoff = time.Second, 8*time.Second
	cfg.Now = func() time.Time { return now }
	r := openRelay(t, cfg)
	defer r.Close()
	for streak := 1; streak <= 8; streak++ {
		d := r.noteFailure(exportlog.CauseUpstreamDown)
		full := min(time.Second<<(streak-1), 8*time.Second)
		if d < full/2 || d > full {
			t.Errorf("failure %d: backoff %v, want between %v and %v", streak, d, full/2, full)
		}
	}
	r.noteSuccess()
	res := deliver1(t, r, makeRecord(t, 61, "Backoff"))
	if res.Outcome != exportlog.OutcomeQueued {
		t.Fatal(res)
	}
	e := listAll(t, r)[0]
	if e.Attempts != 1 || !e.LastAttempt.Equal(now) || e.NextAttempt.Before(now.Add(500*time.Millisecond)) || e.NextAttempt.After(now.Add(time.Second)) {
		t.Errorf("entry attempts %d, last %v, next %v; want 1 attempt at %v, next within the first backoff", e.Attempts, e.LastAttempt, e.NextAttempt, now)
	}
	if !e.Queued.Equal(now) {
		t.Errorf("queued at %v, want %v", e.Queued, now)
	}
}
