package bot

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/templates"
)

// BenchmarkTimeToAlert measures the time from the failure that confirms a
// problem (the third system failure in a row) to the ALERT handed to the
// channel, with the production dispatcher loop, the database at
// synchronous=FULL, 10,000 incidents and 1,000 running silences in the
// store. It reports p50 and p99 in milliseconds (target: p99 < 100 ms).
func BenchmarkTimeToAlert(b *testing.B) {
	ctx := context.Background()
	d, err := db.Open(filepath.Join(b.TempDir(), "bench.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	st, err := sqlite.Open(ctx, d)
	if err != nil {
		b.Fatal(err)
	}
	seed(b, d, st)
	listserv := &recorder{sent: make(chan string, 16)}
	slack := &recorder{sent: make(chan string, 16)}
	set := templates.MustLoadDefaults()
	chans := []ChannelConfig{
		{Name: "listserv", Channel: listserv},
		{Name: "slack", Channel: slack, Templates: FamilySlack},
	}
	disp, err := NewDispatcher(DispatcherConfig{Outbox: st, Channels: chans, Templates: set})
	if err != nil {
		b.Fatal(err)
	}
	eng, err := New(ctx, Config{Store: st, Templates: set, Channels: chans, Wake: disp.Wake})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { disp.Run(rctx) })
	defer func() { cancel(); wg.Wait() }()
	var id int64 = 1 << 40
	observe := func(target string) {
		id++
		now := time.Now()
		a := &exportlog.Attempt{ID: id, Time: now, Done: now, User: "cat", Target: target, Title: "t", Record: sampleRecord(),
			Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseUpstreamDown, Reply: "no answer"}
		if err := eng.ObserveAttempt(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	// alerted waits for the ALERT on ch and checks that it is one.
	alerted := func(ch chan string, name string) {
		select {
		case key := <-ch:
			if !strings.Contains(key, "/"+string(incidents.KindAlert)+"/") {
				b.Fatalf("%s got %q, want an ALERT", name, key)
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("no %s alert within 10 s", name)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	var obsLat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		target := fmt.Sprintf("upstream:bench-%d.example.edu:5500", i)
		b.StopTimer()
		observe(target)
		observe(target)
		b.StartTimer()
		t0 := time.Now()
		observe(target)
		obsLat = append(obsLat, time.Since(t0))
		alerted(listserv.sent, "listserv")
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		alerted(slack.sent, "slack")
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	slices.Sort(obsLat)
	b.ReportMetric(float64(obsLat[len(obsLat)*99/100])/1e6, "commit-p99-ms")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}

// seed stores 10,000 solved incidents and 1,000 running silences, and
// checks that the store holds exactly that many.
func seed(b *testing.B, d *db.DB, st *sqlite.Store) {
	ctx := context.Background()
	long := time.Now().Add(-30 * 24 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 10000; i += 16 {
				at := long.Add(time.Duration(i) * time.Minute)
				inc := incidents.New(incidents.Opening{ID: incidents.FormatID("OIS", 2000+i/5000, i%5000+1), Target: fmt.Sprintf("upstream:old-%d:1", i%300),
					Cause: exportlog.CauseUpstreamDown, Class: exportlog.ClassSystem, Time: at, Text: "seed"})
				inc.Failed(at)
				inc.Solve(incidents.System, at.Add(time.Hour), "seed")
				ch := &incidents.Change{Incident: inc, Journal: inc.TakeChanges(), Notifications: []incidents.Notification{{
					Key: incidents.Key(inc.ID, incidents.KindAlert, 1, "listserv"), Channel: "listserv", Kind: incidents.KindAlert,
					Incident: inc.ID, Subject: "seed", Body: "seed", State: incidents.DeliverySent, Created: at, Sent: at}}}
				if err := st.Apply(ctx, ch); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for i := w; i < 1000; i += 16 {
				s := &incidents.Silence{Target: fmt.Sprintf("upstream:silenced-%d:1", i), Until: time.Now().Add(24 * time.Hour),
					Reason: "seed", Actor: "bench", Created: time.Now().Add(-time.Minute)}
				if err := st.AddSilence(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var n int
	if err := d.Reader().QueryRowContext(ctx, `SELECT count(*) FROM incidents`).Scan(&n); err != nil || n != 10000 {
		b.Fatalf("seeded %d incidents (%v), want 10000", n, err)
	}
	if ss, err := st.ActiveSilences(ctx, time.Now()); err != nil || len(ss) != 1000 {
		b.Fatalf("seeded %d running silences (%v), want 1000", len(ss), err)
	}
}
