package mailtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockWait bounds how long Servers waits for another test binary to finish
// with the servers.
const lockWait = 8 * time.Minute

// The servers are shared by every test binary `go test ./...` runs at
// once; a file lock in the servers' directory lets one test at a time use
// them. Within one process, nested Servers calls (subtests) share it.
var (
	lockMu    sync.Mutex
	lockCount int
	lockFile  *os.File
)

// acquire takes the servers' lock for t and releases it when t ends. It
// reports whether this call took the lock (rather than sharing a lock an
// enclosing test holds).
func (e *Env) acquire(t testing.TB) (first bool) {
	t.Helper()
	lockMu.Lock()
	defer lockMu.Unlock()
	if lockCount == 0 {
		f, err := lockServers(filepath.Join(e.Dir, "lock"), lockWait, t)
		if err != nil {
			t.Fatalf("lock the test mail servers: %v", err)
		}
		lockFile = f
	}
	lockCount++
	t.Cleanup(func() {
		lockMu.Lock()
		defer lockMu.Unlock()
		lockCount--
		if lockCount == 0 {
			lockFile.Close() // releases the flock
			lockFile = nil
		}
	})
	return lockCount == 1
}

// lockServers opens path and takes an exclusive flock on it, waiting up to
// wait while another process holds it.
func lockServers(path string, wait time.Duration, t testing.TB) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another test process has held %s for %v", path, wait)
		}
		if !logged {
			t.Logf("waiting for another test process to finish with the test mail servers (%s)", path)
			logged = true
		}
		time.Sleep(pollInterval)
	}
}
