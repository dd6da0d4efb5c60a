package receiver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

// rawExport is a Connexion client that is not ours: it writes msg on a
// plain TCP connection, reads the reply up to its NUL, then closes, as
// the spec says the desktop client does.
func rawExport(tb testing.TB, addr string, msg []byte) string {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		tb.Fatal(err)
	}
	reply, err := bufio.NewReader(conn).ReadString(0)
	if err != nil {
		tb.Fatalf("reading the reply: %v (got %q)", err, reply)
	}
	return strings.TrimSuffix(reply, "\x00")
}

// halfClosedExport writes msg, half-closes the connection (the client
// has nothing more to send) and reads the reply.
func halfClosedExport(tb testing.TB, addr string, msg []byte) string {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		tb.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	reply, err := bufio.NewReader(conn).ReadString(0)
	if err != nil {
		tb.Fatalf("reading the reply: %v (got %q)", err, reply)
	}
	return strings.TrimSuffix(reply, "\x00")
}

func TestRawClientSpecFraming(t *testing.T) {
	e := newEnv(t, Config{Accounts: []Account{{User: "abcde", PasswordHash: testHash(t, "hij")}}})
	e.serve(t)
	rec := engRecord(t, "12345678", "The title of the book")
	// Single-byte lengths and spaces, as the spec's second framing
	// example: U=abcde A=fg P=hij, then the record, then NUL.
	msg := append([]byte(" UEabcde ABfg PChij "), rec...)
	msg = append(msg, 0)
	reply := rawExport(t, e.addr, msg)
	want := "Added to the catalog as system number 000000001 (OCLC #12345678)."
	if !strings.HasPrefix(reply, want) {
		t.Fatalf("reply %q does not start with %q", reply, want)
	}
	if !strings.HasSuffix(reply, "\n") || strings.Count(reply, "\n") != 1 {
		t.Fatalf("reply %q is not one line", reply)
	}
	as := e.attempts(t)
	if len(as) != 1 {
		t.Fatalf("%d attempts logged, want 1", len(as))
	}
	a := as[0]
	if a.User != "abcde" || a.Outcome != exportlog.OutcomeAdded || a.OCLCNumber != "12345678" || a.SystemNumber != "000000001" {
		t.Fatalf("attempt: %+v", a)
	}
	if !bytes.Equal(a.Record, rec) {
		t.Fatal("the logged record is not the record sent")
	}
	wantReq := append([]byte(" UEabcde ABfg PC*** "), rec...)
	wantReq = append(wantReq, 0)
	if !bytes.Equal(a.Request, wantReq) {
		t.Fatalf("logged request %q, want the request with the password overwritten", a.Request[:24])
	}
}

