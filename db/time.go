package db

import "time"

// TimeNS is how every oclcbot table stores a time: Unix nanoseconds in an
// INTEGER column, 0 for the zero time (a time not set yet).
func TimeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// NSTime reads a time stored by TimeNS, in UTC; 0 gives the zero time.
func NSTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
