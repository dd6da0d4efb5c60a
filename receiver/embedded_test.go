package receiver_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
)

var bg = context.Background()

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sinkEnv is a catalog sink on a fresh database.
type sinkEnv struct {
	path string
	db   *db.DB
	cat  *catalog.Catalog
	sink *receiver.CatalogSink
	clk  *testClock
}

func newSinkEnv(tb testing.TB, cfg receiver.CatalogConfig) *sinkEnv {
	tb.Helper()
	return newSinkEnvSync(tb, cfg, db.SyncFull)
}

// newSinkEnvSync is newSinkEnv with the given synchronous level.
func newSinkEnvSync(tb testing.TB, cfg receiver.CatalogConfig, sync string) *sinkEnv {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "oclcbot.db")
	d, err := db.Open(path, db.Options{Synchronous: sync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	clk := newTestClock()
	cat, err := catalog.Open(bg, d, catalog.Options{LibraryCode: "HVD01", Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Catalog = cat
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	s, err := receiver.NewCatalogSink(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &sinkEnv{path: path, db: d, cat: cat, sink: s, clk: clk}
}

// rec describes a record as a cataloger exports it.
type rec struct {
	oclc     string   // digits; "" for a record without an OCLC number
	f019     []string // OCLC numbers merged into it
	title    string
	author   string
	holdings []string // 049 $a; nil means HVDA
	target   string   // targeting 035: "(HVD01)" + target
	stamp    string   // 005
	notes    []string // 500 $a, for size
	marc8    bool     // send in MARC-8
}

func (r rec) marc() *marc.Record {
	m := marc.NewRecord()
	add := func(f marc.Field) { m.AddField(f) }
	sub := func(tag string, i1, i2 byte, cv ...string) marc.Field {
		f := marc.Field{Tag: tag, Ind1: i1, Ind2: i2}
		for i := 0; i+1 < len(cv); i += 2 {
			f.Subfields = append(f.Subfields, marc.Subfield{Code: cv[i][0], Value: cv[i+1]})
		}
		return f
	}
	if r.oclc != "" {
		id := "on" + r.oclc
		if len(r.oclc) <= 8 {
			id = "ocm" + strings.Repeat("0", 8-len(r.oclc)) + r.oclc + " "
		}
		add(marc.Field{Tag: "001", Value: id})
		add(marc.Field{Tag: "003", Value: "OCoLC"})
	}
	stamp := r.stamp
	if stamp == "" {
		stamp = "20260302104200.0"
	}
	add(marc.Field{Tag: "005", Value: stamp})
	add(marc.Field{Tag: "008", Value: "850101s1985    nyu           000 0 eng d"})
	if len(r.f019) > 0 {
		f := sub("019", ' ', ' ')
		for _, n := range r.f019 {
			f.Subfields = append(f.Subfields, marc.Subfield{Code: 'a', Value: n})
		}
		add(f)
	}
	if r.oclc != "" {
		add(sub("035", ' ', ' ', "a", "(OCoLC)"+r.oclc))
	}
	if r.target != "" {
		add(sub("035", ' ', ' ', "a", "(HVD01)"+r.target))
	}
	add(sub("040", ' ', ' ', "a", "DLC", "b", "eng", "c", "DLC"))
	holdings := r.holdings
	if holdings == nil {
		holdings = []string{"HVDA"}
	}
	for _, h := range holdings {
		add(sub("049", ' ', ' ', "a", h))
	}
	author := r.author
	if author == "" {
		author = "Doe, Jane"
	}
	add(sub("100", '1', ' ', "a", author+",", "d", "1950-"))
	add(sub("245", '1', '0', "a", r.title+" /", "c", "Jane Doe."))
	add(sub("260", ' ', ' ', "a", "New York :", "b", "Knopf,", "c", "1985."))
	for _, n := range r.notes {
		add(sub("500", ' ', ' ', "a", n))
	}
	add(sub("650", ' ', '0', "a", "Whaling", "z", "Massachusetts", "v", "Fiction."))
	return m
}

// item prepares r as the receiver's pipeline does: the raw bytes as
// sent, decoded, converted to UTF-8, identifiers taken before the rules,
// the targeting 035 removed, the content hash.
func (r rec) item(tb testing.TB) *receiver.Item {
	tb.Helper()
	m := r.marc()
	if r.marc8 {
		var err error
		if m, err = marc.ToMARC8(m); err != nil {
			tb.Fatal(err)
		}
	}
	raw, err := marc.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	orig, err := marc.Decode(raw)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := marc.ToUTF8(orig)
	if err != nil {
		tb.Fatal(err)
	}
	it := &receiver.Item{Raw: raw, Original: orig, OCLCNumber: marc.OCLCNumber(orig), OCLCNumbers: marc.OCLCNumbers(orig)}
	if it.Target, err = receiver.TargetNumber(u, "(HVD01)"); err != nil {
		tb.Fatal(err)
	}
	receiver.RemoveTargeting(u, "(HVD01)")
	it.Record, it.Title, it.Author = u, u.Title(), u.Author()
	if it.Hash, err = receiver.ContentHash(u); err != nil {
		tb.Fatal(err)
	}
	return it
}

func export(items ...*receiver.Item) *receiver.Export {
	for i, it := range items {
		it.Index = i
	}
	return &receiver.Export{
		Request: &gateway.Request{ID: 17, User: "jdoe", RemoteAddr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 51234}},
		User:    "jdoe",
		Items:   items,
	}
}

// deliver sends one record and returns its result.
func (e *sinkEnv) deliver(tb testing.TB, r rec) receiver.Result {
	tb.Helper()
	res := e.sink.Deliver(bg, export(r.item(tb)))
	if len(res) != 1 {
		tb.Fatalf("Deliver returned %d results for 1 item", len(res))
	}
	return res[0]
}

// add stores r as a new record directly in the catalog (to set up
// states the sink itself would not create, such as two records sharing
// an OCLC number) and returns its system number.
func (e *sinkEnv) add(tb testing.TB, r rec) catalog.SystemNumber {
	tb.Helper()
	it := r.item(tb)
	p, err := e.cat.Prepare(catalog.Input{Record: it.Record, Original: it.Raw, Hash: it.Hash})
	if err != nil {
		tb.Fatal(err)
	}
	var n catalog.SystemNumber
	if err := e.cat.Write(bg, func(tx *catalog.Txn) error {
		n, err = tx.Insert(bg, p)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

func (e *sinkEnv) stats(tb testing.TB) catalog.Stats {
	tb.Helper()
	st, err := e.cat.Stats(bg)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func (e *sinkEnv) get(tb testing.TB, sysno string) *catalog.Entry {
	tb.Helper()
	n, err := catalog.ParseSystemNumber(sysno, "")
	if err != nil {
		tb.Fatalf("system number %q: %v", sysno, err)
	}
	ent, err := e.cat.Get(bg, n)
	if err != nil {
		tb.Fatal(err)
	}
	return ent
}

func (e *sinkEnv) history(tb testing.TB, sysno string) []catalog.Version {
	tb.Helper()
	n, _ := catalog.ParseSystemNumber(sysno, "")
	h, err := e.cat.History(bg, n)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func (e *sinkEnv) check(tb testing.TB) {
	tb.Helper()
	probs, err := e.cat.Check(bg)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range probs {
		tb.Errorf("catalog inconsistent: %s", p)
	}
}

// want checks a result's verdict.
func want(tb testing.TB, got receiver.Result, outcome exportlog.Outcome, class exportlog.Class, cause, sysno string) {
	tb.Helper()
	if got.Outcome != outcome || got.Class != class || got.Cause != cause || got.SystemNumber != sysno {
		tb.Fatalf("result = %s/%s/%s %q (%s), want %s/%s/%s %q",
			got.Outcome, got.Class, got.Cause, got.SystemNumber, got.Detail, outcome, class, cause, sysno)
	}
}

func title(tb testing.TB, e *catalog.Entry) string {
	tb.Helper()
	r, err := e.Record()
	if err != nil {
		tb.Fatal(err)
	}
	return r.Title()
}

func TestCatalogSinkAddsNewRecord(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	if e.sink.Name() != "catalog" {
		t.Errorf("Name = %q", e.sink.Name())
	}
	r := rec{oclc: "12345", title: "Moby Dick, or, The whale", author: "Melville, Hérman", marc8: true}
	it := r.item(t)
	res := e.sink.Deliver(bg, export(it))[0]
	want(t, res, exportlog.OutcomeAdded, exportlog.ClassNone, "", "000000001")
	if len(res.Sharing) != 0 || res.Previous != nil {
		t.Errorf("sharing %v previous %v", res.Sharing, res.Previous)
	}
	ent := e.get(t, res.SystemNumber)
	got, _ := ent.Record()
	if !slices.EqualFunc(got.Fields, it.Record.Fields, func(a, b marc.Field) bool { return a.Equal(&b) }) {
		t.Error("stored record is not the prepared record")
	}
	if string(ent.Original) != string(it.Raw) {
		t.Error("original bytes (MARC-8) not kept")
	}
	if ent.OCLCNumber != "12345" || ent.Author != it.Author || !strings.HasPrefix(ent.Author, "Melville, H") {
		t.Errorf("entry = %+v", ent.Summary)
	}
	h := e.history(t, res.SystemNumber)
	if len(h) != 1 || h[0].Source.User != "jdoe" || h[0].Source.RequestID != 17 || h[0].Source.RemoteAddr != "10.0.0.5:51234" || !h[0].Source.Time.Equal(e.clk.Now()) {
		t.Errorf("history = %+v", h[0].Source)
	}
	// The index check finds it by the title the export log carries.
	if ok, err := e.cat.Findable(bg, res.SystemNumber, it.Title); err != nil || !ok {
		t.Errorf("Findable(%s, %q) = %v, %v", res.SystemNumber, it.Title, ok, err)
	}
	e.check(t)
}

func TestCatalogSinkMatchesByOCLCNumber(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	first := e.deliver(t, rec{oclc: "100", title: "First edition"})
	want(t, first, exportlog.OutcomeAdded, "", "", "000000001")

	// Same OCLC number, new content: overlay, keeping the old version.
	e.clk.Advance(time.Minute)
	res := e.deliver(t, rec{oclc: "100", title: "Corrected edition"})
	want(t, res, exportlog.OutcomeMerged, "", "", "000000001")
	if h := e.history(t, "000000001"); len(h) != 2 || h[1].Reason != catalog.ReasonOverlay {
		t.Fatalf("history = %d versions", len(h))
	}
	if got := title(t, e.get(t, "000000001")); got != "Corrected edition" {
		t.Errorf("current title = %q", got)
	}

	// OCLC merged record 100 into 200: the export carries 200 in 001 and
	// 100 in 019, and still finds our record.
	res = e.deliver(t, rec{oclc: "200", f019: []string{"100"}, title: "Merged at OCLC"})
	want(t, res, exportlog.OutcomeMerged, "", "", "000000001")
	if ent := e.get(t, "000000001"); ent.OCLCNumber != "200" || !slices.Equal(ent.OCLCNumbers, []string{"200", "100"}) {
		t.Errorf("numbers after the OCLC merge = %q %q", ent.OCLCNumber, ent.OCLCNumbers)
	}

	// A record without an OCLC number is always added.
	a := e.deliver(t, rec{title: "Local thesis"})
	b := e.deliver(t, rec{title: "Local thesis"})
	want(t, a, exportlog.OutcomeAdded, "", "", "000000002")
	want(t, b, exportlog.OutcomeAdded, "", "", "000000003")
	e.check(t)
}

func TestCatalogSinkRefusesAmbiguousMatch(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	a := e.add(t, rec{oclc: "100", title: "Copy A"})
	b := e.add(t, rec{oclc: "100", title: "Copy B"})
	before := e.stats(t)
	res := e.deliver(t, rec{oclc: "100", title: "Third copy"})
	want(t, res, exportlog.OutcomeRejected, exportlog.ClassRecord, exportlog.CauseAmbiguousMatch, "")
	if !slices.Equal(res.Sharing, []string{a.String(), b.String()}) {
		t.Errorf("Sharing = %v, want [%s %s]", res.Sharing, a, b)
	}
	if after := e.stats(t); after != before {
		t.Errorf("catalog changed: %+v -> %+v", before, after)
	}

	// Once one of them is marked deleted, the other is the match.
	if err := e.cat.Write(bg, func(tx *catalog.Txn) error { _, err := tx.MarkDeleted(bg, b, catalog.Source{}); return err }); err != nil {
		t.Fatal(err)
	}
	res = e.deliver(t, rec{oclc: "100", title: "Third copy"})
	want(t, res, exportlog.OutcomeMerged, "", "", a.String())
	if len(res.Sharing) != 0 {
		t.Errorf("Sharing lists a deleted record: %v", res.Sharing)
	}
	e.check(t)
}

func TestCatalogSinkTargeting(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{Holdings: []string{"HVDA", "HVDB"}})
	ours := e.add(t, rec{oclc: "100", title: "Ours", holdings: []string{"HVDB"}})
	theirs := e.add(t, rec{oclc: "200", title: "Theirs", holdings: []string{"XYZA"}})
	bare := e.add(t, rec{oclc: "300", title: "No 049", holdings: []string{}})
	other := e.add(t, rec{oclc: "400", title: "Shares 400"})

	t.Run("overlays our record", func(t *testing.T) {
		res := e.deliver(t, rec{oclc: "400", title: "Retargeted", target: ours.String()})
		want(t, res, exportlog.OutcomeMerged, "", "", ours.String())
		if !slices.Equal(res.Sharing, []string{other.String()}) {
			t.Errorf("Sharing = %v, want [%s]", res.Sharing, other)
		}
		ent := e.get(t, ours.String())
		if title(t, ent) != "Retargeted" || ent.Version != 2 {
			t.Errorf("target after overlay: %q version %d", title(t, ent), ent.Version)
		}
		r, _ := ent.Record()
		for _, f := range r.FieldsByTag("035") {
			if strings.Contains(f.SubfieldValue('a'), "HVD01") {
				t.Error("the targeting 035 was stored")
			}
		}
		if got := title(t, e.get(t, other.String())); got != "Shares 400" {
			t.Errorf("the OCLC match was overlaid instead of the target: %q", got)
		}
	})
	for name, tc := range map[string]struct {
		target string
		cause  string
	}{
		"missing target":     {"000000999", exportlog.CauseTargetNotFound},
		"not a number":       {"1234567890", exportlog.CauseTargetNotFound},
		"another's record":   {theirs.String(), exportlog.CauseTargetNotOurs},
		"record without 049": {bare.String(), exportlog.CauseTargetNotOurs},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.stats(t)
			res := e.deliver(t, rec{oclc: "500", title: "Should not land", target: tc.target})
			if res.Outcome != exportlog.OutcomeRejected || res.Class != exportlog.ClassRecord || res.Cause != tc.cause || res.Detail == "" {
				t.Fatalf("result = %+v, want rejected %s", res, tc.cause)
			}
			if after := e.stats(t); after != before {
				t.Errorf("catalog changed: %+v -> %+v", before, after)
			}
		})
	}
	t.Run("targeting wins over a repeat", func(t *testing.T) {
		r := rec{oclc: "600", title: "Twice, targeted", target: ours.String()}
		want(t, e.deliver(t, r), exportlog.OutcomeMerged, "", "", ours.String())
		want(t, e.deliver(t, r), exportlog.OutcomeMerged, "", "", ours.String())
	})

	// Without configured holdings, any record may be targeted.
	open := newSinkEnv(t, receiver.CatalogConfig{})
	n := open.add(t, rec{oclc: "200", title: "Theirs", holdings: []string{"XYZA"}})
	want(t, open.deliver(t, rec{oclc: "200", title: "New", target: n.String()}), exportlog.OutcomeMerged, "", "", n.String())
	e.check(t)
}

func TestCatalogSinkRepeatedExport(t *testing.T) {
	r := rec{oclc: "12345", title: "Pressed F5 twice"}
	t.Run("skip", func(t *testing.T) {
		e := newSinkEnv(t, receiver.CatalogConfig{})
		first := e.deliver(t, r)
		received := e.clk.Now()
		e.clk.Advance(10 * time.Minute)
		again := r
		again.stamp = "20260302105200.0" // Connexion updates 005 on every export
		res := e.deliver(t, again)
		want(t, res, exportlog.OutcomeDuplicate, exportlog.ClassRecord, exportlog.CauseDuplicate, first.SystemNumber)
		if res.Policy != receiver.DuplicateSkip || res.Previous == nil || res.Previous.SystemNumber != first.SystemNumber || !res.Previous.Time.Equal(received) {
			t.Errorf("policy %q previous %+v, want skip, %s at %v", res.Policy, res.Previous, first.SystemNumber, received)
		}
		if st := e.stats(t); st.Records != 1 || st.Versions != 1 {
			t.Errorf("a skipped repeat changed the catalog: %+v", st)
		}
		// Changed content is not a repeat: it overlays.
		changed := r
		changed.title = "Pressed F5 twice, corrected"
		want(t, e.deliver(t, changed), exportlog.OutcomeMerged, "", "", first.SystemNumber)
		// The same record after the window is an overlay again.
		e.clk.Advance(25 * time.Hour)
		want(t, e.deliver(t, changed), exportlog.OutcomeMerged, "", "", first.SystemNumber)
		e.check(t)
	})
	t.Run("overlay", func(t *testing.T) {
		e := newSinkEnv(t, receiver.CatalogConfig{Duplicates: receiver.Duplicates{Policy: receiver.DuplicateOverlay, Window: time.Hour}})
		first := e.deliver(t, r)
		e.clk.Advance(time.Minute)
		res := e.deliver(t, r)
		want(t, res, exportlog.OutcomeDuplicate, "", "", first.SystemNumber)
		if res.Policy != receiver.DuplicateOverlay || res.Previous == nil || res.Previous.SystemNumber != first.SystemNumber {
			t.Errorf("policy %q previous %+v", res.Policy, res.Previous)
		}
		if h := e.history(t, first.SystemNumber); len(h) != 2 {
			t.Errorf("overlay policy kept %d versions, want 2", len(h))
		}
		e.check(t)
	})
	t.Run("mark-deleted", func(t *testing.T) {
		e := newSinkEnv(t, receiver.CatalogConfig{Duplicates: receiver.Duplicates{Policy: receiver.DuplicateMarkDeleted}})
		first := e.deliver(t, r)
		e.clk.Advance(time.Minute)
		res := e.deliver(t, r)
		want(t, res, exportlog.OutcomeDuplicate, "", "", "000000002")
		if res.Policy != receiver.DuplicateMarkDeleted || res.Previous == nil || res.Previous.SystemNumber != first.SystemNumber {
			t.Errorf("policy %q previous %+v", res.Policy, res.Previous)
		}
		if !slices.Equal(res.Sharing, []string{first.SystemNumber}) {
			t.Errorf("Sharing = %v", res.Sharing)
		}
		newer := e.get(t, "000000002")
		m, _ := newer.Record()
		sta := m.Field("STA")
		if !newer.Deleted || sta == nil || sta.Ind1 != '1' || sta.Ind2 != ' ' || sta.SubfieldValue('a') != "DELETED" {
			t.Errorf("newer copy not marked STA 1_ $a DELETED: deleted=%v %+v", newer.Deleted, sta)
		}
		if older := e.get(t, first.SystemNumber); older.Deleted || older.Version != 1 {
			t.Errorf("older copy changed: %+v", older.Summary)
		}
		// A third export repeats the live record, not the deleted copy.
		e.clk.Advance(time.Minute)
		res = e.deliver(t, r)
		if res.Outcome != exportlog.OutcomeDuplicate || res.Previous.SystemNumber != first.SystemNumber || res.SystemNumber != "000000003" {
			t.Errorf("third export: %+v", res)
		}
		// New content matches the live record only.
		changed := r
		changed.title = "Changed"
		want(t, e.deliver(t, changed), exportlog.OutcomeMerged, "", "", first.SystemNumber)
		e.check(t)
	})
}

func TestCatalogSinkSeveralRecordsInOneExport(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	a := rec{oclc: "1", title: "One"}
	res := e.sink.Deliver(bg, export(a.item(t), rec{oclc: "2", title: "Two"}.item(t), a.item(t)))
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	want(t, res[0], exportlog.OutcomeAdded, "", "", "000000001")
	want(t, res[1], exportlog.OutcomeAdded, "", "", "000000002")
	want(t, res[2], exportlog.OutcomeDuplicate, exportlog.ClassRecord, exportlog.CauseDuplicate, "000000001")
}

func TestCatalogSinkCanaryStoresNothing(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	e.deliver(t, rec{oclc: "100", title: "Existing"})
	before := e.stats(t)
	for _, r := range []rec{{title: "oclcbot canary record"}, {oclc: "100", title: "Canary that would merge"}} {
		exp := export(r.item(t))
		exp.Canary = true
		res := e.sink.Deliver(bg, exp)[0]
		if res.Outcome != exportlog.OutcomeCanary || res.Class != exportlog.ClassNone || res.SystemNumber != "" {
			t.Fatalf("canary result = %+v", res)
		}
		if !strings.Contains(res.Detail, "would have been") {
			t.Errorf("canary detail = %q", res.Detail)
		}
	}
	after := e.stats(t)
	if after.Canaries != 2 {
		t.Errorf("canary heartbeat count = %d, want 2", after.Canaries)
	}
	after.Canaries, after.LastCanary = before.Canaries, before.LastCanary
	if after != before {
		t.Errorf("canary exports changed the catalog: %+v -> %+v", before, after)
	}
	if title(t, e.get(t, "000000001")) != "Existing" {
		t.Error("canary overlaid a record")
	}
	if hits, _ := e.cat.Search(bg, "canary", 0); len(hits) != 0 {
		t.Errorf("canary record is searchable: %+v", hits)
	}
	// The next real record gets the next number: the canary's was never
	// given out.
	want(t, e.deliver(t, rec{oclc: "200", title: "Real"}), exportlog.OutcomeAdded, "", "", "000000002")
}

func TestCatalogSinkRefusesUnstorableRecord(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	it := rec{oclc: "1", title: "Long"}.item(t)
	for range 25 {
		it.Record.AddField(marc.Field{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: strings.Repeat("é", 2000)}}})
	}
	res := e.sink.Deliver(bg, export(it))[0]
	want(t, res, exportlog.OutcomeRejected, exportlog.ClassRecord, exportlog.CauseInvalidRecord, "")
	if st := e.stats(t); st.Records != 0 {
		t.Error("an unstorable record was stored")
	}
}

func TestNewCatalogSinkChecksConfig(t *testing.T) {
	e := newSinkEnv(t, receiver.CatalogConfig{})
	for name, cfg := range map[string]receiver.CatalogConfig{
		"no catalog":      {},
		"unknown policy":  {Catalog: e.cat, Duplicates: receiver.Duplicates{Policy: "delete"}},
		"negative window": {Catalog: e.cat, Duplicates: receiver.Duplicates{Window: -time.Hour}},
	} {
		if _, err := receiver.NewCatalogSink(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// pragma sets a connection setting on the database's single writer
// connection (the statement runs in a write transaction, but the setting
// outlives it).
func pragma(tb testing.TB, d *db.DB, p string) {
	tb.Helper()
	if err := d.Write(bg, func(tx *sql.Tx) error { _, err := tx.Exec("PRAGMA " + p); return err }); err != nil {
		tb.Fatalf("PRAGMA %s: %v", p, err)
	}
}

func TestCatalogSinkStorageFailures(t *testing.T) {
	big := make([]string, 8)
	for i := range big {
		big[i] = strings.Repeat(fmt.Sprintf("note %d ", i), 500) // needs new pages
	}
	for _, tc := range []struct {
		name     string
		breakIt  func(t *testing.T, e *sinkEnv) (repair func()) // nil: cannot be repaired
		canary   bool
		wantText string
	}{
		{name: "disk full", wantText: "full", breakIt: func(t *testing.T, e *sinkEnv) func() {
			var pages int64
			if err := e.db.Reader().QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
				t.Fatal(err)
			}
			pragma(t, e.db, fmt.Sprintf("max_page_count = %d", pages))
			return func() { pragma(t, e.db, "max_page_count = 1073741823") }
		}},
		{name: "read-only database", wantText: "readonly", breakIt: func(t *testing.T, e *sinkEnv) func() {
			// SQLite then refuses every write on the writer connection,
			// as it does for a database file it cannot write; it even
			// refuses BEGIN, so there is no way back (nil repair).
			pragma(t, e.db, "query_only = 1")
			return nil
		}},
		{name: "locked by another process", wantText: "locked", breakIt: func(t *testing.T, e *sinkEnv) func() {
			pragma(t, e.db, "busy_timeout = 50")
			other, err := sql.Open("sqlite", "file:"+e.path+"?_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			tx, err := other.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("CREATE TABLE lock_holder (x)"); err != nil {
				t.Fatal(err)
			}
			return func() { tx.Rollback(); other.Close() }
		}},
		{name: "canary on a full disk", canary: true, wantText: "full", breakIt: func(t *testing.T, e *sinkEnv) func() {
			var pages int64
			e.db.Reader().QueryRow("PRAGMA page_count").Scan(&pages)
			pragma(t, e.db, fmt.Sprintf("max_page_count = %d", pages))
			return func() { pragma(t, e.db, "max_page_count = 1073741823") }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSinkEnv(t, receiver.CatalogConfig{})
			e.deliver(t, rec{oclc: "1", title: "Before"})
			before := e.stats(t)
			repair := tc.breakIt(t, e)
			r := rec{oclc: "2", title: "During the outage", notes: big}
			exp := export(r.item(t))
			exp.Canary = tc.canary
			res := e.sink.Deliver(bg, exp)[0]
			if repair != nil {
				repair()
			}
			want(t, res, exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseStorage, "")
			if res.Outcome.Succeeded() || !strings.Contains(res.Detail, tc.wantText) {
				t.Errorf("detail = %q, want it to mention %q", res.Detail, tc.wantText)
			}
			after := e.stats(t)
			if after != before {
				t.Errorf("a failed write changed the catalog: %+v -> %+v", before, after)
			}
			// Once the database is writable again the same export works.
			if repair != nil && !tc.canary {
				want(t, e.deliver(t, r), exportlog.OutcomeAdded, "", "", "000000002")
				e.check(t)
			}
		})
	}
	t.Run("closed database", func(t *testing.T) {
		e := newSinkEnv(t, receiver.CatalogConfig{})
		e.db.Close()
		for i := range 20 { // Close racing the queue used to hang a write now and then
			res := e.deliver(t, rec{oclc: fmt.Sprint(i + 1), title: "After close"})
			want(t, res, exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseStorage, "")
		}
	})
}

// TestCatalogSinkRacingExports sends the same record from many
// connections at once: exactly one may be added.
func TestCatalogSinkRacingExports(t *testing.T) {
	const n = 64
	for _, tc := range []struct {
		name    string
		policy  receiver.DuplicatePolicy
		vary    bool // each export with different content (same OCLC number)
		rest    exportlog.Outcome
		records int64
	}{
		{"identical, skip", receiver.DuplicateSkip, false, exportlog.OutcomeDuplicate, 1},
		{"identical, overlay", receiver.DuplicateOverlay, false, exportlog.OutcomeDuplicate, 1},
		{"identical, mark-deleted", receiver.DuplicateMarkDeleted, false, exportlog.OutcomeDuplicate, n},
		{"edited copies", receiver.DuplicateSkip, true, exportlog.OutcomeMerged, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSinkEnv(t, receiver.CatalogConfig{Duplicates: receiver.Duplicates{Policy: tc.policy}})
			items := make([]*receiver.Item, n)
			for i := range items {
				r := rec{oclc: "777", title: "Raced"}
				if tc.vary {
					r.title = fmt.Sprintf("Raced, edit %d", i)
				}
				items[i] = r.item(t)
			}
			results := make([]receiver.Result, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range items {
				wg.Go(func() {
					<-start
					results[i] = e.sink.Deliver(bg, export(items[i]))[0]
				})
			}
			close(start)
			wg.Wait()
			count := map[exportlog.Outcome]int{}
			for _, r := range results {
				count[r.Outcome]++
			}
			if count[exportlog.OutcomeAdded] != 1 || count[tc.rest] != n-1 {
				t.Fatalf("outcomes = %v, want 1 added and %d %s", count, n-1, tc.rest)
			}
			live, err := e.cat.FindByOCLC(bg, "777")
			if err != nil {
				t.Fatal(err)
			}
			var notDeleted int
			for _, s := range live {
				if !s.Deleted {
					notDeleted++
				}
			}
			if notDeleted != 1 || int64(len(live)) != tc.records {
				t.Errorf("records with the number: %d (%d not deleted), want %d (1)", len(live), notDeleted, tc.records)
			}
			e.check(t)
		})
	}
}
