package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/oclcbot/oclcbot/internal/netutil"
)

// Account is one login allowed to export.
type Account struct {
	// User is the Login ID typed in Connexion's Gateway Export settings.
	User string
	// PasswordHash is HashPassword's output for the account's password.
	PasswordHash string
	// Allowed049 lists the 049 $a holding codes this login may export;
	// empty allows any.
	Allowed049 []string
}

// Canary is the probe's login: its exports go through the whole pipeline
// and the sink, which must not store them (Export.Canary).
type Canary struct {
	// User is the canary's Login ID; empty disables canary exports.
	User string
	// Password is the canary's password, checked (in constant time) when
	// the listener requires passwords and User is not also an Account.
	// It is never logged.
	Password string
}

// ErrInsecureListener is matched by CheckListenerSecurity's error.
var ErrInsecureListener = errors.New("a listener reachable from the network needs accounts")

// IsLoopback reports whether addr ("host:port") listens only on the
// loopback interface: a loopback IP address, or the name "localhost".
// An empty host (all interfaces) is not loopback.
func IsLoopback(addr string) bool { return netutil.IsLoopback(addr) }

// CheckListenerSecurity refuses to expose the receiver without
// passwords: it returns an error matching ErrInsecureListener when addr is
// not a loopback address (see IsLoopback) and accounts is zero.
func CheckListenerSecurity(addr string, accounts int) error {
	if accounts > 0 || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("listener.addr %q is not a loopback address and no accounts are configured, "+
		"so anyone who can reach it could load records; add [[accounts]] (make password hashes with `oclcbot passwd`) "+
		"or listen on 127.0.0.1: %w", addr, ErrInsecureListener)
}

// account is an Account with its hash parsed.
type account struct {
	user    string
	hash    *passwordHash
	allowed []string
}

// authenticator checks logins. A full PBKDF2 verification costs about a
// quarter of a second of CPU by design, far too much for every export at
// thousands of exports a second, so a successful verification is
// remembered: per user, an HMAC of (user, password) under a key drawn at
// random when the process starts. The password itself is never kept, the
// MAC is useless outside this process, and it is compared in constant
// time. Failed verifications are not remembered (they are rate limited
// per address instead), and at most a few run at once so that a burst of
// wrong passwords cannot starve the exports of CPU.
type authenticator struct {
	accounts map[string]*account
	key      []byte
	dummy    *passwordHash // verified against for unknown users, to cost the same
	canary   Canary
	canaryOK []byte // MAC of the canary's credentials; nil when it has no password

	mu    sync.Mutex
	cache map[string][]byte // user -> MAC of the last password verified for it

	sem           chan struct{} // bounds concurrent PBKDF2 runs
	verifications atomic.Int64  // PBKDF2 runs so far
}

func newAuthenticator(accts []Account, canary Canary) (*authenticator, error) {
	a := &authenticator{
		accounts: make(map[string]*account, len(accts)),
		key:      make([]byte, 32),
		cache:    make(map[string][]byte, len(accts)),
		canary:   canary,
		sem:      make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
	if _, err := rand.Read(a.key); err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	iter := PasswordIterations
	for i, ac := range accts {
		if ac.User == "" {
			return nil, fmt.Errorf("account %d: the user is empty", i+1)
		}
		if _, dup := a.accounts[ac.User]; dup {
			return nil, fmt.Errorf("account %q is configured twice", ac.User)
		}
		h, err := parsePasswordHash(ac.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("account %q: password hash: %w", ac.User, err)
		}
		allowed := make([]string, 0, len(ac.Allowed049))
		for _, c := range ac.Allowed049 {
			if c = strings.TrimSpace(c); c != "" {
				allowed = append(allowed, c)
			}
		}
		a.accounts[ac.User] = &account{user: ac.User, hash: h, allowed: allowed}
		iter = h.iter
	}
	a.dummy = &passwordHash{iter: iter, salt: make([]byte, saltLen), key: make([]byte, keyLen)}
	if canary.Password != "" {
		a.canaryOK = a.mac(canary.User, canary.Password)
	}
	return a, nil
}

// mac is HMAC-SHA256(key, len(user) || user || password): the length
// prefix keeps ("ab", "c") and ("a", "bc") apart.
func (a *authenticator) mac(user, password string) []byte {
	h := hmac.New(sha256.New, a.key)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(user)))])
	h.Write([]byte(user))
	h.Write([]byte(password))
	return h.Sum(nil)
}

// authResult is the verdict on a login.
type authResult struct {
	ok      bool
	account *account // nil for the canary without an account, and on failure
	canary  bool
}

// check verifies user and password. It returns an error only when ctx
// ended while waiting for a verification slot.
func (a *authenticator) check(ctx context.Context, user, password string) (authResult, error) {
	ac := a.accounts[user]
	isCanary := a.canary.User != "" && user == a.canary.User
	if ac == nil && isCanary && a.canaryOK != nil {
		ok := hmac.Equal(a.mac(user, password), a.canaryOK)
		return authResult{ok: ok, canary: ok}, nil
	}
	m := a.mac(user, password)
	if a.cached(ac, m) {
		return authResult{ok: true, account: ac, canary: isCanary}, nil
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return authResult{}, ctx.Err()
	}
	// Logins that arrive together (every client's first export after a
	// start) all miss the cache and queue here: the first verifies, and
	// the others, on their turn, find its result instead of paying for
	// PBKDF2 again.
	if a.cached(ac, m) {
		<-a.sem
		return authResult{ok: true, account: ac, canary: isCanary}, nil
	}
	a.verifications.Add(1)
	var ok bool
	if ac != nil {
		ok = ac.hash.verify(password)
	} else {
		a.dummy.verify(password) // an unknown user costs what a wrong password costs
	}
	if ok {
		// Cached before the slot is given back, so that a login
		// waiting for the slot finds it.
		a.mu.Lock()
		a.cache[user] = m
		a.mu.Unlock()
	}
	<-a.sem
	if !ok {
		return authResult{}, nil
	}
	return authResult{ok: true, account: ac, canary: isCanary}, nil
}

// cached reports whether m is the MAC of the password last verified for
// ac's user (always false for an unknown user).
func (a *authenticator) cached(ac *account, m []byte) bool {
	if ac == nil {
		return false
	}
	a.mu.Lock()
	c := a.cache[ac.user]
	a.mu.Unlock()
	return c != nil && hmac.Equal(m, c)
}
