package relay

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// fakeILS is a scripted upstream ILS Connexion listener built on
// gateway.Server: it answers like Koha, FOLIO, Evergreen or Aleph (the
// texts their receivers send, see classify.go), and can be stopped,
// crashed, slowed, made to hang or to answer errors, and restarted on
// the same port. A record counts as imported exactly when the listener
// decides to answer success, so "imported but no reply" happens only
// when a test asks for it.
type fakeILS struct {
	t     testing.TB
	style string
	addr  string

	mu       sync.Mutex
	srv      *gateway.Server
	mode     ilsMode
	delay    time.Duration // slow mode: reply after this long
	release  chan struct{} // hang mode: closed to let held requests go on
	reply    string        // weird mode: this reply
	imports  []ilsImport
	requests int
	changed  chan struct{} // closed and replaced on every import
}

type ilsMode int

const (
	modeOK    ilsMode = iota // import and answer success
	modeError                // answer the style's error, import nothing
	modeSlow                 // wait delay, then import and answer success
	modeHang                 // wait for release (then import) or for the server to close (nothing)
	modeWeird                // import and answer the reply text set by weird()
)

type ilsImport struct {
	record                    string
	user, localUser, password string
	number                    int
}

func newFakeILS(t testing.TB, style string) *fakeILS {
	t.Helper()
	f := &fakeILS{t: t, style: style, release: make(chan struct{}), changed: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.serve(l)
	t.Cleanup(func() { f.crash() })
	return f
}

func (f *fakeILS) serve(l net.Listener) {
	srv := &gateway.Server{Handler: gateway.HandlerFunc(f.serveExport), IdleTimeout: 5 * time.Second,
		Logger: discardLogger()}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(l)
}

// start listens again on the same port after stop or crash.
func (f *fakeILS) start() {
	f.t.Helper()
	var l net.Listener
	var err error
	for range 100 { // the port may linger for a moment after close
		if l, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("restart fake ILS on %s: %v", f.addr, err)
	}
	f.serve(l)
}

// stop shuts the listener down gracefully: requests in progress get
// their replies; new connections are refused.
func (f *fakeILS) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// crash closes everything at once: held requests end without a reply
// and without an import.
func (f *fakeILS) crash() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (f *fakeILS) set(m ilsMode, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode == modeHang && m != modeHang {
		close(f.release)
		f.release = make(chan struct{})
	}
	f.mode, f.delay = m, delay
}

func (f *fakeILS) weird(reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.reply = modeWeird, reply
}

func (f *fakeILS) serveExport(ctx context.Context, req *gateway.Request) string {
	f.mu.Lock()
	f.requests++
	mode, delay, release, weird := f.mode, f.delay, f.release, f.reply
	f.mu.Unlock()
	switch mode {
	case modeError:
		return f.errorReply()
	case modeSlow:
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ""
		}
	case modeHang:
		select {
		case <-release:
		case <-ctx.Done():
			return ""
		}
		// Released: answer as the listener now does.
		f.mu.Lock()
		mode, weird = f.mode, f.reply
		f.mu.Unlock()
		if mode == modeError {
			return f.errorReply()
		}
	}
	if ctx.Err() != nil {
		return "" // closed meanwhile: as if it crashed before committing
	}
	f.mu.Lock()
	n := len(f.imports) + 1
	f.imports = append(f.imports, ilsImport{record: string(req.Records[0]), user: req.User, localUser: req.LocalUser, password: req.Password, number: n})
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if mode == modeWeird {
		return weird
	}
	return f.successReply(n)
}

// successReply is what the style's receiver answers for an imported
// record, number n.
func (f *fakeILS) successReply(n int) string {
	switch f.style {
	case "koha": // connexion_import_daemon.pl
		return fmt.Sprintf("Success.  Batch number %d - biblio record number %d added to Koha.\n\nhttp://koha.example/cgi-bin/koha/catalogue/detail.pl?biblionumber=%d", 1000+n, n, n)
	case "folio": // edge-connexion
		return "Import ok\n"
	case "evergreen": // marc_stream_importer.pl
		return "Successfully imported 1 records using merge profile 'OCLC overlay'\n"
	case "aleph":
		return fmt.Sprintf("New record %09d added\nEnd handling input record\n", n)
	}
	panic("unknown style " + f.style)
}

func (f *fakeILS) errorReply() string {
	switch f.style {
	case "koha":
		return "Unsuccessful request"
	case "folio":
		return "Error: /authn/login returned status 400\n"
	case "evergreen":
		return "Failed to import 1 records\n"
	case "aleph":
		return "Error: more than one matching record found; record not added\n"
	}
	panic("unknown style " + f.style)
}

func (f *fakeILS) importsCopy() []ilsImport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ilsImport(nil), f.imports...)
}

func (f *fakeILS) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// waitImports waits until at least n records were imported.
func (f *fakeILS) waitImports(n int, within time.Duration) []ilsImport {
	f.t.Helper()
	deadline := time.After(within)
	for {
		f.mu.Lock()
		got, ch := len(f.imports), f.changed
		f.mu.Unlock()
		if got >= n {
			return f.importsCopy()
		}
		select {
		case <-ch:
		case <-deadline:
			f.t.Fatalf("fake %s ILS: %d records imported, want %d within %v", f.style, got, n, within)
		}
	}
}
