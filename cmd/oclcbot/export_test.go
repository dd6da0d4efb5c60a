package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

const testPassword = "s3cret-Passw0rd"

// received is what the test gateway saw in one request.
type received struct {
	user, password string
	records        [][]byte
}

// testGateway is a real gateway.Server on a loopback port whose handler
// records each request and answers with reply.
type testGateway struct {
	addr  string
	mu    sync.Mutex
	reqs  []received
	reply func(ctx context.Context, req *gateway.Request) string
}

func startGateway(t *testing.T, reply func(ctx context.Context, req *gateway.Request) string) *testGateway {
	t.Helper()
	g := &testGateway{reply: reply}
	srv := &gateway.Server{Logger: slog.New(slog.DiscardHandler), Handler: gateway.HandlerFunc(func(ctx context.Context, req *gateway.Request) string {
		g.mu.Lock()
		rec := received{user: req.User, password: req.Password}
		for _, r := range req.Records {
			rec.records = append(rec.records, bytes.Clone(r))
		}
		g.reqs = append(g.reqs, rec)
		g.mu.Unlock()
		return g.reply(ctx, req)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, gateway.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return g
}

func (g *testGateway) requests() []received {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]received(nil), g.reqs...)
}

// importOK answers as a receiver that imported the record.
func importOK(_ context.Context, req *gateway.Request) string {
	r, err := marc.Decode(req.Records[0])
	if err != nil {
		return "Error: " + err.Error() + "\n"
	}
	return "Import ok: " + r.ControlValue("001") + "\n"
}

func passwordFile(t *testing.T) string {
	t.Helper()
	return writeTemp(t, "password", []byte(testPassword+"\n"))
}

// splitRecords returns the raw records of a file.
func splitRecords(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	rd := marc.NewReader(bytes.NewReader(data))
	for {
		raw, _, err := rd.ReadRaw()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(raw))
	}
}

// TestExportSendsEachRecord checks that every record goes, byte for byte,
// in its own request with the credentials, and that the replies are
// printed in input order even when sent concurrently.
func TestExportSendsEachRecord(t *testing.T) {
	g := startGateway(t, importOK)
	data := readFile(t, marc8File)
	want := splitRecords(t, data)
	code, out, stderr := runCmd(t, t.Context(), nil, "export", "--to", g.addr, "--user", "cat1",
		"--password-file", passwordFile(t), "--concurrency", "4", marc8File)
	if code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, stderr)
	}
	reqs := g.requests()
	if len(reqs) != len(want) {
		t.Fatalf("server got %d requests, want %d", len(reqs), len(want))
	}
	got := map[string]int{}
	for _, r := range reqs {
		if r.user != "cat1" || r.password != testPassword {
			t.Errorf("request credentials %q/%q, want cat1 and the password file's", r.user, r.password)
		}
		if len(r.records) != 1 {
			t.Errorf("request with %d records, want 1", len(r.records))
			continue
		}
		got[string(r.records[0])]++
	}
	for i, w := range want {
		if got[string(w)] != 1 {
			t.Errorf("record %d was sent %d times, want once, unchanged", i+1, got[string(w)])
		}
	}
	var wantOut strings.Builder
	for i, w := range want {
		r, err := marc.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&wantOut, "record %d: Import ok: %s\n", i+1, r.ControlValue("001"))
	}
	if out != wantOut.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, wantOut.String())
	}
	if strings.Contains(out+stderr, testPassword) {
		t.Error("the password was printed")
	}
}

// TestExportShowsOCLCNumber checks the prefix of a record with an OCLC
// number, and a multi-line reply's layout.
func TestExportShowsOCLCNumber(t *testing.T) {
	g := startGateway(t, func(context.Context, *gateway.Request) string {
		return "Success.\r\nbiblio record number 42 added\n"
	})
	r := marc.NewRecord()
	r.Fields = append(r.Fields, marc.Field{Tag: "001", Value: "ocm00012345 "}, marc.Field{Tag: "003", Value: "OCoLC"},
		marc.Field{Tag: "245", Ind1: '0', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "Title."}}})
	raw, err := marc.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(passwordEnv, testPassword)
	code, out, stderr := runCmd(t, t.Context(), raw, "export", "--to", g.addr, "--user", "u")
	if code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, stderr)
	}
	if want := "record 1 (OCLC 12345): Success.\n    biblio record number 42 added\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if reqs := g.requests(); len(reqs) != 1 || reqs[0].password != testPassword {
		t.Errorf("the password from $%s was not sent: %+v", passwordEnv, reqs)
	}
}

