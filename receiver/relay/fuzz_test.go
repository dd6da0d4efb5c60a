package relay

import (
	"strings"
	"testing"
)

// FuzzClassify feeds the reply classifier arbitrary upstream bytes. It
// must never panic, must be deterministic, and must keep the rules'
// safety promises: nothing that looks like an error or nothing at all is
// taken for an import, a system number is always text of the reply, and
// only a definite failure is a refusal of the record itself.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"Success.  Batch number 17 - biblio record number 4242 added to Koha.\n\nhttp://x/?biblionumber=4242",
		"Bad request", "Unsuccessful request", "Unauthorized request", "x.  Please contact administrator.",
		"Error: Connection was closed\n", "Error: Response status code 504 is not equal to 200: x\n",
		"Successfully imported 1 bib records using merge profile 'P'\n", "Failed to import 1 bib records\n",
		"Import ok\n", "Error: /authn/login returned status 400\n",
		"Successfully imported 1 records using merge profile 'P'\n", "Failed to import 1 records\n",
		"Input docx merged into ABC01.000271652", "New record 000123456 added", "",
		"Batch create error.  Please contact administrator.", "Error: Response status code 400 is not equal to 200\n",
		"Not imported: x. Nothing was changed in the catalog.",
		"\x00\xff\xfe", "added\nerror", strings.Repeat("9", 300) + " added",
	} {
		f.Add(s)
	}
	p := DefaultPatterns()
	f.Fuzz(func(t *testing.T, reply string) {
		c := p.Classify(reply)
		if c2 := p.Classify(reply); c2 != c {
			t.Fatalf("not deterministic: %+v then %+v", c, c2)
		}
		switch c.Verdict {
		case VerdictImported, VerdictFailed, VerdictUnrecognised, VerdictUncertain:
		default:
			t.Fatalf("verdict %v", c.Verdict)
		}
		// Time only turns a failure into an uncertain one, never
		// anything into a success or the reverse.
		if quick := p.ClassifyAfter(reply, 0); quick != c &&
			(quick.Verdict != VerdictFailed || c.Verdict != VerdictUncertain || quick.Rule != c.Rule) {
			t.Fatalf("at once %+v, later %+v", quick, c)
		}
		if strings.TrimSpace(reply) == "" && c.Verdict != VerdictFailed && len(reply) <= MaxClassifyBytes {
			t.Fatalf("blank reply %q classified %v", reply, c.Verdict)
		}
		if c.Verdict == VerdictImported && strings.TrimSpace(reply) == "" {
			t.Fatalf("blank reply of %d bytes classified imported", len(reply))
		}
		if c.Verdict == VerdictImported && strings.HasPrefix(strings.TrimSpace(reply), "Error:") {
			t.Fatalf("error reply %q classified imported", reply)
		}
		if c.SystemNumber != "" && (c.Verdict != VerdictImported || !strings.Contains(reply, c.SystemNumber)) {
			t.Fatalf("system number %q from %q (%v)", c.SystemNumber, reply, c.Verdict)
		}
		// Only a definite failure is a refusal of the record itself: an
		// empty reply or an uncertain one never sets a record aside.
		if c.Refusal && (c.Verdict != VerdictFailed || strings.TrimSpace(reply) == "") {
			t.Fatalf("refusal %+v from %q", c, reply)
		}
	})
}
