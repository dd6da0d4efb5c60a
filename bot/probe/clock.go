package probe

import "time"

// Clock is the time source of a Scheduler and an IndexCheck: when a probe
// is due, when an imported record is overdue. Tests substitute a fake
// (probetest.Clock) so that no test waits on the wall clock.
//
// Deadlines of the network operations themselves (a run's timeout) are
// real context deadlines, because the operating system enforces them.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed
	// (at once for d <= 0). The channel has a buffer of one: a caller
	// that stops listening leaks nothing.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
