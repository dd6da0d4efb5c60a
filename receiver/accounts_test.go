package receiver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHashPasswordFormatAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" || parts[1] != "600000" {
		t.Fatalf("hash %q is not pbkdf2-sha256$600000$salt$key", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash contains the password")
	}
	if ok, err := VerifyPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("VerifyPassword(right) = %v, %v", ok, err)
	}
	// The rest with the cheapest hashes, to keep the test fast.
	cheap := testHash(t, "correct horse")
	if ok, err := VerifyPassword(cheap, "correct horse "); ok || err != nil {
		t.Fatalf("VerifyPassword(wrong) = %v, %v", ok, err)
	}
	if testHash(t, "correct horse") == cheap {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("HashPassword accepted an empty password")
	}
}

func TestParsePasswordHashRejects(t *testing.T) {
	good := testHash(t, "pw")
	p := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":          "",
		"plain password": "hunter2",
		"other scheme":   "bcrypt$" + strings.Join(p[1:], "$"),
		"few iterations": strings.Join([]string{p[0], "10", p[2], p[3]}, "$"),
		"bad salt":       strings.Join([]string{p[0], p[1], "!!", p[3]}, "$"),
		"short key":      strings.Join([]string{p[0], p[1], p[2], "AAAA"}, "$"),
		"missing part":   strings.Join(p[:3], "$"),
	} {
		_, err := parsePasswordHash(h)
		if !errors.Is(err, ErrBadPasswordHash) {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		if h != "" && strings.Contains(err.Error(), h) {
			t.Errorf("%s: the error quotes the hash", name)
		}
	}
	if _, err := newAuthenticator([]Account{{User: "cat1", PasswordHash: "hunter2"}}, Canary{}); err == nil ||
		!strings.Contains(err.Error(), `"cat1"`) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad account hash: err = %v (must name the user, not the value)", err)
	}
	if _, err := newAuthenticator([]Account{{User: "a", PasswordHash: good}, {User: "a", PasswordHash: good}}, Canary{}); err == nil {
		t.Fatal("a duplicated account was accepted")
	}
}

