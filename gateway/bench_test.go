package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// benchRecord is a record of typical size for a Connexion export (about
// 1.5 KB); framing does not look inside it.
var benchRecord = func() []byte {
	const n = 1500
	return []byte(fmt.Sprintf("%05d", n) + strings.Repeat("x", n-5))
}()

func benchRequest(b *testing.B) []byte {
	msg, err := AppendRequest(nil, &Request{User: "cat01", Password: "secret-password", Records: [][]byte{benchRecord}})
	if err != nil {
		b.Fatal(err)
	}
	return msg
}

// BenchmarkParseRequest parses a typical export request held in memory.
func BenchmarkParseRequest(b *testing.B) {
	msg := benchRequest(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParserFeedSegments feeds a 100-record request in 1,448-byte
// pieces, as TCP segments arrive on Ethernet.
func BenchmarkParserFeedSegments(b *testing.B) {
	req := &Request{User: "cat01", Password: "secret-password"}
	for range 100 {
		req.Records = append(req.Records, benchRecord)
	}
	msg, err := AppendRequest(nil, req)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var p Parser
		for rest := msg; len(rest) > 0; {
			k := min(1448, len(rest))
			if _, err := p.Feed(rest[:k]); err != nil {
				b.Fatal(err)
			}
			rest = rest[k:]
		}
		if !p.Done() {
			b.Fatal("not done")
		}
	}
}

func benchServer(b *testing.B) string {
	srv := &Server{
		Handler: HandlerFunc(func(context.Context, *Request) string { return "Import ok\n" }),
		Logger:  slog.New(slog.DiscardHandler),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// BenchmarkRoundTrip is one complete export over loopback, as Connexion
// does it: connect, send, read the reply up to its NUL, close (the
// server then sees the close and ends the connection).
func BenchmarkRoundTrip(b *testing.B) {
	cl := &Client{Addr: benchServer(b), Timeout: 10 * time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if reply, err := cl.Export(ctx, "cat01", "secret-password", benchRecord); err != nil || reply != "Import ok\n" {
			b.Fatalf("export: %q, %v", reply, err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exports/s")
}

// BenchmarkRoundTripParallel runs exports from 32 concurrent clients
// (the receiver's target load).
func BenchmarkRoundTripParallel(b *testing.B) {
	cl := &Client{Addr: benchServer(b), Timeout: 10 * time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if reply, err := cl.Export(ctx, "cat01", "secret-password", benchRecord); err != nil || reply != "Import ok\n" {
				b.Errorf("export: %q, %v", reply, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exports/s")
}
