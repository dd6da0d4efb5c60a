package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/internal/testutil"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/receiver/relay"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.Buffer

var readyRE = regexp.MustCompile(`msg="oclcbot ready" listener=(\S+)`)

// startServe runs `oclcbot serve` with the configuration text in a
// temporary directory and returns the listener address, the log, and a
// stop function returning the exit status.
func startServe(t *testing.T, cfgText string) (addr, dir string, logs *syncBuffer, stop func() int) {
	t.Helper()
	dir = t.TempDir()
	cfgText = "[storage]\npath = \"oclcbot.db\"\n[listener]\naddr = \"127.0.0.1:0\"\n" + cfgText
	cfgPath := filepath.Join(dir, "oclcbot.toml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-config", cfgPath}, &env{stdin: strings.NewReader(""), stdout: logs, stderr: logs})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := readyRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before it was ready:\n%s", code, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve not ready:\n%s", logs.String())
		}
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(40 * time.Second):
				t.Fatalf("serve did not stop:\n%s", logs.String())
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return addr, dir, logs, stop
}

func firstRecord(t *testing.T) (raw []byte, title string) {
	t.Helper()
	f, err := os.Open("../../marc/testdata/corpus.mrc")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := marc.NewReader(f)
	for {
		raw, _, err := r.ReadRaw()
		if err != nil {
			t.Fatalf("no usable record in the corpus: %v", err)
		}
		var rec marc.Record
		if rec.UnmarshalBinary(raw) != nil {
			continue
		}
		if marc.OCLCNumber(&rec) != "" && rec.Leader[9] == 'a' {
			return raw, rec.SubfieldValue("245", 'a')
		}
	}
}

func TestServeReceivesAnExportAndStopsCleanly(t *testing.T) {
	raw, _ := firstRecord(t)
	addr, dir, logs, stop := startServe(t, "[probes]\ndisabled = true\n")
	c := &gateway.Client{Addr: addr, Timeout: 10 * time.Second}
	reply, err := c.Export(context.Background(), "cat1", "", raw)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, logs.String())
	}
	if !strings.Contains(strings.ToLower(reply), "added") {
		t.Errorf("reply to a new record: %q, want it to say the record was added", reply)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exit status %d after SIGTERM-like stop:\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), `msg=stopped`) {
		t.Errorf("no clean stop in the log:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "oclcbot.db")); err != nil {
		t.Errorf("database: %v", err)
	}
}

func TestServeRefusesAnOpenListenerOffLoopback(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[listener]\naddr = \"0.0.0.0:0\"\n[storage]\npath = \""+filepath.Join(dir, "x.db")+"\"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != exitFailure || !strings.Contains(errb.String(), "accounts") {
		t.Fatalf("exit %d, stderr %q: want a refusal that mentions accounts", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Errorf("the refused start created a database")
	}
}

func TestServeStopsOnABrokenTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "tmpl"), 0o700)
	os.WriteFile(filepath.Join(dir, "tmpl", "mine.tmpl"), []byte("{{define \"email.alert.subject\"}}\nOCLC {{.NoSuchField}}{{end}}\n"), 0o600)
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[templates]\ndir = \"tmpl\"\n[storage]\npath = \""+filepath.Join(dir, "x.db")+"\"\n[listener]\naddr = \"127.0.0.1:0\"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != exitFailure || !strings.Contains(errb.String(), "mine.tmpl:2") {
		t.Fatalf("exit %d, stderr %q: want a failure naming mine.tmpl line 2", code, errb.String())
	}
}

// stalledUpstream accepts connections and reads them, but never replies:
// an ILS that hangs mid-import.
func stalledUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go io.Copy(io.Discard, c)
		}
	}()
	return ln.Addr().String()
}

