//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// syscallClients are the clients that make socket system calls
// themselves.
var syscallClients = []string{clientRaw, clientEpoll}

// TestClientsSendIdenticalBytes captures what each client puts on the
// wire for the same export: the system-call clients must be
// indistinguishable from gateway.Client to the server.
func TestClientsSendIdenticalBytes(t *testing.T) {
	captured := make(chan []byte, 1)
	addr := startFake(t, func(c net.Conn) {
		req, err := readRequest(c)
		if err != nil {
			t.Errorf("reading request: %v", err)
			return
		}
		captured <- req
		io.WriteString(c, "Added to the catalog as system number 7\x00")
		io.Copy(io.Discard, c) // until the client closes
	})
	rec := records(t, testOptions(addr, clientRaw, 1), 1)[0]
	for _, tc := range []struct{ name, user, password string }{
		{"user and password", "bench", "s3cret-pw"},
		{"no credentials", "", ""},
		{"UTF-8 user, password over 191 bytes", "Jürgen", "p" + strings.Repeat("w", 250)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := map[string][]byte{}
			for _, name := range []string{clientGateway, clientRaw, clientEpoll} {
				o := testOptions(addr, name, 1)
				o.user, o.password = tc.user, tc.password
				reply, err := exportOnce(t, o, rec)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if reply != "Added to the catalog as system number 7" {
					t.Errorf("%s: reply %q", name, reply)
				}
				select {
				case sent[name] = <-captured:
				case <-time.After(waitLong):
					t.Fatalf("%s: server got no request", name)
				}
			}
			for _, name := range syscallClients {
				if !bytes.Equal(sent[name], sent[clientGateway]) {
					t.Errorf("%s client sent\n%q\ngateway.Client sent\n%q", name, sent[name], sent[clientGateway])
				}
			}
			if !bytes.Contains(sent[clientRaw], rec) || sent[clientRaw][len(sent[clientRaw])-1] != 0 {
				t.Errorf("request %q does not carry the record and end with a NUL", sent[clientRaw])
			}
		})
	}
}

// TestSyscallClientsThroughGatewayServer runs a measured phase with each
// system-call client against a real gateway.Server, with more records
// than connections so that each connection slot is used again and
// again: every record arrives intact with its credentials, exactly once,
// and every reply is read.
func TestSyscallClientsThroughGatewayServer(t *testing.T) {
	for _, name := range syscallClients {
		t.Run(name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got = map[string]int{}
			)
			o := testOptions("", name, 4)
			addr := startGateway(t, gateway.HandlerFunc(func(_ context.Context, req *gateway.Request) string {
				mu.Lock()
				defer mu.Unlock()
				if req.User != o.user || req.Password != o.password || len(req.Records) != 1 {
					return fmt.Sprintf("Invalid request: user %q, %d records", req.User, len(req.Records))
				}
				got[string(req.Records[0])]++
				return fmt.Sprintf("Added to the catalog as system number %d", len(got))
			}))
			o.to = addr
			recs := records(t, o, 40)
			c := mustClient(t, o)
			if c.name != name {
				t.Fatalf("client %q, want %q", c.name, name)
			}
			res := phase(context.Background(), c, o, recs)
			if res.errors() != 0 || len(res.lat) != len(recs) {
				t.Fatalf("%d exports, %d errors, e.g. %q; want %d without error", len(res.lat), res.errors(), res.samples, len(recs))
			}
			if res.lat[0] <= 0 {
				t.Errorf("shortest latency %v, want every export timed", res.lat[0])
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(recs) {
				t.Fatalf("server got %d distinct records, want %d", len(got), len(recs))
			}
			for i, rec := range recs {
				if got[string(rec)] != 1 {
					t.Errorf("record %d reached the server intact %d times, want once", i, got[string(rec)])
				}
			}
		})
	}
}

