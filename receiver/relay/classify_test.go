package relay

import (
	"strings"
	"testing"
	"time"
)

// TestDefaultPatternsClassifyRealReplies feeds the default rules the
// replies the open-source receivers send, as their source builds them.
func TestDefaultPatternsClassifyRealReplies(t *testing.T) {
	for _, tc := range []struct {
		source  string // where the text comes from
		reply   string
		want    Verdict
		rule    string
		number  string
		elapsed time.Duration // since the relay started sending
	}{
		// Koha-Community/Koha misc/bin/connexion_import_daemon.pl, handle_request.
		{"koha: new record", "Success.  Batch number 17 - biblio record number 4242 added to Koha.\n\nhttp://librarian.koha/cgi-bin/koha/catalogue/detail.pl?biblionumber=4242",
			VerdictImported, "koha-success", "4242", 0},
		{"koha: overlay", "Success.  Batch number 18 - biblio record number 977 overlaid by import.\n\nhttp://librarian.koha/cgi-bin/koha/catalogue/detail.pl?biblionumber=977",
			VerdictImported, "koha-success", "977", 0},
		{"koha: staged, no biblionumber", "Success.  Batch number 19 - biblio record number  added to Koha.\n\n", VerdictImported, "koha-success", "", 0},
		{"koha: unparsable request", "Bad request", VerdictFailed, "koha-bad-request", "", 0},
		{"koha: HTTP call failed at once (Koha down, expired session: bug 38382)", "Unsuccessful request", VerdictFailed, "koha-unsuccessful", "", 50 * time.Millisecond},
		{"koha: HTTP call failed after its 10 s timeout", "Unsuccessful request", VerdictUncertain, "koha-unsuccessful", "", KohaHTTPTimeout},
		{"koha: connexion_user mismatch", "Unauthorized request", VerdictFailed, "koha-unauthorized", "", 0},
		{"koha: unreadable svc response", "Invalid response", VerdictFailed, "koha-invalid-response", "", 0},
		{"koha: svc/import_bib error", "Invalid MARC record.  Please contact administrator.", VerdictFailed, "koha-error", "", 0},
		// folio-org/edge-connexion MainVerticle.handleRequest and MainVerticleTest.
		{"folio: ok", "Import ok\n", VerdictImported, "folio-success", "", 0},
		{"folio: login refused", "Error: /authn/login returned status 400\n", VerdictFailed, "folio-error", "", 0},
		{"folio: no api key", "Error: access denied\n", VerdictFailed, "folio-error", "", 0},
		{"folio: batch", "Error: One record expected in OCLC Connexion request\n", VerdictFailed, "folio-error", "", 0},
		{"folio: copycat refused", "Error: /copycat/imports returned status 400\n", VerdictFailed, "folio-refused", "", 0},
		{"folio: key store", "Error: Error retrieving password\n", VerdictFailed, "folio-error", "", 0},
		{"folio: full login", "Error: Bad format of localUser\n", VerdictFailed, "folio-error", "", 0},
		{"folio: login refused (refresh-token client)", "Error: Login failed. POST /authn/login for tenant 'diku' and username 'dikuuser' returned status 400: Bad Request\n", VerdictFailed, "folio-error", "", 0},
		{"folio: copycat refused (ResponsePredicate)", "Error: Response status code 400 is not equal to 200: Bad request (bad MARC)\n", VerdictFailed, "folio-refused", "", 0},
		{"folio: Okapi down", "Error: Connection refused: localhost/127.0.0.1:9130\n", VerdictFailed, "folio-error", "", 0},
		{"folio: HTTP client idle timeout", "Error: Connection was closed\n", VerdictUncertain, "uncertain-error", "", 0},
		{"folio: gateway timeout", "Error: Response status code 504 is not equal to 200: Gateway Timeout\n", VerdictUncertain, "uncertain-error", "", 0},
		{"folio 1.0: gateway timeout", "Error: /copycat/imports returned status 504\n", VerdictUncertain, "uncertain-error", "", 0},
		// evergreen-library-system/Evergreen marc_stream_importer.pl.in
		// (2014 on), process_file.
		{"evergreen: imported", "Successfully imported 1 bib records using merge profile 'OCLC'\n", VerdictImported, "evergreen-success", "", 0},
		{"evergreen: authority", "Successfully imported 1 auth records using merge profile ''\n", VerdictImported, "evergreen-success", "", 0},
		{"evergreen: profile name with an error word", "Successfully imported 1 bib records using merge profile 'Fix invalid 040'\n", VerdictImported, "evergreen-success", "", 0},
		{"evergreen: failed", "Failed to import 1 bib records\n", VerdictFailed, "evergreen-failed", "", 0},
		// marc_stream_importer.pl (2010).
		{"evergreen 2010: imported", "Successfully imported 1 records using merge profile 'OCLC'\n", VerdictImported, "evergreen-success", "", 0},
		{"evergreen 2010: failed", "Failed to import 1 records\n", VerdictFailed, "evergreen-failed", "", 0},
		{"evergreen 2010 --noqueue: the NUL after the record counted as a broken record",
			"Successfully imported 1 records using merge profile ''\nFailed to import 1 records\n", VerdictImported, "evergreen-success", "", 0},
		{"evergreen: nothing imported, nothing failed", "", VerdictFailed, "empty", "", 0},
		// Aleph oclc_server, as library staff pages and Ex Libris articles quote it.
		{"aleph: added", "New record 000123456 added", VerdictImported, "aleph-added", "000123456", 0},
		{"aleph: merged with", "Record merged with 000271652", VerdictImported, "aleph-merged", "000271652", 0},
		{"aleph: log wording", "Input docx merged into ABC01.000271652\nEnd handling input record", VerdictImported, "aleph-merged", "000271652", 0},
		{"aleph: error", "Error - more than one match; record not added", VerdictFailed, "error", "", 0},
		{"aleph: alone", "End handling input record", VerdictUnrecognised, "unrecognised", "", 0},
		// oclcbot's own gateway (another oclcbot upstream).
		{"oclcbot: added", "Added to the catalog as system number 000000123 (OCLC #12345).\nNext: search the catalog by author or title to check for duplicates.\n",
			VerdictImported, "oclcbot-success", "000000123", 0},
		{"oclcbot: merged, second of two", "Record 2 of 2: Merged with system number 000000042 (OCLC #7), the record your 035 (HVD01)42 targeted: the catalog record now holds this export (the previous version is kept).",
			VerdictImported, "oclcbot-success", "000000042", 0},
		{"oclcbot: busy", "Error: the server is busy. Nothing was imported. Please try again in a minute.\n", VerdictFailed, "folio-error", "", 0},
		{"oclcbot: handler failed", "Error: the server failed while importing this export, so it may or may not have been saved. Do not export it again: tell your systems office, who can check.\n",
			VerdictUncertain, "uncertain-error", "", 0},
		// Unknown texts are never taken for success.
		{"unknown", "Thank you", VerdictUnrecognised, "unrecognised", "", 0},
		{"blank", " \r\n", VerdictFailed, "empty", "", 0},
	} {
		t.Run(tc.source, func(t *testing.T) {
			c := DefaultPatterns().ClassifyAfter(tc.reply, tc.elapsed)
			if c.Verdict != tc.want || c.Rule != tc.rule || c.SystemNumber != tc.number {
				t.Errorf("ClassifyAfter(%q, %v) = %v/%s/%q, want %v/%s/%q", tc.reply, tc.elapsed, c.Verdict, c.Rule, c.SystemNumber, tc.want, tc.rule, tc.number)
			}
			if tc.want == VerdictFailed {
				// Not knowing the time never makes a failure safer to resend.
				if c := DefaultPatterns().Classify(tc.reply); c.Verdict != VerdictFailed && c.Verdict != VerdictUncertain {
					t.Errorf("Classify(%q) = %v", tc.reply, c.Verdict)
				}
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

func TestUncertainRules(t *testing.T) {
	p := DefaultPatterns()
	// Without the time, Koha's "Unsuccessful request" may hide a record
	// stored after the daemon's timeout.
	if c := p.Classify("Unsuccessful request"); c.Verdict != VerdictUncertain {
		t.Errorf("Classify without a time: %v, want uncertain", c.Verdict)
	}
	if c := p.ClassifyAfter("Unsuccessful request", KohaHTTPTimeout-time.Millisecond); c.Verdict != VerdictFailed {
		t.Errorf("before Koha's timeout: %v, want failed", c.Verdict)
	}
	r, err := NewRule("slow-ils", false, `^Gave up`)
	if err != nil {
		t.Fatal(err)
	}
	r.Uncertain, r.UncertainAfter = true, time.Minute
	p = &Patterns{Rules: []Rule{r}}
	if c := p.ClassifyAfter("Gave up", time.Minute); c.Verdict != VerdictUncertain || c.Rule != "slow-ils" {
		t.Errorf("custom uncertain rule: %+v", c)
	}
	if VerdictUncertain.String() != "uncertain" {
		t.Errorf("String() = %q", VerdictUncertain.String())
	}
}

// TestRefusalRules: which failures say the ILS refused the record itself
// (set aside after MaxRefusals in a row) and which say the upstream or
// the path failed (retried for as long as it takes). A false refusal
// sets good records aside out of order; a missed one holds up the queue.
func TestRefusalRules(t *testing.T) {
	for _, tc := range []struct {
		source  string
		reply   string
		refusal bool
		rule    string
	}{
		// Koha: svc/import_bib's MARC::File::XML error, and the daemon's
		// own "Bad MARC"; its other failures are Koha's or the login's.
		{"koha: record not parsed by svc/import_bib", ":1: parser error : PCDATA invalid Char value 27\n at /usr/share/perl5/MARC/File/XML.pm line 449.\n.  Please contact administrator.", true, "koha-error"},
		{"koha: bad MARC", "Bad request", true, "koha-bad-request"},
		{"koha: no import batch", "Batch create error.  Please contact administrator.", false, "koha-batch-error"},
		{"koha: Koha down", "Unsuccessful request", false, "koha-unsuccessful"},
		{"koha: login", "Unauthorized request", false, "koha-unauthorized"},
		{"koha: Koha's error page", "Invalid response", false, "koha-invalid-response"},
		// FOLIO: mod-copycat's 400, 413, 422; not the login's 400, not
		// an access or key problem, not Okapi down.
		{"folio: copycat 400", "Error: Response status code 400 is not equal to 200\n", true, "folio-refused"},
		{"folio: copycat 422", "Error: Response status code 422 is not equal to 200: Unprocessable Entity\n", true, "folio-refused"},
		{"folio 1.0: copycat 400", "Error: /copycat/imports returned status 400\n", true, "folio-refused"},
		{"folio: copycat 401", "Error: Response status code 401 is not equal to 200\n", false, "folio-error"},
		{"folio: copycat 500", "Error: Response status code 500 is not equal to 200\n", false, "folio-error"},
		{"folio: login 400", "Error: Login failed. POST /authn/login for tenant 'diku' and username 'dikuuser' returned status 400: Bad Request\n", false, "folio-error"},
		{"folio 1.0: login 400", "Error: /authn/login returned status 400\n", false, "folio-error"},
		{"folio: Okapi down", "Error: Connection refused: localhost/127.0.0.1:9130\n", false, "folio-error"},
		{"folio: access denied", "Error: access denied\n", false, "folio-error"},
		// Evergreen: Vandelay failed to import it.
		{"evergreen: failed", "Failed to import 1 bib records\n", true, "evergreen-failed"},
		{"evergreen 2010: failed", "Failed to import 1 records\n", true, "evergreen-failed"},
		// Another oclcbot: its default templates for a refused record.
		{"oclcbot: invalid MARC", "Not imported: the record is not valid MARC: leader too short. Nothing was changed in the catalog. Validate the record in Connexion, correct it and export it again; if Connexion finds nothing wrong, tell your systems office.", true, "oclcbot-refused"},
		{"oclcbot: target not found", "Not imported (OCLC #12345): your 035 (HVD01)123 names a local record that does not exist. Nothing was changed in the catalog. Check the system number in that 035 (or delete the 035 to add a new record) and export again.", true, "oclcbot-refused"},
		{"oclcbot: repeated export", "Not imported: this record (OCLC #12345) was already received at 10:42. Nothing was changed. Do not export this record again.", true, "oclcbot-refused"},
		{"oclcbot: its catalog failed", "Not imported (OCLC #12345): the catalog could not save it. Nothing was saved. The systems office has been notified; export the record again when they announce that the problem is solved.", false, "error"},
		{"oclcbot: busy", "Error: the server is busy. Nothing was imported. Please try again in a minute.\n", false, "folio-error"},
		// Aleph: no public wording of a refusal.
		{"aleph: error", "Error - more than one match; record not added", false, "error"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			c := DefaultPatterns().ClassifyAfter(tc.reply, 50*time.Millisecond)
			if c.Rule != tc.rule || c.Refusal != tc.refusal || c.Verdict != VerdictFailed {
				t.Errorf("ClassifyAfter(%q) = %v/%s refusal %v; want failed/%s refusal %v", tc.reply, c.Verdict, c.Rule, c.Refusal, tc.rule, tc.refusal)
			}
		})
	}
	// Only failures are refusals: an uncertain reply never is, even
	// from a rule marked one.
	r, err := NewRule("slow-refusal", false, `^Refused`)
	if err != nil {
		t.Fatal(err)
	}
	r.Refusal, r.Uncertain = true, true
	p := &Patterns{Rules: []Rule{r}}
	if c := p.Classify("Refused"); c.Verdict != VerdictUncertain || c.Refusal {
		t.Errorf("uncertain rule marked Refusal: %+v, want uncertain and no refusal", c)
	}
	for _, reply := range []string{"", "Thank you", "Import ok\n", "Error: Connection was closed\n"} {
		if c := DefaultPatterns().Classify(reply); c.Refusal {
			t.Errorf("Classify(%q) = %+v: not a refusal", reply, c)
		}
	}
}