func TestServeAbandonsExportsStillRunningAfterTheGrace(t *testing.T) {
	grace, abandon := shutdownGrace, abandonGrace
	shutdownGrace, abandonGrace = 200*time.Millisecond, 20*time.Second
	t.Cleanup(func() { shutdownGrace, abandonGrace = grace, abandon })

	raw, _ := firstRecord(t)
	up := stalledUpstream(t)
	addr, _, logs, stop := startServe(t, "[log]\nlevel = \"debug\"\n[probes]\ndisabled = true\n[relay]\nupstream = \""+up+"\"\nreply_timeout = \"1h\"\n")
	exported := make(chan error, 1)
	go func() {
		_, err := (&gateway.Client{Addr: addr, Timeout: time.Hour}).Export(context.Background(), "cat1", "", raw)
		exported <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "request received") {
		if time.Now().After(deadline) {
			t.Fatalf("the export never reached the relay:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := stop(); code != exitFailure {
		t.Errorf("exit status %d after stopping with an export in progress, want %d:\n%s", code, exitFailure, logs.String())
	}
	// serve closed the database only after the abandoned export ended:
	// its connection is closed by now, not left waiting on the ILS.
	select {
	case <-exported:
	case <-time.After(10 * time.Second):
		t.Fatalf("the abandoned export's connection is still open after serve returned:\n%s", logs.String())
	}
	if l := logs.String(); !strings.Contains(l, "abandoned") || strings.Contains(l, "did not end") {
		t.Errorf("log does not say the export was abandoned and ended:\n%s", l)
	}
}

func TestServePortInUseSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[listener]\naddr = \""+ln.Addr().String()+"\"\n[storage]\npath = \""+filepath.Join(dir, "x.db")+"\"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != exitFailure || !strings.Contains(errb.String(), "already in use") || !strings.Contains(errb.String(), ln.Addr().String()) {
		t.Fatalf("exit %d, stderr %q: want a failure saying %s is already in use", code, errb.String(), ln.Addr())
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Errorf("the refused start created the database")
	}
}

// TestServeRefusesASecondDaemonOnTheSameDatabase: two daemons on one
// database would both deliver every notification.
func TestServeRefusesASecondDaemonOnTheSameDatabase(t *testing.T) {
	_, dir, _, _ := startServe(t, "[probes]\ndisabled = true\n")
	cfg := filepath.Join(dir, "second.toml")
	os.WriteFile(cfg, []byte("[listener]\naddr = \"127.0.0.1:0\"\n[storage]\npath = \""+filepath.Join(dir, "oclcbot.db")+"\"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	want := fmt.Sprintf("another oclcbot serve (pid %d) is already running", os.Getpid())
	if code != exitFailure || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, stderr %q: want a refusal saying %q", code, errb.String(), want)
	}
}

func TestServeCheckNeitherBindsNorOpensTheDatabase(t *testing.T) {
	// The usual case: checking an edited configuration while the daemon
	// holds the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[listener]\naddr = \""+ln.Addr().String()+"\"\n[storage]\npath = \""+filepath.Join(dir, "x.db")+"\"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-check", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != exitOK || !strings.Contains(out.String(), "valid") {
		t.Fatalf("serve -check beside a running daemon: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Errorf("serve -check created the database")
	}
}

func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[listener]\naddr = \"127.0.0.1:0\"\n[report]\nwebhook_url = \"https://hooks.example.edu/T0/B0/tok\"\nwebhook_secret = \"short\"\n"), 0o600)
	for _, args := range [][]string{{"config", "check", "-config", cfg}, {"serve", "-check", "-config", cfg}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
		if code != exitFailure || !strings.Contains(errb.String(), "report.webhook_secret") || strings.Contains(errb.String(), "short") {
			t.Errorf("%v with a 5-byte webhook secret: exit %d, stderr %q: want a failure naming report.webhook_secret, without the secret", args, code, errb.String())
		}
	}
}

