package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCredentials(t *testing.T) {
	tests := []struct {
		name                 string
		req                  Request
		wantUser, wantSecret string
	}{
		{"U and P", Request{User: "cat1", Password: "pw", LocalUser: "other x"}, "cat1", "pw"},
		{"U without P", Request{User: "cat1"}, "cat1", ""},
		{"A holds user and password", Request{LocalUser: "cat1 pw"}, "cat1", "pw"},
		{"A splits at its first space", Request{LocalUser: "diku dikuuser abc123"}, "diku", "dikuuser abc123"},
		{"A password may be empty", Request{LocalUser: "cat1 "}, "cat1", ""},
		{"A without a space is the user, P the password", Request{LocalUser: "cat1", Password: "pw"}, "cat1", "pw"},
		{"nothing", Request{}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, p := tc.req.Credentials()
			if u != tc.wantUser || p != tc.wantSecret {
				t.Errorf("Credentials() = %q, %q; want %q, %q", u, p, tc.wantUser, tc.wantSecret)
			}
		})
	}
}

// Whatever a Request is printed with, its secrets must not show.
func TestRequestPrintingHidesSecrets(t *testing.T) {
	const password, localSecret = "Sekr3t-pässwörd", "hunter2-local"
	req := &Request{
		ID:         42,
		User:       "cat1",
		LocalUser:  "cat2 " + localSecret,
		Password:   password,
		Records:    [][]byte{[]byte(rec10)},
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 50123},
		Received:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Raw:        []byte("UDcat1AScat2 *************P\x8f***************" + rec10),
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outputs = append(outputs, verb+": "+fmt.Sprintf(verb, req), verb+" (value): "+fmt.Sprintf(verb, *req))
	}
	outputs = append(outputs,
		"Sprint: "+fmt.Sprint(req),
		"Sprint in slice: "+fmt.Sprint([]*Request{req}),
		"Sprintf in struct: "+fmt.Sprintf("%+v", struct{ R Request }{*req}),
		"String: "+req.String(),
		"GoString: "+req.GoString(),
	)
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("export", "request", req, "value", *req)
	}
	outputs = append(outputs, "slog: "+logs.String())
	js, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, "json: "+string(js))
	jsv, _ := json.Marshal(struct{ R Request }{*req})
	outputs = append(outputs, "json in struct: "+string(jsv))

	for _, out := range outputs {
		for _, secret := range []string{password, localSecret, "Sekr3t", "hunter2"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q printed in %s", secret, out)
			}
		}
	}
	// The printouts still say what people need.
	for _, want := range []string{"request 42", "192.0.2.1:50123", `"cat1"`, "cat2 [redacted]", "1 record"} {
		if !strings.Contains(req.String(), want) {
			t.Errorf("String() = %q, missing %q", req.String(), want)
		}
	}
	if !strings.Contains(fmt.Sprintf("%#v", req), "gateway.Request{ID:42") {
		t.Errorf("%%#v = %s, want Go-syntax-like output", fmt.Sprintf("%#v", req))
	}
	if !strings.Contains(string(js), `"user":"cat1"`) || !strings.Contains(string(js), `"local_user":"cat2 [redacted]"`) {
		t.Errorf("JSON = %s, missing the user fields", js)
	}
}
