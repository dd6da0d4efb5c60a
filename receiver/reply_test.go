package receiver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/templates"
)

// TestDefaultReplyTemplates renders every reply.* block of the embedded
// defaults with the samples that templates.Set.Check would use.
func TestDefaultReplyTemplates(t *testing.T) {
	set := templates.MustLoadDefaults()
	if err := checkReplies(set); err != nil {
		t.Fatal(err)
	}
	samples := TemplateSamples()
	n := 0
	for _, name := range set.Names() {
		if !strings.HasPrefix(name, "reply.") {
			continue
		}
		key := ""
		for k := range samples {
			if strings.HasPrefix(name, k) && len(k) > len(key) {
				key = k
			}
		}
		if key == "" {
			t.Errorf("no sample covers %s", name)
			continue
		}
		out, err := set.Render(name, samples[key])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(out, "<no value>") || strings.Contains(out, "%!") {
			t.Errorf("%s renders a hole: %q", name, out)
		}
		n++
	}
	if n < len(requiredReplies) {
		t.Fatalf("rendered %d reply blocks, want at least %d", n, len(requiredReplies))
	}
}

func render(t *testing.T, block string, d ReplyData) string {
	t.Helper()
	r := &replies{t: templates.MustLoadDefaults(), prefix: "(HVD01)"}
	s, err := r.render(block, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "\n") || strings.Contains(s, "  ") {
		t.Fatalf("%s is not folded to one line: %q", block, s)
	}
	return s
}

func TestReplyWording(t *testing.T) {
	prev := time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)
	for _, tc := range []struct {
		block string
		d     ReplyData
		want  string
	}{
		{ReplyAdded, ReplyData{Number: 1, Count: 1, SystemNumber: "000000123", OCLCNumber: "12345"},
			"Added to the catalog as system number 000000123 (OCLC #12345). Next: search the catalog by author or title to check for duplicates. " +
				"Note: the record is visible to the public before its holdings (location and status) are added, so add them soon."},
		{ReplyAdded, ReplyData{Number: 2, Count: 3, SystemNumber: "000000124", Sharing: []string{"000000009"}},
			"Record 2 of 3: Added to the catalog as system number 000000124. Other catalog records with this OCLC number: 000000009. " +
				"Next: search the catalog by author or title to check for duplicates. " +
				"Note: the record is visible to the public before its holdings (location and status) are added, so add them soon."},
		{ReplyMerged, ReplyData{Number: 1, Count: 1, SystemNumber: "000000123", OCLCNumber: "12345"},
			"Merged with system number 000000123 (OCLC #12345): the catalog record now holds this export (the previous version is kept). " +
				"Next: search the catalog by author or title to check for duplicates."},
		{ReplyDuplicate, ReplyData{Count: 1, SystemNumber: "000000123", OCLCNumber: "12345", PreviousSystemNumber: "000000123", PreviousTime: prev, Policy: "skip"},
			"Already received: this record (OCLC #12345) was received as system number 000000123 at 2026-03-02 10:42 UTC. Nothing was changed. Do not export this record again."},
		{ReplyDuplicate, ReplyData{Count: 1, SystemNumber: "000000124", OCLCNumber: "12345", PreviousSystemNumber: "000000123", PreviousTime: prev, Policy: "mark-deleted"},
			"Received again: this record (OCLC #12345) was already received as system number 000000123 at 2026-03-02 10:42 UTC. " +
				"This copy was stored as system number 000000124 and marked DELETED (STA). Do not export this record again."},
		{ReplyDuplicate, ReplyData{Count: 1, SystemNumber: "000000123", OCLCNumber: "12345", PreviousTime: prev, Policy: "overlay"},
			"Received again: this record (OCLC #12345) was already received at 2026-03-02 10:42 UTC; system number 000000123 was replaced with this export. Do not export this record again."},
		{ReplyQueued, ReplyData{Count: 1, OCLCNumber: "12345"},
			"Received and queued (OCLC #12345): the local system is not answering right now, so the record is kept safely here and will be delivered to it automatically. Do NOT export this record again."},
		{ReplyFailed, ReplyData{Count: 1, OCLCNumber: "12345", Problem: "the local system cannot be reached"},
			"Not imported (OCLC #12345): the local system cannot be reached. Nothing was saved. The systems office has been notified; export the record again when they announce that the problem is solved."},
		{ReplyFailed, ReplyData{Count: 1, Uncertain: true},
			"The server failed while saving this record, so it may or may not have been saved. Do not export it again: the systems office has been notified and will check."},
		{"reply.rejected.target-not-found", ReplyData{Count: 1, Target: "000000042"},
			"Not imported: your 035 (HVD01)000000042 names a local record that does not exist. Nothing was changed in the catalog. " +
				"Check the system number in that 035 (or delete the 035 to add a new record) and export again."},
		{"reply.rejected.target-not-ours", ReplyData{Count: 1, Target: "000000042"},
			"Not imported: local record 000000042, named by your 035, is another institution's record (its 049 is not ours) and cannot be overlaid or targeted. Nothing was changed in the catalog."},
		{"reply.rejected.ambiguous-match", ReplyData{Count: 1, OCLCNumber: "12345", Sharing: []string{"000000001", "000000002"}},
			"Not imported (OCLC #12345): several catalog records have this OCLC number (000000001, 000000002), so it is not clear which one to overlay. " +
				"Nothing was changed in the catalog. Search the catalog by OCLC number, author or title to resolve the duplicates, " +
				"or add an 035 (HVD01)system number to target one record, and export again."},
		{ReplyRateLimit, ReplyData{Wait: 42 * time.Second},
			"Login refused: too many failed logins came from this computer's network address. Wait 42 s, check the Login ID and Password in Connexion's Gateway Export settings, and export again; nothing was imported."},
	} {
		if got := render(t, tc.block, tc.d); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.block, got, tc.want)
		}
	}
}