func TestAddedReplyAndExportLogFields(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	rec := engRecord(t, "12345", "Moby Dick, or, The whale")
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	for _, want := range []string{
		"Added to the catalog as system number 000000001 (OCLC #12345).",
		"search the catalog by author or title to check for duplicates",
		"visible to the public before its holdings (location and status) are added",
	} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply %q lacks %q", reply, want)
		}
	}
	as := e.attempts(t)
	if len(as) != 1 {
		t.Fatalf("%d attempts", len(as))
	}
	a := as[0]
	host, _, _ := net.SplitHostPort(a.RemoteAddr)
	switch {
	case a.ID == 0, a.RequestID == 0:
		t.Errorf("IDs not set: %+v", a)
	case host != "127.0.0.1":
		t.Errorf("RemoteAddr %q", a.RemoteAddr)
	case a.User != "cat1", a.Target != "catalog", a.RecordIndex != 0, a.Follows != 0:
		t.Errorf("who/where: %+v", a)
	case a.OCLCNumber != "12345", a.Title != "Moby Dick, or, The whale", a.SystemNumber != "000000001":
		t.Errorf("what: %q %q %q", a.OCLCNumber, a.Title, a.SystemNumber)
	case a.Outcome != exportlog.OutcomeAdded, a.Class != exportlog.ClassNone, a.Cause != "":
		t.Errorf("outcome: %s %s %s", a.Outcome, a.Class, a.Cause)
	case a.Reply != strings.TrimSuffix(reply, "\n"):
		t.Errorf("logged reply %q, sent %q", a.Reply, reply)
	case a.Time.IsZero(), a.Done.Before(a.Time), a.Elapsed < a.Decode, a.Decode <= 0:
		t.Errorf("timings: time %v done %v elapsed %v decode %v", a.Time, a.Done, a.Elapsed, a.Decode)
	case !bytes.Equal(a.Record, rec), !bytes.Contains(a.Request, rec):
		t.Errorf("bytes not logged")
	}
	// The sink got the item with everything filled in.
	items := e.sink.items()
	if len(items) != 1 {
		t.Fatalf("sink got %d items", len(items))
	}
	it := items[0]
	if it.OCLCNumber != "12345" || len(it.OCLCNumbers) != 1 || it.Hash == "" || it.Author != "Doe, Jane" ||
		it.Title != a.Title || !bytes.Equal(it.Raw, rec) || it.Original == nil || it.Record == nil {
		t.Fatalf("item: %+v", it)
	}
	if want, _ := ContentHash(it.Record); it.Hash != want {
		t.Fatal("Item.Hash is not the content hash of Item.Record")
	}
}

func TestRule040EndToEnd(t *testing.T) {
	e := newEnv(t, Config{TargetPrefix: "(HVD01)"})
	e.serve(t)
	// The OCLC number is only in 035 and the target only in 035: both
	// must be read before the 040 rule deletes every 035.
	rec := record(t, 'a',
		ctl("001", "FRBNF12345"),
		ctl("008", "200101s2020    fr            000 0 fre d"),
		dat("035", "  ", "a", "(OCoLC)987654321"),
		dat("035", "  ", "a", "(HVD01)000000042"),
		dat("040", "  ", "a", "FRBNF", "b", "fre", "e", "rda", "c", "FRBNF"),
		dat("049", "  ", "a", "HVDA"),
		dat("245", "10", "a", "Les hauts de Hurle-Vent /", "c", "Émilie Brontë."))
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	if !strings.Contains(reply, "Merged with system number 000000042 (OCLC #987654321), the record your 035 (HVD01)000000042 targeted") {
		t.Fatalf("reply %q", reply)
	}
	it := e.sink.items()[0]
	if it.OCLCNumber != "987654321" || it.Target != "000000042" {
		t.Fatalf("identifiers lost to the 040 rule: OCLC %q target %q", it.OCLCNumber, it.Target)
	}
	if got := tags(it.Record); got != "001 008 049 245" {
		t.Fatalf("stored record fields %s, want no 035 or 040", got)
	}
	if it.Record.Leader[marc.EncodingLevelPos] != '5' {
		t.Fatalf("leader/17 = %q, want '5'", it.Record.Leader[marc.EncodingLevelPos])
	}
	if got := tags(it.Original); got != "001 008 035 035 040 049 245" {
		t.Fatalf("the original record was changed: %s", got)
	}
	a := e.attempts(t)[0]
	if !strings.Contains(a.Detail, `040 $b is "fre"`) || !strings.Contains(a.Detail, "removed 1 targeting 035") {
		t.Fatalf("the export log does not say what the rules did: %q", a.Detail)
	}
}

func TestEnglishRecordKeeps035And040(t *testing.T) {
	e := newEnv(t, Config{TargetPrefix: "(HVD01)"})
	e.serve(t)
	rec := engRecord(t, "12345", "Title", dat("035", "  ", "a", "(HVD01)000000007"))
	e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	it := e.sink.items()[0]
	if got := tags(it.Record); got != "001 003 005 008 035 040 049 100 245" {
		t.Fatalf("fields %s: only the targeting 035 should be gone", got)
	}
	if v := it.Record.SubfieldValue("035", 'a'); v != "(OCoLC)12345" {
		t.Fatalf("remaining 035 $a = %q", v)
	}
	if it.Target != "000000007" || it.Record.Leader[marc.EncodingLevelPos] != ' ' {
		t.Fatalf("target %q, leader/17 %q", it.Target, it.Record.Leader[marc.EncodingLevelPos])
	}
}