func TestAuthenticatorCachesSuccessOnly(t *testing.T) {
	a, err := newAuthenticator([]Account{{User: "cat1", PasswordHash: testHash(t, "s3cret")}}, Canary{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if res, _ := a.check(ctx, "cat1", "s3cret"); !res.ok || res.account == nil || res.account.user != "cat1" {
		t.Fatalf("right password refused: %+v", res)
	}
	mac := a.cache["cat1"]
	if mac == nil {
		t.Fatal("a successful login was not cached")
	}
	if strings.Contains(string(mac), "s3cret") || len(mac) != 32 {
		t.Fatal("the cache holds something other than a MAC")
	}
	// The cached MAC answers the right password without PBKDF2: replace
	// the hash by one that matches nothing and it still passes.
	saved := a.accounts["cat1"].hash
	a.accounts["cat1"].hash = &passwordHash{iter: minIterations, salt: []byte("saltsalt"), key: make([]byte, 32)}
	if res, _ := a.check(ctx, "cat1", "s3cret"); !res.ok {
		t.Fatal("the cached login was verified again")
	}
	a.accounts["cat1"].hash = saved
	for _, tc := range []struct{ user, pw string }{
		{"cat1", "wrong"}, {"cat1", ""}, {"nobody", "s3cret"}, {"", ""}, {"cat", "1s3cret"},
	} {
		if res, _ := a.check(ctx, tc.user, tc.pw); res.ok {
			t.Errorf("login %q/%q accepted", tc.user, tc.pw)
		}
	}
	if !bytesEqual(a.cache["cat1"], mac) {
		t.Fatal("a failed login changed the cache")
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestSimultaneousFirstLoginsVerifyOnce checks that logins arriving
// together (every client's first export after a start) do not each pay
// for PBKDF2: at most one verification per slot runs before the first
// one's result is cached, and the others use it.
func TestSimultaneousFirstLoginsVerifyOnce(t *testing.T) {
	a, err := newAuthenticator([]Account{{User: "cat1", PasswordHash: testHash(t, "pw")}}, Canary{})
	if err != nil {
		t.Fatal(err)
	}
	const logins = 32
	var wg sync.WaitGroup
	refused := make(chan string, logins)
	for range logins {
		wg.Go(func() {
			if res, err := a.check(context.Background(), "cat1", "pw"); err != nil || !res.ok {
				refused <- fmt.Sprintf("%+v %v", res, err)
			}
		})
	}
	wg.Wait()
	close(refused)
	for r := range refused {
		t.Errorf("right password refused: %s", r)
	}
	if n, most := a.verifications.Load(), int64(cap(a.sem)); n < 1 || n > most {
		t.Fatalf("%d simultaneous first logins ran PBKDF2 %d times, want 1 to %d", logins, n, most)
	}
}

func TestAuthenticatorCanary(t *testing.T) {
	a, err := newAuthenticator([]Account{{User: "cat1", PasswordHash: testHash(t, "pw1")}}, Canary{User: "probe", Password: "canary-pw"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if res, _ := a.check(ctx, "probe", "canary-pw"); !res.ok || !res.canary {
		t.Fatalf("canary refused: %+v", res)
	}
	if res, _ := a.check(ctx, "probe", "nope"); res.ok {
		t.Fatal("canary with a wrong password accepted")
	}
	if res, _ := a.check(ctx, "cat1", "pw1"); !res.ok || res.canary {
		t.Fatalf("cat1: %+v", res)
	}
}

func TestAuthenticatorHonoursContextWhileWaiting(t *testing.T) {
	a, err := newAuthenticator([]Account{{User: "cat1", PasswordHash: testHash(t, "pw")}}, Canary{})
	if err != nil {
		t.Fatal(err)
	}
	for range cap(a.sem) {
		a.sem <- struct{}{} // every verification slot taken
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.check(ctx, "cat1", "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("check with all slots busy and ctx cancelled = %v", err)
	}
}

func TestCheckListenerSecurity(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		accounts int
		ok       bool
	}{
		{"127.0.0.1:5500", 0, true},
		{"[::1]:5500", 0, true},
		{"localhost:5500", 0, true},
		{"127.0.0.2:5500", 0, true},
		{"0.0.0.0:5500", 0, false},
		{":5500", 0, false},
		{"192.0.2.10:5500", 0, false},
		{"catalog.example.edu:5500", 0, false},
		{"0.0.0.0:5500", 2, true},
	} {
		err := CheckListenerSecurity(tc.addr, tc.accounts)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListenerSecurity(%q, %d) = %v", tc.addr, tc.accounts, err)
		}
		if err != nil && !errors.Is(err, ErrInsecureListener) {
			t.Errorf("%q: error does not match ErrInsecureListener", tc.addr)
		}
	}
}

func TestLimiter(t *testing.T) {
	c := &clock{t: t0}
	l := newLimiter(RateLimit{}, c.Now)
	key := "192.0.2.1"
	for i := range DefaultLoginFailures {
		if _, b := l.blocked(key); b {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail(key)
		c.Add(time.Second)
	}
	wait, b := l.blocked(key)
	if !b || wait != DefaultLoginWindow-DefaultLoginFailures*time.Second {
		t.Fatalf("after %d failures: blocked %v for %v", DefaultLoginFailures, b, wait)
	}
	if _, b := l.blocked("192.0.2.2"); b {
		t.Fatal("another address is blocked")
	}
	c.Add(wait)
	if _, b := l.blocked(key); b {
		t.Fatal("still blocked after the window")
	}
	l.fail(key) // a new window starts with one failure
	if _, b := l.blocked(key); b {
		t.Fatal("blocked after one failure in a new window")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	c := &clock{t: t0}
	l := newLimiter(RateLimit{MaxAddresses: 100}, c.Now)
	for i := range 10_000 {
		l.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if i%1000 == 0 {
			c.Add(time.Second)
		}
	}
	if n := l.size(); n > 100 {
		t.Fatalf("%d addresses remembered, limit 100", n)
	}
}

func TestLimiterDisabled(t *testing.T) {
	l := newLimiter(RateLimit{Failures: -1}, time.Now)
	for range 100 {
		l.fail("192.0.2.1")
	}
	if _, b := l.blocked("192.0.2.1"); b {
		t.Fatal("blocked with the limit disabled")
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5500":               "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:5500":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:40000": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:5500":      "192.0.2.7",
	} {
		if got := limitKey(tcpAddr(in)); got != want {
			t.Errorf("limitKey(%s) = %q, want %q", in, got, want)
		}
	}
	if limitKey(nil) != "" {
		t.Error("limitKey(nil) is not empty")
	}
}
