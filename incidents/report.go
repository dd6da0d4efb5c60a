package incidents

import "time"

// Report is the OIS incident report: what a systems engineer needs to act
// without asking anything. The report templates render it; issue 5's
// report channel adds the records as an .mrc attachment from Records[i].Raw.
type Report struct {
	Summary Summary `json:"summary"`
	// Timeline is every event, oldest first.
	Timeline []Event `json:"timeline"`
	// Messages are the distinct captured messages kept, in order of first
	// appearance, each with how many times and when it was first and last
	// captured; Omitted more distinct messages were captured between the
	// first and the last ones kept.
	Messages []Message `json:"messages"`
	Omitted  int       `json:"omitted"`
	// Captured is how many times the messages in Messages were captured
	// (the sum of their Count).
	Captured int `json:"captured"`
	// Records are the affected export attempts with printouts and raw
	// bytes, oldest first.
	Records []Affected `json:"records"`
	// Facts are configuration facts that matter (listener address, upstream
	// host:port, oclcbot version); never secrets.
	Facts []Fact `json:"facts"`
}

// Fact is one named configuration fact for the report.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// NewReport shapes inc into a report at now. The report shares no slices
// with inc.
func NewReport(inc *Incident, facts []Fact, now time.Time, tag bool) *Report {
	r := &Report{
		Summary:  *Summarize(inc, now, tag),
		Timeline: append([]Event(nil), inc.Timeline...),
		Messages: make([]Message, len(inc.Messages)),
		Omitted:  inc.Omitted(),
		Records:  append([]Affected(nil), inc.Affected...),
		Facts:    append([]Fact(nil), facts...),
	}
	for i, m := range inc.Messages {
		m.Others = append([]string(nil), m.Others...)
		if m.Count < 1 {
			m.Count = m.Repeats + 1
		}
		r.Messages[i] = m
		r.Captured += m.Count
	}
	return r
}
