package listserv_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/listserv"
	"github.com/oclcbot/oclcbot/incidents"
)

// FuzzServerReplies runs a whole send against a server that answers with
// arbitrary bytes: script holds the server's turns separated by NUL (LF
// inside a turn separates the lines of a multi-line reply). Whatever the
// server says, Send returns (each step is bounded), never panics, and any
// error is a *listserv.Error that names its step and does not show the
// password, in clear or base64.
func FuzzServerReplies(f *testing.F) {
	ok := []string{"220 sink ESMTP", "250-sink\n250-AUTH PLAIN LOGIN\n250 SIZE 100000", "235 2.7.0 ok", "250 2.1.0 ok", "250 2.1.5 ok", "354 go ahead", "250 2.0.0 queued", "221 bye"}
	f.Add([]byte(strings.Join(ok, "\x00")))
	for i, alt := range []string{"421 4.3.2 shutting down", "250 sink", "535 5.7.8 bad AG9jbGNib3QAczNjcmV0LVBhNTU= s3cret-Pa55", "451 4.7.1 greylisted",
		"550 5.1.1 unknown", "452 4.3.1 full", "554 5.7.1 spam", "250 2.0.0 queued"} {
		s := append([]string(nil), ok...)
		s[i] = alt
		f.Add([]byte(strings.Join(s, "\x00")))
	}
	f.Add([]byte("220 hi\x00250-a\n999 b\x00\xff\xfe\x00334 =====\x00"))
	f.Add([]byte("220-\n220 " + strings.Repeat("x", 3000)))
	f.Add([]byte(""))
	secrets := []string{scriptPassword, "AG9jbGNib3QAczNjcmV0LVBhNTU=", "czNjcmV0LVBhNTU="}
	f.Fuzz(func(t *testing.T, script []byte) {
		err := sendScript(t, script, 200*time.Millisecond)
		if err == nil {
			return
		}
		var le *listserv.Error
		if !errors.As(err, &le) || le.Step == "" {
			t.Fatalf("error %T %v is not a *listserv.Error with a step", err, err)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error shows a secret: %v", err)
			}
		}
		_ = bot.IsPermanent(err)
	})
}

const scriptPassword = "s3cret-Pa55"

// sendScript sends an alert to a server that plays script (see
// FuzzServerReplies), each step bounded by step.
func sendScript(t *testing.T, script []byte, step time.Duration) error {
	turns := bytes.Split(script, []byte{0})
	done := make(chan struct{})
	var srv net.Conn
	cfg := listserv.Config{Addr: "127.0.0.1:25", Security: listserv.SecurityNone, Username: "oclcbot", Password: scriptPassword,
		From: "oclcbot@library.example.edu", To: []string{"list@lists.example.edu"}, Timeout: step,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, s := net.Pipe()
			srv = s
			go serveScript(s, turns, done)
			return c, nil
		}}
	ch, err := listserv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &incidents.Notification{Key: "OIS-2026-0042/alert/1/listserv", ThreadKey: "OIS-2026-0042/alert/1/listserv", Channel: "listserv",
		Kind: incidents.KindAlert, Incident: "OIS-2026-0042", Subject: "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]", Body: "OCLC exports are failing.\n"}
	err = ch.Send(context.Background(), n)
	if srv != nil {
		srv.Close()
		<-done
	}
	return err
}

// The scripted server the fuzz target uses speaks enough SMTP for a
// send to succeed, and its refusals are classified. Every script here
// answers each command, so the step bound is only a guard: generous, for
// a loaded machine.
func TestScriptedServer(t *testing.T) {
	const step = 10 * time.Second
	ok := []string{"220 sink ESMTP", "250-sink\n250 AUTH PLAIN", "235 2.7.0 ok", "250 2.1.0 ok", "250 2.1.5 ok", "354 go ahead", "250 2.0.0 queued", "221 bye"}
	if err := sendScript(t, []byte(strings.Join(ok, "\x00")), step); err != nil {
		t.Fatalf("complete conversation: %v", err)
	}
	grey := append([]string(nil), ok...)
	grey[3] = "451 4.7.1 greylisted"
	err := sendScript(t, []byte(strings.Join(grey, "\x00")), step)
	var le *listserv.Error
	if !errors.As(err, &le) || le.Step != "mail" || le.Code != 451 || bot.IsPermanent(err) {
		t.Errorf("greylisted: %v", err)
	}
	// QUIT answered with nonsense after the message was accepted: sent.
	ok[7] = "\xff garbage"
	if err := sendScript(t, []byte(strings.Join(ok, "\x00")), step); err != nil {
		t.Errorf("bad QUIT reply after acceptance: %v", err)
	}
}

// serveScript plays turns: the first is the greeting, each later one
// answers one client line (the message after DATA counts as one line).
func serveScript(c net.Conn, turns [][]byte, done chan<- struct{}) {
	defer close(done)
	defer c.Close()
	// A guard only: the client ends every conversation by closing.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(t []byte) bool {
		_, err := c.Write(append(bytes.ReplaceAll(t, []byte("\n"), []byte("\r\n")), '\r', '\n'))
		return err == nil
	}
	inData := false
	for i, t := range turns {
		if i > 0 {
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if !inData || line == ".\r\n" {
					inData = false
					if strings.EqualFold(strings.TrimSpace(line), "DATA") && len(t) > 0 && t[0] == '3' {
						inData = true
					}
					break
				}
			}
		}
		if !say(t) {
			return
		}
	}
}