func TestMalformedTargetIsRefused(t *testing.T) {
	e := newEnv(t, Config{TargetPrefix: "(HVD01)"})
	e.serve(t)
	rec := engRecord(t, "12345", "Title", dat("035", "  ", "a", "(HVD01)12x45"))
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	if !strings.HasPrefix(reply, "Not imported (OCLC #12345): the 035 $a \"(HVD01)12x45\" does not give a system number") ||
		!strings.Contains(reply, "Nothing was changed") {
		t.Fatalf("reply %q", reply)
	}
	if n := len(e.sink.items()); n != 0 {
		t.Fatalf("the sink got %d items", n)
	}
	a := e.attempts(t)[0]
	if a.Outcome != exportlog.OutcomeRejected || a.Class != exportlog.ClassRecord || a.Cause != exportlog.CauseRule {
		t.Fatalf("attempt %s/%s/%s", a.Outcome, a.Class, a.Cause)
	}
}

func TestInvalidRecordAmongValidOnes(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	good1 := engRecord(t, "111", "First")
	bad := engRecord(t, "222", "Second")
	bad = bytes.Clone(bad)
	bad[len(bad)-1] = 'X' // no record terminator
	good2 := engRecord(t, "333", "Third")
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{good1, bad, good2}})
	lines := strings.Split(strings.TrimSuffix(reply, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("reply has %d lines, want one per record:\n%s", len(lines), reply)
	}
	if !strings.HasPrefix(lines[0], "Record 1 of 3: Added to the catalog as system number 000000001 (OCLC #111)") ||
		!strings.HasPrefix(lines[1], "Record 2 of 3: Not imported: the record is not valid MARC: a field or the record does not end where it should") ||
		!strings.HasPrefix(lines[2], "Record 3 of 3: Added to the catalog as system number 000000002 (OCLC #333)") {
		t.Fatalf("reply:\n%s", reply)
	}
	items := e.sink.items()
	if len(items) != 2 || items[0].Index != 0 || items[1].Index != 2 {
		t.Fatalf("sink got %d items", len(items))
	}
	as := e.attempts(t)
	if len(as) != 3 {
		t.Fatalf("%d attempts", len(as))
	}
	for i, a := range as {
		if a.RecordIndex != i || a.RequestID != as[0].RequestID || a.Reply != lines[i] {
			t.Errorf("attempt %d: index %d request %d reply %q", i, a.RecordIndex, a.RequestID, a.Reply)
		}
	}
	if as[1].Class != exportlog.ClassRecord || as[1].Cause != exportlog.CauseInvalidRecord ||
		!strings.Contains(as[1].Detail, "invalid MARC record: offset") || !bytes.Equal(as[1].Record, bad) {
		t.Fatalf("invalid record attempt: %+v", as[1])
	}
	if as[0].Request == nil || as[1].Request != nil || as[2].Request != nil {
		t.Fatal("the request bytes should be logged once, with the first record")
	}
}

