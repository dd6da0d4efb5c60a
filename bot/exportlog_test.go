package bot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

// TestOutageThroughTheExportLog runs the engine as the daemon does: Run
// subscribed to the real export log, the dispatcher's production loop,
// and a restart in the middle of the outage.
func TestOutageThroughTheExportLog(t *testing.T) {
	listserv := &recorder{sent: make(chan string, 10)}
	h := newHarness(t, func(c *Config, d *DispatcherConfig) {
		c.Channels = c.Channels[:1]
		c.Channels[0].Channel = listserv
		d.Channels = c.Channels
		d.Now = time.Now // production dispatcher loop
		c.TickEvery = 10 * time.Millisecond
	})
	xl, err := exportlog.Open(h.ctx, h.d, exportlog.Options{Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer xl.Close()
	run := func() (stop func()) {
		h.start()
		ctx, cancel := context.WithCancel(h.ctx)
		var wg sync.WaitGroup
		wg.Go(func() { h.disp.Run(ctx) })
		wg.Go(func() {
			if err := h.eng.Run(ctx, ExportLog(xl)); err != nil {
				t.Error(err)
			}
		})
		return func() { cancel(); wg.Wait() }
	}
	appendN := func(n int, ok bool) {
		for range n {
			a := h.attempt(upstream, ok, exportlog.ClassSystem, exportlog.CauseUpstreamTimeout)
			a.ID = 0
			if err := xl.Append(h.ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(key string) {
		t.Helper()
		select {
		case got := <-listserv.sent:
			if got != key {
				t.Fatalf("delivered %s, want %s", got, key)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s not delivered", key)
		}
	}
	appendN(5, false)
	// A first run starts with the attempts recorded from then on; say
	// where "then" is, so that the test does not race with Run's start.
	if err := h.st.SetState(h.ctx, KeyCursor, "5"); err != nil {
		t.Fatal(err)
	}
	stop := run()
	appendN(3, false)
	expect("OIS-2026-0001/alert/1/listserv")
	stop()
	// While the daemon is down two more failures and a success arrive;
	// the restarted daemon judges them, and nothing is announced twice.
	appendN(2, false)
	appendN(1, true)
	stop = run()
	appendN(1, true)
	expect("OIS-2026-0001/solved/2/listserv")
	stop()
	inc, err := h.st.Incident(h.ctx, "OIS-2026-0001")
	if err != nil {
		t.Fatal(err)
	}
	if inc.State != incidents.StateSolved || len(inc.Affected) != 5 {
		t.Fatalf("state %s, %d records (want the 5 judged failures)", inc.State, len(inc.Affected))
	}
	if got := listserv.summary(); len(got) != 2 {
		t.Fatalf("delivered %v", got)
	}
}
