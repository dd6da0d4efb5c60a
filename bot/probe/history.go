package probe

import (
	"slices"
	"time"
)

// Default history sizes (Config.HistorySize, Config.FailureHistorySize).
const (
	DefaultHistorySize        = 20
	DefaultFailureHistorySize = 5
)

// Entry is one recorded probe run.
type Entry struct {
	Time time.Time // when the run started
	Result
}

// Status is what the status page and the CLI show about one probe: its
// settings, its latest result, its recent results, and its recent
// failures, which stay visible after later successes push them out of
// Recent.
type Status struct {
	Probe    string // probe name (Name* constants)
	Target   string // detector target
	Interval time.Duration
	Timeout  time.Duration

	Runs     int64 // runs recorded since the Scheduler started
	Failures int64 // failed runs among them
	// ConsecutiveFailures counts the failed runs since the last success.
	ConsecutiveFailures int

	// Last is the latest run (zero Time: the probe has not run yet).
	Last Entry
	// LastSuccess is when the probe last passed (zero: never).
	LastSuccess time.Time
	// Recent holds the latest runs, oldest first.
	Recent []Entry
	// RecentFailures holds the latest failed runs, oldest first, kept even
	// when Recent no longer reaches back to them.
	RecentFailures []Entry
}

// LastFailure returns the most recent failed run and true, or false when
// the probe has not failed since the Scheduler started.
func (s *Status) LastFailure() (Entry, bool) {
	if len(s.RecentFailures) == 0 {
		return Entry{}, false
	}
	return s.RecentFailures[len(s.RecentFailures)-1], true
}

// history is the bounded record of one probe's runs. The Scheduler guards
// it with its mutex.
type history struct {
	recent   ring
	failures ring
	status   Status // counters and Last; its slices stay nil
}

func newHistory(p *Probe, size, failSize int) *history {
	return &history{
		recent:   ring{buf: make([]Entry, 0, size)},
		failures: ring{buf: make([]Entry, 0, failSize)},
		status:   Status{Probe: p.Name, Target: p.Target, Interval: p.Interval, Timeout: p.Timeout},
	}
}

func (h *history) add(e Entry) {
	st := &h.status
	st.Runs++
	st.Last = e
	h.recent.push(e)
	if e.OK {
		st.ConsecutiveFailures = 0
		st.LastSuccess = e.Time
		return
	}
	st.Failures++
	st.ConsecutiveFailures++
	h.failures.push(e)
}

// snapshot returns a copy the caller may keep.
func (h *history) snapshot() Status {
	st := h.status
	st.Recent = h.recent.list()
	st.RecentFailures = h.failures.list()
	return st
}

// ring keeps the last cap(buf) entries.
type ring struct {
	buf  []Entry
	next int // index of the oldest entry once buf is full
}

func (r *ring) push(e Entry) {
	if cap(r.buf) == 0 {
		return
	}
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
}

// list returns the entries oldest first, in a new slice.
func (r *ring) list() []Entry {
	return slices.Concat(r.buf[r.next:], r.buf[:r.next])
}
