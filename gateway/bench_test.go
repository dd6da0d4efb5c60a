package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
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

// benchServer serves a handler that replies at once on a loopback
// listener configured as oclcbot serve configures its own (no TCP
// keep-alive), and returns its address. MaxConns leaves room for
// clients that reconnect before the server has seen their last close.
func benchServer(b *testing.B) string {
	srv := &Server{
		Handler:  HandlerFunc(func(context.Context, *Request) string { return "Import ok\n" }),
		Logger:   slog.New(slog.DiscardHandler),
		MaxConns: 256,
	}
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
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

// BenchmarkServeConn measures the server's side of one export over
// loopback: accept, read the request, reply, see the client's close,
// close. cpu-ns/op is the CPU time (user plus system) the whole process,
// server and client, used per export; the client is as lean as net allows
// (dial, one write, read up to the NUL, close), so that what changes in
// the server shows.
func BenchmarkServeConn(b *testing.B) {
	addr, msg := benchServer(b), benchRequest(b)
	buf := make([]byte, 512)
	b.ReportAllocs()
	cpu := startCPUMeter()
	for b.Loop() {
		if err := leanExport(addr, msg, buf); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkServeConnParallel is BenchmarkServeConn with 32 clients
// exporting at once.
func BenchmarkServeConnParallel(b *testing.B) {
	addr, msg := benchServer(b), benchRequest(b)
	b.ReportAllocs()
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	cpu := startCPUMeter()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 512)
		for pb.Next() {
			if err := leanExport(addr, msg, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report(b)
}

// leanDialer dials as Connexion does: without TCP keep-alive.
var leanDialer = net.Dialer{KeepAlive: -1}

// leanExport sends msg on a new connection, reads the reply up to its
// NUL into buf, checks it and closes.
func leanExport(addr string, msg, buf []byte) error {
	c, err := leanDialer.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		return err
	}
	for n := 0; ; {
		k, err := c.Read(buf[n:])
		n += k
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			if string(buf[:i]) != "Import ok\n" {
				return fmt.Errorf("reply %q", buf[:i])
			}
			return nil
		}
		if err != nil || n == len(buf) {
			return fmt.Errorf("reply %q: %v", buf[:n], err)
		}
	}
}

// cpuMeter reports the process's CPU time per benchmark iteration.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

// startCPUMeter starts measuring.
func startCPUMeter() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{start: t, ok: ok}
}

// report adds the cpu-ns/op metric, where the system reports CPU time.
func (m cpuMeter) report(b *testing.B) {
	end, ok := processCPU()
	if !m.ok || !ok || b.N == 0 {
		return
	}
	b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
}

// fixedReplyServer is the leanest Connexion Gateway peer: for each
// connection it reads up to the request's NUL, answers reply (which ends
// with its NUL), reads until the client closes and closes. It isolates
// the Client's cost from the Server's. It returns the listener's address.
func fixedReplyServer(b *testing.B, reply string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if bytes.IndexByte(buf[:n], 0) >= 0 {
						break
					}
					if err != nil {
						return
					}
				}
				if _, err := io.WriteString(c, reply); err != nil {
					return
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().String()
}

// BenchmarkClientExchange is the Client's side of one export of a
// typical record over loopback (what the relay adds per export): dial,
// send, read the reply up to its NUL, close, against a server that does
// nothing but answer. p50-ns and p99-ns are percentiles of the exchange's
// latency; cpu-ns/op is the process's CPU time (client and server) per
// export.
func BenchmarkClientExchange(b *testing.B) {
	cl := &Client{Addr: fixedReplyServer(b, "Import ok\n\x00"), Timeout: 10 * time.Second}
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16) // allocated before the timed loop
	b.ReportAllocs()
	cpu := startCPUMeter()
	for b.Loop() {
		t0 := time.Now()
		if reply, err := cl.Export(ctx, "cat01", "secret-password", benchRecord); err != nil || reply != "Import ok\n" {
			b.Fatalf("export: %q, %v", reply, err)
		}
		lat = append(lat, time.Since(t0))
	}
	cpu.report(b)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}
