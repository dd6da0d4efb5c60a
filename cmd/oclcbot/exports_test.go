package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
)

// adminEnv is a configuration and a database in a temporary directory,
// for driving the administrative commands through run.
type adminEnv struct {
	t       *testing.T
	cfgPath string
	dbPath  string
}

// newAdminEnv writes a configuration whose database is in t.TempDir()
// (times shown in UTC, library HVD01); extra is appended to it.
func newAdminEnv(t *testing.T, extra string) *adminEnv {
	t.Helper()
	dir := t.TempDir()
	ae := &adminEnv{t: t, cfgPath: filepath.Join(dir, "oclcbot.toml"), dbPath: filepath.Join(dir, "oclcbot.db")}
	cfg := fmt.Sprintf(`[storage]
path = %q
synchronous = "normal"

[library]
code = "HVD01"
holding_codes = ["HVDA"]

[bot]
time_zone = "UTC"

[log]
level = "error"
%s`, ae.dbPath, extra)
	if err := os.WriteFile(ae.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return ae
}

// run runs `oclcbot args...` with -config inserted after the subcommand.
func (ae *adminEnv) run(args ...string) (stdout, stderr string, code int) {
	ae.t.Helper()
	full := append([]string{}, args[:min(2, len(args))]...)
	full = append(full, "-config", ae.cfgPath)
	full = append(full, args[min(2, len(args)):]...)
	var out, errb bytes.Buffer
	code = run(context.Background(), full, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return out.String(), errb.String(), code
}

// mustRun runs the command and fails the test unless it exits 0.
func (ae *adminEnv) mustRun(args ...string) string {
	ae.t.Helper()
	out, errOut, code := ae.run(args...)
	if code != 0 {
		ae.t.Fatalf("oclcbot %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// with opens the application's stores as the daemon does, calls fn and
// closes them, so that the command under test opens the database alone.
func (ae *adminEnv) with(fn func(a *app)) {
	ae.t.Helper()
	cfg, err := config.Load(ae.cfgPath)
	if err != nil {
		ae.t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		ae.t.Fatal(err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			ae.t.Error(err)
		}
	}()
	fn(a)
}

// export sends one Connexion request through the real receiver pipeline
// (rules, catalog or relay, export log) and returns the reply.
func exportThrough(t *testing.T, a *app, user, password string, records ...[]byte) string {
	t.Helper()
	rc, err := receiver.New(receiver.Config{
		Sink: a.sink, Log: a.exports, Templates: a.tmpl, Open: true,
		TargetPrefix: a.cfg.Library.TargetPrefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := gateway.AppendRequest(nil, &gateway.Request{User: user, Password: password, Records: records})
	if err != nil {
		t.Fatal(err)
	}
	req, err := gateway.ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	req.RemoteAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 50123}
	req.Received = time.Now()
	req.Complete = req.Received
	return rc.ServeExport(context.Background(), req)
}

// testRecord builds an OCLC-style UTF-8 record.
func testRecord(t *testing.T, oclc, author, title string, notes ...string) []byte {
	t.Helper()
	r := marc.NewRecord()
	sf := func(kv ...string) []marc.Subfield {
		var s []marc.Subfield
		for i := 0; i < len(kv); i += 2 {
			s = append(s, marc.Subfield{Code: kv[i][0], Value: kv[i+1]})
		}
		return s
	}
	r.AddField(marc.Field{Tag: "001", Value: "ocm" + oclc})
	r.AddField(marc.Field{Tag: "003", Value: "OCoLC"})
	r.AddField(marc.Field{Tag: "008", Value: "200101s2020    nyu           000 0 eng d"})
	r.AddField(marc.Field{Tag: "040", Ind1: ' ', Ind2: ' ', Subfields: sf("a", "DLC", "b", "eng", "c", "DLC")})
	r.AddField(marc.Field{Tag: "049", Ind1: ' ', Ind2: ' ', Subfields: sf("a", "HVDA")})
	r.AddField(marc.Field{Tag: "100", Ind1: '1', Ind2: ' ', Subfields: sf("a", author)})
	r.AddField(marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: sf("a", title)})
	for _, n := range notes {
		r.AddField(marc.Field{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: sf("a", n)})
	}
	r.AddField(marc.Field{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: sf("a", "Coffeehouses")})
	b, err := marc.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExportsListAndShow(t *testing.T) {
	ae := newAdminEnv(t, "")
	ae.with(func(a *app) {
		exportThrough(t, a, "alice", "s3cret-pw", testRecord(t, "11111111", "Müller, Hans.", "Café society"))
		exportThrough(t, a, "bob", "", testRecord(t, "22222222", "Tolstoy, Leo.", "War and peace"))
		exportThrough(t, a, "bob", "", []byte("00024not a marc record\x1e\x1d"))
	})

	out := ae.mustRun("exports", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("exports list: want a header and 3 attempts, got:\n%s", out)
	}
	// Newest first: the invalid record, then War and peace, then Café society.
	for i, want := range []string{"invalid-record", "War and peace", "Café society"} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %d = %q, want it to mention %q", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[3], "added") || !strings.Contains(lines[3], "000000001") || !strings.Contains(lines[3], "11111111") {
		t.Errorf("first attempt line lacks outcome, system number or OCLC number: %q", lines[3])
	}

	// Filters.
	if out := ae.mustRun("exports", "list", "--user", "alice"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "Café society") {
		t.Errorf("--user alice:\n%s", out)
	}
	if out := ae.mustRun("exports", "list", "--outcome", "rejected"); !strings.Contains(out, "invalid-record") || strings.Contains(out, "Café") {
		t.Errorf("--outcome rejected:\n%s", out)
	}
	if out := ae.mustRun("exports", "list", "--oclc", "(OCoLC)22222222"); !strings.Contains(out, "War and peace") || strings.Count(out, "\n") != 2 {
		t.Errorf("--oclc:\n%s", out)
	}
	if out := ae.mustRun("exports", "list", "--failed"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "invalid-record") {
		t.Errorf("--failed:\n%s", out)
	}
	if out := ae.mustRun("exports", "list", "--limit", "1"); !strings.Contains(out, "invalid-record") || strings.Contains(out, "War and peace") || !strings.Contains(out, "--limit shows more") {
		t.Errorf("--limit 1 should show only the newest:\n%s", out)
	}
	if out := ae.mustRun("exports", "list", "--since", "2099-01-01"); strings.TrimSpace(out) != "no export attempts match" {
		t.Errorf("--since in the future: %q", out)
	}
	if _, errOut, code := ae.run("exports", "list", "--outcome", "exploded"); code != exitUsage || !strings.Contains(errOut, "want one of") {
		t.Errorf("bad --outcome: exit %d, stderr %q", code, errOut)
	}

	// JSON for scripts.
	var got []attemptJSON
	if err := json.Unmarshal([]byte(ae.mustRun("exports", "list", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].User != "alice" || got[2].Outcome != "added" || got[2].SystemNumber != "000000001" || got[0].Cause != exportlog.CauseInvalidRecord {
		t.Errorf("--json: %+v", got)
	}

	// show: the reply, the request with its record as mrk, never the password.
	id := strconv.FormatInt(got[2].ID, 10)
	out = ae.mustRun("exports", "show", id)
	for _, want := range []string{"Export attempt " + id, "login alice", "outcome:       added, system number 000000001",
		"Reply to the cataloger:", got[2].Reply[:20], `login "alice", 1 record(s)`, "Record 1 (this attempt)", "=245  10$aCafé society"} {
		if !strings.Contains(out, want) {
			t.Errorf("exports show %s lacks %q:\n%s", id, want, out)
		}
	}
	raw := ae.mustRun("exports", "show", id, "--raw")
	for _, o := range []string{out, raw} {
		if strings.Contains(o, "s3cret-pw") {
			t.Fatalf("the password reached the output:\n%s", o)
		}
	}
	if !strings.Contains(raw, "*********") || !strings.Contains(raw, "Café society") {
		t.Errorf("--raw is not the logged request: %q", raw)
	}
	if out := ae.mustRun("exports", "show", strconv.FormatInt(got[0].ID, 10)); !strings.Contains(out, "failure:       record class, cause invalid-record") {
		t.Errorf("show of the failed attempt:\n%s", out)
	}
	if _, errOut, code := ae.run("exports", "show", "999"); code != exitFailure || !strings.Contains(errOut, "no export attempt 999") {
		t.Errorf("show 999: exit %d, stderr %q", code, errOut)
	}
	if _, _, code := ae.run("exports", "show", "x"); code != exitUsage {
		t.Errorf("show x: exit %d, want %d", code, exitUsage)
	}
}

func TestExportsEmptyLog(t *testing.T) {
	ae := newAdminEnv(t, "")
	ae.with(func(*app) {}) // create the database
	if out := ae.mustRun("exports", "list"); strings.TrimSpace(out) != "the export log is empty" {
		t.Errorf("exports list on an empty log: %q", out)
	}
	if out := ae.mustRun("exports", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("--json on an empty log: %q", out)
	}
}

// TestReadOnlyCommandsNeedDatabase: a command that only reads must not
// create an empty database where the configuration points by mistake.
func TestReadOnlyCommandsNeedDatabase(t *testing.T) {
	ae := newAdminEnv(t, "")
	for _, args := range [][]string{
		{"catalog", "search", "tolstoy"}, {"catalog", "show", "1"}, {"catalog", "duplicates"}, {"catalog", "stats"},
		{"exports", "list"}, {"exports", "show", "1"},
		{"incidents", "list"}, {"incidents", "show", "OIS-2026-0001"}, {"incidents", "ack", "OIS-2026-0001", "--by", "x"},
		{"incidents", "silences"},
		{"outbox", "list"}, {"outbox", "dead"}, {"outbox", "retry"},
	} {
		_, errOut, code := ae.run(args...)
		if code != exitFailure || !strings.Contains(errOut, "no database yet at "+ae.dbPath) || !strings.Contains(errOut, "oclcbot serve") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and a message naming the missing database", args, code, errOut)
		}
		if _, err := os.Stat(ae.dbPath); !os.IsNotExist(err) {
			t.Fatalf("%v created the database (stat: %v)", args, err)
		}
	}
	relayEnv := newAdminEnv(t, "\n[relay]\nupstream = \"127.0.0.1:9\"\n")
	for _, args := range [][]string{{"queue", "list"}, {"queue", "show", "1"}, {"queue", "retry"}, {"queue", "drop", "1", "--reason", "x"}} {
		_, errOut, code := relayEnv.run(args...)
		if code != exitFailure || !strings.Contains(errOut, "no database yet at "+relayEnv.dbPath) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and a message naming the missing database", args, code, errOut)
		}
		if _, err := os.Stat(relayEnv.dbPath); !os.IsNotExist(err) {
			t.Fatalf("%v created the database (stat: %v)", args, err)
		}
	}
}

// TestAdminHelp: -h works everywhere, on standard output with status 0;
// a bad flag or subcommand is a usage error.
func TestAdminHelp(t *testing.T) {
	subs := map[string][]string{
		"catalog":   {"search", "show", "duplicates", "stats"},
		"exports":   {"list", "show"},
		"queue":     {"list", "show", "retry", "drop"},
		"incidents": {"list", "show", "ack", "solve", "note", "silence", "unsilence", "silences", "window"},
		"outbox":    {"list", "dead", "show", "retry"},
	}
	for group, names := range subs {
		var out, errb bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
		if code := run(context.Background(), []string{group, "-h"}, e); code != exitOK || !strings.Contains(out.String(), "Usage: oclcbot "+group+" SUBCOMMAND") {
			t.Errorf("%s -h: exit %d, stdout %q", group, code, out.String())
		}
		groupHelp := out.String()
		for _, name := range names {
			if !strings.Contains(groupHelp, "  "+name+" ") {
				t.Errorf("%s -h does not list %s", group, name)
			}
			out.Reset()
			if code := run(context.Background(), []string{group, name, "-h"}, e); code != exitOK ||
				!strings.Contains(out.String(), "Usage: oclcbot "+group+" "+name) || !strings.Contains(out.String(), "-config") {
				t.Errorf("%s %s -h: exit %d, stdout %q", group, name, code, out.String())
			}
			errb.Reset()
			if code := run(context.Background(), []string{group, name, "--no-such-flag"}, e); code != exitUsage || !strings.Contains(errb.String(), "Usage:") {
				t.Errorf("%s %s --no-such-flag: exit %d, stderr %q", group, name, code, errb.String())
			}
		}
		errb.Reset()
		if code := run(context.Background(), []string{group}, e); code != exitUsage || !strings.Contains(errb.String(), "Subcommands:") {
			t.Errorf("%s alone: exit %d, stderr %q", group, code, errb.String())
		}
		errb.Reset()
		if code := run(context.Background(), []string{group, "frobnicate"}, e); code != exitUsage || !strings.Contains(errb.String(), `unknown subcommand "frobnicate"`) {
			t.Errorf("%s frobnicate: exit %d, stderr %q", group, code, errb.String())
		}
	}
}

func TestParseWhen(t *testing.T) {
	loc := time.FixedZone("EST", -5*3600)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		dir  int
		want time.Time
	}{
		{"90m", -1, now.Add(-90 * time.Minute)},
		{"2d", +1, now.Add(48 * time.Hour)},
		{"2026-03-01", -1, time.Date(2026, 3, 1, 0, 0, 0, 0, loc)},
		{"2026-03-01 14:30", +1, time.Date(2026, 3, 1, 14, 30, 0, 0, loc)},
		{"2026-03-01T14:30:05Z", +1, time.Date(2026, 3, 1, 14, 30, 5, 0, time.UTC)},
	} {
		got, err := parseWhen(c.in, now, loc, c.dir)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseWhen("soon", now, loc, 1); err == nil || !strings.Contains(err.Error(), "neither a duration") {
		t.Errorf("parseWhen(soon): %v", err)
	}
}