func TestBlockFor(t *testing.T) {
	r := &replies{t: templates.MustLoadDefaults()}
	for _, tc := range []struct {
		o     exportlog.Outcome
		cause string
		want  string
	}{
		{exportlog.OutcomeAdded, "", ReplyAdded},
		{exportlog.OutcomeMerged, "", ReplyMerged},
		{exportlog.OutcomeDuplicate, exportlog.CauseDuplicate, ReplyDuplicate},
		{exportlog.OutcomeQueued, exportlog.CauseUpstreamDown, ReplyQueued},
		{exportlog.OutcomeRelayed, "", ReplyRelayed},
		{exportlog.OutcomeCanary, "", ReplyCanary},
		{exportlog.OutcomeRejected, exportlog.CauseTargetNotFound, "reply.rejected.target-not-found"},
		{exportlog.OutcomeRejected, exportlog.CauseAuth, ReplyAuth},
		{exportlog.OutcomeRejected, "something-new", ReplyRejected},
		{exportlog.OutcomeFailed, exportlog.CauseStorage, ReplyFailed},
	} {
		if got := r.blockFor(tc.o, tc.cause); got != tc.want {
			t.Errorf("blockFor(%s, %s) = %s, want %s", tc.o, tc.cause, got, tc.want)
		}
	}
}

