package webhook

import (
	"testing"
	"time"
)

// FuzzParseRetryAfter feeds arbitrary Retry-After values (receivers send
// what they like): the parser never panics, a delay it accepts is
// positive, and a plain number of seconds gives exactly that delay.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-5", " 30 ", "Wed, 21 Oct 2026 07:28:00 GMT", "Monday, 02-Mar-26 14:31:00 GMT",
		"Mon Mar  2 14:31:00 2026", "99999999999999999999999", "1.5", "soon", "", "\x00\xff"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if ok && d <= 0 {
			t.Fatalf("%q: accepted a delay of %v", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("%q: refused but returned %v", v, d)
		}
	})
}
