package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
