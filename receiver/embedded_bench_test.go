package receiver_test

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/receiver"
)

// benchConcurrency is the number of exports in flight, as from 32
// Connexion clients at once.
const benchConcurrency = 32

// BenchmarkCatalogSinkDeliver measures records stored per second with 32
// exports in flight, each Deliver returning after its commit: "add"
// stores new records, "merge" overlays records matched by OCLC number.
// sync=FULL is the default (a commit survives power loss: one fsync per
// group commit, so the disk's fsync latency bounds it); sync=NORMAL
// (survives a process crash; no fsync per commit in WAL mode) shows what
// the catalog's own work costs. It reports records/s and the p50/p99
// time Deliver took.
func BenchmarkCatalogSinkDeliver(b *testing.B) {
	notes := []string{strings.Repeat("Includes bibliographical references (p. 301-315) and index. ", 8)}
	for _, bc := range []struct{ mode, sync string }{
		{"add", db.SyncFull}, {"merge", db.SyncFull}, {"add", db.SyncNormal}, {"merge", db.SyncNormal},
	} {
		mode := bc.mode
		b.Run(fmt.Sprintf("%s/sync=%s", mode, bc.sync), func(b *testing.B) {
			e := newSinkEnvSync(b, receiver.CatalogConfig{Now: time.Now}, bc.sync)
			items := make([]*receiver.Item, b.N)
			for i := range items {
				r := rec{oclc: fmt.Sprint(10_000_000 + i), title: fmt.Sprintf("Benchmark record %d : a study", i),
					author: "Müller, Jürgen", notes: notes, marc8: true}
				if mode == "merge" {
					e.add(b, r)
					r.title += ", revised"
				}
				items[i] = r.item(b)
			}
			lat := make([]time.Duration, b.N)
			var next, failed atomic.Int64
			parallelism := max(1, benchConcurrency/runtime.GOMAXPROCS(0))
			b.SetParallelism(parallelism)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					t0 := time.Now()
					res := e.sink.Deliver(bg, export(items[i]))[0]
					lat[i] = time.Since(t0)
					if want := map[string]exportlog.Outcome{"add": exportlog.OutcomeAdded, "merge": exportlog.OutcomeMerged}[mode]; res.Outcome != want {
						failed.Add(1)
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d records not %sed", n, mode)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
