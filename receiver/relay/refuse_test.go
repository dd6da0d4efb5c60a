package relay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/receiver"
)

// logAsReceiver appends, for each result of exp, the attempt the
// receiver records after Deliver returns, and returns their IDs.
func logAsReceiver(t testing.TB, log *exportlog.Log, r *Relay, exp *receiver.Export, results []receiver.Result) []int64 {
	t.Helper()
	var ids []int64
	for i, res := range results {
		it := exp.Items[i]
		a := &exportlog.Attempt{RequestID: exp.Request.ID, Time: exp.Request.Received, Done: time.Now(), User: exp.User,
			Target: r.Name(), RecordIndex: it.Index, OCLCNumber: it.OCLCNumber, Title: it.Title, Record: it.Raw,
			Outcome: res.Outcome, Class: res.Class, Cause: res.Cause, Detail: res.Detail, Upstream: res.Upstream}
		if err := log.Append(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

// eventsFollowing returns the export-log attempts that follow attempt
// id, oldest first.
func eventsFollowing(t testing.TB, log *exportlog.Log, id int64) []*exportlog.Attempt {
	t.Helper()
	as, err := log.List(context.Background(), exportlog.Filter{AfterID: id, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var out []*exportlog.Attempt
	for i := len(as) - 1; i >= 0; i-- { // List returns the newest first
		if as[i].Follows == id {
			out = append(out, as[i])
		}
	}
	return out
}

// TestRefusedRecordIsHeldAndTheOthersGoOn: an ILS that refuses one
// queued record on its merits gets it exactly MaxRefusals times; then it
// is set aside (held), the records behind it are delivered in order, the
// listing and the export log show it, it stays held across a restart,
// and once the ILS takes it an operator's retry delivers it.
func TestRefusedRecordIsHeldAndTheOthersGoOn(t *testing.T) {
	for _, style := range []string{"koha", "folio", "evergreen"} {
		t.Run(style, func(t *testing.T) {
			ctx := context.Background()
			ils := newFakeILS(t, style)
			ils.stop()
			d, path := newDB(t)
			xlog, err := exportlog.Open(ctx, d, exportlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg := ils.relayConfig(d)
			cfg.Log = xlog
			r := openRelay(t, cfg)
			var raws [][]byte
			var queuedAttempts []int64
			for i := range 4 {
				raw := makeRecord(t, 8100+i, fmt.Sprintf("Queued %d", i))
				raws = append(raws, raw)
				exp := exportOf(t, "cat1", "catsecret", raw)
				res := r.Deliver(ctx, exp)
				if res[0].Outcome != exportlog.OutcomeQueued {
					t.Fatalf("record %d: %+v, want queued (the upstream is down)", i, res[0])
				}
				queuedAttempts = append(queuedAttempts, logAsReceiver(t, xlog, r, exp, res)[0])
			}
			es := listAll(t, r)
			if len(es) != 4 {
				t.Fatalf("%d queue entries, want 4", len(es))
			}
			heldID := es[1].ID
			bad := raws[1]
			ils.refuseRecord(bad)
			ils.start()
			stop := runRelay(t, r)

			imp := ils.waitImports(3, 10*time.Second)
			for i, want := range [][]byte{raws[0], raws[2], raws[3]} {
				if imp[i].record != string(want) {
					t.Errorf("arrival %d is not the record queued %d-th (want the queue's order without the refused one)", i, []int{0, 2, 3}[i])
				}
			}
			// Record 3 reached the ILS after record 2 was set aside.
			e := entry(t, r, heldID)
			if e.State != StateHeld || e.Attempts != DefaultMaxRefusals || e.Refusals != DefaultMaxRefusals ||
				e.Upstream != ils.refusalReply() || e.Held.IsZero() || !e.NextAttempt.IsZero() ||
				!strings.Contains(e.LastError, "refused the record") {
				t.Fatalf("refused entry %+v, want held after exactly %d tries, with the refusal", e, DefaultMaxRefusals)
			}
			waitFor(t, 5*time.Second, "the others delivered", func() bool {
				es := listAll(t, r)
				return es[0].State == StateDelivered && es[2].State == StateDelivered && es[3].State == StateDelivered
			})
			time.Sleep(150 * time.Millisecond) // several PollEvery: Run must leave the held record alone
			if n, want := ils.requestCount(), 3+DefaultMaxRefusals; n != want {
				t.Errorf("the ILS got %d requests, want %d: 3 imports and exactly %d tries of the refused record", n, want, DefaultMaxRefusals)
			}

			// The listing of what needs someone shows it, and only it.
			pending, err := r.List(ctx, ListOptions{})
			if err != nil || len(pending) != 1 || pending[0].ID != heldID || pending[0].State != StateHeld ||
				pending[0].OCLCNumber != "8101" || pending[0].Title != "Queued 1" {
				t.Fatalf("List() = %+v, %v; want the held record alone", pending, err)
			}
			st, err := r.Stats(ctx)
			if err != nil || st.Held != 1 || st.Waiting != 0 || st.Uncertain != 0 || !st.Oldest.IsZero() {
				t.Errorf("Stats() = %+v, %v; want 1 held, nothing waiting", st, err)
			}

			// The export log: a failure of class record that follows the
			// record's queued attempt, with the upstream's reply.
			var held *exportlog.Attempt
			waitFor(t, 5*time.Second, "the set-aside record in the export log", func() bool {
				for _, a := range eventsFollowing(t, xlog, queuedAttempts[1]) {
					if a.Outcome == exportlog.OutcomeFailed {
						held = a
						return true
					}
				}
				return false
			})
			if held.Class != exportlog.ClassRecord || held.Cause != exportlog.CauseUpstreamError || held.Upstream != ils.refusalReply() ||
				held.OCLCNumber != "8101" || held.Target != r.Name() || !bytes.Equal(held.Record, bad) ||
				!strings.Contains(held.Detail, fmt.Sprintf("oclcbot queue retry %d", heldID)) {
				t.Errorf("set-aside event %+v, want a failure of class record with the refusal", held)
			}
			waitFor(t, 5*time.Second, "the delivered records in the export log", func() bool {
				for _, i := range []int{0, 2, 3} {
					if evs := eventsFollowing(t, xlog, queuedAttempts[i]); len(evs) != 1 || evs[0].Outcome != exportlog.OutcomeDelivered {
						return false
					}
				}
				return true
			})

			// A new process: the record is still held, and left alone.
			stop()
			r.Close()
			d.Close()
			d2 := openDB(t, path)
			defer d2.Close()
			xlog2, err := exportlog.Open(ctx, d2, exportlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg.DB, cfg.Log = d2, xlog2
			r2 := openRelay(t, cfg)
			defer r2.Close()
			if e := entry(t, r2, heldID); e.State != StateHeld || e.Refusals != DefaultMaxRefusals {
				t.Fatalf("after a restart: %+v, want still held", e)
			}
			runRelay(t, r2)
			time.Sleep(150 * time.Millisecond)
			if n, want := ils.requestCount(), 3+DefaultMaxRefusals; n != want {
				t.Errorf("after a restart the ILS got %d requests, want %d: a held record is not retried automatically", n, want)
			}

			// Someone corrects the ILS's settings, and retries it.
			ils.acceptRecord(bad)
			if n, err := r2.Retry(ctx, heldID); n != 1 || err != nil {
				t.Fatalf("Retry(%d) = %d, %v", heldID, n, err)
			}
			imp = ils.waitImports(4, 10*time.Second)
			if imp[3].record != string(bad) {
				t.Error("the retried record was not the fourth import")
			}
			waitFor(t, 5*time.Second, "the retried record delivered", func() bool { return entry(t, r2, heldID).State == StateDelivered })
			if e := entry(t, r2, heldID); e.Attempts != DefaultMaxRefusals+1 || e.Refusals != 0 || e.LastError != "" {
				t.Errorf("delivered entry %+v, want %d attempts", e, DefaultMaxRefusals+1)
			}
			waitFor(t, 5*time.Second, "the retried record's delivery in the export log", func() bool {
				evs := eventsFollowing(t, xlog2, queuedAttempts[1])
				return len(evs) == 2 && evs[1].Outcome == exportlog.OutcomeDelivered
			})
			if evs := eventsFollowing(t, xlog2, queuedAttempts[1]); evs[0].ID != held.ID {
				t.Errorf("events of the refused record: %+v; want the set-aside event once, then the delivery", evs)
			}
			if n := len(ils.importsCopy()); n != 4 {
				t.Errorf("%d imports, want 4 (each record once)", n)
			}
		})
	}
}

// TestUpstreamFailuresNeverHoldARecord: replies that say the upstream,
// not the record, failed never count as refusals, however many there
// are: the record stays queued, holding up the ones behind it, and is
// delivered once the upstream works again.
func TestUpstreamFailuresNeverHoldARecord(t *testing.T) {
	for _, tc := range []struct {
		style string
		mode  ilsMode
		what  string
	}{
		{"koha", modeDown, "Koha down: Unsuccessful request at once"},
		{"folio", modeDown, "Okapi down: Connection refused"},
		{"folio", modeError, "login refused"},
		{"evergreen", modeDown, "no OpenSRF: closes without a reply"},
	} {
		t.Run(tc.style+"/"+tc.what, func(t *testing.T) {
			ils := newFakeILS(t, tc.style)
			ils.set(tc.mode, 0)
			d, _ := newDB(t)
			r := openRelay(t, ils.relayConfig(d))
			defer r.Close()
			first, behind := makeRecord(t, 8300, "Down"), makeRecord(t, 8301, "Behind")
			if res := deliver1(t, r, first); res.Outcome != exportlog.OutcomeQueued {
				t.Fatalf("result %+v, want queued", res)
			}
			if res := deliver1(t, r, behind); res.Outcome != exportlog.OutcomeQueued {
				t.Fatalf("result %+v, want queued behind the first", res)
			}
			id := listAll(t, r)[0].ID
			runRelay(t, r)
			want := DefaultMaxRefusals + 3
			waitFor(t, 10*time.Second, fmt.Sprintf("%d failed attempts", want), func() bool {
				e := entry(t, r, id)
				if e.State == StateHeld || e.Refusals != 0 {
					t.Fatalf("entry %+v after %d failures: an upstream failure counted as a refusal", e, e.Attempts)
				}
				return e.Attempts >= want
			})
			if e := listAll(t, r)[1]; e.State != StateQueued || e.Attempts != 0 {
				t.Fatalf("the record behind: %+v, want still queued, never tried", e)
			}
			ils.set(modeOK, 0)
			imp := ils.waitImports(2, 10*time.Second)
			if imp[0].record != string(first) || imp[1].record != string(behind) {
				t.Error("delivered out of order")
			}
			waitFor(t, 5*time.Second, "delivered", func() bool { return entry(t, r, id).State == StateDelivered })
		})
	}
}

// TestOnlyRefusalsInARowCount drives delivery attempts one by one: a
// failure of the upstream between refusals starts the count again.
func TestOnlyRefusalsInARowCount(t *testing.T) {
	ctx := context.Background()
	ils := newFakeILS(t, "koha")
	d, _ := newDB(t)
	r := openRelay(t, ils.relayConfig(d))
	defer r.Close()
	raw := makeRecord(t, 8400, "Refused")
	ils.refuseRecord(raw)
	res := deliver1(t, r, raw)
	if res.Outcome != exportlog.OutcomeQueued || res.Cause != exportlog.CauseUpstreamError || res.Upstream != ils.refusalReply() {
		t.Fatalf("result %+v, want queued with the refusal", res)
	}
	id := listAll(t, r)[0].ID
	check := func(step string, state State, refusals, attempts int) {
		t.Helper()
		if e := entry(t, r, id); e.State != state || e.Refusals != refusals || e.Attempts != attempts {
			t.Fatalf("%s: %s, %d refusals, %d attempts; want %s, %d, %d", step, e.State, e.Refusals, e.Attempts, state, refusals, attempts)
		}
	}
	try := func() {
		t.Helper()
		h, err := r.head(ctx)
		if err != nil || h == nil || h.id != id {
			t.Fatalf("head = %+v, %v; want entry %d", h, err, id)
		}
		r.deliverHead(ctx, h)
	}
	check("forwarded and refused", StateQueued, 1, 1)
	ils.set(modeDown, 0)
	try()
	check("Koha down", StateQueued, 0, 2)
	ils.set(modeOK, 0)
	try()
	try()
	check("refused twice more", StateQueued, 2, 4)
	ils.stop()
	try()
	check("connection refused", StateQueued, 0, 5)
	ils.start()
	try()
	try()
	check("refused twice", StateQueued, 2, 7)
	try()
	check("refused a third time in a row", StateHeld, 3, 8)
	if h, err := r.head(ctx); err != nil || h != nil {
		t.Errorf("head = %+v, %v; a held record is not delivered", h, err)
	}
}

func TestMaxRefusalsSettings(t *testing.T) {
	ctx := context.Background()
	t.Run("1: the first refusal sets it aside", func(t *testing.T) {
		ils := newFakeILS(t, "evergreen")
		d, _ := newDB(t)
		cfg := ils.relayConfig(d)
		cfg.MaxRefusals = 1
		r := openRelay(t, cfg)
		defer r.Close()
		raw := makeRecord(t, 8500, "Refused at once")
		ils.refuseRecord(raw)
		res := deliver1(t, r, raw)
		if res.Outcome != exportlog.OutcomeQueued || !strings.Contains(res.Detail, "set aside") {
			t.Fatalf("result %+v, want queued and set aside", res)
		}
		e := listAll(t, r)[0]
		if e.State != StateHeld || e.Refusals != 1 || e.Attempts != 1 || e.Held.IsZero() {
			t.Fatalf("entry %+v, want held after one refusal", e)
		}
		// It never reached the ILS: exporting it again is no repeat.
		if again := deliver1(t, r, raw); again.Outcome != exportlog.OutcomeQueued || ils.requestCount() != 2 {
			t.Fatalf("re-export of a held record: %+v, %d requests; want it forwarded again", again, ils.requestCount())
		}
		second := listAll(t, r)[1]
		if second.State != StateHeld {
			t.Fatalf("re-export: %+v, want held too", second)
		}
		if err := r.Drop(ctx, second.ID, "exported twice"); err != nil {
			t.Fatalf("Drop of a held entry: %v", err)
		}
		// Retry without IDs takes the held records: they were refused,
		// so the ILS does not have them.
		if n, err := r.Retry(ctx); n != 1 || err != nil {
			t.Fatalf("Retry() = %d, %v; want the held record", n, err)
		}
		if e := entry(t, r, e.ID); e.State != StateQueued || e.Refusals != 0 {
			t.Fatalf("after Retry(): %+v, want queued with the count started again", e)
		}
	})
	t.Run("negative: never", func(t *testing.T) {
		ils := newFakeILS(t, "evergreen")
		d, _ := newDB(t)
		cfg := ils.relayConfig(d)
		cfg.MaxRefusals = -1
		r := openRelay(t, cfg)
		defer r.Close()
		raw := makeRecord(t, 8501, "Refused forever")
		ils.refuseRecord(raw)
		deliver1(t, r, raw)
		for range 2 * DefaultMaxRefusals {
			h, err := r.head(ctx)
			if err != nil || h == nil {
				t.Fatalf("head = %+v, %v; want the refused record still queued", h, err)
			}
			r.deliverHead(ctx, h)
		}
		if e := listAll(t, r)[0]; e.State != StateQueued || e.Refusals != 2*DefaultMaxRefusals+1 {
			t.Errorf("entry %+v, want queued after %d refusals", e, 2*DefaultMaxRefusals+1)
		}
	})
}

// TestEvergreenEmptyReplyIsARefusal: Evergreen's importer answers an
// empty reply when Vandelay found nothing to import in what it got; the
// relay sends it the record alone, so that is the record's trouble. From
// any other receiver an empty reply is only a failure.
func TestEvergreenEmptyReplyIsARefusal(t *testing.T) {
	for _, tc := range []struct {
		listener Listener
		refusal  bool
	}{{ListenerEvergreen, true}, {ListenerOther, false}, {ListenerKoha, false}} {
		d, _ := newDB(t)
		cfg := testConfig(d, closedPort(t))
		cfg.Listener = tc.listener
		r := openRelay(t, cfg)
		a := r.judge("", nil, forward{}, time.Millisecond)
		if a.outcome != failed || a.refusal != tc.refusal {
			t.Errorf("listener %q, empty reply: outcome %s, refusal %v; want failed, %v", tc.listener, a.outcomeName(), a.refusal, tc.refusal)
		}
		r.Close()
	}
}
