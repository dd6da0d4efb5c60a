package relay

import (
	"encoding/base64"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// fakeILS is an ILS with its Connexion receiver in front, standing in
// for the receivers the relay is put in front of: Koha's
// connexion_import_daemon.pl, FOLIO's edge-connexion, Evergreen's
// marc_stream_importer and Aleph's oclc_server. Each style behaves on the
// wire as its source shows (see standins_test.go and listener.go): how
// it reads a request, what it answers, when it closes, and its own
// timeouts. Behind the receiver is the ILS itself (backend), which can
// be made to refuse, be down, be slow, hang, or go on and store a record
// after the receiver gave up on it, and it can refuse chosen records on
// their merits while it takes the others. The receiver can be stopped,
// crashed and restarted on the same port. A record counts as imported
// exactly when the ILS stores it.
type fakeILS struct {
	t     testing.TB
	style string
	addr  string

	mu       sync.Mutex
	knobs    knobs
	gen      *generation // the running receiver; nil when stopped
	mode     ilsMode
	delay    time.Duration   // modeSlow: the ILS takes this long
	release  chan struct{}   // modeHang: closed to let held records go on
	reply    string          // modeWeird: the receiver's reply
	refused  map[string]bool // records the ILS refuses on their merits (modeOK)
	imports  []ilsImport
	requests int           // requests with a record that reached the receiver
	changed  chan struct{} // closed and replaced on every import
}

// knobs are a receiver's settings, changed with tune.
type knobs struct {
	// Scaled-down receivers' own timeouts. When one fires, clock (when
	// set) is advanced by the rest of the real value, so that the relay
	// sees the time the real receiver would have taken.
	readWait  time.Duration // Koha: 5 s without data; Evergreen: 5 s to read the record
	kohaHTTP  time.Duration // Koha: its HTTP client's timeout, 10 s
	folioIdle time.Duration // FOLIO: idle connections are closed after 30 s
	clock     *testClock
	folioKey  string // FOLIO: the A field (API key) it accepts
}

// tune changes the receiver's settings, for connections from now on.
func (f *fakeILS) tune(change func(k *knobs)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.knobs)
}

// settings returns the receiver's settings, for one connection.
func (f *fakeILS) settings() knobs {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.knobs
}

// generation is one run of the receiver, from start to stop or crash.
type generation struct {
	ln    net.Listener
	dead  chan struct{} // closed by crash: held records give up
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // the accept loop and the connections
}

type ilsMode int

const (
	modeOK    ilsMode = iota // the ILS stores the record
	modeError                // the ILS refuses it (the style's error reply)
	modeDown                 // the ILS cannot be reached (the style's reply for that)
	modeSlow                 // the ILS takes delay, then stores it
	modeHang                 // the ILS holds it until released (then as the mode then says) or crashed
	modeWeird                // the ILS stores it and the receiver answers the text set by weird()
)

// ilsLogin is the login a receiver read from a request.
type ilsLogin struct{ user, localUser, password string }

type ilsImport struct {
	record string
	ilsLogin
	number int
}

// The real values of the receivers' timeouts.
const (
	realReadWait  = 5 * time.Second
	realKohaHTTP  = KohaHTTPTimeout
	realFOLIOIdle = 30 * time.Second
)

// folioTestKey is an edge-connexion API key: base64 of its salt, tenant
// and user in JSON, as ApiKeyUtils makes them.
var folioTestKey = base64.StdEncoding.EncodeToString([]byte(`{"s":"gYn0uFv3Lf","t":"diku","u":"dikuuser"}`))

