package relay

import (
	"strings"
	"testing"
)

// TestDefaultPatternsClassifyRealReplies feeds the default rules the
// replies the open-source receivers send, as their source builds them.
func TestDefaultPatternsClassifyRealReplies(t *testing.T) {
	for _, tc := range []struct {
		source string // where the text comes from
		reply  string
		want   Verdict
		rule   string
		number string
	}{
		// Koha-Community/Koha misc/bin/connexion_import_daemon.pl, handle_request.
		{"koha: new record", "Success.  Batch number 17 - biblio record number 4242 added to Koha.\n\nhttp://librarian.koha/cgi-bin/koha/catalogue/detail.pl?biblionumber=4242",
			VerdictImported, "koha-success", "4242"},
		{"koha: overlay", "Success.  Batch number 18 - biblio record number 977 overlaid by import.\n\nhttp://librarian.koha/cgi-bin/koha/catalogue/detail.pl?biblionumber=977",
			VerdictImported, "koha-success", "977"},
		{"koha: staged, no biblionumber", "Success.  Batch number 19 - biblio record number  added to Koha.\n\n", VerdictImported, "koha-success", ""},
		{"koha: unparsable request", "Bad request", VerdictFailed, "koha-bad-request", ""},
		{"koha: HTTP call failed (expired session, bug 38382)", "Unsuccessful request", VerdictFailed, "koha-unsuccessful", ""},
		{"koha: unreadable svc response", "Invalid response", VerdictFailed, "koha-invalid-response", ""},
		{"koha: svc/import_bib error", "Invalid MARC record.  Please contact administrator.", VerdictFailed, "koha-error", ""},
		// folio-org/edge-connexion MainVerticle.handleRequest and MainVerticleTest.
		{"folio: ok", "Import ok\n", VerdictImported, "folio-success", ""},
		{"folio: login refused", "Error: /authn/login returned status 400\n", VerdictFailed, "folio-error", ""},
		{"folio: no api key", "Error: access denied\n", VerdictFailed, "folio-error", ""},
		{"folio: batch", "Error: One record expected in OCLC Connexion request\n", VerdictFailed, "folio-error", ""},
		{"folio: copycat refused", "Error: /copycat/imports returned status 400\n", VerdictFailed, "folio-error", ""},
		{"folio: key store", "Error: Error retrieving password\n", VerdictFailed, "folio-error", ""},
		// evergreen-library-system/Evergreen marc_stream_importer.pl, process_request.
		{"evergreen: imported", "Successfully imported 1 records using merge profile 'OCLC'\n", VerdictImported, "evergreen-success", ""},
		{"evergreen: profile name with an error word", "Successfully imported 1 records using merge profile 'Fix invalid 040'\n", VerdictImported, "evergreen-success", ""},
		{"evergreen: failed", "Failed to import 1 records\n", VerdictFailed, "evergreen-failed", ""},
		{"evergreen: mixed batch", "Successfully imported 1 records using merge profile ''\nFailed to import 1 records\n", VerdictFailed, "evergreen-failed", ""},
		{"evergreen: nothing imported, nothing failed", "", VerdictFailed, "empty", ""},
		// Aleph oclc_server, as library staff pages and Ex Libris articles quote it.
		{"aleph: added", "New record 000123456 added", VerdictImported, "aleph-added", "000123456"},
		{"aleph: merged with", "Record merged with 000271652", VerdictImported, "aleph-merged", "000271652"},
		{"aleph: log wording", "Input docx merged into ABC01.000271652\nEnd handling input record", VerdictImported, "aleph-merged", "000271652"},
		{"aleph: error", "Error - more than one match; record not added", VerdictFailed, "error", ""},
		{"aleph: alone", "End handling input record", VerdictUnrecognised, "unrecognised", ""},
		// oclcbot's own gateway (another oclcbot upstream).
		{"oclcbot: busy", "Error: the server is busy. Nothing was imported. Please try again in a minute.\n", VerdictFailed, "folio-error", ""},
		// Unknown texts are never taken for success.
		{"unknown", "Thank you", VerdictUnrecognised, "unrecognised", ""},
		{"blank", " \r\n", VerdictFailed, "empty", ""},
	} {
		t.Run(tc.source, func(t *testing.T) {
			c := DefaultPatterns().Classify(tc.reply)
			if c.Verdict != tc.want || c.Rule != tc.rule || c.SystemNumber != tc.number {
				t.Errorf("Classify(%q) = %v/%s/%q, want %v/%s/%q", tc.reply, c.Verdict, c.Rule, c.SystemNumber, tc.want, tc.rule, tc.number)
			}
		})
	}
}

func TestPatternOptions(t *testing.T) {
	p := DefaultPatterns()
	p.AcceptEmpty, p.AcceptUnrecognised = true, true
	if c := p.Classify(""); c.Verdict != VerdictImported {
		t.Errorf("AcceptEmpty: %v", c.Verdict)
	}
	if c := p.Classify("Thank you"); c.Verdict != VerdictImported {
		t.Errorf("AcceptUnrecognised: %v", c.Verdict)
	}
	if c := p.Classify("Error: no"); c.Verdict != VerdictFailed {
		t.Errorf("failure rules still apply: %v", c.Verdict)
	}
	r, err := NewRule("local-ok", true, `^Loaded as (?P<number>\d+)`)
	if err != nil {
		t.Fatal(err)
	}
	p = &Patterns{Rules: []Rule{r}}
	if c := p.Classify("Loaded as 77"); c.Verdict != VerdictImported || c.SystemNumber != "77" || c.Rule != "local-ok" {
		t.Errorf("custom rule: %+v", c)
	}
	if _, err := NewRule("bad", false, `(`); err == nil {
		t.Error("NewRule accepted an invalid expression")
	}
}

func TestClassifyReadsOnlyTheStart(t *testing.T) {
	p := DefaultPatterns()
	long := "Import ok\n" + strings.Repeat("x", 1<<20)
	if c := p.Classify(long); c.Verdict != VerdictImported {
		t.Errorf("long reply starting with success: %v", c.Verdict)
	}
	blank := strings.Repeat(" ", MaxClassifyBytes+1) + "Import ok"
	if c := p.Classify(blank); c.Verdict != VerdictUnrecognised {
		t.Errorf("reply blank as far as read: %v, want unrecognised (neither resent nor taken)", c.Verdict)
	}
}