func TestMARC8RecordIsConverted(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	// MARC-8: the diacritic precedes its letter (0xE8 umlaut, 0xE2 acute).
	rec := record(t, ' ',
		ctl("001", "ocm00012345 "), ctl("003", "OCoLC"),
		dat("040", "  ", "a", "DLC", "b", "eng"),
		dat("100", "1 ", "a", "Bront\xE8e, \xE2Emilie,", "d", "1818-1848."),
		dat("245", "10", "a", "Wuthering Heights /", "c", "by \xE2Emilie Bront\xE8e."))
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	if !strings.HasPrefix(reply, "Added") {
		t.Fatalf("reply %q", reply)
	}
	it := e.sink.items()[0]
	if it.Record.Leader[marc.CharCodingPos] != 'a' {
		t.Fatalf("stored leader/09 = %q, want 'a'", it.Record.Leader[marc.CharCodingPos])
	}
	if got, want := it.Record.SubfieldValue("100", 'a'), "Bronte\u0308, E\u0301milie,"; got != want {
		t.Fatalf("100 $a = %q, want %q", got, want)
	}
	if got := it.Record.SubfieldValue("245", 'c'); got != "by E\u0301milie Bronte\u0308." {
		t.Fatalf("245 $c = %q", got)
	}
	if it.Original.Leader[marc.CharCodingPos] != ' ' || it.Original.SubfieldValue("100", 'a') != "Bront\xE8e, \xE2Emilie," {
		t.Fatal("the original MARC-8 record was not kept")
	}
	if !bytes.Equal(it.Raw, rec) || !bytes.Equal(e.attempts(t)[0].Record, rec) {
		t.Fatal("the original bytes were not kept")
	}
	if it.Author != "Bronte\u0308, E\u0301milie" {
		t.Fatalf("author %q", it.Author)
	}
}

func TestUnconvertibleMARC8IsRefused(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	rec := record(t, ' ', ctl("001", "ocm00012345 "), ctl("003", "OCoLC"),
		dat("245", "10", "a", "Bad \x1b(Zescape."))
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	if !strings.HasPrefix(reply, "Not imported (OCLC #12345): field 245 $a holds MARC-8 characters that cannot be converted to Unicode (bytes 1B 28 5A") {
		t.Fatalf("reply %q", reply)
	}
	a := e.attempts(t)[0]
	if a.Cause != exportlog.CauseCharset || a.Class != exportlog.ClassRecord {
		t.Fatalf("attempt %s/%s", a.Class, a.Cause)
	}
	if len(e.sink.items()) != 0 {
		t.Fatal("the record reached the sink")
	}
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	rec := record(t, 'a', dat("245", "10", "a", "Caf\xC3("))
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{rec}})
	if !strings.Contains(reply, "field 245 $a is not valid UTF-8 (bytes C3 28)") {
		t.Fatalf("reply %q", reply)
	}
}

func TestWrongPassword(t *testing.T) {
	e := newEnv(t, Config{Accounts: []Account{{User: "cat1", PasswordHash: testHash(t, "s3cret")}}})
	e.serve(t)
	rec := engRecord(t, "12345", "Title")
	reply := e.export(t, &gateway.Request{User: "cat1", Password: "wrong", Records: [][]byte{rec}})
	if reply != "Login refused: check the Login ID and Password in Connexion's Gateway Export settings; nothing was imported.\n" {
		t.Fatalf("reply %q", reply)
	}
	if len(e.sink.items()) != 0 {
		t.Fatal("a record with a wrong password reached the sink")
	}
	a := e.attempts(t)[0]
	if a.Outcome != exportlog.OutcomeRejected || a.Class != exportlog.ClassRecord || a.Cause != exportlog.CauseAuth ||
		a.RecordIndex != -1 || a.Target != TargetListener || a.User != "cat1" || a.Detail != `wrong password for login "cat1"` {
		t.Fatalf("attempt: %+v", a)
	}
	e.export(t, &gateway.Request{User: "nobody", Password: "x", Records: [][]byte{rec}})
	if a := e.attempts(t)[1]; a.Detail != `unknown login "nobody"` {
		t.Fatalf("detail %q", a.Detail)
	}
	// The right password still works from the same address.
	if reply := e.export(t, &gateway.Request{User: "cat1", Password: "s3cret", Records: [][]byte{rec}}); !strings.HasPrefix(reply, "Added") {
		t.Fatalf("right password: %q", reply)
	}
	if e.sink.exports[0].User != "cat1" {
		t.Fatalf("Export.User = %q", e.sink.exports[0].User)
	}
}

