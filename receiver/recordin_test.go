package receiver

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
)

// TestAttemptCommitsWithRecord: an export of one record to the embedded
// catalog is recorded in the export log by the transaction that stores
// the record, once, complete, and visible to subscribers.
func TestAttemptCommitsWithRecord(t *testing.T) {
	e, _ := catalogEnv(t, DefaultDuplicates)
	sub := e.log.Subscribe(0)
	msg, err := gateway.AppendRequest(nil, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "777", "One commit")}})
	if err != nil {
		t.Fatal(err)
	}
	reply := rawExport(t, e.addr, msg)
	if !strings.HasPrefix(reply, "Added to the catalog as system number 000000001 (OCLC #777).") {
		t.Fatalf("reply = %q", reply)
	}
	as := e.attempts(t)
	if len(as) != 1 {
		t.Fatalf("%d attempts, want 1: %+v", len(as), as)
	}
	a := as[0]
	if a.ID == 0 || a.Outcome != exportlog.OutcomeAdded || a.SystemNumber != "000000001" || a.OCLCNumber != "777" ||
		a.Reply+"\n" != reply || a.Target != CatalogSinkName || a.User != "cat1" {
		t.Errorf("attempt = %+v", a)
	}
	if !strings.Contains(string(a.Request), "One commit") || strings.Contains(string(a.Request), "\x00\x00") {
		t.Errorf("raw request not recorded: %q", a.Request)
	}
	if a.Done.Before(a.Time) || a.Elapsed <= 0 {
		t.Errorf("timings: time %v done %v elapsed %v", a.Time, a.Done, a.Elapsed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := sub.Next(ctx)
	if err != nil || got.ID != a.ID || got.Outcome != exportlog.OutcomeAdded {
		t.Fatalf("subscription delivered %+v, %v; want attempt %d", got, err, a.ID)
	}
}

// txSink stores nothing but writes in the export log's database as a
// sink keeping records there would: its write calls Export.RecordIn
// with claim and then fails with fail (nil: commits), and Deliver
// returns ret.
type txSink struct {
	e     *env
	claim Result
	fail  error
	ret   Result
}

func (*txSink) Name() string { return CatalogSinkName }

func (s *txSink) Deliver(ctx context.Context, exp *Export) []Result {
	if exp.RecordIn == nil {
		return []Result{{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseInternal, Detail: "no RecordIn"}}
	}
	var done func(error)
	err := s.e.db.Write(ctx, func(tx *sql.Tx) error {
		done = exp.RecordIn(tx, s.claim)
		return s.fail
	})
	if done != nil {
		done(err)
	}
	return []Result{s.ret}
}

// TestAttemptRolledBackWithRecord: when the transaction that would have
// kept the record and its attempt fails, the attempt it wrote is gone
// with it (no subscriber ever sees it) and the failure is what the
// reply and the export log say, once.
func TestAttemptRolledBackWithRecord(t *testing.T) {
	e := newEnv(t, Config{Sink: &nopSink{}})
	e.rcv.cfg.Sink = &txSink{e: e,
		claim: Result{Outcome: exportlog.OutcomeAdded, SystemNumber: "000000042"},
		fail:  errors.New("disk on fire"),
		ret: Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseStorage,
			Detail: "not stored: disk on fire"},
	}
	e.serve(t)
	sub := e.log.Subscribe(0)
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "778", "Never kept")}})
	if strings.Contains(reply, "Added") || strings.Contains(reply, "000000042") {
		t.Fatalf("reply claims the record was kept: %q", reply)
	}
	as := e.attempts(t)
	if len(as) != 1 || as[0].Outcome != exportlog.OutcomeFailed || as[0].Cause != exportlog.CauseStorage || as[0].Reply+"\n" != reply {
		t.Fatalf("attempts = %+v, want one storage failure with the reply", as)
	}
	if strings.Contains(e.logs.String(), "differs from the one it recorded") {
		t.Errorf("the rolled-back attempt was taken as recorded:\n%s", e.logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := sub.Next(ctx)
	if err != nil || got.ID != as[0].ID || got.Outcome != exportlog.OutcomeFailed {
		t.Fatalf("subscription delivered %+v, %v; want the failure, attempt %d", got, err, as[0].ID)
	}
}

// TestAttemptOfSinkBreakingRecordIn: a sink that commits one Result with
// the record and returns another gets the reply Deliver's Result calls
// for, and both are in the export log.
func TestAttemptOfSinkBreakingRecordIn(t *testing.T) {
	e := newEnv(t, Config{Sink: &nopSink{}})
	e.rcv.cfg.Sink = &txSink{e: e,
		claim: Result{Outcome: exportlog.OutcomeAdded, SystemNumber: "000000042"},
		ret:   Result{Outcome: exportlog.OutcomeMerged, SystemNumber: "000000007"},
	}
	e.serve(t)
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "779", "Two stories")}})
	if !strings.Contains(reply, "000000007") {
		t.Fatalf("reply = %q, want the result Deliver returned", reply)
	}
	as := e.attempts(t)
	if len(as) != 2 || as[0].SystemNumber != "000000042" || as[1].SystemNumber != "000000007" || as[1].Reply+"\n" != reply {
		t.Fatalf("attempts = %+v", as)
	}
	if !strings.Contains(e.logs.String(), "differs from the one it recorded") {
		t.Errorf("no error logged:\n%s", e.logs.String())
	}
}