func newFakeILS(t testing.TB, style string) *fakeILS {
	t.Helper()
	switch style {
	case "koha", "folio", "evergreen", "aleph":
	default:
		t.Fatalf("unknown ILS style %q", style)
	}
	f := &fakeILS{t: t, style: style, release: make(chan struct{}), changed: make(chan struct{}),
		knobs: knobs{readWait: realReadWait, kohaHTTP: realKohaHTTP, folioIdle: realFOLIOIdle, folioKey: folioTestKey}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.serve(l)
	t.Cleanup(f.crash)
	return f
}

// relayConfig is testConfig for a relay in front of f: its Listener,
// and for FOLIO the API key it wants in the A field.
func (f *fakeILS) relayConfig(d *db.DB) Config {
	cfg := testConfig(d, f.addr)
	cfg.Listener = Listener(f.style)
	if f.style == "folio" {
		cfg.Credentials = &Credentials{User: "relay", LocalUser: f.settings().folioKey}
	}
	return cfg
}

// loginFor is the login f's receiver gets, through a relay configured
// by relayConfig, for a record a cataloger exported as user/password.
func (f *fakeILS) loginFor(user, password string) ilsLogin {
	switch f.style {
	case "evergreen":
		return ilsLogin{}
	case "folio":
		return ilsLogin{user: "relay", localUser: f.settings().folioKey}
	}
	return ilsLogin{user: user, password: password}
}

func (f *fakeILS) serve(l net.Listener) {
	g := &generation{ln: l, dead: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	f.mu.Lock()
	f.gen = g
	f.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !g.track(c) {
				c.Close()
				return
			}
			if f.style == "koha" {
				// One connection at a time; the others wait in the
				// listen queue.
				f.serveConn(g, c)
				continue
			}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				f.serveConn(g, c)
			}()
		}
	}()
}

func (f *fakeILS) serveConn(g *generation, c net.Conn) {
	defer g.untrack(c)
	defer c.Close()
	switch f.style {
	case "koha":
		f.serveKoha(g, c)
	case "folio":
		f.serveFOLIO(g, c)
	case "evergreen":
		f.serveEvergreen(g, c)
	case "aleph":
		f.serveAleph(g, c)
	}
}

func (g *generation) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.dead:
		return false
	default:
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *generation) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
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

// stop shuts the receiver down gracefully: new connections are refused
// (Koha's, still waiting in its listen queue, are reset), and requests
// in progress get their replies.
func (f *fakeILS) stop() {
	f.mu.Lock()
	g := f.gen
	f.gen = nil
	f.mu.Unlock()
	if g == nil {
		return
	}
	g.ln.Close()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		f.t.Errorf("fake %s ILS: requests still in progress 10 s after stop", f.style)
		f.kill(g)
	}
}

// crash kills the receiver and the ILS at once: held records end
// without a reply and without an import.
func (f *fakeILS) crash() {
	f.mu.Lock()
	g := f.gen
	f.gen = nil
	f.mu.Unlock()
	if g != nil {
		f.kill(g)
	}
}

func (f *fakeILS) kill(g *generation) {
	g.mu.Lock()
	select {
	case <-g.dead:
	default:
		close(g.dead)
	}
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.ln.Close()
	g.wg.Wait()
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
	f.set(modeWeird, 0)
	f.mu.Lock()
	f.reply = reply
	f.mu.Unlock()
}

func (f *fakeILS) countRequest() {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
}

// stored is what the ILS did with a record.
type stored int

const (
	storedYes     stored = iota // stored; number says as what
	storedNo                    // refused
	storedDown                  // the ILS could not be reached
	storedLater                 // the receiver's call timed out; the ILS goes on and stores it
	storedGone                  // crashed meanwhile: nothing stored, no reply
	storedRefused               // the record itself was refused (refuseRecord)
)

// refuseRecord makes the ILS refuse rec on its merits, as it refuses a
// record it cannot parse or import, while it takes the others (in
// modeOK; when it is down or failing it never gets to judge the record).
func (f *fakeILS) refuseRecord(rec []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refused == nil {
		f.refused = make(map[string]bool)
	}
	f.refused[string(rec)] = true
}

// acceptRecord undoes refuseRecord: someone corrected the ILS's settings.
func (f *fakeILS) acceptRecord(rec []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.refused, string(rec))
}