func TestCredentialsFromLocalUser(t *testing.T) {
	e := newEnv(t, Config{Accounts: []Account{{User: "cat1", PasswordHash: testHash(t, "s3cret")}}})
	e.serve(t)
	rec := engRecord(t, "12345", "Title")
	reply := e.export(t, &gateway.Request{LocalUser: "cat1 s3cret", Records: [][]byte{rec}})
	if !strings.HasPrefix(reply, "Added") {
		t.Fatalf("A \"user password\": %q", reply)
	}
	a := e.attempts(t)[0]
	if a.User != "cat1" || bytes.Contains(a.Request, []byte("s3cret")) {
		t.Fatalf("user %q, request %q", a.User, a.Request)
	}
	if reply := e.export(t, &gateway.Request{LocalUser: "cat1 wrong", Records: [][]byte{rec}}); !strings.HasPrefix(reply, "Login refused") {
		t.Fatalf("A with a wrong password: %q", reply)
	}
}

func TestFailedLoginsAreRateLimited(t *testing.T) {
	e := newEnv(t, Config{Accounts: []Account{{User: "cat1", PasswordHash: testHash(t, "s3cret")}}})
	e.serve(t)
	rec := engRecord(t, "12345", "Title")
	for i := range DefaultLoginFailures {
		if r := e.export(t, &gateway.Request{User: "cat1", Password: "guess", Records: [][]byte{rec}}); !strings.HasPrefix(r, "Login refused: check") {
			t.Fatalf("attempt %d: %q", i+1, r)
		}
	}
	// Blocked now, even with the right password.
	reply := e.export(t, &gateway.Request{User: "cat1", Password: "s3cret", Records: [][]byte{rec}})
	if !strings.HasPrefix(reply, "Login refused: too many failed logins came from this computer's network address. Wait 1 min,") ||
		!strings.Contains(reply, "nothing was imported") {
		t.Fatalf("blocked reply %q", reply)
	}
	as := e.attempts(t)
	if last := as[len(as)-1]; last.Cause != exportlog.CauseRateLimited || last.Class != exportlog.ClassRecord {
		t.Fatalf("blocked attempt %s/%s", last.Class, last.Cause)
	}
	if len(e.sink.items()) != 0 {
		t.Fatal("a record got through while blocked")
	}
	e.clock.Add(DefaultLoginWindow)
	if reply := e.export(t, &gateway.Request{User: "cat1", Password: "s3cret", Records: [][]byte{rec}}); !strings.HasPrefix(reply, "Added") {
		t.Fatalf("after the window: %q", reply)
	}
}

func TestAllowed049PerAccount(t *testing.T) {
	e := newEnv(t, Config{Accounts: []Account{{User: "law", PasswordHash: testHash(t, "pw"), Allowed049: []string{"HVDL", "HVDM"}}}})
	e.serve(t)
	reply := e.export(t, &gateway.Request{User: "law", Password: "pw", Records: [][]byte{engRecord(t, "12345", "Title")}})
	want := `Not imported (OCLC #12345): this record's 049 is "HVDA", and your login may export only records whose 049 is HVDL or HVDM. Nothing was changed in the catalog.`
	if strings.TrimSpace(reply) != want {
		t.Fatalf("reply %q\nwant  %q", reply, want)
	}
}

func TestCanaryExport(t *testing.T) {
	e := newEnv(t, Config{
		Accounts: []Account{{User: "cat1", PasswordHash: testHash(t, "pw")}},
		Canary:   Canary{User: "oclcbot-canary", Password: "canary-secret"},
	})
	e.serve(t)
	rec := engRecord(t, "1", "Canary")
	reply := e.export(t, &gateway.Request{User: "oclcbot-canary", Password: "canary-secret", Records: [][]byte{rec}})
	if reply != "Test export received by oclcbot; nothing was stored.\n" {
		t.Fatalf("reply %q", reply)
	}
	if !e.sink.exports[0].Canary {
		t.Fatal("Export.Canary not set")
	}
	if a := e.attempts(t)[0]; a.Outcome != exportlog.OutcomeCanary || a.User != "oclcbot-canary" {
		t.Fatalf("attempt %s %q", a.Outcome, a.User)
	}
	if reply := e.export(t, &gateway.Request{User: "oclcbot-canary", Password: "nope", Records: [][]byte{rec}}); !strings.HasPrefix(reply, "Login refused") {
		t.Fatalf("canary with a wrong password: %q", reply)
	}
	e.export(t, &gateway.Request{User: "cat1", Password: "pw", Records: [][]byte{rec}})
	if e.sink.exports[1].Canary {
		t.Fatal("an ordinary export was marked as canary")
	}
}

