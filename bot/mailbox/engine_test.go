package mailbox

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/templates"
)

// TestWatcherDrivesEngine runs the watcher against the real engine and
// store: a cataloger's ALERT to the list opens an incident, a reply ACK
// from someone not allowed is refused and moved, one from the on-call
// address acknowledges the incident.
func TestWatcherDrivesEngine(t *testing.T) {
	ctx := context.Background()
	srv := newIMAPServer(t, nil)
	p := newProxy(t, srv.addr)
	r := newRig(t, p.addr())
	// Deliver while the watcher idles (see TestWatcherHandlesAndMoves).
	deliver := func(raw []byte) {
		r.eventually("IDLE", 0, p.isIdling)
		srv.deliver(t, raw)
		p.announce(1)
	}
	st, err := sqlite.Open(ctx, r.db)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := bot.New(ctx, bot.Config{Store: st, Templates: templates.MustLoadDefaults(), Location: time.UTC,
		MailAllow: []string{"oncall@example.edu"}, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The same database holds the engine's tables and the watcher's.
	w, err := New(r.cfg, r.db, eng.HandleMail, slog.New(slog.NewTextHandler(r.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	deliver(readMail(t, "listpost_alert.eml"))
	var inc *incidents.Incident
	r.eventually("the incident", 0, func() bool {
		act, err := st.Active(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(act) == 1 {
			inc = act[0]
		}
		return inc != nil
	})
	if inc.Target != "upstream:ils.example.edu:5500" || inc.State != incidents.StateOpen {
		t.Fatalf("incident %s: target %q state %q", inc.ID, inc.Target, inc.State)
	}
	reply := func(from, id string) []byte {
		return []byte(fmt.Sprintf("From: %s\r\nTo: oclcbot@bot.example.edu\r\nSubject: Re: OCLC EXPORT PROBLEM ALERT [%s]\r\n"+
			"Message-ID: <%s-%s@example.edu>\r\nIn-Reply-To: %s\r\nContent-Type: text/plain\r\n\r\nACK\r\n\r\n> OCLC exports are failing.\r\n",
			from, inc.ID, strings.Split(from, "@")[0], inc.ID, incidents.MessageID(incidents.Key(inc.ID, incidents.KindAlert, 1, "listserv"), id)))
	}
	deliver(reply("cat9@example.edu", "bot.example.edu"))
	r.eventually("the refused ACK", 0, func() bool { return w.Stats().Rejected == 1 && srv.count("INBOX") == 0 })
	got, err := st.Incident(ctx, inc.ID)
	if err != nil || got.State != incidents.StateOpen {
		t.Fatalf("after an ACK from a sender not allowed: %v %v", got.State, err)
	}
	if !strings.Contains(r.logs.String(), bot.ErrNotAllowed.Error()) {
		t.Errorf("the refusal is not logged as %q\n%s", bot.ErrNotAllowed, r.logs.String())
	}
	deliver(reply("oncall@example.edu", "bot.example.edu"))
	r.eventually("the ACK", 0, func() bool {
		got, err := st.Incident(ctx, inc.ID)
		return err == nil && got.State == incidents.StateAcknowledged && w.Stats().Moved == 3
	})
	if st := w.Stats(); st.Handled != 2 || st.Rejected != 1 {
		t.Errorf("stats %+v", st)
	}
}
