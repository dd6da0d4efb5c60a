package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/marc"
)

// seedCatalog exports two records through the receiver, overlays the first
// with a second export, and stores one record twice directly in the
// catalog (a duplicate pair).
func seedCatalog(t *testing.T, ae *adminEnv) {
	t.Helper()
	ae.with(func(a *app) {
		ctx := context.Background()
		exportThrough(t, a, "alice", "", testRecord(t, "11111111", "Müller, Hans.", "Café society"))
		exportThrough(t, a, "bob", "", testRecord(t, "22222222", "Tolstoy, Leo.", "War and peace"))
		exportThrough(t, a, "carol", "", testRecord(t, "11111111", "Müller, Hans.", "Café society", "Revised by carol."))
		list, err := a.exports.List(ctx, exportlog.Filter{})
		if err != nil || len(list) != 3 || list[0].Outcome != exportlog.OutcomeMerged {
			t.Fatalf("seed: the second export of 11111111 should have merged: %v %+v", err, list)
		}
		for range 2 {
			rec, err := marc.Decode(testRecord(t, "33333333", "Austen, Jane.", "Emma"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.catalog.Prepare(catalog.Input{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.catalog.Write(ctx, func(tx *catalog.Txn) error {
				_, err := tx.Insert(ctx, p)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestCatalogSearch(t *testing.T) {
	ae := newAdminEnv(t, "")
	seedCatalog(t, ae)

	out := ae.mustRun("catalog", "search", "muller", "cafe")
	if !strings.Contains(out, "HVD01 000000001") || !strings.Contains(out, "Café society") || strings.Contains(out, "War and peace") {
		t.Errorf("search muller cafe (diacritics ignored):\n%s", out)
	}
	if !strings.Contains(out, "11111111  2 ") {
		t.Errorf("search should show the OCLC number and version 2 of the overlaid record:\n%s", out)
	}
	if out := ae.mustRun("catalog", "search", "(OCoLC)22222222"); !strings.Contains(out, "HVD01 000000002") || strings.Count(out, "\n") != 2 {
		t.Errorf("search by OCLC number:\n%s", out)
	}
	if out := ae.mustRun("catalog", "search", "HVD01 000000002"); !strings.Contains(out, "War and peace") {
		t.Errorf("search by system number:\n%s", out)
	}
	if out := ae.mustRun("catalog", "search", "zanzibar"); strings.TrimSpace(out) != `no records match "zanzibar"` {
		t.Errorf("search with no match: %q", out)
	}
	var hits []catalogRecordJSON
	if err := json.Unmarshal([]byte(ae.mustRun("catalog", "search", "--json", "tolstoy")), &hits); err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].SystemNumber != "000000002" || hits[0].Display != "HVD01 000000002" ||
		hits[0].Match != string(catalog.MatchText) || hits[0].OCLCNumber != "22222222" || hits[0].Holdings[0] != "HVDA" {
		t.Errorf("search --json: %+v", hits)
	}
	if _, _, code := ae.run("catalog", "search"); code != exitUsage {
		t.Errorf("search without a query: exit %d, want %d", code, exitUsage)
	}
}

func TestCatalogShow(t *testing.T) {
	ae := newAdminEnv(t, "")
	seedCatalog(t, ae)

	out := ae.mustRun("catalog", "show", "1")
	if !strings.HasPrefix(out, "=LDR  ") || !strings.Contains(out, "=245  10$aCafé society\n") || !strings.Contains(out, "=500  \\\\$aRevised by carol.") {
		t.Errorf("show 1 (mrk, current version):\n%s", out)
	}
	// The same record, however the number is written; flags after it.
	for _, args := range [][]string{{"HVD01", "000000001"}, {"(HVD01)000000001"}, {"000000001", "--format", "mrk"}} {
		if got := ae.mustRun(append([]string{"catalog", "show"}, args...)...); got != out {
			t.Errorf("show %v differs from show 1:\n%s", args, got)
		}
	}

	hist := ae.mustRun("catalog", "show", "1", "--history")
	v1, v2, ok := strings.Cut(hist, "# HVD01 000000001 version 2 of 2: overlay")
	if !ok || !strings.HasPrefix(v1, "# HVD01 000000001 version 1 of 2: added") || !strings.Contains(v1, "by alice") || !strings.Contains(v2, "by carol") {
		t.Fatalf("show --history:\n%s", hist)
	}
	if strings.Contains(v1, "Revised by carol") || !strings.Contains(v2, "Revised by carol") {
		t.Errorf("version 1 should be the record before the overlay:\n%s", hist)
	}

	x := ae.mustRun("catalog", "show", "1", "--format", "xml")
	var coll struct {
		Records []struct {
			Fields []struct {
				Tag       string `xml:"tag,attr"`
				Subfields []struct {
					Code  string `xml:"code,attr"`
					Value string `xml:",chardata"`
				} `xml:"subfield"`
			} `xml:"datafield"`
		} `xml:"record"`
	}
	if err := xml.Unmarshal([]byte(x), &coll); err != nil || len(coll.Records) != 1 {
		t.Fatalf("show --format xml is not one MARCXML record (%v):\n%s", err, x)
	}
	found := false
	for _, f := range coll.Records[0].Fields {
		if f.Tag == "245" && len(f.Subfields) > 0 && f.Subfields[0].Value == "Café society" {
			found = true
		}
	}
	if !found {
		t.Errorf("MARCXML lacks 245 $a Café society:\n%s", x)
	}
	if j := ae.mustRun("catalog", "show", "1", "--format", "json"); !json.Valid([]byte(j)) || !strings.Contains(j, "Café society") {
		t.Errorf("show --format json:\n%s", j)
	}
	if l := ae.mustRun("catalog", "show", "2", "--format", "line"); !strings.Contains(l, "245 10 $a War and peace") {
		t.Errorf("show --format line:\n%s", l)
	}

	if _, errOut, code := ae.run("catalog", "show", "99"); code != exitFailure || !strings.Contains(errOut, "no record HVD01 000000099") {
		t.Errorf("show 99: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := ae.run("catalog", "show", "XYZ99 12"); code != exitUsage || !strings.Contains(errOut, "is not a system number") {
		t.Errorf("show of another library's number: exit %d, stderr %q", code, errOut)
	}
	if _, _, code := ae.run("catalog", "show", "1", "--format", "pdf"); code != exitUsage {
		t.Errorf("show --format pdf: exit %d, want %d", code, exitUsage)
	}
}

func TestCatalogDuplicatesAndStats(t *testing.T) {
	ae := newAdminEnv(t, "")
	seedCatalog(t, ae)

	out := ae.mustRun("catalog", "duplicates")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "33333333") || !strings.Contains(lines[1], "HVD01 000000003") ||
		!strings.Contains(lines[2], "HVD01 000000004") || !strings.Contains(lines[2], "Emma") || lines[3] != "1 group sharing an OCLC number" {
		t.Errorf("duplicates:\n%s", out)
	}
	var groups []struct {
		OCLCNumber string              `json:"oclc_number"`
		Records    []catalogRecordJSON `json:"records"`
	}
	if err := json.Unmarshal([]byte(ae.mustRun("catalog", "duplicates", "--json")), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].OCLCNumber != "33333333" || len(groups[0].Records) != 2 {
		t.Errorf("duplicates --json: %+v", groups)
	}

	st := ae.mustRun("catalog", "stats")
	for _, want := range []string{"records:             4 (0 marked deleted)", "versions:            5", "(1 carried by more than one record)", "last system number:  HVD01 000000004"} {
		if !strings.Contains(st, want) {
			t.Errorf("stats lacks %q:\n%s", want, st)
		}
	}
}

func TestCatalogNoDuplicates(t *testing.T) {
	ae := newAdminEnv(t, "")
	ae.with(func(a *app) {
		exportThrough(t, a, "alice", "", testRecord(t, "11111111", "Müller, Hans.", "Café society"))
	})
	if out := ae.mustRun("catalog", "duplicates"); !strings.HasPrefix(out, "no duplicates") {
		t.Errorf("duplicates in a catalog without any: %q", out)
	}
}
