package bot

import (
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

// step is one observation for a detector table test: "S" a successful
// export, "F" a system failure, "T" a transport failure, "R" a record
// failure, "p" a passing probe, "P" a failing probe, "A:user" a refused
// login, "+D" the clock moves by D first.
func runDetector(t *testing.T, r Rules, steps []string) (confirmedAt, recoveredAt int, v verdict) {
	t.Helper()
	d := newDetector("catalog", r)
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	confirmedAt, recoveredAt = -1, -1
	for i, s := range steps {
		var o Observation
		switch {
		case s[0] == '+':
			dd, err := time.ParseDuration(s[1:])
			if err != nil {
				t.Fatal(err)
			}
			at = at.Add(dd)
			got := d.tick(at)
			if got.recover && recoveredAt < 0 {
				recoveredAt = i
			}
			continue
		case s == "S":
			o = Observation{Source: SourceExport, OK: true}
		case s == "F":
			o = Observation{Source: SourceExport, Class: exportlog.ClassSystem, Cause: exportlog.CauseStorage}
		case s == "T":
			o = Observation{Source: SourceExport, Class: exportlog.ClassTransport, Cause: exportlog.CauseClientGone}
		case s == "R":
			o = Observation{Source: SourceExport, Class: exportlog.ClassRecord, Cause: exportlog.CauseRule}
		case s == "p":
			o = Observation{Source: SourceProbe, OK: true}
		case s == "P":
			o = Observation{Source: SourceProbe, Class: exportlog.ClassSystem, Cause: "listener-down"}
		case len(s) > 2 && s[:2] == "A:":
			o = Observation{Source: SourceExport, Class: exportlog.ClassRecord, Cause: exportlog.CauseAuth, Attempt: &exportlog.Attempt{User: s[2:]}}
		default:
			t.Fatalf("bad step %q", s)
		}
		at = at.Add(time.Second)
		got := d.observe(o, at)
		if got.confirm && confirmedAt < 0 {
			confirmedAt, v = i, got
		}
		if got.recover && recoveredAt < 0 {
			recoveredAt = i
		}
	}
	return confirmedAt, recoveredAt, v
}

func TestDetectorRules(t *testing.T) {
	ratio := func(fails, oks int) []string {
		var s []string
		n := fails + oks
		for i := 0; i < n; i++ {
			if i%2 == 0 && fails > 0 {
				s = append(s, "F")
				fails--
			} else if oks > 0 {
				s = append(s, "S")
				oks--
			} else {
				s = append(s, "F")
				fails--
			}
		}
		return s
	}
	cases := []struct {
		name      string
		rules     Rules
		steps     []string
		confirm   int // index of the confirming step, -1: none
		recover   int
		wantCause string
	}{
		{"three system failures in a row", Rules{}, []string{"S", "F", "F", "F"}, 3, -1, exportlog.CauseStorage},
		{"a success breaks the run", Rules{}, []string{"F", "F", "S", "F", "F"}, -1, -1, ""},
		{"record failures are neutral", Rules{}, []string{"F", "R", "F", "R", "R", "F"}, 5, -1, exportlog.CauseStorage},
		{"record failures never confirm", Rules{}, []string{"R", "R", "R", "R", "R", "R", "R", "R", "R", "R", "R", "R"}, -1, -1, ""},
		{"two failed probes", Rules{}, []string{"p", "P", "P"}, 2, -1, "listener-down"},
		{"a passing probe breaks the run", Rules{}, []string{"P", "p", "P"}, -1, -1, ""},
		{"configurable run", Rules{SystemFailures: 5}, []string{"F", "F", "F", "F", "F"}, 4, -1, exportlog.CauseStorage},
		{"run rule off", Rules{SystemFailures: -1, WindowMin: -1}, []string{"F", "F", "F", "F", "F", "F"}, -1, -1, ""},
		{"half of ten in the window", Rules{SystemFailures: -1}, ratio(5, 5), 9, -1, exportlog.CauseStorage},
		{"under half", Rules{SystemFailures: -1}, ratio(4, 8), -1, -1, ""},
		{"a few transport failures do not count", Rules{}, []string{"T", "T", "T", "T", "S", "S", "S", "S", "S", "S", "S"}, -1, -1, ""},
		{"frequent transport failures do", Rules{}, []string{"T", "S", "T", "S", "T", "S", "T", "S", "T", "S"}, 9, -1, "transport"},
		{"refused logins from one user", Rules{}, []string{"A:ann", "A:ann", "A:ann", "A:ann"}, -1, -1, ""},
		{"refused logins from three users", Rules{}, []string{"A:ann", "A:bob", "A:ann", "A:cy"}, 3, -1, exportlog.CauseAuth},
		{"logins spread over time", Rules{}, []string{"A:ann", "+11m", "A:bob", "+11m", "A:cy"}, -1, -1, ""},
		{"recover after two successes", Rules{}, []string{"F", "F", "F", "S", "S"}, 2, 4, exportlog.CauseStorage},
		{"a failure restarts recovery", Rules{}, []string{"F", "F", "F", "S", "F", "S", "S"}, 2, 6, exportlog.CauseStorage},
		{"probes healthy for two minutes", Rules{}, []string{"P", "P", "p", "+1m", "p", "+58s", "+2s"}, 1, 6, "listener-down"},
		{"healthy probes do not end a login problem", Rules{}, []string{"A:a", "A:b", "A:c", "p", "+1m", "p", "+2m", "p", "+3m"}, 2, -1, exportlog.CauseAuth},
		{"failures outside the window fall out", Rules{SystemFailures: -1}, append(append(ratio(5, 0), "+6m"), ratio(4, 5)...), -1, -1, ""},
		{"transport failures outside the window fall out", Rules{}, []string{"T", "T", "T", "T", "T", "+6m", "T", "S", "T", "S", "T", "S", "T", "S", "S", "S"}, -1, -1, ""},
		{"transport failures within the window count", Rules{}, []string{"T", "T", "T", "T", "T", "+4m", "T", "S", "T", "S", "T"}, 10, -1, "transport"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf, rec, v := runDetector(t, c.rules, c.steps)
			if conf != c.confirm || rec != c.recover {
				t.Fatalf("confirmed at %d, recovered at %d; want %d, %d", conf, rec, c.confirm, c.recover)
			}
			if conf >= 0 && v.cause != c.wantCause {
				t.Errorf("cause %q, want %q", v.cause, c.wantCause)
			}
		})
	}
}
