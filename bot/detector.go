package bot

import (
	"fmt"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

// maxEvidence bounds the failures a detector keeps to hand to the
// incident it confirms.
const maxEvidence = 500

// verdict is what one observation or tick made a detector decide.
type verdict struct {
	confirm  bool
	recover  bool
	healthy  bool // not failing, and the recovery rule holds (a report may be closed)
	cause    string
	class    exportlog.Class
	text     string        // plain words: why
	evidence []Observation // failures that led to the confirmation
}

type sample struct {
	at    time.Time
	class exportlog.Class // ClassNone for a success
}

// detector judges one target. It does no I/O and reads no clock: every
// call carries the time.
type detector struct {
	target string
	r      Rules

	failing bool            // a confirmed problem is going on
	cause   string          // cause of the confirmed problem
	class   exportlog.Class // class of the confirmed problem

	sysRun   int // system failures in a row (exports)
	probeRun int // failed probes in a row
	okRun    int // successful exports in a row

	healthySince time.Time // first passing probe since the last failure
	probeOKs     int       // passing probes since healthySince

	recent   []sample             // exports within the window
	nSys     int                  // system failures in recent
	nTr      int                  // transport failures in recent
	auth     map[string]time.Time // user -> latest refused login
	evidence []Observation        // failures within the window
	lastOK   bool                 // the latest observation was a success
}

func newDetector(target string, r Rules) *detector {
	return &detector{target: target, r: r.withDefaults(), auth: map[string]time.Time{}}
}

// startFailing puts the detector in the state of a confirmed problem: at
// start-up for a target with an open incident.
func (d *detector) startFailing(cause string, class exportlog.Class) {
	d.reset()
	d.failing, d.cause, d.class = true, cause, class
}

// reset forgets everything (a person solved the incident: failures must
// confirm the problem again before it is re-announced).
func (d *detector) reset() {
	*d = detector{target: d.target, r: d.r, auth: map[string]time.Time{}}
}

func (d *detector) prune(at time.Time) {
	cut := at.Add(-d.r.Window)
	i := 0
	for i < len(d.recent) && d.recent[i].at.Before(cut) {
		d.count(d.recent[i].class, -1)
		i++
	}
	d.recent = d.recent[i:]
	i = 0
	for i < len(d.evidence) && d.evidence[i].Time.Before(cut) {
		i++
	}
	d.evidence = d.evidence[i:]
	acut := at.Add(-d.r.AuthWindow)
	for u, t := range d.auth {
		if t.Before(acut) {
			delete(d.auth, u)
		}
	}
}

// addRecent adds an export to the window. The failure counts are kept
// as samples come and go: one observation costs the same however many
// exports the window holds.
func (d *detector) addRecent(s sample) {
	d.recent = append(d.recent, s)
	d.count(s.class, 1)
}

func (d *detector) count(c exportlog.Class, delta int) {
	switch c {
	case exportlog.ClassSystem:
		d.nSys += delta
	case exportlog.ClassTransport:
		d.nTr += delta
	}
}

func (d *detector) addEvidence(o Observation) {
	if len(d.evidence) >= maxEvidence {
		d.evidence = d.evidence[1:]
	}
	d.evidence = append(d.evidence, o)
}

// observe judges one observation at time at.
func (d *detector) observe(o Observation, at time.Time) verdict {
	d.prune(at)
	o.Time = at
	switch {
	case o.Source == SourceProbe && o.OK:
		d.probeRun = 0
		if d.healthySince.IsZero() {
			d.healthySince, d.probeOKs = at, 0
		}
		d.probeOKs++
		d.lastOK = true
	case o.Source == SourceProbe:
		d.probeRun++
		d.okRun, d.healthySince, d.lastOK = 0, time.Time{}, false
		d.addEvidence(o)
	case o.OK:
		d.sysRun = 0
		d.okRun++
		d.addRecent(sample{at: at})
		d.lastOK = true
	case o.Class == exportlog.ClassRecord:
		// The cataloger's business, except refused logins from many users.
		if o.Cause == exportlog.CauseAuth && o.Attempt != nil && o.Attempt.User != "" {
			d.auth[o.Attempt.User] = at
			d.addEvidence(o)
		}
	case o.Class == exportlog.ClassTransport:
		d.addRecent(sample{at: at, class: exportlog.ClassTransport})
		d.addEvidence(o)
	default: // system (or an unclassified failure)
		d.sysRun++
		d.okRun, d.healthySince, d.lastOK = 0, time.Time{}, false
		d.addRecent(sample{at: at, class: exportlog.ClassSystem})
		d.addEvidence(o)
	}
	if d.failing {
		return d.recovery(at)
	}
	v := d.confirmation(o)
	if v.confirm {
		v.evidence = d.evidence
		d.failing, d.cause, d.class = true, v.cause, v.class
		d.sysRun, d.probeRun, d.okRun = 0, 0, 0
		d.healthySince, d.probeOKs = time.Time{}, 0
		d.evidence, d.recent, d.nSys, d.nTr = nil, nil, 0, 0
		clear(d.auth)
		return v
	}
	if d.recoverRuleHolds(at) {
		v.healthy = true
	}
	return v
}

// tick judges the passing of time (probes healthy for long enough).
func (d *detector) tick(now time.Time) verdict {
	d.prune(now)
	if d.failing {
		return d.recovery(now)
	}
	return verdict{healthy: d.recoverRuleHolds(now)}
}

func (d *detector) confirmation(o Observation) verdict {
	r := d.r
	cause := o.Cause
	if cause == "" {
		cause = incidents.CauseProbe
	}
	n, sys, tr := len(d.recent), d.nSys, d.nTr
	switch {
	case r.SystemFailures > 0 && d.sysRun >= r.SystemFailures:
		return verdict{confirm: true, cause: cause, class: exportlog.ClassSystem,
			text: fmt.Sprintf("%d exports in a row failed", d.sysRun)}
	case r.ProbeFailures > 0 && d.probeRun >= r.ProbeFailures:
		return verdict{confirm: true, cause: cause, class: exportlog.ClassSystem,
			text: fmt.Sprintf("%d checks in a row failed (%s)", d.probeRun, o.Probe)}
	case r.WindowMin > 0 && n >= r.WindowMin && float64(sys) >= r.WindowRatio*float64(n):
		return verdict{confirm: true, cause: d.lastCause(exportlog.ClassSystem, cause), class: exportlog.ClassSystem,
			text: fmt.Sprintf("%d of the last %d exports failed within %s", sys, n, r.Window)}
	case r.TransportMin > 0 && n >= r.TransportMin && float64(tr) >= r.TransportRatio*float64(n):
		return verdict{confirm: true, cause: incidents.CauseTransport, class: exportlog.ClassTransport,
			text: fmt.Sprintf("%d of the last %d exports broke off before the reply within %s", tr, n, r.Window)}
	case r.AuthUsers > 0 && len(d.auth) >= r.AuthUsers:
		return verdict{confirm: true, cause: exportlog.CauseAuth, class: exportlog.ClassSystem,
			text: fmt.Sprintf("logins of %d different users were refused within %s", len(d.auth), r.AuthWindow)}
	}
	return verdict{}
}

// lastCause returns the cause of the latest evidence of class, or def.
func (d *detector) lastCause(class exportlog.Class, def string) string {
	for i := len(d.evidence) - 1; i >= 0; i-- {
		if e := d.evidence[i]; e.Class == class && e.Cause != "" {
			return e.Cause
		}
	}
	return def
}

func (d *detector) recoverRuleHolds(now time.Time) bool {
	if d.okRun >= d.r.RecoverSuccesses {
		return true
	}
	// Probes cannot see refused logins or broken-off transfers.
	if d.cause == exportlog.CauseAuth || d.class == exportlog.ClassTransport {
		return false
	}
	return !d.healthySince.IsZero() && d.probeOKs >= 2 && now.Sub(d.healthySince) >= d.r.RecoverHealthy
}

func (d *detector) recovery(now time.Time) verdict {
	if !d.recoverRuleHolds(now) {
		return verdict{}
	}
	if d.class == exportlog.ClassTransport {
		// Transport problems end only when the ratio is back under the
		// threshold, or a flaky link would flap.
		n, tr := len(d.recent), d.nTr
		if n > 0 && float64(tr) >= d.r.TransportRatio*float64(n) {
			return verdict{}
		}
	}
	text := fmt.Sprintf("%d exports in a row succeeded", d.okRun)
	if d.okRun < d.r.RecoverSuccesses {
		text = fmt.Sprintf("checks have passed for %s", d.r.RecoverHealthy)
	}
	d.reset()
	return verdict{recover: true, text: text}
}
