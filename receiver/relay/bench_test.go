package relay

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/receiver"
)

// BenchmarkRelayOverhead measures what relay mode adds to a cataloger's
// export: a Connexion round trip through oclcbot's listener and the
// relay to the upstream, against a direct round trip to the same
// upstream, interleaved so that both see the same machine load. It
// reports each one's p50 and p99 and the p50 and p99 added by the relay
// (target: under 1 ms at p50). Each iteration exports a new record (a
// repeated one would be answered from the duplicate check without
// reaching the upstream), with the default duplicate policy, as in
// production.
func BenchmarkRelayOverhead(b *testing.B) {
	ils := newFakeILS(b, "koha")
	d, _ := newDB(b)
	log, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(d, ils.addr)
	cfg.Log = log
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := openRelay(b, cfg)
	defer r.Close()
	runRelay(b, r)
	// The listener does not wait for the export log: its commit is the
	// receiver's cost in every mode, not the relay's.
	l := startListener(b, r, nil)
	direct := &gateway.Client{Addr: ils.addr, Timeout: 10 * time.Second}
	viaRelay := &gateway.Client{Addr: l.addr, Timeout: 10 * time.Second}
	ctx := context.Background()

	raws := make([][]byte, 2*b.N)
	for i := range raws {
		raws[i] = makeRecord(b, 1_000_000+i, fmt.Sprintf("Bench %d", i))
	}
	directT := make([]time.Duration, 0, b.N)
	relayT := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := direct.Export(ctx, "cat1", "pw", raws[2*i]); err != nil {
			b.Fatal(err)
		}
		directT = append(directT, time.Since(start))
		start = time.Now()
		reply, err := viaRelay.Export(ctx, "cat1", "pw", raws[2*i+1])
		if err != nil {
			b.Fatal(err)
		}
		relayT = append(relayT, time.Since(start))
		if reply == queuedReply {
			b.Fatalf("iteration %d was queued, not relayed", i)
		}
	}
	b.StopTimer()
	dp50, dp99 := percentiles(directT)
	rp50, rp99 := percentiles(relayT)
	b.ReportMetric(float64(dp50.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(dp99.Microseconds()), "direct-p99-µs")
	b.ReportMetric(float64(rp50.Microseconds()), "relay-p50-µs")
	b.ReportMetric(float64(rp99.Microseconds()), "relay-p99-µs")
	b.ReportMetric(float64((rp50 - dp50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((rp99 - dp99).Microseconds()), "added-p99-µs")
}

// BenchmarkDeliver measures the relay alone (Deliver of one record to an
// upstream that answers at once), without the listener's hop.
func BenchmarkDeliver(b *testing.B) {
	ils := newFakeILS(b, "folio")
	d, _ := newDB(b)
	r := openRelay(b, ils.relayConfig(d))
	defer r.Close()
	exps := make([]*receiver.Export, b.N)
	for i := range exps {
		exps[i] = exportOf(b, "cat1", "pw", makeRecord(b, 2_000_000+i, "Deliver"))
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		res := r.Deliver(context.Background(), exps[i])
		times = append(times, time.Since(start))
		if res[0].Outcome != exportlog.OutcomeRelayed {
			b.Fatalf("%+v", res[0])
		}
	}
	b.StopTimer()
	p50, p99 := percentiles(times)
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
}

func percentiles(ts []time.Duration) (p50, p99 time.Duration) {
	if len(ts) == 0 {
		return 0, 0
	}
	s := slices.Clone(ts)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}
