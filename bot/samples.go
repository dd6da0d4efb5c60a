package bot

import (
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/marc"
)

// TemplateSamples returns sample data for templates.Set.Check, keyed by
// block-name prefix: "email.", "slack.", "report." and "admin." each get
// an *incidents.Notice with every field set (an incident with records,
// messages, a timeline, the report and an admin notice), so that a block
// that would fail on real data fails at start-up instead.
func TemplateSamples() map[string]any {
	n := SampleNotice(incidents.KindAlert)
	return map[string]any{"email.": n, "slack.": n, "report.": n, "admin.": n}
}

// SampleNotice returns a fully populated notice of kind about a sample
// incident (an upstream ILS that stopped answering, two records
// affected). Tests and `oclcbot templates` previews use it.
func SampleNotice(kind incidents.Kind) *incidents.Notice {
	inc := SampleIncident()
	at := inc.SolvedAt
	n := &incidents.Notice{
		Kind: kind, Key: incidents.Key(inc.ID, kind, 1, "listserv"), Channel: "listserv", Time: at,
		Incident: incidents.Summarize(inc, at, true), Actor: "oncall@library.example.edu",
		Text: "2 exports in a row succeeded", Records: inc.Affected, More: 3,
		Report: incidents.NewReport(inc, []incidents.Fact{
			{Name: "listener", Value: "0.0.0.0:5500"},
			{Name: "upstream", Value: "ils.library.example.edu:5500"},
		}, at, true),
		Admin: &incidents.Admin{
			Topic: incidents.AdminDead, Summary: `the alert notification "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]" could not be delivered on listserv`,
			Detail: "oclcbot gave it up after 1 attempt. Fix the channel, then run `oclcbot outbox retry OIS-2026-0042/alert/1/listserv`.",
			Ref:    "OIS-2026-0042/alert/1/listserv", Channel: "listserv", Error: "permanent error: 550 5.7.1 sender not allowed to post",
		},
	}
	return n
}

// SampleIncident returns a solved sample incident: the relay upstream
// stopped answering for 47 minutes; one record was queued and delivered
// later, one was lost and must be exported again; both upstream probes
// failed with the same error 6 times each (one captured message seen 12
// times, with another sender).
func SampleIncident() *incidents.Incident {
	t0 := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	inc := incidents.New(incidents.Opening{
		ID: "OIS-2026-0042", Target: "upstream:ils.library.example.edu:5500", Cause: exportlog.CauseUpstreamTimeout,
		Class: exportlog.ClassSystem, Time: t0.Add(2 * time.Minute), Text: "3 exports in a row failed",
	})
	rec := sampleRecord()
	for i, a := range []*exportlog.Attempt{
		{ID: 981, Time: t0, User: "jdoe", Target: inc.Target, OCLCNumber: "1234567890", Title: "The art of cataloging",
			Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseUpstreamTimeout,
			Reply: "Waiting for local system response... no answer", Detail: "upstream did not answer within 60 s", Record: rec},
		{ID: 984, Time: t0.Add(time.Minute), User: "asmith", Target: inc.Target, OCLCNumber: "987654321", Title: "Metadata for libraries",
			Outcome: exportlog.OutcomeQueued, Class: exportlog.ClassSystem, Cause: exportlog.CauseUpstreamDown,
			Reply: "Record kept by oclcbot; it will be delivered when the library system is back", Upstream: "connection refused", Record: rec},
	} {
		at := a.Time
		inc.Failed(at)
		inc.Capture(incidents.Message{Time: at, Source: incidents.SourceReply, From: a.User, Text: a.Reply}, incidents.Limits{})
		if a.Upstream != "" {
			inc.Capture(incidents.Message{Time: at, Source: incidents.SourceUpstream, From: a.Target, Text: a.Upstream}, incidents.Limits{})
		}
		aff, _ := incidents.NewAffected(a, at)
		aff.Announced = i == 0
		inc.AddAffected(aff)
	}
	// The upstream probes fail every 30 s until the ILS is back: one
	// distinct message, counted, from both probes.
	refused := "dial tcp 10.0.0.5:5500: connect: connection refused"
	for i := range 6 {
		at := t0.Add(time.Minute + time.Duration(i)*30*time.Second)
		for _, probe := range []string{"upstream-tcp", "upstream-roundtrip"} {
			inc.CheckFailed(at)
			inc.Capture(incidents.Message{Time: at, Source: incidents.SourceProbe, From: probe, Text: refused}, incidents.Limits{})
		}
	}
	inc.AnnouncedAt = inc.Opened
	inc.Acknowledge("oncall@library.example.edu", t0.Add(20*time.Minute))
	inc.AddNote("oncall@library.example.edu", t0.Add(25*time.Minute), "ILS listener restarted after a full disk")
	inc.SetStatus(984, incidents.StatusDelivered, t0.Add(48*time.Minute))
	inc.Solve(incidents.System, t0.Add(47*time.Minute), "recovered: 2 exports in a row succeeded")
	inc.TakeChanges()
	return inc
}

func sampleRecord() []byte {
	r := marc.NewRecord()
	r.AddField(marc.Field{Tag: "001", Value: "ocn1234567890"})
	r.AddField(marc.Field{Tag: "040", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "DLC"}, {Code: 'b', Value: "eng"}}})
	r.AddField(marc.Field{Tag: "245", Ind1: '1', Ind2: '4', Subfields: []marc.Subfield{{Code: 'a', Value: "The art of cataloging /"}, {Code: 'c', Value: "Jane Doe."}}})
	b, err := marc.Encode(r)
	if err != nil {
		panic(err) // a fixed record: cannot fail
	}
	return b
}