func TestCanaryOnOpenListener(t *testing.T) {
	e := newEnv(t, Config{Open: true, Canary: Canary{User: "oclcbot-canary"}})
	e.serve(t)
	e.export(t, &gateway.Request{User: "oclcbot-canary", Records: [][]byte{engRecord(t, "1", "Canary")}})
	if !e.sink.exports[0].Canary || e.sink.exports[0].User != "" {
		t.Fatalf("canary %v user %q", e.sink.exports[0].Canary, e.sink.exports[0].User)
	}
}

func TestSystemFailureReply(t *testing.T) {
	e := newEnv(t, Config{})
	e.sink.fail = func(*Item) *Result {
		return &Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseStorage,
			Detail: "commit: disk I/O error (/var/lib/oclcbot/oclcbot.db)"}
	}
	e.serve(t)
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "12345", "Title")}})
	want := "Not imported (OCLC #12345): the catalog could not save it. Nothing was saved. The systems office has been notified; export the record again when they announce that the problem is solved.\n"
	if reply != want {
		t.Fatalf("reply %q\nwant  %q", reply, want)
	}
	a := e.attempts(t)[0]
	if a.Class != exportlog.ClassSystem || a.Cause != exportlog.CauseStorage || !strings.Contains(a.Detail, "disk I/O error") {
		t.Fatalf("attempt %+v", a)
	}
}

func TestRelayReplyPassedThrough(t *testing.T) {
	e := newEnv(t, Config{})
	e.sink.fail = func(*Item) *Result {
		return &Result{Outcome: exportlog.OutcomeRelayed, Reply: "Import ok\n", Upstream: "Import ok\n"}
	}
	e.serve(t)
	if reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "1", "T")}}); reply != "Import ok\n" {
		t.Fatalf("reply %q", reply)
	}
	if a := e.attempts(t)[0]; a.Upstream != "Import ok\n" || a.Reply != "Import ok" {
		t.Fatalf("upstream %q reply %q", a.Upstream, a.Reply)
	}
}

func TestPanicInSinkDoesNotKillTheServer(t *testing.T) {
	e := newEnv(t, Config{})
	calls := 0
	e.sink.fail = func(*Item) *Result {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return nil
	}
	e.serve(t)
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "1", "T")}})
	if !strings.Contains(reply, "may or may not have been saved") || !strings.Contains(reply, "Do not export it again") {
		t.Fatalf("reply after a panic %q", reply)
	}
	if strings.Contains(reply, "boom") || strings.Contains(reply, "goroutine") {
		t.Fatalf("the reply leaks internals: %q", reply)
	}
	a := e.attempts(t)[0]
	if a.Class != exportlog.ClassSystem || a.Cause != exportlog.CauseInternal || !strings.Contains(a.Detail, "panic: boom") {
		t.Fatalf("attempt %+v", a)
	}
	if !strings.Contains(e.logs.String(), "goroutine") {
		t.Fatal("the panic was not logged with its stack")
	}
	if reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "2", "T")}}); !strings.HasPrefix(reply, "Added") {
		t.Fatalf("next export: %q", reply)
	}
}

