package probe

import (
	"context"
	"time"
)

// Default timing of the upstream probes.
const (
	DefaultUpstreamInterval = 30 * time.Second
	DefaultUpstreamTimeout  = 10 * time.Second
)

// Upstream is the relay's view of the ILS listener it forwards to
// (receiver/relay provides it). Its errors should name the upstream and
// carry its reply verbatim; an error with a method Cause() string chooses
// its own cause word (see Classify). Neither method may put a credential
// in an error.
type Upstream interface {
	// Ping opens a TCP connection to the upstream and closes it.
	Ping(ctx context.Context) error
	// RoundTrip performs a Gateway exchange with the upstream that stores
	// nothing there, and returns an error unless the upstream answered as
	// a healthy listener does.
	RoundTrip(ctx context.Context) error
}

// NewUpstreamTCP returns the upstream connect probe: NameUpstreamTCP on
// target (UpstreamTarget of the upstream's address), calling u.Ping every
// DefaultUpstreamInterval with DefaultUpstreamTimeout.
func NewUpstreamTCP(target string, u Upstream) Probe {
	return Probe{
		Name:     NameUpstreamTCP,
		Target:   target,
		Interval: DefaultUpstreamInterval,
		Timeout:  DefaultUpstreamTimeout,
		Func:     errorFunc(u.Ping, "upstream accepted a connection"),
	}
}

// NewUpstreamRoundTrip returns the upstream round-trip probe:
// NameUpstreamRoundTrip on target, calling u.RoundTrip with the upstream
// probes' default timing.
func NewUpstreamRoundTrip(target string, u Upstream) Probe {
	return Probe{
		Name:     NameUpstreamRoundTrip,
		Target:   target,
		Interval: DefaultUpstreamInterval,
		Timeout:  DefaultUpstreamTimeout,
		Func:     errorFunc(u.RoundTrip, "upstream answered a Gateway round trip"),
	}
}

// errorFunc adapts a check that reports only an error: nil passes with
// okMsg; an error fails with FromError. Latency is the check's duration.
func errorFunc(check func(context.Context) error, okMsg string) Func {
	return func(ctx context.Context) Result {
		start := time.Now()
		if err := check(ctx); err != nil {
			return withLatency(FromError(err), start)
		}
		return withLatency(Pass(okMsg), start)
	}
}
