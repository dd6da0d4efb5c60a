package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// The -client values.
const (
	clientRaw     = "raw"
	clientEpoll   = "epoll"
	clientGateway = "gateway"
)

// doneFunc receives the outcome of export i: its latency (from
// connecting to closing) and either the reply without its NUL (valid only
// during the call) or the error that left it without a complete reply.
type doneFunc func(i int, latency time.Duration, reply []byte, err error)

// client is one way of sending the exports.
type client struct {
	// name is the -client value actually used, shown in the output.
	name string
	// run sends each record of recs as one export (export i carries
	// recs[i]) with at most conns connections open at once, calls done
	// once per export, possibly from several goroutines at once, and
	// returns when every export is done.
	run func(ctx context.Context, recs [][]byte, conns int, done doneFunc)
}

// newClient returns the client o.client names. note, when not empty,
// tells the user something about the choice (a fallback).
func newClient(o options) (c *client, note string, err error) {
	switch o.client {
	case clientGateway:
		return gatewayClient(o), "", nil
	case clientRaw:
		return newRawClient(o)
	case clientEpoll:
		return newEpollClient(o)
	}
	return nil, "", fmt.Errorf("unknown client %q (want %s, %s or %s)", o.client, clientRaw, clientEpoll, clientGateway)
}

// exporter sends one record as one export (connect, request, reply up to
// its NUL, close) and returns the reply without its NUL, valid until the
// next call. An error means no complete reply arrived. An exporter
// belongs to one worker goroutine.
type exporter func(ctx context.Context, record []byte) (reply []byte, err error)

// workers returns a client's run function: conns goroutines, each with
// an exporter of its own from newExporter, taking the next record until
// none is left. With lockThread each goroutine runs locked to its OS
// thread.
func workers(lockThread bool, newExporter func() exporter) func(context.Context, [][]byte, int, doneFunc) {
	return func(ctx context.Context, recs [][]byte, conns int, done doneFunc) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				if lockThread {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
				}
				export := newExporter()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(recs) {
						return
					}
					t0 := time.Now()
					reply, err := export(ctx, recs[i])
					done(i, time.Since(t0), reply, err)
				}
			})
		}
		wg.Wait()
	}
}

// gatewayClient sends through gateway.Client: the production client, on
// Go's netpoller (non-blocking sockets, goroutines parked and woken per
// connect and read).
func gatewayClient(o options) *client {
	gc := &gateway.Client{Addr: o.to, Timeout: o.timeout}
	export := func(ctx context.Context, record []byte) ([]byte, error) {
		reply, err := gc.Export(ctx, o.user, o.password, record)
		return []byte(reply), err
	}
	return &client{name: clientGateway, run: workers(false, func() exporter { return export })}
}