func TestProtocolErrorIsLogged(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	reply := rawExport(t, e.addr, []byte("U?abcde"))
	if !strings.HasPrefix(reply, "Error: the export could not be read (") || !strings.Contains(reply, "Nothing was imported") {
		t.Fatalf("reply %q", reply)
	}
	as := waitAttempts(t, e, 1)
	a := as[0]
	if a.Cause != exportlog.CauseProtocol || a.Class != exportlog.ClassTransport || a.RecordIndex != -1 ||
		a.Target != TargetListener || a.Reply != strings.TrimSuffix(reply, "\n") {
		t.Fatalf("attempt %+v", a)
	}
}

func TestEmptyRequest(t *testing.T) {
	// The gateway refuses a request without records as a protocol error;
	// a Receiver used by another front end still answers it sensibly.
	e := newEnv(t, Config{})
	reply := e.rcv.ServeExport(context.Background(), &gateway.Request{ID: 1, User: "abcde", Raw: []byte("UEabcde\x00")})
	if reply != "Error: the export held no record. Nothing was imported. Export the record again.\n" {
		t.Fatalf("reply %q", reply)
	}
	if a := e.attempts(t)[0]; a.Cause != exportlog.CauseProtocol || a.RecordIndex != -1 || a.User != "abcde" {
		t.Fatalf("attempt %+v", a)
	}
}

func TestTooManyRecords(t *testing.T) {
	e := newEnv(t, Config{})
	e.serveWith(t, func(s *gateway.Server) { s.MaxRecords = 2 })
	rec := engRecord(t, "1", "T")
	msg := append([]byte("UEabcde"), bytes.Repeat(rec, 3)...)
	reply := rawExport(t, e.addr, append(msg, 0))
	if reply != "Error: the export is larger than this server accepts (2 records). Nothing was imported. Export fewer records at a time.\n" {
		t.Fatalf("reply %q", reply)
	}
	a := waitAttempts(t, e, 1)[0]
	if a.Cause != exportlog.CauseTooLarge || a.Class != exportlog.ClassRecord || a.User != "abcde" {
		t.Fatalf("attempt %+v", a)
	}
}

// TestClientGoneAfterStore: a cataloger's client that vanishes while
// its record is stored, or relayed (whose attempt is recorded after the
// reply), gets a client-gone attempt that follows the record's own.
func TestClientGoneAfterStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		want exportlog.Outcome
		sink func(*Item) *Result
	}{
		{"stored", exportlog.OutcomeAdded, nil},
		{"relayed", exportlog.OutcomeRelayed, func(*Item) *Result {
			return &Result{Outcome: exportlog.OutcomeRelayed, Reply: "Import ok\n", Upstream: "Import ok\n"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.sink.block = make(chan struct{})
			e.sink.entered = make(chan struct{}, 1)
			e.sink.fail = tc.sink
			e.serve(t)
			sub := e.log.Subscribe(0)
			conn, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			rec := engRecord(t, "12345", "T")
			conn.Write(append(append([]byte("UEabcde"), rec...), 0))
			<-e.sink.entered
			// The cataloger's client gives up while the record is stored. An
			// abortive close (RST) makes the server's reply fail for certain; a
			// plain FIN may or may not be noticed before the reply is written.
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			close(e.sink.block)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stored, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			gone, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Outcome != tc.want {
				t.Fatalf("first attempt %s, want %s", stored.Outcome, tc.want)
			}
			if gone.Cause != exportlog.CauseClientGone || gone.Class != exportlog.ClassTransport || gone.Follows != stored.ID ||
				gone.Reply != stored.Reply || gone.RequestID != stored.RequestID {
				t.Fatalf("client-gone attempt %+v (stored %d)", gone, stored.ID)
			}
		})
	}
}

