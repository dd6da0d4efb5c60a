package bot

import (
	"fmt"
	"time"
)

// Rules configure one target's detector: when failures confirm a problem
// (any one rule suffices) and when successes confirm recovery. A zero
// field takes its default; a negative count or ratio turns that rule off.
type Rules struct {
	// SystemFailures: this many system-class export failures in a row
	// confirm a problem (default 3).
	SystemFailures int
	// ProbeFailures: this many failed probes in a row confirm a problem
	// (default 2).
	ProbeFailures int
	// Window is the sliding window of the ratio rules (default 5 min).
	Window time.Duration
	// WindowMin and WindowRatio: when at least WindowMin exports were
	// seen in the window and at least WindowRatio of them failed with a
	// system failure, the problem is confirmed (defaults 10 and 0.5).
	WindowMin   int
	WindowRatio float64
	// TransportMin and TransportRatio are the same rule for transport
	// failures (the client vanished, the request broke off), which count
	// only when frequent (defaults 10 and 0.5).
	TransportMin   int
	TransportRatio float64
	// AuthUsers failed logins from that many distinct users within
	// AuthWindow are a system failure: a password was probably changed on
	// one side (defaults 3 and 10 min).
	AuthUsers  int
	AuthWindow time.Duration
	// RecoverSuccesses: this many successful exports in a row confirm
	// recovery (default 2).
	RecoverSuccesses int
	// RecoverHealthy: probes passing (at least two of them) for this long
	// without any failure confirm recovery (default 2 min). It does not
	// end problems that probes cannot see (refused logins, transport).
	RecoverHealthy time.Duration
}

// DefaultRules returns the defaults described on Rules.
func DefaultRules() Rules {
	return Rules{
		SystemFailures: 3, ProbeFailures: 2,
		Window: 5 * time.Minute, WindowMin: 10, WindowRatio: 0.5,
		TransportMin: 10, TransportRatio: 0.5,
		AuthUsers: 3, AuthWindow: 10 * time.Minute,
		RecoverSuccesses: 2, RecoverHealthy: 2 * time.Minute,
	}
}

// withDefaults fills zero fields from DefaultRules.
func (r Rules) withDefaults() Rules {
	d := DefaultRules()
	if r.SystemFailures == 0 {
		r.SystemFailures = d.SystemFailures
	}
	if r.ProbeFailures == 0 {
		r.ProbeFailures = d.ProbeFailures
	}
	if r.Window <= 0 {
		r.Window = d.Window
	}
	if r.WindowMin == 0 {
		r.WindowMin = d.WindowMin
	}
	if r.WindowRatio == 0 {
		r.WindowRatio = d.WindowRatio
	}
	if r.TransportMin == 0 {
		r.TransportMin = d.TransportMin
	}
	if r.TransportRatio == 0 {
		r.TransportRatio = d.TransportRatio
	}
	if r.AuthUsers == 0 {
		r.AuthUsers = d.AuthUsers
	}
	if r.AuthWindow <= 0 {
		r.AuthWindow = d.AuthWindow
	}
	if r.RecoverSuccesses <= 0 {
		r.RecoverSuccesses = d.RecoverSuccesses
	}
	if r.RecoverHealthy <= 0 {
		r.RecoverHealthy = d.RecoverHealthy
	}
	return r
}

// Validate reports rules that cannot work.
func (r Rules) Validate() error {
	if r.WindowRatio > 1 || r.TransportRatio > 1 {
		return fmt.Errorf("detector rules: a failure ratio must be at most 1")
	}
	if r.SystemFailures < 0 && r.ProbeFailures < 0 && r.WindowMin < 0 && r.TransportMin < 0 && r.AuthUsers < 0 {
		return fmt.Errorf("detector rules: every confirmation rule is turned off")
	}
	return nil
}