// TestClientsCountFailuresAlike runs the same failing servers against
// both clients: each must count the same exports as failed, and in the
// same column.
func TestClientsCountFailuresAlike(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		serve                 func(c net.Conn)
		transport, unexpected int64
		kind                  error  // what a failed export matches
		text                  string // in the error samples
	}{
		{
			name: "reply without NUL, then close",
			serve: func(c net.Conn) {
				if _, err := readRequest(c); err == nil {
					io.WriteString(c, "Added to the catalog as system number 1")
				}
			},
			transport: 6, kind: gateway.ErrConnClosed,
			text: "connection closed before the end of the reply (39 reply bytes received): EOF",
		},
		{
			name:      "close before any reply",
			serve:     func(c net.Conn) { readRequest(c) },
			transport: 6, kind: gateway.ErrConnClosed,
			text: "connection closed before the end of the reply: EOF",
		},
		{
			// As gateway.Server refuses a connection beyond MaxConns:
			// the reply before the request is read, then the close.
			name: "refusal before the request is read",
			serve: func(c net.Conn) {
				io.WriteString(c, "Too many connections; try again later\x00")
			},
			unexpected: 6, text: `unexpected reply: "Too many connections; try again later"`,
		},
		{
			name: "reply that does not say Added",
			serve: func(c net.Conn) {
				if _, err := readRequest(c); err == nil {
					io.WriteString(c, "Record rejected: invalid leader\x00")
					io.Copy(io.Discard, c)
				}
			},
			unexpected: 6, text: `unexpected reply: "Record rejected: invalid leader"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startFake(t, tc.serve)
			for _, name := range []string{clientRaw, clientEpoll, clientGateway} {
				o := testOptions(addr, name, 2)
				res := phase(context.Background(), mustClient(t, o), o, records(t, o, 6))
				if res.transport != tc.transport || res.unexpected != tc.unexpected {
					t.Errorf("%s: %d transport errors and %d unexpected replies, want %d and %d (e.g. %q)",
						name, res.transport, res.unexpected, tc.transport, tc.unexpected, res.samples)
				}
				if len(res.samples) == 0 || !strings.Contains(res.samples[0], tc.text) {
					t.Errorf("%s: error samples %q, want one containing %q", name, res.samples, tc.text)
				}
				if tc.kind == nil {
					continue
				}
				_, err := exportOnce(t, o, records(t, o, 1)[0])
				if !errors.Is(err, tc.kind) {
					t.Errorf("%s: export error %v, want one matching %v", name, err, tc.kind)
				}
			}
		})
	}
}

// TestSyscallClientsTimeout: a server that never answers costs a
// system-call client -timeout, then a timeout error, as it does
// gateway.Client; the other exports of the run go on meanwhile.
func TestSyscallClientsTimeout(t *testing.T) {
	var conns atomic.Int64
	addr := startFake(t, func(c net.Conn) {
		if _, err := readRequest(c); err != nil {
			return
		}
		// The first connection gets no reply; the others do.
		if conns.Add(1) > 1 {
			io.WriteString(c, "Added to the catalog as system number 1\x00")
		}
		io.Copy(io.Discard, c)
	})
	for _, name := range syscallClients {
		t.Run(name, func(t *testing.T) {
			conns.Store(0)
			o := testOptions(addr, name, 2)
			o.timeout = 100 * time.Millisecond
			var errs []error
			c := mustClient(t, o)
			c.run(context.Background(), records(t, o, 6), 2, func(i int, _ time.Duration, _ []byte, err error) {
				if err != nil {
					errs = append(errs, err)
				}
			})
			if len(errs) != 1 {
				t.Fatalf("%d failed exports (%v), want the one the server left unanswered", len(errs), errs)
			}
			var re *rawError
			if err := errs[0]; !errors.Is(err, gateway.ErrTimeout) || errors.Is(err, gateway.ErrDial) || !errors.As(err, &re) || re.Op != "receive" || !re.Sent {
				t.Fatalf("export error %v, want a receive timeout after the whole request was sent", err)
			}
		})
	}
}

// TestSyscallClientsDialFailure: nothing listening is a dial error,
// before anything is sent.
func TestSyscallClientsDialFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, name := range syscallClients {
		o := testOptions(addr, name, 1)
		_, err = exportOnce(t, o, records(t, o, 1)[0])
		var re *rawError
		if !errors.Is(err, gateway.ErrDial) || !errors.As(err, &re) || re.Sent || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: export error %v, want a dial error naming %s", name, err, addr)
		}
	}
}