// TestExportErrorReplyFails checks that a refusal is printed and makes
// the exit status 1, and that the other records still go.
func TestExportErrorReplyFails(t *testing.T) {
	g := startGateway(t, func(ctx context.Context, req *gateway.Request) string {
		r, _ := marc.Decode(req.Records[0])
		if r != nil && r.ControlValue("001") == "m8-greek" {
			return "Error: record refused\n"
		}
		return importOK(ctx, req)
	})
	code, out, stderr := runCmd(t, t.Context(), nil, "export", "--to", g.addr, "--password-file", passwordFile(t), marc8File)
	if code != exitFailure {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(out, "record 3: Error: record refused\n") || !strings.Contains(out, "record 12: Import ok") {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(stderr, "12 records answered: 1 refused by the server") {
		t.Errorf("stderr has no summary:\n%s", stderr)
	}
	if len(g.requests()) != 12 {
		t.Errorf("%d requests, want 12", len(g.requests()))
	}
}

// TestExportSkipsUnreadableRecords checks that a damaged record is
// reported with its offset and not sent.
func TestExportSkipsUnreadableRecords(t *testing.T) {
	g := startGateway(t, importOK)
	good := splitRecords(t, readFile(t, marc8File))
	bad := readFile(t, filepath.Join(brokenDir, "indicator-nul.mrc"))
	file := writeTemp(t, "mixed.mrc", bytes.Join([][]byte{good[0], bad, good[1]}, nil))
	code, out, stderr := runCmd(t, t.Context(), nil, "export", "--to", g.addr, "--password-file", passwordFile(t), file, marc8File)
	if code != exitFailure {
		t.Errorf("exit status %d, want 1", code)
	}
	want := file + " record 2 at byte " + itoa(len(good[0])) + ": not sent: "
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report %q:\n%s", want, stderr)
	}
	if n := len(g.requests()); n != 14 {
		t.Errorf("%d requests, want 14 (2 + 12)", n)
	}
	if !strings.HasPrefix(out, file+" record 1: Import ok: m8-latin\n"+file+" record 3: Import ok: m8-ansel\n"+marc8File+" record 1: ") {
		t.Errorf("stdout:\n%s", out)
	}
}

// TestExportUnreachable checks a transport failure: reported, exit 1, and
// the password nowhere in the output.
func TestExportUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	code, out, stderr := runCmd(t, t.Context(), nil, "export", "--to", addr, "--user", "u", "--password-file", passwordFile(t), marc8File)
	if code != exitFailure {
		t.Errorf("exit status %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if !strings.Contains(stderr, "record 1 at byte 0: failed: gateway: export to "+addr+": dial: cannot connect") ||
		!strings.Contains(stderr, "0 records answered: 12 failed") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if strings.Contains(stderr, testPassword) {
		t.Error("the password was printed")
	}
}

// TestExportInterrupted checks that cancelling (Ctrl-C) stops sending and
// says how many records were sent.
func TestExportInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g := startGateway(t, nil)
	var n int
	g.reply = func(hctx context.Context, req *gateway.Request) string {
		g.mu.Lock()
		n++
		k := n
		g.mu.Unlock()
		if k == 3 {
			cancel()
			<-hctx.Done() // until the server closes: the client gives up first
		}
		return "Import ok\n"
	}
	code, out, stderr := runCmd(t, ctx, nil, "export", "--to", g.addr, "--password-file", passwordFile(t), marc8File)
	if code != exitFailure {
		t.Errorf("exit status %d, want 1", code)
	}
	if out != "record 1: Import ok\nrecord 2: Import ok\n" {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(stderr, "record 3 at byte") || !strings.Contains(stderr, "interrupted: 2 records sent and answered") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if n := len(g.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestExportUsage(t *testing.T) {
	pw := passwordFile(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", marc8File}, "--to HOST:PORT is required"},
		{[]string{"export", "--to", "nohost", marc8File}, "is not HOST:PORT"},
		{[]string{"export", "--to", "127.0.0.1:1", "--concurrency", "0", marc8File}, "--concurrency must be between 1 and"},
		{[]string{"export", "--to", "127.0.0.1:1", "--password", testPassword, marc8File}, "flag provided but not defined: -password"},
	} {
		code, _, stderr := runCmd(t, t.Context(), nil, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.mrc")
	code, _, stderr := runCmd(t, t.Context(), nil, "export", "--to", "127.0.0.1:1", "--password-file", pw, marc8File, missing)
	if code != exitFailure || !strings.Contains(stderr, missing) {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
	empty := writeTemp(t, "empty-password", []byte("\n"))
	code, _, stderr = runCmd(t, t.Context(), nil, "export", "--to", "127.0.0.1:1", "--password-file", empty, marc8File)
	if code != exitFailure || !strings.Contains(stderr, "first line is empty") {
		t.Errorf("empty password file: exit %d, stderr %q", code, stderr)
	}
}

func TestDisplayReply(t *testing.T) {
	for in, want := range map[string]string{
		"Import ok\n":             "Import ok",
		"Success.\r\nrecord 42\n": "Success.\n    record 42",
		"bad \x1b[31mred\x07\n\n": `bad \x1b[31mred\x07`,
		"":                        "",
	} {
		if got := displayReply(in); got != want {
			t.Errorf("displayReply(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderProgress(t *testing.T) {
	for _, c := range []struct {
		done, total, failed int
		want                string
	}{
		{0, 10, 0, "[                              ] 0/10 records"},
		{5, 10, 1, "[###############               ] 5/10 records, 1 failed"},
		{10, 10, 0, "[##############################] 10/10 records"},
		{7, 0, 0, "7 records"},
	} {
		if got := renderProgress(c.done, c.total, c.failed); got != c.want {
			t.Errorf("renderProgress(%d, %d, %d) = %q, want %q", c.done, c.total, c.failed, got, c.want)
		}
	}
	// Not a terminal: no progress output at all.
	var buf bytes.Buffer
	p := newProgress(&buf, []string{marc8File})
	p.update(1, 0)
	p.clear()
	if buf.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", buf.String())
	}
	if n, err := countRecords(marc8File); err != nil || n != 12 {
		t.Errorf("countRecords = %d, %v; want 12", n, err)
	}
	if _, err := os.Stat(marc8File); err != nil {
		t.Fatal(err)
	}
}
