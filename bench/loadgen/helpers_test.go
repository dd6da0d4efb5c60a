package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// waitLong bounds waits for things that happen promptly in a correct
// program; only a broken one reaches it.
const waitLong = 10 * time.Second

// defaultExpect is -expect's default.
var defaultExpect = regexp.MustCompile(`^(Record \d+ of \d+: )?Added to the catalog as system number`)

// startGateway serves h with a real gateway.Server on 127.0.0.1 and
// returns its address. Cleanup closes the server.
func startGateway(t *testing.T, h gateway.Handler) string {
	t.Helper()
	srv := &gateway.Server{Handler: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-served:
			if !errors.Is(err, gateway.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(waitLong):
			t.Error("Serve did not return after Close")
		}
	})
	return l.Addr().String()
}

// startFake accepts connections on 127.0.0.1 and runs serve on each, in
// its own goroutine, for servers that misbehave in ways gateway.Server
// never does. Cleanup closes the listener and the open connections and
// waits for serve to return.
func startFake(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLong))
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// readRequest reads a request up to and including its NUL.
func readRequest(c net.Conn) ([]byte, error) {
	return bufio.NewReader(c).ReadBytes(0)
}

// testOptions returns options for a run against addr with client name.
func testOptions(addr, name string, conns int) options {
	return options{
		to: addr, conns: conns, user: "bench", password: "s3cret-pw",
		expect: defaultExpect, first: 1_234_500_000, timeout: waitLong, client: name,
	}
}

// records builds n records numbered from o.first.
func records(t *testing.T, o options, n int) [][]byte {
	t.Helper()
	recs := make([][]byte, n)
	for i := range recs {
		b, err := makeRecord(o.first + int64(i))
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = b
	}
	return recs
}

// mustClient returns the client o names.
func mustClient(t *testing.T, o options) *client {
	t.Helper()
	c, _, err := newClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exportOnce sends one record with the client o names.
func exportOnce(t *testing.T, o options, record []byte) (reply string, err error) {
	t.Helper()
	calls := 0
	mustClient(t, o).run(context.Background(), [][]byte{record}, 1, func(i int, _ time.Duration, r []byte, e error) {
		calls++
		reply, err = string(r), e
	})
	if calls != 1 {
		t.Fatalf("%s client reported %d outcomes for one export", o.client, calls)
	}
	return reply, err
}
