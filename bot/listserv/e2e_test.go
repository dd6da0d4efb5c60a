package listserv_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/listserv"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/marc"
	"github.com/oclcbot/oclcbot/templates"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func record(t testing.TB, n int) []byte {
	r := marc.NewRecord()
	r.AddField(marc.Field{Tag: "001", Value: fmt.Sprintf("ocn%d", 1000+n)})
	r.AddField(marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: fmt.Sprintf("Record number %d /", n)}, {Code: 'c', Value: "Jane Doe."}}})
	b, err := marc.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real engine, store and dispatcher drive both email channels into
// the sink: an outage gives one ALERT to the list, one escalated report
// (with the records attached) to on-call, and, after a refused first
// attempt, one SOLVED in each thread.
func TestEngineOutageThroughSMTP(t *testing.T) {
	ctx := context.Background()
	s := newSink(t, sinkOpts{startTLS: true})
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	lcfg := s.config("")
	lcfg.Now = clk.Now
	list, err := listserv.New(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := lcfg
	rcfg.To = []string{"oncall@library.example.edu"}
	report, err := listserv.NewReport(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(filepath.Join(t.TempDir(), "bot.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := sqlite.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	set := templates.MustLoadDefaults()
	chans := []bot.ChannelConfig{
		{Name: "listserv", Channel: list, Templates: bot.FamilyEmail},
		{Name: "ois", Channel: report, Templates: bot.FamilyReport, Admin: true},
	}
	disp, err := bot.NewDispatcher(bot.DispatcherConfig{Outbox: st, Channels: chans, Templates: set, Now: clk.Now,
		Rand: func() float64 { return 0.5 }, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := bot.New(ctx, bot.Config{Store: st, Templates: set, Channels: chans, Now: clk.Now, Location: time.UTC, Wake: disp.Wake})
	if err != nil {
		t.Fatal(err)
	}
	const target = "upstream:ils.example.edu:5500"
	var id int64
	records := map[string][]byte{}
	export := func(ok bool) {
		t.Helper()
		id++
		a := &exportlog.Attempt{ID: id, RequestID: uint64(id), Time: clk.Now(), Done: clk.Now(), User: "cataloger1", Target: target,
			OCLCNumber: fmt.Sprint(1000 + id), Title: fmt.Sprintf("Record number %d", id), Record: record(t, int(id)), Outcome: exportlog.OutcomeAdded}
		if !ok {
			a.Outcome, a.Class, a.Cause = exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseUpstreamDown
			a.Reply = "Waiting for local system response: connection refused"
			a.Upstream = "From: catalogers@lists.example.edu\nconnection refused"
			records[a.OCLCNumber] = a.Record
		}
		if err := eng.ObserveAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		t.Helper()
		if _, err := disp.RunDue(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	step := func(dt time.Duration) {
		t.Helper()
		if err := eng.Tick(ctx, clk.Advance(dt)); err != nil {
			t.Fatal(err)
		}
		flush()
	}
	to := func(addr string) []*parsed {
		var out []*parsed
		for _, m := range s.messages() {
			if m.To[0] == addr {
				out = append(out, parse(t, m.Data))
			}
		}
		return out
	}
	subjects := func(ps []*parsed) []string {
		var out []string
		for _, p := range ps {
			subj, _ := p.h.Subject()
			out = append(out, subj)
		}
		return out
	}

	for range 3 {
		export(true)
		step(10 * time.Second)
	}
	for range 3 {
		export(false)
		flush()
	}
	listMsgs := to("catalogers@lists.example.edu")
	if got := subjects(listMsgs); len(got) != 1 || got[0] != "OCLC EXPORT PROBLEM ALERT [OIS-2026-0001]" {
		t.Fatalf("list got %q, want one ALERT", got)
	}
	alert := listMsgs[0]
	alertID, _ := alert.h.MessageID()
	if alertID != "OIS-2026-0001/alert/1/listserv@oclcbot.library.example.edu" {
		t.Errorf("alert Message-ID %q", alertID)
	}
	if !strings.Contains(alert.body, "Record number 4") {
		t.Errorf("alert body:\n%s", alert.body)
	}

	// Unacknowledged for 30 minutes: escalated to the OIS report.
	for range 31 {
		step(time.Minute)
	}
	oncall := to("oncall@library.example.edu")
	if len(oncall) != 1 {
		t.Fatalf("on-call got %q, want one report", subjects(oncall))
	}
	rep := oncall[0]
	var mrc []byte
	for name, b := range rep.files {
		if strings.HasSuffix(name, ".mrc") {
			mrc = b
		}
	}
	var want []byte
	for _, n := range []string{"1004", "1005", "1006"} {
		want = append(want, records[n]...)
	}
	if !bytes.Equal(mrc, want) {
		t.Errorf("report .mrc (%d bytes) is not the 3 failed records (%d bytes); files %v", len(mrc), len(want), rep.types)
	}
	reportID, _ := rep.h.MessageID()
	// The upstream's reply is quoted verbatim, its header-like line
	// neutralised.
	if !strings.Contains(rep.body, "From (quoted): catalogers@lists.example.edu") || headerLikeLine.MatchString(rep.body) {
		t.Errorf("report body quotes the upstream's From: line as a header:\n%s", rep.body)
	}

	// Recovery; the mail server refuses the first SOLVED with a 421.
	var refused int
	s.setFail(func(step string) error {
		if step == "mail" && refused == 0 {
			refused++
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	export(true)
	flush()
	export(true)
	flush()
	for range 5 {
		step(30 * time.Second)
	}
	if refused != 1 {
		t.Fatalf("the server refused %d attempts, want 1", refused)
	}
	listMsgs = to("catalogers@lists.example.edu")
	if got := subjects(listMsgs); len(got) != 2 || got[1] != "OCLC EXPORT PROBLEM SOLVED [OIS-2026-0001]" {
		t.Fatalf("list got %q, want ALERT then SOLVED", got)
	}
	oncall = to("oncall@library.example.edu")
	if len(oncall) != 2 {
		t.Fatalf("on-call got %q, want the report and its SOLVED reply", subjects(oncall))
	}
	for _, c := range []struct {
		p    *parsed
		want string
	}{{listMsgs[1], alertID}, {oncall[1], reportID}} {
		irt, _ := c.p.h.MsgIDList("In-Reply-To")
		refs, _ := c.p.h.MsgIDList("References")
		if len(irt) != 1 || irt[0] != c.want || len(refs) != 1 || refs[0] != c.want {
			t.Errorf("SOLVED In-Reply-To %v References %v, want %s", irt, refs, c.want)
		}
	}
}