func TestConfigShowHidesTheWebhookToken(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[report]\nwebhook_url = \"https://u:pw-secret@hooks.example.edu/services/T0/tok-secret?key=q-secret\"\nwebhook_secret = \"0123456789abcdef-secret\"\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "show", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}); code != exitOK {
		t.Fatalf("config show: exit %d, %s", code, errb.String())
	}
	if strings.Contains(out.String(), "secret\"") || strings.Contains(out.String(), "-secret") {
		t.Errorf("config show prints a credential:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `webhook_url = "https://hooks.example.edu/<redacted>"`) {
		t.Errorf("config show should still name the webhook's host:\n%s", out.String())
	}
}

func TestServeSaysTheCanaryIsOffWithoutItsPassword(t *testing.T) {
	hash, err := receiver.HashPassword("pw-for-cat1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, logs, stop := startServe(t, "[[accounts]]\nuser = \"cat1\"\npassword_hash = \""+hash+"\"\n")
	stop()
	if !strings.Contains(logs.String(), "canary probe off") || !strings.Contains(logs.String(), "canary.password") {
		t.Errorf("no start-up notice that the canary is off for want of canary.password:\n%s", logs.String())
	}
}

func TestServeFailsCleanlyOnADatabaseFromANewerOclcbot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The catalog opens after the export log: a failure there must close
	// what was opened, not panic.
	if err := d.Migrate(context.Background(), catalog.Component, []db.Migration{{Version: 1, SQL: "CREATE TABLE x (y)"}, {Version: 2, SQL: "CREATE TABLE z (y)"}}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[listener]\naddr = \"127.0.0.1:0\"\n[storage]\npath = \""+path+"\"\n"), 0o600)
	// A schema version far beyond this oclcbot's.
	d, err = db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO schema_migrations (component, version) VALUES (?, 999)`, catalog.Component)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-config", cfg}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != exitFailure || !strings.Contains(errb.String(), "newer") {
		t.Fatalf("exit %d, stderr %q: want a failure saying the database is from a newer oclcbot", code, errb.String())
	}
}

func TestRelayDefaultsAgreeWithTheRelay(t *testing.T) {
	c, err := config.Parse([]byte("[relay]\nupstream = \"ils.example.edu:5500\"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Relay
	if r.ReplyTimeout.D() != relay.DefaultReplyTimeout || r.ConnectTimeout.D() != relay.DefaultConnectTimeout ||
		r.RetryInitial.D() != relay.DefaultInitialBackoff || r.RetryMax.D() != relay.DefaultMaxBackoff {
		t.Errorf("config relay defaults reply %v connect %v retry %v..%v differ from the relay package's documented ones",
			r.ReplyTimeout.D(), r.ConnectTimeout.D(), r.RetryInitial.D(), r.RetryMax.D())
	}
}

// TestRelayRewritesCredentials: with relay.user, relay.local_user and
// relay.password set, the ILS receives those (FOLIO reads "tenant user
// password" from the A field), never the cataloger's login.
func TestRelayRewritesCredentials(t *testing.T) {
	got := make(chan *gateway.Request, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ils := &gateway.Server{Handler: gateway.HandlerFunc(func(_ context.Context, r *gateway.Request) string {
		select {
		case got <- r:
		default:
		}
		return "Import ok\n"
	}), Logger: slog.New(slog.DiscardHandler)}
	go ils.Serve(ln)
	t.Cleanup(func() { ils.Close() })

	raw, _ := firstRecord(t)
	addr, _, logs, _ := startServe(t, `
[probes]
disabled = true
[relay]
upstream = "`+ln.Addr().String()+`"
user = "folio"
local_user = "diku diku_admin s3cret-A"
password = "s3cret-P"
`)
	c := &gateway.Client{Addr: addr, Timeout: 10 * time.Second}
	if _, err := c.Export(context.Background(), "cataloger", "", raw); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.User != "folio" || r.LocalUser != "diku diku_admin s3cret-A" || r.Password != "s3cret-P" {
			t.Errorf("the ILS got U=%q A=%q P=%q; want the configured credentials", r.User, r.LocalUser, r.Password)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the ILS received nothing:\n%s", logs.String())
	}
	if s := logs.String(); strings.Contains(s, "s3cret") {
		t.Errorf("the log shows a relay secret:\n%s", s)
	}
}