func TestRepliesNeverClaimMoreThanTheSinkSaid(t *testing.T) {
	e := newEnv(t, Config{})
	e.sink.fail = func(*Item) *Result { return &Result{Outcome: "stored-maybe"} }
	e.serve(t)
	reply := e.export(t, &gateway.Request{User: "cat1", Records: [][]byte{engRecord(t, "1", "T")}})
	if !strings.Contains(reply, "may or may not have been saved") {
		t.Fatalf("unknown sink outcome: %q", reply)
	}
	if a := e.attempts(t)[0]; a.Cause != exportlog.CauseInternal || a.Class != exportlog.ClassSystem {
		t.Fatalf("attempt %s/%s", a.Class, a.Cause)
	}
}

// TestNoSecretAnywhere exports with passwords in every form, right and
// wrong, and searches every reply, every field of every export log entry,
// every log line and every byte of the database for them.
func TestNoSecretAnywhere(t *testing.T) {
	const pw, wrong, canaryPw = "Pa55-w0rd-9Zq", "Wr0ng-Pa55-7Xy", "Can4ry-S3cret-Kk"
	e := newEnv(t, Config{
		Accounts: []Account{{User: "cat1", PasswordHash: testHash(t, pw)}},
		Canary:   Canary{User: "probe", Password: canaryPw},
	})
	e.serve(t)
	rec := engRecord(t, "12345", "Title")
	var replies []string
	for _, req := range []*gateway.Request{
		{User: "cat1", Password: pw},
		{User: "cat1", Password: wrong},
		{LocalUser: "cat1 " + pw},
		{LocalUser: "cat1 " + wrong},
		{User: "probe", Password: canaryPw},
		{User: "cat1", LocalUser: "cat1 " + pw, Password: pw},
	} {
		req.Records = [][]byte{rec}
		replies = append(replies, e.export(t, req))
	}
	// A request that ends in the middle of its password.
	replies = append(replies, halfClosedExport(t, e.addr, []byte("UDcat1P"+string(rune(0x40+len(pw)))+pw[:9])))
	waitAttempts(t, e, 7)

	secrets := []string{pw, wrong, canaryPw, pw[:8], wrong[:8]}
	check := func(where, s string) {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s contains a password: %q", where, s)
			}
		}
	}
	for i, r := range replies {
		check("reply "+string(rune('1'+i)), r)
	}
	for _, a := range e.attempts(t) {
		for _, s := range []string{a.RemoteAddr, a.User, a.Target, a.OCLCNumber, a.Title, a.SystemNumber,
			string(a.Outcome), string(a.Class), a.Cause, a.Detail, a.Reply, a.Upstream, string(a.Record), string(a.Request)} {
			check("export log", s)
		}
	}
	check("log output", e.logs.String())
	e.log.Close()
	e.server.Close()
	e.db.Close()
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.db.Path()), "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("database file %s contains a password", filepath.Base(f))
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no database files to search")
	}
}

// TestSubscriberSeesEveryExport checks the export log as the bot uses it:
// a subscriber that only starts reading after a burst of concurrent
// exports still gets each attempt once, in order.
func TestSubscriberSeesEveryExport(t *testing.T) {
	e := newEnv(t, Config{})
	e.serve(t)
	sub := e.log.Subscribe(0)
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			c := &gateway.Client{Addr: e.addr, Timeout: 30 * time.Second}
			_, err := c.Export(context.Background(), "cat1", "", engRecord(t, fmt.Sprint(900+i), "T"))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[uint64]bool{}
	var last int64
	for range n {
		a, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID <= last || seen[a.RequestID] {
			t.Fatalf("attempt %d (request %d) out of order or repeated", a.ID, a.RequestID)
		}
		last, seen[a.RequestID] = a.ID, true
	}
	if len(seen) != n {
		t.Fatalf("saw %d requests, want %d", len(seen), n)
	}
}

// waitAttempts waits, without sleeping, until the log holds n attempts
// (request-level failures are logged after the reply is written).
func waitAttempts(tb testing.TB, e *env, n int) []*exportlog.Attempt {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := e.log.Subscribe(0)
	for range n {
		if _, err := sub.Next(ctx); err != nil {
			tb.Fatalf("waiting for %d attempts: %v", n, err)
		}
	}
	return e.attempts(tb)
}
