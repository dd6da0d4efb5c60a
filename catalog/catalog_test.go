package catalog

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/marc"
)

var ctx = context.Background()

func TestInsertStoresRecordOriginalAndVersion(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	rec := bib{oclc: "ocm00012345", author: "Doe, Jane", title: "The title of the book", holdings: []string{"hvda"}}.record()
	m8, err := marc.ToMARC8(rec)
	if err != nil {
		t.Fatal(err)
	}
	original, err := marc.Encode(m8)
	if err != nil {
		t.Fatal(err)
	}
	src := Source{Time: clk.Now().Add(-time.Second), User: "jdoe", RequestID: 7, RemoteAddr: "10.0.0.5:51234"}
	p := prepare(t, c, Input{Record: rec, Original: original, Source: src})
	var n SystemNumber
	if err := c.Write(ctx, func(tx *Txn) error {
		n, err = tx.Insert(ctx, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("first system number = %d, want 1", n)
	}
	e, err := c.Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecord(got, rec) {
		t.Errorf("stored record differs:\n got %s\nwant %s", marc.AppendMnemonic(nil, got), marc.AppendMnemonic(nil, rec))
	}
	if !bytes.Equal(e.Original, original) {
		t.Error("original bytes not kept")
	}
	if e.OCLCNumber != "12345" || !slices.Equal(e.OCLCNumbers, []string{"12345"}) {
		t.Errorf("OCLC numbers = %q %q, want 12345", e.OCLCNumber, e.OCLCNumbers)
	}
	if e.Title != "The title of the book" || e.Author != "Doe, Jane" {
		t.Errorf("title, author = %q, %q", e.Title, e.Author)
	}
	if !slices.Equal(e.Holdings, []string{"HVDA"}) || !e.Holds("HVDA") || !e.Holds(" hvda ") || e.Holds("HVDB") {
		t.Errorf("holdings = %q", e.Holdings)
	}
	if e.Version != 1 || e.Deleted || !e.Created.Equal(src.Time) || !e.Received.Equal(src.Time) {
		t.Errorf("summary = %+v", e.Summary)
	}
	h, err := c.History(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Number != 1 || h[0].Reason != ReasonAdded || h[0].Source != src || !bytes.Equal(h[0].Original, original) {
		t.Errorf("history = %+v", h)
	}
	mustCheck(t, c)
}

func TestOverlayKeepsEveryVersion(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	v1 := bib{oclc: "ocm00012345", author: "Doe, Jane", title: "First draft title"}
	n := insert(t, c, v1)
	clk.Advance(time.Minute)
	v2 := bib{oclc: "ocn000067890", f019: []string{"12345"}, author: "Doe, Jane", title: "Corrected title", subjects: []string{"Whales"}}
	if got := overlay(t, c, n, v2); got != 2 {
		t.Fatalf("overlay version = %d, want 2", got)
	}
	clk.Advance(time.Minute)
	v3 := bib{oclc: "ocn000067890", author: "Roe, John", title: "Final title"}
	if got := overlay(t, c, n, v3); got != 3 {
		t.Fatalf("overlay version = %d, want 3", got)
	}

	h, err := c.History(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	want := []bib{v1, v2, v3}
	if len(h) != len(want) {
		t.Fatalf("history has %d versions, want %d", len(h), len(want))
	}
	for i, ver := range h {
		r, err := ver.Record()
		if err != nil {
			t.Fatal(err)
		}
		if !sameRecord(r, want[i].record()) {
			t.Errorf("version %d is not the record as stored then", i+1)
		}
		wantReason := ReasonOverlay
		if i == 0 {
			wantReason = ReasonAdded
		}
		if ver.Number != i+1 || ver.Reason != wantReason {
			t.Errorf("version %d: number %d reason %s", i+1, ver.Number, ver.Reason)
		}
	}
	if !h[2].Source.Time.After(h[1].Source.Time) {
		t.Error("versions not stamped with their time")
	}

	e, err := c.Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if e.Version != 3 || e.Title != "Final title" || e.OCLCNumber != "67890" {
		t.Errorf("current = %+v", e.Summary)
	}
	// The index follows the current version only.
	if ss, _ := c.FindByOCLC(ctx, "12345"); len(ss) != 0 {
		t.Errorf("old OCLC number still indexed: %v", sysnos(ss))
	}
	if ss, _ := c.FindByOCLC(ctx, "67890"); !slices.Equal(sysnos(ss), []SystemNumber{n}) {
		t.Errorf("new OCLC number not indexed: %v", sysnos(ss))
	}
	for q, found := range map[string]bool{"draft": false, "corrected": false, "whales": false, "final": true, "roe": true} {
		hits, err := c.Search(ctx, q, 0)
		if err != nil {
			t.Fatal(err)
		}
		if (len(hits) == 1) != found {
			t.Errorf("search %q: %d hits, want found=%v", q, len(hits), found)
		}
	}
	mustCheck(t, c)
}

func TestOverlayMissingRecord(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	p := prepare(t, c, bib{title: "x"}.input())
	err := c.Write(ctx, func(tx *Txn) error { _, err := tx.Overlay(ctx, 42, p); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("overlay of a missing record: %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := c.History(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Fatalf("history missing: %v", err)
	}
}

func TestMarkDeleted(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	b := bib{oclc: "ocm00012345", author: "Doe, Jane", title: "Twice exported"}
	n := insert(t, c, b)
	clk.Advance(time.Second)
	src := Source{User: "jdoe", RequestID: 9}
	var ver int
	if err := c.Write(ctx, func(tx *Txn) error {
		var err error
		ver, err = tx.MarkDeleted(ctx, n, src)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if ver != 2 {
		t.Fatalf("version after marking = %d, want 2", ver)
	}
	e, err := c.Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := e.Record()
	want := b.record()
	want.AppendField(marc.Field{Tag: "STA", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "DELETED"}}})
	if !sameRecord(r, want) {
		t.Errorf("marked record:\n%s", marc.AppendMnemonic(nil, r))
	}
	if !e.Deleted || e.Version != 2 || !e.Updated.Equal(clk.Now()) || e.Received.Equal(clk.Now()) {
		t.Errorf("summary = %+v", e.Summary)
	}
	h, _ := c.History(ctx, n)
	if len(h) != 2 || h[1].Reason != ReasonMarkDeleted || h[1].Source.User != "jdoe" || !bytes.Equal(h[1].Original, h[0].Original) {
		t.Errorf("history = %+v", h)
	}
	// Marking again changes nothing.
	if err := c.Write(ctx, func(tx *Txn) error {
		var err error
		ver, err = tx.MarkDeleted(ctx, n, src)
		return err
	}); err != nil || ver != 2 {
		t.Fatalf("second mark: version %d, %v", ver, err)
	}
	// Still findable by people, flagged.
	hits, err := c.Search(ctx, "twice exported", 0)
	if err != nil || len(hits) != 1 || !hits[0].Deleted {
		t.Fatalf("search after marking: %+v, %v", hits, err)
	}
	// Overlaying with an unmarked record brings it back.
	overlay(t, c, n, b)
	if s, _ := c.Summary(ctx, n); s.Deleted {
		t.Error("overlay did not clear the deletion flag")
	}
	mustCheck(t, c)
}

func TestSystemNumbersIncreaseAndAreNeverReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, d, Options{FirstSystemNumber: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var got []SystemNumber
	for i := range 3 {
		got = append(got, insert(t, c, bib{title: "Record", author: string(rune('A' + i))}))
	}
	// A write that fails after allocating leaves no record behind.
	boom := errors.New("boom")
	p := prepare(t, c, bib{title: "Rolled back"}.input())
	if err := c.Write(ctx, func(tx *Txn) error {
		if _, err := tx.Insert(ctx, p); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	d.Close()

	d = openDB(t, path)
	c, err = Open(ctx, d, Options{FirstSystemNumber: 1})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, insert(t, c, bib{title: "After reopening"}))
	if want := []SystemNumber{1000, 1001, 1002, 1003}; !slices.Equal(got, want) {
		t.Fatalf("system numbers = %v, want %v", got, want)
	}
	if hits, _ := c.Search(ctx, "rolled back", 0); len(hits) != 0 {
		t.Errorf("rolled-back record found: %v", hitNumbers(hits))
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSystemNumber != 1003 || st.Records != 4 {
		t.Errorf("stats = %+v", st)
	}
	mustCheck(t, c)
}

func TestSystemNumbersRunOut(t *testing.T) {
	c, _ := mustOpen(t, Options{FirstSystemNumber: MaxSystemNumber})
	if n := insert(t, c, bib{title: "Last"}); n != MaxSystemNumber {
		t.Fatalf("number = %d", n)
	}
	p := prepare(t, c, bib{title: "One too many"}.input())
	err := c.Write(ctx, func(tx *Txn) error { _, err := tx.Insert(ctx, p); return err })
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("insert past the last number: %v, want ErrExhausted", err)
	}
}

func TestOCLCIndexNormalises(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	a := insert(t, c, bib{oclc: "ocm00012345 ", extra035: []string{"(OCoLC)ocn000067890", "(OCoLC)12345", "(DLC)   85012345", "(OCoLC)12345 (print)"}, f019: []string{"111", "00222"}, title: "A"})
	b := insert(t, c, bib{oclc: "on1234567890", title: "B"})
	e, err := c.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"12345", "111", "222", "67890"}; !slices.Equal(e.OCLCNumbers, want) {
		t.Errorf("indexed numbers = %q, want %q (primary first)", e.OCLCNumbers, want)
	}
	for _, q := range []string{"12345", "(OCoLC)12345", "ocm00012345", "(OCoLC)ocm00012345", "67890", "ocn000067890", "111", "000222"} {
		ss, err := c.FindByOCLC(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sysnos(ss), []SystemNumber{a}) {
			t.Errorf("FindByOCLC(%q) = %v, want [%d]", q, sysnos(ss), a)
		}
	}
	if ss, _ := c.FindByOCLC(ctx, "85012345"); len(ss) != 0 {
		t.Errorf("a DLC control number was indexed as an OCLC number")
	}
	if ss, _ := c.FindByOCLC(ctx, "1234567890", "12345", "not a number"); !slices.Equal(sysnos(ss), []SystemNumber{a, b}) {
		t.Errorf("FindByOCLC of several = %v", sysnos(ss))
	}
	// Numbers given by the caller (taken before the import rules removed
	// the 035s) are what is indexed.
	p := prepare(t, c, Input{Record: bib{title: "C"}.record(), OCLCNumber: "(OCoLC)555", OCLCNumbers: []string{"ocm00000555", "666"}})
	if p.OCLCNumber() != "555" || !slices.Equal(p.OCLCNumbers(), []string{"555", "666"}) {
		t.Errorf("prepared numbers = %q %q", p.OCLCNumber(), p.OCLCNumbers())
	}
}

func TestFindRepeat(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	b := bib{oclc: "ocm00012345", title: "Exported twice"}
	in := b.input()
	in.Hash = "h1"
	p := prepare(t, c, in)
	var first, second SystemNumber
	err := c.Write(ctx, func(tx *Txn) error {
		var err error
		if first, err = tx.Insert(ctx, p); err != nil {
			return err
		}
		// Reads inside the transaction see its own writes.
		s, err := tx.FindRepeat(ctx, "ocm00012345", "h1", clk.Now().Add(-time.Hour))
		if err != nil {
			return err
		}
		if s == nil || s.SystemNumber != first {
			t.Errorf("FindRepeat inside the write = %+v", s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	p2 := prepare(t, c, in)
	if err := c.Write(ctx, func(tx *Txn) error {
		var err error
		if second, err = tx.Insert(ctx, p2); err != nil {
			return err
		}
		_, err = tx.MarkDeleted(ctx, second, Source{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	since := clk.Now().Add(-time.Hour)
	s, err := c.FindRepeat(ctx, "12345", "h1", since)
	if err != nil || s == nil || s.SystemNumber != first {
		t.Fatalf("FindRepeat = %+v, %v; want the copy not marked deleted (%d)", s, err, first)
	}
	for name, args := range map[string][3]any{
		"other hash":     {"12345", "h2", since},
		"other number":   {"99", "h1", since},
		"outside window": {"12345", "h1", clk.Now().Add(time.Second)},
		"no number":      {"", "h1", since},
	} {
		s, err := c.FindRepeat(ctx, args[0].(string), args[1].(string), args[2].(time.Time))
		if err != nil || s != nil {
			t.Errorf("%s: FindRepeat = %+v, %v; want none", name, s, err)
		}
	}
}

func TestPrepareRefusesWhatCannotBeStored(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	marc8 := bib{title: "x"}.record()
	marc8.Leader[9] = ' '
	badUTF8 := bib{title: "caf\xe9"}.record()
	long := bib{title: "x"}.record()
	for range 30 {
		long.AddField(marc.Field{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: string(bytes.Repeat([]byte("n"), 4000))}}})
	}
	for name, in := range map[string]Input{
		"no record":     {},
		"MARC-8":        {Record: marc8},
		"invalid UTF-8": {Record: badUTF8},
		"too long":      {Record: long},
		"bad number":    {Record: bib{title: "x"}.record(), OCLCNumber: "12a"},
	} {
		if _, err := c.Prepare(in); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: Prepare = %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestContentHashIgnores005(t *testing.T) {
	a := bib{oclc: "ocm1", title: "Same"}.record()
	b := a.Clone()
	b.Field("005").Value = "20260303090000.0"
	if ContentHash(a) != ContentHash(b) {
		t.Error("hash changed with 005")
	}
	b.Field("245").Subfields[0].Value = "Other /"
	if ContentHash(a) == ContentHash(b) {
		t.Error("hash did not change with the title")
	}
}

func TestDuplicatesView(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	a := insert(t, c, bib{oclc: "ocm00000100", f019: []string{"200"}, title: "A"})
	clk.Advance(time.Second)
	b := insert(t, c, bib{oclc: "ocm00000100", f019: []string{"200"}, title: "B"}) // shares 100 and 200 with a
	clk.Advance(time.Second)
	insert(t, c, bib{oclc: "ocm00000300", title: "Alone"})
	clk.Advance(time.Second)
	d := insert(t, c, bib{oclc: "ocm00000400", title: "D"})
	clk.Advance(time.Second)
	e := insert(t, c, bib{oclc: "ocm00000400", title: "E"})
	if err := c.Write(ctx, func(tx *Txn) error { _, err := tx.MarkDeleted(ctx, e, Source{}); return err }); err != nil {
		t.Fatal(err)
	}

	groups, err := c.Duplicates(ctx, DuplicatesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || !slices.Equal(sysnos(groups[0].Records), []SystemNumber{a, b}) {
		t.Fatalf("duplicates = %+v, want one group {%d %d}", groups, a, b)
	}
	all, err := c.Duplicates(ctx, DuplicatesOptions{IncludeDeleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].OCLCNumber != "400" || !slices.Equal(sysnos(all[0].Records), []SystemNumber{d, e}) {
		t.Fatalf("duplicates with deleted = %+v, want the 400 group first (latest change)", all)
	}
	if one, _ := c.Duplicates(ctx, DuplicatesOptions{IncludeDeleted: true, Limit: 1}); len(one) != 1 {
		t.Errorf("limit 1 gave %d groups", len(one))
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Records: 5, Deleted: 1, Versions: 6, OCLCNumbers: 4, DuplicateNumbers: 2, LastSystemNumber: e, LastChange: clk.Now()}
	if st != want {
		t.Errorf("stats = %+v\nwant %+v", st, want)
	}
}

func TestCheckFindsHalfWrittenRecords(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	a := insert(t, c, bib{oclc: "ocm1", title: "Whole"})
	b := insert(t, c, bib{oclc: "ocm2", title: "Damaged"})
	mustCheck(t, c)
	rawExec(t, c, `DELETE FROM catalog_fts WHERE rowid = ?`, b)
	rawExec(t, c, `DELETE FROM catalog_oclc WHERE sysno = ?`, b)
	rawExec(t, c, `INSERT INTO catalog_records (sysno, version, oclc, hash, title, author, holdings, deleted, created_ns, received_ns, updated_ns)
		VALUES (77, 1, '', '', '', '', '', 0, 1, 1, 1)`)
	probs, err := c.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[SystemNumber]int{}
	for _, p := range probs {
		got[p.SystemNumber]++
	}
	if got[a] != 0 || got[b] != 2 || got[77] < 3 {
		t.Errorf("problems = %v", probs)
	}
}

func TestCanaryDryRunLeavesOnlyTheHeartbeat(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	insert(t, c, bib{oclc: "ocm1", title: "Existing"})
	before, _ := c.Stats(ctx)
	p := prepare(t, c, bib{oclc: "ocm2", title: "Canary"}.input())
	var inside SystemNumber
	err := c.Write(ctx, func(tx *Txn) error {
		return tx.DryRun(ctx, func() error {
			var err error
			inside, err = tx.Insert(ctx, p)
			if err != nil {
				return err
			}
			_, err = tx.Overlay(ctx, 1, p)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != 2 {
		t.Errorf("dry-run insert got number %d", inside)
	}
	after, _ := c.Stats(ctx)
	if after.Canaries != 1 || !after.LastCanary.Equal(clk.Now()) {
		t.Errorf("heartbeat = %d at %v", after.Canaries, after.LastCanary)
	}
	after.Canaries, after.LastCanary = 0, time.Time{}
	if after != before {
		t.Errorf("dry run left changes: %+v, before %+v", after, before)
	}
	if hits, _ := c.Search(ctx, "canary", 0); len(hits) != 0 {
		t.Error("dry-run record is searchable")
	}
	// The next real record gets the number the dry run used: it was never
	// given to anyone.
	if n := insert(t, c, bib{title: "Real"}); n != 2 {
		t.Errorf("next number = %d, want 2", n)
	}
}

// TestFailedWriteLeavesNoWords checks that a record's words, which are
// indexed at the end of the database's batch, go with the record when
// the write that stored it fails, and come with it when it succeeds.
func TestFailedWriteLeavesNoWords(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	boom := errors.New("rule refused it after all")
	p := prepare(t, c, bib{oclc: "ocm7", title: "Vanishing words"}.input())
	err := c.Write(ctx, func(tx *Txn) error {
		if _, err := tx.Insert(ctx, p); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the write's error", err)
	}
	if hits, _ := c.Search(ctx, "vanishing", 0); len(hits) != 0 {
		t.Fatalf("the failed write's record is searchable: %v", hits)
	}
	mustCheck(t, c)
	n := insert(t, c, bib{oclc: "ocm8", title: "Lasting words"})
	hits, err := c.Search(ctx, "lasting", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].SystemNumber != n {
		t.Fatalf("search after the commit = %+v, want record %s", hits, n)
	}
	mustCheck(t, c)
}
