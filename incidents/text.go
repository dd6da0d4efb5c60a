package incidents

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Text output for `oclcbot incidents` and `oclcbot outbox`. Times are
// shown in loc (time.Local when nil).

func showTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

// WriteList writes one line per incident: id, state, severity, target,
// opened, how long, records affected, cause.
func WriteList(w io.Writer, list []*Incident, now time.Time, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tTARGET\tOPENED\tLASTED\tRECORDS\tCAUSE")
	for _, inc := range list {
		st := string(inc.State)
		if inc.Reported && inc.State.Active() {
			st += " (reported)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", inc.ID, st, inc.Severity, inc.Target,
			showTime(inc.Opened, loc), shortDuration(inc.Duration(now)), len(inc.Affected), inc.Cause)
	}
	return tw.Flush()
}

// WriteIncident writes everything about inc: the summary, the timeline,
// the captured messages and the affected records (with printouts when
// printouts is true).
func WriteIncident(w io.Writer, inc *Incident, now time.Time, loc *time.Location, printouts bool) error {
	b := &strings.Builder{}
	c := inc.CountRecords()
	fmt.Fprintf(b, "Incident %s: %s\n", inc.ID, inc.State)
	if inc.Reported {
		fmt.Fprintf(b, "  reported by staff, not confirmed by oclcbot's checks\n")
	}
	fmt.Fprintf(b, "  target:        %s (%s)\n", inc.Target, TargetWords(inc.Target))
	fmt.Fprintf(b, "  cause:         %s (%s), severity %s\n", inc.Cause, CauseWords(inc.Cause), inc.Severity)
	fmt.Fprintf(b, "  opened:        %s", showTime(inc.Opened, loc))
	if inc.Reopens > 0 {
		fmt.Fprintf(b, ", reopened %d times, latest %s", inc.Reopens, showTime(inc.Since, loc))
	}
	fmt.Fprintf(b, "\n  failures:      %d (%d failed %s, %d failed %s), first %s, last %s\n", inc.Failures,
		inc.ExportFailures(), plural(inc.ExportFailures(), "export", "exports"), inc.CheckFailures, plural(inc.CheckFailures, "check", "checks"),
		showTime(inc.FirstFailure, loc), showTime(inc.LastFailure, loc))
	if inc.AckedBy != "" {
		fmt.Fprintf(b, "  acknowledged:  %s by %s\n", showTime(inc.AckedAt, loc), inc.AckedBy)
	}
	if inc.State == StateSolved {
		fmt.Fprintf(b, "  solved:        %s by %s, after %s\n", showTime(inc.SolvedAt, loc), inc.SolvedBy, shortDuration(inc.Duration(now)))
	} else {
		fmt.Fprintf(b, "  lasting:       %s so far\n", shortDuration(inc.Duration(now)))
	}
	fmt.Fprintf(b, "  records:       %d (%d failed, %d queued, %d delivered later, %d to export again)\n",
		c.Records, c.Failed, c.Queued, c.Delivered, c.Reexport)
	fmt.Fprintf(b, "\nTimeline:\n")
	for _, e := range inc.Timeline {
		fmt.Fprintf(b, "  %s  %-12s %-24s %s\n", showTime(e.Time, loc), e.Kind, e.Actor, e.Text)
	}
	fmt.Fprintf(b, "\nCaptured messages (%d distinct", inc.MessageCount)
	if o := inc.Omitted(); o > 0 {
		fmt.Fprintf(b, ", %d omitted from the middle", o)
	}
	fmt.Fprintf(b, "):\n")
	for _, m := range inc.Messages {
		fmt.Fprintf(b, "  --- %s %s from %s", showTime(m.Time, loc), m.Source, m.From)
		if len(m.Others) > 0 {
			fmt.Fprintf(b, " (also %s)", strings.Join(m.Others, ", "))
		}
		if m.Count > 1 {
			fmt.Fprintf(b, " (seen %d times, first %s, last %s)", m.Count, showTime(m.Time, loc), showTime(m.Last, loc))
		}
		fmt.Fprintf(b, "\n%s\n", indentText(m.Text, "      "))
	}
	fmt.Fprintf(b, "\nAffected records (%d):\n", len(inc.Affected))
	for _, a := range inc.Affected {
		fmt.Fprintf(b, "  %s  attempt %d  %-16s OCLC %-12s %s\n      %s\n", showTime(a.Time, loc), a.AttemptID, a.User, a.OCLCNumber, a.Title, a.Status.Words())
		if printouts && a.Printout != "" {
			fmt.Fprintf(b, "%s\n", indentText(strings.TrimSpace(a.Printout), "      "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteOutbox writes one line per notification: key, state, attempts,
// created, sent, last error.
func WriteOutbox(w io.Writer, ns []Notification, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tATTEMPTS\tCREATED\tSENT/NEXT\tSUBJECT / ERROR")
	for _, n := range ns {
		when := showTime(n.Sent, loc)
		if n.State == DeliveryPending || n.State == DeliverySending {
			when = "next " + showTime(n.NextAt, loc)
		}
		info := n.Subject
		if n.LastError != "" {
			info = "error: " + n.LastError
		}
		if n.State == DeliverySent && n.Echo == EchoMissing {
			info += " (the list did not send it back)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", n.Key, n.State, n.Attempts, showTime(n.Created, loc), when, oneLine(info, 100))
	}
	return tw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func indentText(s, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// WriteSilences writes the running silences and the maintenance windows.
func WriteSilences(w io.Writer, silences []Silence, windows []Window, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SILENCE\tTARGET\tUNTIL\tBY\tREASON")
	for _, s := range silences {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.ID, s.Target, showTime(s.Until, loc), s.Actor, oneLine(s.Reason, 80))
	}
	fmt.Fprintln(tw, "\nWINDOW\tTARGET\tSCHEDULE\tBY\tREASON")
	for _, x := range windows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", x.ID, x.Target, x.Schedule, x.Actor, oneLine(x.Reason, 80))
	}
	return tw.Flush()
}
