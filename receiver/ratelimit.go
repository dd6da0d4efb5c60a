package receiver

import (
	"net"
	"sync"
	"time"
)

// Defaults for RateLimit's zero values.
const (
	DefaultLoginFailures = 5           // failed logins allowed per address and window
	DefaultLoginWindow   = time.Minute // the window, from an address's first failure
	DefaultMaxAddresses  = 10_000      // addresses remembered (about 1 MB)
)

// RateLimit bounds failed logins per client address. Once an address has
// failed Failures times within Window (counted from its first failure),
// its exports are refused, without checking the password, until the
// window ends; a correct password does not lift the block, or a guesser
// with one valid login could keep guessing others. IPv6 addresses are
// counted per /64, the block one host usually owns.
//
// Every cataloger behind one NAT address (or a proxy) shares that
// address's allowance.
type RateLimit struct {
	Failures     int           // failed logins allowed per window (DefaultLoginFailures; negative: no limit)
	Window       time.Duration // DefaultLoginWindow
	MaxAddresses int           // addresses remembered at most, bounding memory (DefaultMaxAddresses)
}

type limitEntry struct {
	failures int
	reset    time.Time // end of the window that began with the first failure
}

// limiter implements RateLimit. Safe for concurrent use.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu sync.Mutex
	m  map[string]*limitEntry
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	if cfg.Failures == 0 {
		cfg.Failures = DefaultLoginFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultLoginWindow
	}
	if cfg.MaxAddresses <= 0 {
		cfg.MaxAddresses = DefaultMaxAddresses
	}
	return &limiter{cfg: cfg, now: now, m: make(map[string]*limitEntry)}
}

// limitKey is the address a client is counted under: its IP, or its
// IPv6 /64.
func limitKey(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ip = net.ParseIP(host)
		if ip == nil {
			return host
		}
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// blocked reports whether key has used up its failures, and for how much
// longer it is blocked.
func (l *limiter) blocked(key string) (time.Duration, bool) {
	if l.cfg.Failures < 0 {
		return 0, false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil || !now.Before(e.reset) {
		return 0, false
	}
	if e.failures < l.cfg.Failures {
		return 0, false
	}
	return e.reset.Sub(now), true
}

// fail counts a failed login from key.
func (l *limiter) fail(key string) {
	if l.cfg.Failures < 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		if len(l.m) >= l.cfg.MaxAddresses {
			l.evict(now)
		}
		e = &limitEntry{}
		l.m[key] = e
	}
	if !now.Before(e.reset) {
		e.failures, e.reset = 0, now.Add(l.cfg.Window)
	}
	e.failures++
}

// evict makes room: it drops every expired entry, and if none had
// expired, the one whose window ends first. Called with l.mu held.
func (l *limiter) evict(now time.Time) {
	var oldest string
	var oldestReset time.Time
	for k, e := range l.m {
		if !now.Before(e.reset) {
			delete(l.m, k)
			continue
		}
		if oldest == "" || e.reset.Before(oldestReset) {
			oldest, oldestReset = k, e.reset
		}
	}
	if len(l.m) >= l.cfg.MaxAddresses && oldest != "" {
		delete(l.m, oldest)
	}
}

// size returns the number of addresses remembered (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