func TestErrorReplyHook(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{gateway.ErrBusy, "Error: the server is busy. Nothing was imported. Export again in a minute.\n"},
		{fmt.Errorf("%w (12 bytes received)", gateway.ErrReadTimeout), "Error: the export did not arrive completely in time. Nothing was imported. Export the record again.\n"},
		{gateway.ErrIncomplete, "Error: the export ended before the record was complete. Nothing was imported. Export the record again.\n"},
		{&gateway.LimitError{Err: gateway.ErrTooLarge, Limit: 1000}, "Error: the export is larger than this server accepts (1000 bytes). Nothing was imported. Export fewer records at a time.\n"},
		{&gateway.ProtocolError{Offset: 1, Msg: "length byte 0x3F is not a length"}, "Error: the export could not be read (length byte 0x3F is not a length, at byte 1). Nothing was imported. Check the Gateway export settings (host, port, login) and export again; if it happens again, tell your systems office.\n"},
		{gateway.ErrHandlerPanic, "The server failed while saving this record, so it may or may not have been saved. Do not export it again: the systems office has been notified and will check.\n"},
		{errors.New("something else"), "Not imported: an internal error occurred. Nothing was saved. The systems office has been notified; export the record again when they announce that the problem is solved.\n"},
	} {
		if got := e.rcv.ErrorReply(tc.err); got != tc.want {
			t.Errorf("ErrorReply(%v):\n got %q\nwant %q", tc.err, got, tc.want)
		}
	}
}

func TestOverrideTemplateIsUsedAndChecked(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "reply.tmpl"), []byte(`{{define "reply.added"}}Lisätty: {{.SystemNumber}}{{end}}`), 0o644)
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{Templates: set})
	e.serve(t)
	if reply := e.export(t, &gateway.Request{User: "u", Records: [][]byte{engRecord(t, "1", "T")}}); reply != "Lisätty: 000000001\n" {
		t.Fatalf("reply %q", reply)
	}
	// A broken override is refused when the receiver starts.
	os.WriteFile(filepath.Join(dir, "reply.tmpl"), []byte(`{{define "reply.added"}}{{.NoSuchField}}{{end}}`), 0o644)
	set, err = templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Sink: newMemSink(), Log: discardLog{}, Open: true, Templates: set}); err == nil ||
		!strings.Contains(err.Error(), "reply.added") {
		t.Fatalf("New with a broken reply.added: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := testHash(t, "pw")
	for name, cfg := range map[string]Config{
		"no sink":                 {Log: discardLog{}, Open: true},
		"no log":                  {Sink: newMemSink(), Open: true},
		"open with accounts":      {Sink: newMemSink(), Log: discardLog{}, Open: true, Accounts: []Account{{User: "a", PasswordHash: good}}},
		"closed without accounts": {Sink: newMemSink(), Log: discardLog{}},
		"bad hash":                {Sink: newMemSink(), Log: discardLog{}, Accounts: []Account{{User: "a", PasswordHash: "pw"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestOneLine checks the folding of rendered replies against its
// definition, strings.Fields joined by single spaces, on the white space
// a title or a library's template can bring: tabs, CRLF, NEL, no-break
// and ideographic spaces, and bytes that are not UTF-8.
func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"   \n\t ", ""},
		{"Added.", "Added."},
		{"Added to the catalog as system number 000000123.", "Added to the catalog as system number 000000123."},
		{" Added. ", "Added."},
		{"Added.\nNext: search.\r\nNote:\tsoon.", "Added. Next: search. Note: soon."},
		{"a  b\v\fc", "a b c"},
		{"Les misérables\u00a0/\u0085Hugo", "Les misérables / Hugo"},
		{"東京\u3000大学\u2028x\u2029", "東京 大学 x"},
		{"bad \xff\xfe  utf-8\xc3", "bad \xff\xfe utf-8\xc3"},
		{"zero\u200bwidth", "zero\u200bwidth"}, // U+200B is not white space
	} {
		got := oneLine(tc.in)
		if got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if ref := strings.Join(strings.Fields(tc.in), " "); got != ref {
			t.Errorf("oneLine(%q) = %q, strings.Fields gives %q", tc.in, got, ref)
		}
	}
}

// FuzzOneLine checks oneLine against strings.Fields on any input.
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"", " a  b ", "a\nb\r\n\tc", "x\u00a0y\u0085z\u3000", "\xff \xc3 \xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := oneLine(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Fatalf("oneLine(%q) = %q, want %q", s, got, want)
		}
	})
}
