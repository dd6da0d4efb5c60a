package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/webhook"
	"github.com/oclcbot/oclcbot/incidents"
)

const secret = "0123456789abcdef-webhook-secret"

var now = time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)

// hit is one request the receiver got.
type hit struct {
	h    http.Header
	body []byte
	path string
}

// receiver is a ticketing system stand-in: it records requests and
// answers with the status (and headers) answer returns.
type receiver struct {
	mu     sync.Mutex
	hits   []hit
	answer func(r *http.Request) (int, http.Header, string)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.hits = append(rc.hits, hit{h: r.Header.Clone(), body: b, path: r.URL.RequestURI()})
	answer := rc.answer
	rc.mu.Unlock()
	status, hdr, text := http.StatusNoContent, http.Header(nil), ""
	if answer != nil {
		status, hdr, text = answer(r)
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	io.WriteString(w, text)
}

func (rc *receiver) all() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func newServer(t *testing.T, tlsServer bool) (*receiver, *httptest.Server) {
	rc := &receiver{}
	var srv *httptest.Server
	if tlsServer {
		srv = httptest.NewTLSServer(rc)
	} else {
		srv = httptest.NewServer(rc)
	}
	t.Cleanup(srv.Close)
	return rc, srv
}

// reportNotification is an escalation as the bot queues it for a report
// channel with attachments.
func reportNotification(t *testing.T) *incidents.Notification {
	t.Helper()
	nt := bot.SampleNotice(incidents.KindEscalation)
	nt.Key, nt.Channel = "OIS-2026-0042/escalation/3/ticket", "ticket"
	payload, err := json.Marshal(nt)
	if err != nil {
		t.Fatal(err)
	}
	return &incidents.Notification{Key: nt.Key, Channel: "ticket", Kind: incidents.KindEscalation, Incident: "OIS-2026-0042",
		ThreadKey: nt.Key, Subject: "OCLC export incident OIS-2026-0042: the library system", Body: "OCLC exports are failing.\n", Payload: payload}
}

func TestPostIsSignedAndCarriesTheReport(t *testing.T) {
	rc, srv := newServer(t, true)
	ch, err := webhook.New(webhook.Config{URL: srv.URL + "/hooks/oclc", Secret: secret, Client: srv.Client(),
		Headers: map[string]string{"Authorization": "Bearer tkt-123"}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	n := reportNotification(t)
	for range 2 {
		if err := ch.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	hits := rc.all()
	if len(hits) != 2 {
		t.Fatalf("receiver got %d requests", len(hits))
	}
	h := hits[0]
	if err := webhook.Verify([]byte(secret), h.h, h.body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", webhook.HeaderKey: n.Key, webhook.HeaderEvent: "escalation",
		webhook.HeaderTimestamp: "1772461800", "Authorization": "Bearer tkt-123",
	} {
		if got := h.h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var p webhook.Payload
	if err := json.Unmarshal(h.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Key != n.Key || p.Kind != incidents.KindEscalation || p.Incident != "OIS-2026-0042" || p.ThreadKey != n.Key || p.Subject != n.Subject || p.Body != n.Body {
		t.Errorf("payload %+v", p)
	}
	var nt incidents.Notice
	if err := json.Unmarshal(p.Notice, &nt); err != nil || nt.Report == nil || len(nt.Report.Records) != 2 {
		t.Fatalf("notice: %v %+v", err, nt.Report)
	}
	want, _ := n.Notice()
	if !bytes.Equal(nt.Report.Records[0].Raw, want.Report.Records[0].Raw) || len(nt.Report.Records[0].Raw) == 0 {
		t.Errorf("raw record changed in transit")
	}
	if !bytes.Equal(hits[1].body, h.body) || hits[1].h.Get(webhook.HeaderKey) != n.Key {
		t.Errorf("a resend differs: receivers cannot drop the copy")
	}
}

func TestAnswersDecideRetry(t *testing.T) {
	date := now.Add(90 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		status    int
		retry     string
		ok        bool
		permanent bool
		delay     time.Duration
	}{
		{200, "", true, false, 0},
		{202, "", true, false, 0},
		{429, "120", false, false, 120 * time.Second},
		{429, date, false, false, 90 * time.Second},
		{429, "", false, false, 0},
		{503, "7", false, false, 7 * time.Second},
		{500, "999999999", false, false, 10 * time.Minute},
		{502, "soon", false, false, 0},
		{408, "", false, false, 0},
		{400, "", false, true, 0},
		{401, "", false, true, 0},
		{404, "", false, true, 0},
		{410, "", false, true, 0},
		{302, "", false, true, 0},
	} {
		t.Run(http.StatusText(tc.status)+"_"+tc.retry, func(t *testing.T) {
			rc, srv := newServer(t, false)
			rc.answer = func(r *http.Request) (int, http.Header, string) {
				h := http.Header{}
				if tc.retry != "" {
					h.Set("Retry-After", tc.retry)
				}
				if tc.status == 302 {
					h.Set("Location", "/elsewhere")
				}
				return tc.status, h, "answer text"
			}
			ch, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret, Now: func() time.Time { return now }, MaxRetryAfter: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			err = ch.Send(context.Background(), reportNotification(t))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if len(rc.all()) != 1 {
				t.Errorf("%d requests, want 1 (redirects are not followed)", len(rc.all()))
			}
			if err == nil {
				return
			}
			d, _ := bot.RetryAfterOf(err)
			if bot.IsPermanent(err) != tc.permanent || d != tc.delay {
				t.Errorf("err %v: permanent %v delay %v, want %v %v", err, bot.IsPermanent(err), d, tc.permanent, tc.delay)
			}
			var we *webhook.Error
			if !errors.As(err, &we) || we.Status != tc.status || !strings.Contains(err.Error(), "answer text") {
				t.Errorf("err %v: want a *webhook.Error with status %d and the answer's text", err, tc.status)
			}
		})
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	rc, srv := newServer(t, false)
	rc.answer = func(r *http.Request) (int, http.Header, string) {
		return 401, nil, "bad token " + r.Header.Get("Authorization") + " for " + r.URL.RequestURI() + " sig " + r.Header.Get(webhook.HeaderSignature)
	}
	cfg := webhook.Config{URL: srv.URL + "/hooks/T0KEN-in-path?key=q-s3cret", Secret: secret, Headers: map[string]string{"Authorization": "Bearer hdr-s3cret"}}
	ch, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = ch.Send(context.Background(), reportNotification(t))
	if err == nil || !bot.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	for _, s := range []string{"T0KEN-in-path", "q-s3cret", "hdr-s3cret", secret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows %q: %v", s, err)
		}
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error does not say what failed: %v", err)
	}
	// Transport errors neither: the server is gone.
	srv.Close()
	err = ch.Send(context.Background(), reportNotification(t))
	if err == nil || bot.IsPermanent(err) {
		t.Fatalf("closed server: err %v, want temporary", err)
	}
	for _, s := range []string{"T0KEN-in-path", "q-s3cret", "hdr-s3cret", secret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows %q: %v", s, err)
		}
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("transport error lost its cause: %v", err)
	}
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	_, srv := newServer(t, true)
	ch, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	err = ch.Send(context.Background(), reportNotification(t))
	if err == nil || !bot.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v, want a permanent certificate error", err)
	}
}

func TestContextEndsThePost(t *testing.T) {
	block, arrived := make(chan struct{}), make(chan struct{}, 1)
	rc, srv := newServer(t, false)
	rc.answer = func(r *http.Request) (int, http.Header, string) { arrived <- struct{}{}; <-block; return 200, nil, "" }
	defer close(block)
	ch, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ch.Send(ctx, reportNotification(t)) }()
	<-arrived
	cancel()
	err = <-errc
	if !errors.Is(err, context.Canceled) || bot.IsPermanent(err) {
		t.Errorf("err = %v, want context.Canceled, temporary", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  webhook.Config
		want string
	}{
		{"no url", webhook.Config{Secret: secret}, "url"},
		{"ftp", webhook.Config{URL: "ftp://tickets.example.edu/x", Secret: secret}, "url"},
		{"plain http remote", webhook.Config{URL: "http://tickets.example.edu/hook?token=abc", Secret: secret}, "plain http"},
		{"short secret", webhook.Config{URL: "https://tickets.example.edu/", Secret: "short"}, "secret"},
		{"header injection", webhook.Config{URL: "https://tickets.example.edu/", Secret: secret, Headers: map[string]string{"X-A": "b\r\nX-Evil: 1"}}, "header"},
		{"overriding the signature", webhook.Config{URL: "https://tickets.example.edu/", Secret: secret, Headers: map[string]string{"x-oclcbot-signature": "x"}}, "set by oclcbot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.New(tc.cfg)
			if !errors.Is(err, webhook.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig about %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "token=abc") || strings.Contains(err.Error(), secret)) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	if _, err := webhook.New(webhook.Config{URL: "http://127.0.0.1:8080/hook", Secret: secret}); err != nil {
		t.Errorf("http to loopback: %v", err)
	}
	if _, err := webhook.New(webhook.Config{URL: "http://tickets.example.edu/", Secret: secret, AllowInsecure: true}); err != nil {
		t.Errorf("http forced: %v", err)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"key":"OIS-2026-0042/ack/4/ticket"}`)
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, "1772461800")
	h.Set(webhook.HeaderSignature, webhook.Sign([]byte(secret), "1772461800", body))
	if err := webhook.Verify([]byte(secret), h, body, now, time.Minute); err != nil {
		t.Errorf("good request: %v", err)
	}
	if err := webhook.Verify([]byte("another-secret-entirely"), h, body, now, time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	if err := webhook.Verify([]byte(secret), h, append(body, ' '), now, time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("changed body: %v", err)
	}
	if err := webhook.Verify([]byte(secret), h, body, now.Add(time.Hour), time.Minute); !errors.Is(err, webhook.ErrStale) {
		t.Errorf("replayed an hour later: %v", err)
	}
	h2 := h.Clone()
	h2.Set(webhook.HeaderTimestamp, "1772461801")
	if err := webhook.Verify([]byte(secret), h2, body, now, time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("changed timestamp: %v", err)
	}
}
