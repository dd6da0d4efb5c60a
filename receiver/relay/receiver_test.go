package relay

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/receiver"
)

// TestBehindTheReceiver runs the relay behind the real import pipeline
// and its reply templates, as oclcbot serve does in relay mode.
func TestBehindTheReceiver(t *testing.T) {
	ils := newFakeILS(t, "koha")
	ils.stop()
	d, _ := newDB(t)
	log, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(d, ils.addr)
	cfg.Log = log
	r := openRelay(t, cfg)
	defer r.Close()
	rcv, err := receiver.New(receiver.Config{Sink: r, Log: log, Open: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gateway.Server{Handler: rcv, ErrorReply: rcv.ErrorReply, Logger: discardLogger()}
	go srv.Serve(ln)
	defer srv.Close()
	cataloger := &gateway.Client{Addr: ln.Addr().String(), Timeout: 30 * time.Second}

	reply, err := cataloger.Export(context.Background(), "cat1", "pw", makeRecord(t, 31337, "Queued behind the receiver"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reply, "queued") || !strings.Contains(reply, "Do NOT export this record again") {
		t.Errorf("reply while the ILS is down: %q, want the queued template", reply)
	}
	ils.start()
	runRelay(t, r)
	ils.waitImports(1, 10*time.Second)
	var delivered []*exportlog.Attempt
	waitFor(t, 5*time.Second, "the delivered event", func() bool {
		delivered, err = log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeDelivered})
		return err == nil && len(delivered) == 1
	})
	queued, err := log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeQueued})
	if err != nil || len(queued) != 1 {
		t.Fatalf("queued attempts %d, %v", len(queued), err)
	}
	if delivered[0].Follows != queued[0].ID {
		t.Errorf("delivered event follows %d, want the receiver's queued attempt %d", delivered[0].Follows, queued[0].ID)
	}

	reply, err = cataloger.Export(context.Background(), "cat1", "pw", makeRecord(t, 31338, "Relayed behind the receiver"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(ils.successReply(2)); strings.TrimSpace(reply) != want {
		t.Errorf("reply %q, want the ILS's own reply %q", reply, want)
	}
	// The relayed record's attempt is recorded once, just after the
	// reply, and a repeat of the same export is now a duplicate.
	rcv.Wait()
	relayed, err := log.List(context.Background(), exportlog.Filter{Outcome: exportlog.OutcomeRelayed})
	if err != nil || len(relayed) != 1 || relayed[0].OCLCNumber != "31338" || strings.TrimSpace(relayed[0].Reply) != strings.TrimSpace(reply) {
		t.Fatalf("relayed attempts %+v, %v; want one, with the reply", relayed, err)
	}
	reply, err = cataloger.Export(context.Background(), "cat1", "pw", makeRecord(t, 31338, "Relayed behind the receiver"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reply, "Already received") {
		t.Errorf("a repeat of the relayed record got %q", reply)
	}
	if n := len(ils.importsCopy()); n != 2 {
		t.Errorf("the ILS imported %d records, want 2 (the repeat is not forwarded)", n)
	}
}
