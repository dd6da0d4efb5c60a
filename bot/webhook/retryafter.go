package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads a Retry-After header value (RFC 9110 10.2.3):
// delay-seconds ("120") or an HTTP-date, relative to now. ok is false for
// an empty, malformed or negative value and for a date that is not in
// the future; the delay is then up to the caller's backoff. Values past
// about 136 years are clamped rather than overflowing.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(maxDelay/time.Second) {
			return maxDelay, true
		}
		if n == 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// maxDelay bounds what ParseRetryAfter returns (Config.MaxRetryAfter
// bounds it further).
const maxDelay = 1 << 62
