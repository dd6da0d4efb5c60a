package bot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/templates"
)

func TestDefaultTemplatesCoverEveryNotification(t *testing.T) {
	set := templates.MustLoadDefaults()
	samples := TemplateSamples()
	for _, name := range set.Names() {
		for prefix, data := range samples {
			if strings.HasPrefix(name, prefix) {
				if _, err := set.Render(name, data); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
	for _, fam := range []string{FamilyEmail, FamilySlack, FamilyReport} {
		for _, k := range incidents.Kinds {
			sub, body := TemplateNames(fam, k)
			for _, b := range []string{sub, body} {
				if b != "" && !set.Has(b) {
					t.Errorf("no template %s for %s notifications on %s channels", b, k, fam)
				}
			}
			n := SampleNotice(k)
			out, err := set.Render(body, n)
			if err != nil || strings.TrimSpace(out) == "" {
				t.Errorf("%s: %q %v", body, out, err)
			}
		}
	}
	for k, want := range map[incidents.Kind]string{
		incidents.KindAlert:    "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]",
		incidents.KindReopened: "OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]",
		incidents.KindSolved:   "OCLC EXPORT PROBLEM SOLVED [OIS-2026-0042]",
		incidents.KindUpdate:   "Re: OCLC EXPORT PROBLEM ALERT [OIS-2026-0042]",
	} {
		sub, _ := TemplateNames(FamilyEmail, k)
		if got, _ := set.Render(sub, SampleNotice(k)); got != want {
			t.Errorf("%s subject %q, want %q", k, got, want)
		}
	}
	// Without the tag the subjects are the exact words.
	n := SampleNotice(incidents.KindSolved)
	n.Incident.Tag = ""
	if got, _ := set.Render("email.solved.subject", n); got != "OCLC EXPORT PROBLEM SOLVED" {
		t.Errorf("untagged subject %q", got)
	}
}

func TestBrokenOverrideStillSendsTheAlert(t *testing.T) {
	dir := t.TempDir()
	// Parses, but fails on real data: the alert must still go out.
	if err := os.WriteFile(filepath.Join(dir, "email.tmpl"), []byte(`{{define "email.alert.body"}}{{.Nope}}{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Check(TemplateSamples()); err == nil || !strings.Contains(err.Error(), "email.tmpl") {
		t.Errorf("Check must name the broken file: %v", err)
	}
	h := newHarness(t, func(c *Config, d *DispatcherConfig) { c.Templates, d.Templates = set, set })
	for range 3 {
		h.export(upstream, false)
	}
	a := h.ch["listserv"].last()
	if a.Subject != "OCLC EXPORT PROBLEM ALERT [OIS-2026-0001]" || !strings.Contains(a.Body, "Do not export a second time") {
		t.Errorf("fallback alert: %q\n%s", a.Subject, a.Body)
	}
}
