package receiver

import (
	"context"
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

// catalogEnv is the whole import path: a raw Connexion-style client, the
// gateway.Server, the receiver, the embedded catalog sink, the catalog
// and the export log in one database.
func catalogEnv(t *testing.T, dup Duplicates) (*env, *catalog.Catalog) {
	t.Helper()
	e := newEnv(t, Config{Sink: &nopSink{}, TargetPrefix: "(HVD01)"})
	cat, err := catalog.Open(context.Background(), e.db, catalog.Options{LibraryCode: "HVD01"})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := NewCatalogSink(CatalogConfig{Catalog: cat, Duplicates: dup, Holdings: []string{"HVDA", "HVDB"}})
	if err != nil {
		t.Fatal(err)
	}
	e.rcv.cfg.Sink = sink
	e.serve(t)
	return e, cat
}

func stored(t *testing.T, cat *catalog.Catalog, sysno string) *marc.Record {
	t.Helper()
	n, err := catalog.ParseSystemNumber(sysno, "HVD01")
	if err != nil {
		t.Fatal(err)
	}
	entry, err := cat.Get(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	r, err := entry.Record()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCatalogEndToEnd(t *testing.T) {
	e, cat := catalogEnv(t, DefaultDuplicates)
	send := func(records ...[]byte) string {
		t.Helper()
		msg, err := gateway.AppendRequest(nil, &gateway.Request{User: "cat1", Records: records})
		if err != nil {
			t.Fatal(err)
		}
		return rawExport(t, e.addr, msg)
	}

	// A MARC-8 export is added, with its diacritics right in the catalog.
	marc8 := record(t, ' ',
		ctl("001", "ocm00012345 "), ctl("003", "OCoLC"), ctl("005", "20260302104200.0"),
		dat("035", "  ", "a", "(OCoLC)12345"),
		dat("040", "  ", "a", "DLC", "b", "eng", "c", "DLC"),
		dat("049", "  ", "a", "HVDA"),
		dat("100", "1 ", "a", "Bront\xE8e, \xE2Emilie,", "d", "1818-1848."),
		dat("245", "10", "a", "Wuthering Heights /", "c", "by \xE2Emilie Bront\xE8e."))
	reply := send(marc8)
	if !strings.HasPrefix(reply, "Added to the catalog as system number 000000001 (OCLC #12345).") {
		t.Fatalf("first export: %q", reply)
	}
	r := stored(t, cat, "000000001")
	if got := r.SubfieldValue("100", 'a'); got != "Bronte\u0308, E\u0301milie," || r.Leader[marc.CharCodingPos] != 'a' {
		t.Fatalf("stored 100 $a %q, leader/09 %q", got, r.Leader[marc.CharCodingPos])
	}

	// The same export again (Connexion's Retries): skipped, and said so.
	reply = send(marc8)
	if !strings.HasPrefix(reply, "Already received: this record (OCLC #12345) was received as system number 000000001 at ") ||
		!strings.Contains(reply, "Do not export this record again.") {
		t.Fatalf("repeat: %q", reply)
	}

	// A French-cataloged record targeting 000000001: merged, with 035 and
	// 040 gone, leader/17 '5' and 049 untouched.
	fre := record(t, 'a',
		ctl("001", "ocn987654321"), ctl("003", "OCoLC"),
		dat("035", "  ", "a", "(HVD01)000000001"),
		dat("040", "  ", "a", "FRBNF", "b", "fre", "c", "FRBNF"),
		dat("049", "  ", "a", "HVDA"),
		dat("245", "10", "a", "Les hauts de Hurle-Vent."))
	reply = send(fre)
	if !strings.HasPrefix(reply, "Merged with system number 000000001 (OCLC #987654321), the record your 035 (HVD01)000000001 targeted") {
		t.Fatalf("targeted export: %q", reply)
	}
	r = stored(t, cat, "000000001")
	if len(r.FieldsByTag("035", "040")) != 0 || r.Leader[marc.EncodingLevelPos] != '5' || r.SubfieldValue("049", 'a') != "HVDA" {
		t.Fatalf("stored after the 040 rule: fields %s, leader %q", tags(r), r.Leader)
	}

	// Targeting a record that does not exist changes nothing.
	missing := engRecord(t, "555", "Missing", dat("035", "  ", "a", "(HVD01)000000999"))
	reply = send(missing)
	if !strings.HasPrefix(reply, "Not imported (OCLC #555): your 035 (HVD01)000000999 names a local record that does not exist.") {
		t.Fatalf("missing target: %q", reply)
	}

	// Several records in one request, one of them broken.
	broken := []byte("00026nam a2200025   4500x\x1d")
	reply = send(engRecord(t, "777", "Seven"), broken, engRecord(t, "888", "Eight"))
	lines := strings.Split(strings.TrimSpace(reply), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "Record 1 of 3: Added to the catalog as system number 000000002 (OCLC #777)") ||
		!strings.HasPrefix(lines[1], "Record 2 of 3: Not imported: the record is not valid MARC") ||
		!strings.HasPrefix(lines[2], "Record 3 of 3: Added to the catalog as system number 000000003 (OCLC #888)") {
		t.Fatalf("several records:\n%s", reply)
	}

	// The export log saw every attempt, with the catalog as target.
	want := []struct {
		outcome exportlog.Outcome
		sysno   string
	}{
		{exportlog.OutcomeAdded, "000000001"}, {exportlog.OutcomeDuplicate, "000000001"}, {exportlog.OutcomeMerged, "000000001"},
		{exportlog.OutcomeRejected, ""}, {exportlog.OutcomeAdded, "000000002"}, {exportlog.OutcomeRejected, ""}, {exportlog.OutcomeAdded, "000000003"},
	}
	as := e.attempts(t)
	if len(as) != len(want) {
		t.Fatalf("%d attempts, want %d", len(as), len(want))
	}
	for i, w := range want {
		if as[i].Outcome != w.outcome || as[i].SystemNumber != w.sysno || as[i].Target != CatalogSinkName {
			t.Errorf("attempt %d: %s %q %s, want %s %q", i+1, as[i].Outcome, as[i].SystemNumber, as[i].Target, w.outcome, w.sysno)
		}
	}
}

func TestCatalogEndToEndMarkDeleted(t *testing.T) {
	e, cat := catalogEnv(t, Duplicates{Policy: DuplicateMarkDeleted})
	rec := engRecord(t, "4242", "Twice")
	c := &gateway.Client{Addr: e.addr}
	if _, err := c.Export(context.Background(), "cat1", "", rec); err != nil {
		t.Fatal(err)
	}
	reply, err := c.Export(context.Background(), "cat1", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reply, "Received again: this record (OCLC #4242) was already received as system number 000000001 at ") ||
		!strings.Contains(reply, "This copy was stored as system number 000000002 and marked DELETED (STA).") {
		t.Fatalf("reply %q", reply)
	}
	r := stored(t, cat, "000000002")
	if sta := r.Field("STA"); sta == nil || sta.SubfieldValue('a') != "DELETED" {
		t.Fatalf("the repeat is not marked STA DELETED: %s", tags(r))
	}
}