// backend hands rec to the ILS, as the receiver does, and waits for it
// for up to wait (zero: as long as it takes). It returns what the ILS
// did, the record's number when stored, and the mode's reply text for
// modeWeird.
func (f *fakeILS) backend(g *generation, rec []byte, login ilsLogin, wait time.Duration) (what stored, number int, weird string) {
	f.mu.Lock()
	mode, delay, release, weird := f.mode, f.delay, f.release, f.reply
	refused := f.refused[string(rec)]
	f.mu.Unlock()
	if mode == modeOK && refused {
		return storedRefused, 0, ""
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	// work stands for the ILS taking its time; it reports whether the
	// ILS got to the end (false: crashed).
	var work func() bool
	switch mode {
	case modeError:
		return storedNo, 0, ""
	case modeDown:
		return storedDown, 0, ""
	case modeOK:
		return storedYes, f.store(rec, login), ""
	case modeWeird:
		return storedYes, f.store(rec, login), weird
	case modeSlow:
		work = func() bool {
			select {
			case <-time.After(delay):
				return true
			case <-g.dead:
				return false
			}
		}
	case modeHang:
		work = func() bool {
			select {
			case <-release:
				return true
			case <-g.dead:
				return false
			}
		}
	}
	type result struct {
		what   stored
		number int
		weird  string
	}
	done := make(chan result, 1)
	go func() {
		if !work() {
			done <- result{what: storedGone}
			return
		}
		// Released or done: as the ILS now does.
		f.mu.Lock()
		mode, weird := f.mode, f.reply
		f.mu.Unlock()
		switch mode {
		case modeError:
			done <- result{what: storedNo}
		case modeDown:
			done <- result{what: storedDown}
		case modeWeird:
			done <- result{storedYes, f.store(rec, login), weird}
		default:
			done <- result{storedYes, f.store(rec, login), ""}
		}
	}()
	select {
	case r := <-done:
		return r.what, r.number, r.weird
	case <-timeout:
		return storedLater, 0, "" // the goroutine stores it when the ILS gets there
	case <-g.dead:
		return storedGone, 0, ""
	}
}

// store imports rec and returns its number.
func (f *fakeILS) store(rec []byte, login ilsLogin) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.imports) + 1
	f.imports = append(f.imports, ilsImport{record: string(rec), ilsLogin: login, number: n})
	close(f.changed)
	f.changed = make(chan struct{})
	return n
}

// advance stands for the rest of a receiver's real timeout.
func (k knobs) advance(real, scaled time.Duration) {
	if k.clock != nil && real > scaled {
		k.clock.Advance(real - scaled)
	}
}

// successReply is what the style's receiver answers, without its NUL,
// for a record the ILS stored as number n.
func (f *fakeILS) successReply(n int) string {
	switch f.style {
	case "koha":
		return fmt.Sprintf("Success.  Batch number %d - biblio record number %d added to Koha.\n\nhttp://koha.example/cgi-bin/koha/catalogue/detail.pl?biblionumber=%d", 1000+n, n, n)
	case "folio":
		return "Import ok\n"
	case "evergreen":
		return "Successfully imported 1 bib records using merge profile 'OCLC overlay'\n"
	case "aleph":
		return fmt.Sprintf("New record %09d added\nEnd handling input record\n", n)
	}
	panic("unknown style " + f.style)
}

// errorReply is what the style's receiver answers, without its NUL,
// when the ILS refuses the record (modeError).
func (f *fakeILS) errorReply() string {
	switch f.style {
	case "koha": // bug 38382: the login session expired and logging in again failed
		return "Unsuccessful request"
	case "folio":
		return "Error: Login failed. POST /authn/login for tenant 'diku' and username 'dikuuser' returned status 400: Bad Request\n"
	case "evergreen":
		return "Failed to import 1 bib records\n"
	case "aleph":
		return "Error: more than one matching record found; record not added\n"
	}
	panic("unknown style " + f.style)
}

// refusalReply is what the style's receiver answers, without its NUL,
// when the ILS refuses the record on its merits (refuseRecord): Koha's
// svc/import_bib passes on MARC::File::XML's error, FOLIO's mod-copycat
// answers 400, Evergreen's Vandelay fails to import it.
func (f *fakeILS) refusalReply() string {
	switch f.style {
	case "koha":
		return ":1: parser error : PCDATA invalid Char value 27\n at /usr/share/perl5/MARC/File/XML.pm line 449.\n.  Please contact administrator."
	case "folio":
		return "Error: Response status code 400 is not equal to 200\n"
	case "evergreen":
		return "Failed to import 1 bib records\n"
	case "aleph":
		return "Error: record not added: field 245 is missing\n"
	}
	panic("unknown style " + f.style)
}

// downReply is what the style's receiver answers, without its NUL, when
// its ILS cannot be reached (modeDown); Evergreen's exits without a word.
func (f *fakeILS) downReply() string {
	switch f.style {
	case "koha":
		return "Unsuccessful request"
	case "folio":
		return "Error: Connection refused: okapi.example/192.0.2.10:9130\n"
	case "aleph":
		return "Error: cannot open the database; record not added\n"
	}
	return ""
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
