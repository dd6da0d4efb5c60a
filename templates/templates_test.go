package templates_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/templates"
)

func samples() map[string]any {
	s := receiver.TemplateSamples()
	maps.Copy(s, bot.TemplateSamples())
	return s
}

func TestDefaultsRenderAgainstSamples(t *testing.T) {
	s := templates.MustLoadDefaults()
	if err := s.Check(samples()); err != nil {
		t.Fatalf("a default template fails on sample data: %v", err)
	}
	for _, name := range []string{"reply.added", "email.alert.subject", "email.alert.body", "email.solved.subject", "slack.alert", "report.body"} {
		if !s.Has(name) {
			t.Errorf("the defaults lack block %q", name)
		}
	}
	subj, err := s.Render("email.alert.subject", samples()["email."])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(subj, "OCLC EXPORT PROBLEM ALERT") {
		t.Errorf("alert subject %q does not start with the listserv's subject", subj)
	}
}

func TestOverrideReplacesOnlyItsBlock(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "reply.tmpl"), []byte(`{{define "reply.added"}}Loaded as {{.SystemNumber}}.{{end}}`), 0o600)
	s, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(samples()); err != nil {
		t.Fatalf("override fails the check: %v", err)
	}
	def := templates.MustLoadDefaults()
	got, err := s.Render("reply.added", samples()["reply."])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "Loaded as ") {
		t.Errorf("override not used: %q", got)
	}
	a, _ := s.Render("email.alert.body", samples()["email."])
	b, _ := def.Render("email.alert.body", samples()["email."])
	if a != b || a == "" {
		t.Errorf("a block the override does not define changed")
	}
	if len(s.Overrides()) != 1 {
		t.Errorf("overrides %v", s.Overrides())
	}
}

func TestBrokenOverridesNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"parse", "{{define \"email.alert.subject\"}}\n\nOCLC {{if}}{{end}}", "bad.tmpl:3"},
		{"field", "{{define \"email.alert.subject\"}}\nOCLC {{.NoSuchField}}{{end}}", "bad.tmpl:2"},
		{"misspelt block", "{{define \"emial.alert.subject\"}}x{{end}}", "emial.alert.subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte(tc.text), 0o600)
			s, err := templates.Load(dir)
			if err == nil {
				err = s.Check(samples())
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestMissingDirectory(t *testing.T) {
	if _, err := templates.Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("a missing override directory was accepted")
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Second:               "40 s",
		7 * time.Minute:                "7 min",
		2*time.Hour + 5*time.Minute:    "2 h 5 min",
		3 * time.Hour:                  "3 h",
		26 * time.Hour:                 "1 day 2 h",
		72*time.Hour + 30*time.Minute:  "3 days",
		-(2*time.Hour + 5*time.Minute): "2 h 5 min",
	} {
		if got := templates.HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// noticeVariants returns bot's sample notice of every kind, and copies
// with the optional parts empty: no incident, no records, no report, no
// admin part, zero times and counts.
func noticeVariants() []*incidents.Notice {
	kinds := []incidents.Kind{incidents.KindAlert, incidents.KindReported, incidents.KindUpdate,
		incidents.KindReminder, incidents.KindEscalation, incidents.KindAck, incidents.KindSolved,
		incidents.KindReopened, incidents.KindAdmin}
	var out []*incidents.Notice
	for _, k := range kinds {
		n := bot.SampleNotice(k)
		out = append(out, n)
		bare := *n
		bare.Records, bare.More, bare.Text, bare.Actor = nil, 0, "", ""
		out = append(out, &bare)
		if n.Incident != nil {
			inc := *n.Incident
			inc.FirstFailure, inc.Tag, inc.Reopens = time.Time{}, "", 3
			inc.Counts = incidents.Counts{}
			zero := bare
			zero.Incident = &inc
			out = append(out, &zero)
		}
		none := bare
		none.Incident, none.Report, none.Admin = nil, nil, nil
		out = append(out, &none)
	}
	return out
}

func TestRenderMatchesTextTemplateOnSamples(t *testing.T) {
	s := templates.MustLoadDefaults()
	var data []any
	for _, d := range receiver.TemplateSamples() {
		data = append(data, d)
	}
	for _, n := range noticeVariants() {
		data = append(data, n, *n)
	}
	fast, total := 0, 0
	for _, name := range s.Names() {
		for _, d := range data {
			want, wantErr := s.ExecuteTextTemplate(name, d)
			got, err := s.Render(name, d)
			if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("%s with %T: Render gave %q, %v; text/template %q, %v", name, d, got, err, want, wantErr)
			}
			ok, why := s.RendersFast(name, d)
			if _, isReply := d.(receiver.ReplyData); isReply && strings.HasPrefix(name, "reply.") && !ok {
				t.Errorf("%s with receiver.ReplyData does not take the fast path: %v", name, why)
			}
			if ok {
				fast++
			}
			total++
		}
	}
	t.Logf("%d of %d renders took the fast path", fast, total)
}
