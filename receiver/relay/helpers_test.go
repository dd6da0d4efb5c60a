package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/internal/testutil"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.Buffer

func openDB(t testing.TB, path string) *db.DB {
	t.Helper()
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newDB(t testing.TB) (*db.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oclcbot.db")
	d := openDB(t, path)
	t.Cleanup(func() { d.Close() })
	return d, path
}

// testConfig is a Config for tests: short timeouts and backoffs, the
// real clock (Run's waits are computed from it).
func testConfig(d *db.DB, upstream string) Config {
	return Config{
		Upstream:       upstream,
		DB:             d,
		ConnectTimeout: 2 * time.Second,
		ReplyTimeout:   2 * time.Second,
		LateReplyLimit: 20 * time.Second,
		InitialBackoff: 5 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
		PollEvery:      50 * time.Millisecond,
		Logger:         discardLogger(),
	}
}

func openRelay(t testing.TB, cfg Config) *Relay {
	t.Helper()
	r, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runRelay runs r's delivery loop until the test ends or stop is called.
func runRelay(t testing.TB, r *Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// makeRecord builds a valid MARC record with an OCLC number and a title.
func makeRecord(t testing.TB, oclc int, title string) []byte {
	t.Helper()
	r := marc.NewRecord()
	r.AppendField(marc.Field{Tag: "001", Value: fmt.Sprintf("ocm%08d", oclc)})
	r.AppendField(marc.Field{Tag: "003", Value: "OCoLC"})
	r.AppendField(marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: title}}})
	b, err := marc.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// itemFor prepares a record the way the receiver does, as far as the
// relay cares.
func itemFor(t testing.TB, index int, raw []byte) *receiver.Item {
	t.Helper()
	rec, err := marc.Decode(raw)
	if err != nil {
		t.Fatalf("decode test record: %v", err)
	}
	sum := sha256.Sum256(raw)
	return &receiver.Item{Index: index, Raw: raw, Original: rec, Record: rec,
		OCLCNumber: marc.OCLCNumber(rec), Hash: hex.EncodeToString(sum[:]), Title: rec.Title()}
}

var testRequestID uint64
var testRequestMu sync.Mutex

// exportOf is an export of raws by user with password, as the receiver
// hands it to a Sink.
func exportOf(t testing.TB, user, password string, raws ...[]byte) *receiver.Export {
	t.Helper()
	testRequestMu.Lock()
	testRequestID++
	id := testRequestID
	testRequestMu.Unlock()
	req := &gateway.Request{ID: id, User: user, Password: password, Records: raws,
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50000}, Received: time.Now(), Complete: time.Now()}
	exp := &receiver.Export{Request: req, User: user}
	for i, raw := range raws {
		exp.Items = append(exp.Items, itemFor(t, i, raw))
	}
	return exp
}

// deliver1 delivers one record and returns its result.
func deliver1(t testing.TB, r *Relay, raw []byte) receiver.Result {
	t.Helper()
	res := r.Deliver(context.Background(), exportOf(t, "cat1", "catsecret", raw))
	if len(res) != 1 {
		t.Fatalf("Deliver returned %d results for 1 item", len(res))
	}
	return res[0]
}

// waitFor polls cond (a database or network state changed by another
// goroutine) until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func entry(t testing.TB, r *Relay, id int64) Entry {
	t.Helper()
	e, err := r.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func listAll(t testing.TB, r *Relay) []Entry {
	t.Helper()
	es, err := r.List(context.Background(), ListOptions{States: States(), Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// testClock is the real time plus an offset that a stand-in advances to
// stand for the rest of a receiver's long timeout (Koha's 10 seconds,
// FOLIO's 30), so that tests need not wait for them.
type testClock struct{ off atomic.Int64 }

// Now is the clock's time: a Config.Now.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock d forward.
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }
