package receiver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

// discardLog is an AttemptLog that keeps nothing, for benchmarks that
// measure the pipeline alone.
type discardLog struct{}

func (discardLog) Append(context.Context, ...*exportlog.Attempt) error { return nil }

// nopSink accepts everything without storing it.
type nopSink struct{ n atomic.Int64 }

func (*nopSink) Name() string { return "catalog" }

func (s *nopSink) Deliver(_ context.Context, exp *Export) []Result {
	out := make([]Result, len(exp.Items))
	for i := range out {
		out[i] = Result{Outcome: exportlog.OutcomeAdded, SystemNumber: fmt.Sprintf("%09d", s.n.Add(1))}
	}
	return out
}

// benchRecord is a full-size bibliographic record (about 1.5 kB, like
// a typical Connexion export) in the given coding.
func benchRecord(tb testing.TB, coding byte) []byte {
	name, title := "Brontë, Émilie,", "Les hauts de Hurle-Vent /"
	if coding == ' ' {
		name, title = "Bront\xE8e, \xE2Emilie,", "Les hauts de Hurle-Vent /"
	}
	fields := []marc.Field{
		ctl("001", "ocm00012345 "), ctl("003", "OCoLC"), ctl("005", "20260302104200.0"),
		ctl("008", "850101s1985    nyu           000 0 eng d"),
		dat("010", "  ", "a", "   85012345 "),
		dat("020", "  ", "a", "0394535421", "q", "hardcover", "c", "$18.95"),
		dat("035", "  ", "a", "(OCoLC)12345"),
		dat("040", "  ", "a", "DLC", "b", "eng", "c", "DLC", "d", "OCL"),
		dat("049", "  ", "a", "HVDA"),
		dat("050", "00", "a", "PS3552.E5", "b", "T5 1985"),
		dat("100", "1 ", "a", name, "d", "1818-1848."),
		dat("245", "10", "a", title, "c", "a translation by someone with a long name ; with a foreword by another person."),
		dat("260", "  ", "a", "New York :", "b", "Knopf,", "c", "1985."),
		dat("300", "  ", "a", "320 p. ;", "c", "24 cm."),
		dat("500", "  ", "a", "Includes index. A long general note to bring the record to a realistic size for benchmarking the import pipeline."),
		dat("504", "  ", "a", "Bibliography: p. 301-315."),
		dat("650", " 0", "a", "American fiction", "y", "20th century."),
		dat("650", " 0", "a", "Women", "z", "New York (State)", "v", "Fiction."),
		dat("700", "1 ", "a", "Roe, John."),
	}
	for i := range 10 {
		fields = append(fields, dat("650", " 7", "a", fmt.Sprintf("Subject heading number %d for size", i), "2", "fast"))
	}
	marcSort(fields)
	return record(tb, coding, fields...)
}

func benchPipeline(b *testing.B, coding byte) {
	rcv, err := New(Config{Sink: &nopSink{}, Log: discardLog{}, Open: true, TargetPrefix: "(HVD01)"})
	if err != nil {
		b.Fatal(err)
	}
	rec := benchRecord(b, coding)
	remote := tcpAddr("127.0.0.1:50000")
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := &gateway.Request{ID: 1, User: "cat1", Records: [][]byte{rec}, RemoteAddr: remote, Received: time.Now(), Raw: rec}
			if reply := rcv.ServeExport(context.Background(), req); len(reply) < 5 || reply[:5] != "Added" {
				b.Fatalf("reply %q", reply)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPipelineUTF8 measures the receiver alone (decode, rules,
// hash, reply) with a no-op sink and log, for a UTF-8 record.
func BenchmarkPipelineUTF8(b *testing.B) { benchPipeline(b, 'a') }

// BenchmarkPipelineMARC8 is BenchmarkPipelineUTF8 for a MARC-8 record,
// which is converted.
func BenchmarkPipelineMARC8(b *testing.B) { benchPipeline(b, ' ') }

// BenchmarkGatewayWithExportLog measures exports/s through a real
// gateway.Server on loopback with 32 concurrent Connexion-style
// connections (one record each), the real export log (SQLite,
// synchronous=FULL, group commit) and a no-op sink: the receiver's share of the
// end-to-end target.
func BenchmarkGatewayWithExportLog(b *testing.B) {
	e := newEnvDB(b, Config{Sink: &nopSink{}}, db.Options{}) // synchronous=FULL, as in production
	e.rcv.log = slog.New(slog.DiscardHandler)                // as in production at level info
	e.serveWith(b, func(s *gateway.Server) { s.MaxConns = 256; s.Logger = e.rcv.log })
	rec := benchRecord(b, ' ')
	msg, err := gateway.AppendRequest(nil, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			conn, err := net.Dial("tcp", e.addr)
			if err != nil {
				b.Error(err)
				return
			}
			conn.Write(msg)
			n := 0
			for {
				k, err := conn.Read(buf[n:])
				n += k
				if n > 0 && buf[n-1] == 0 || err != nil {
					break
				}
			}
			conn.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exports/s")
}
