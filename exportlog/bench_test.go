//go:build linux

package exportlog

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	return rusage(tb, syscall.RUSAGE_SELF)
}

// threadCPUTime returns the CPU time the calling thread has used: with
// runtime.LockOSThread, the calling goroutine's.
func threadCPUTime(tb testing.TB) time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	return rusage(tb, rusageThread)
}

func rusage(tb testing.TB, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchAttempt is attempt i of a benchmark: a record of 1,500 bytes, a
// common size for a monograph, in its request; one in ten is refused, as
// a busy day's share of failures, so that BlobsFailed delivers some
// attempts with their bytes.
func benchAttempt(i int) *Attempt {
	a := sample(i)
	rec := bytes.Repeat([]byte{'x'}, 1500)
	copy(rec, fmt.Sprintf("01500nam a2200289   4500%09d", i))
	rec[len(rec)-1] = 0x1d
	a.Record = rec
	a.Request = append(append([]byte("UDcat1PC***"), rec...), 0)
	if i%10 == 0 {
		a.Outcome, a.Class, a.Cause = OutcomeRejected, ClassRecord, CauseRule
	}
	return a
}

// BenchmarkSubscriptionFollow appends b.N attempts from 32 goroutines (32
// Connexion connections, one attempt per export) while one subscriber
// follows them, as the bot does. It reports the subscriber's CPU time per
// attempt (sub-cpu-ns/attempt: the CPU time of the thread its goroutine is
// locked to, waits for wake-ups excluded) and the whole process's
// (cpu-ns/attempt: appends, commits and the subscriber). Run it with
// -benchtime=20000x or more.
func BenchmarkSubscriptionFollow(b *testing.B) {
	for _, bc := range []struct {
		name  string
		blobs Blobs
	}{
		{"blobs=failed", BlobsFailed}, // the bot
		{"blobs=none", BlobsNone},     // the daemon's announcements
		{"blobs=all", BlobsAll},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, _ := mustOpen(b, Options{})
			ctx := context.Background()
			sub := l.Subscribe(0, WithBlobs(bc.blobs))
			ready := make(chan struct{})
			var subCPU time.Duration
			var follower sync.WaitGroup
			follower.Go(func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				start := threadCPUTime(b)
				close(ready)
				for range b.N {
					if _, err := sub.Next(ctx); err != nil {
						b.Error(err)
						break
					}
				}
				subCPU = threadCPUTime(b) - start
			})
			<-ready
			var n atomic.Int64
			var appenders sync.WaitGroup
			cpu := cpuTime(b)
			b.ResetTimer()
			for range 32 {
				appenders.Go(func() {
					for {
						i := n.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := l.Append(ctx, benchAttempt(int(i))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			appenders.Wait()
			follower.Wait()
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/attempt")
			b.ReportMetric(float64(subCPU)/float64(b.N), "sub-cpu-ns/attempt")
		})
	}
}

// BenchmarkSubscriptionRead measures what a subscriber spends per
// attempt to read attempts just appended: through the Log that appended
// them ("recent", which holds them in memory), and through another Log
// on the same database ("database", as another process or a subscriber
// far behind reads them). One op is one attempt delivered.
func BenchmarkSubscriptionRead(b *testing.B) {
	const n = 1000 // fewer than the Log holds in memory
	for _, src := range []string{"recent", "database"} {
		for _, bc := range []struct {
			name  string
			blobs Blobs
		}{{"blobs=failed", BlobsFailed}, {"blobs=none", BlobsNone}, {"blobs=all", BlobsAll}} {
			b.Run(src+"/"+bc.name, func(b *testing.B) {
				l, d := mustOpen(b, Options{})
				ctx := context.Background()
				for i := 0; i < n; i += 50 {
					var as []*Attempt
					for j := range 50 {
						as = append(as, benchAttempt(i+j))
					}
					if err := l.Append(ctx, as...); err != nil {
						b.Fatal(err)
					}
				}
				reader := l
				if src == "database" {
					var err error
					if reader, err = Open(ctx, d, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				var sub *Subscription
				b.ResetTimer()
				for i := range b.N {
					if i%n == 0 {
						sub = reader.Subscribe(0, WithBlobs(bc.blobs))
					}
					if _, err := sub.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppendCopy measures the copy of an attempt (struct, record and
// request) that Append makes for Subscriptions to deliver from memory.
func BenchmarkAppendCopy(b *testing.B) {
	var w window
	a := benchAttempt(1)
	b.ReportAllocs()
	for b.Loop() {
		e := w.prepare(a, t0)
		w.discard([]*entry{e})
	}
}
