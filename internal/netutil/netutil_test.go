package netutil

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.1:25": true, "[::1]:993": true, "::1": true, "localhost:5500": true, "LOCALHOST": true,
		"0.0.0.0:5500": false, ":5500": false, "10.0.0.1:25": false, "smtp.example.edu:587": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestAppendCAFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not a certificate\n"), 0o600)
	if _, err := AppendCAFile(x509.NewCertPool(), empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("a file without certificates: %v, want an error naming it", err)
	}
	if _, err := AppendCAFile(nil, filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}
