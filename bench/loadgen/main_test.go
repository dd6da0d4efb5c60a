package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oclcbot/oclcbot/gateway"
)

// TestRunReportsTheClient runs the command against a real gateway.Server
// with each -client and none (the default) and checks the client it used is named in the header
// and the RESULT line, and that a clean run exits 0.
func TestRunReportsTheClient(t *testing.T) {
	var n atomic.Int64
	addr := startGateway(t, gateway.HandlerFunc(func(_ context.Context, req *gateway.Request) string {
		if req.User != "bench" || req.Password != "s3cret-pw" {
			return "Invalid login"
		}
		return fmt.Sprintf("Added to the catalog as system number %d", n.Add(1))
	}))
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The -client value ("" for none) and the client it must use.
	want := map[string]string{"": clientEpoll, clientEpoll: clientEpoll, clientRaw: clientRaw, clientGateway: clientGateway}
	if runtime.GOOS != "linux" {
		for k := range want {
			want[k] = clientGateway // the documented fallback
		}
	}
	for _, flagValue := range []string{"", clientEpoll, clientRaw, clientGateway} {
		var stdout, stderr bytes.Buffer
		args := []string{"-to", addr, "-conns", "3", "-n", "30", "-warmup", "5", "-user", "bench", "-password-file", pw}
		if flagValue != "" {
			args = append(args, "-client", flagValue)
		}
		code := run(args, &stdout, &stderr)
		out := stdout.String()
		if code != 0 {
			t.Fatalf("-client %s: exit %d\n%s%s", flagValue, code, out, stderr.String())
		}
		header, _, _ := strings.Cut(out, "\n")
		if !strings.HasSuffix(header, "client="+want[flagValue]) {
			t.Errorf("-client %s: header %q does not name client=%s", flagValue, header, want[flagValue])
		}
		if !strings.Contains(out, "\nRESULT client="+want[flagValue]+" conns=3 n=30 ") || !regexp.MustCompile(` errors=0 ok=30( cpu_user_s=\S+ cpu_sys_s=\S+ cpu_ms_per_export=\S+)?\n`).MatchString(out) {
			t.Errorf("-client %s: RESULT line wrong in\n%s", flagValue, out)
		}
	}
	if got := n.Load(); got != 4*35 {
		t.Errorf("server added %d records, want %d", got, 4*35)
	}
}

// TestRunRejectsUnknownClient: a -client value that names no client is a
// usage error.
func TestRunRejectsUnknownClient(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-to", "127.0.0.1:1", "-client", "io_uring"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "-client epoll|raw|gateway") {
		t.Errorf("usage not printed: %q", stderr.String())
	}
}
