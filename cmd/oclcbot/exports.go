package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/marc"
)

func runExports(ctx context.Context, e *env, args []string) error {
	return runAdminSubs(ctx, e, "exports", `
The export log: every Connexion export attempt, successful or not, with the
reply the cataloger saw and the record as received (passwords removed).`,
		[]adminSub{
			{"list", "list export attempts, newest first", exportsList},
			{"show", "show one attempt with its reply and record", exportsShow},
		}, args)
}

var exportOutcomes = []exportlog.Outcome{
	exportlog.OutcomeAdded, exportlog.OutcomeMerged, exportlog.OutcomeDuplicate,
	exportlog.OutcomeRelayed, exportlog.OutcomeQueued, exportlog.OutcomeDelivered,
	exportlog.OutcomeCanary, exportlog.OutcomeRejected, exportlog.OutcomeFailed,
}

func exportsList(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "exports list", "[flags]", `
List export attempts, newest first. Times are local (bot.time_zone).
--since and --until take a duration back from now (90m, 4h, 7d) or a time
(2026-03-01, "2026-03-01 14:30").`)
	since := c.fs.String("since", "", "only attempts at or after `WHEN` (a duration ago, or a time)")
	until := c.fs.String("until", "", "only attempts before `WHEN`")
	outcome := c.fs.String("outcome", "", "only this `outcome`: "+joinOutcomes())
	class := c.fs.String("class", "", "only failures of this `class`: system, transport or record")
	failed := c.fs.Bool("failed", false, "only failures (any class)")
	userName := c.fs.String("user", "", "only exports by this Connexion `login`")
	oclc := c.fs.String("oclc", "", "only records with this OCLC `number` (any form: ocm00012345, (OCoLC)12345, 12345)")
	limit := c.limitFlag(50, "show at most `N` attempts")
	asJSON := c.jsonFlag()
	if err := c.parse(args, noArgs); err != nil {
		return err
	}
	if err := c.load(); err != nil {
		return err
	}
	f := exportlog.Filter{User: *userName, Failed: *failed, Limit: *limit}
	var err error
	now := time.Now()
	if f.Since, err = c.pastTime("--since", *since, now); err != nil {
		return err
	}
	if f.Until, err = c.pastTime("--until", *until, now); err != nil {
		return err
	}
	if *outcome != "" {
		f.Outcome = exportlog.Outcome(strings.ToLower(*outcome))
		if !slices.Contains(exportOutcomes, f.Outcome) {
			return c.usageError("--outcome %q: want one of %s", *outcome, joinOutcomes())
		}
	}
	switch cl := exportlog.Class(strings.ToLower(*class)); cl {
	case "":
	case exportlog.ClassSystem, exportlog.ClassTransport, exportlog.ClassRecord:
		f.Class = cl
	default:
		return c.usageError("--class %q: want system, transport or record", *class)
	}
	if *oclc != "" {
		n, ok := marc.NormalizeOCLCNumber(*oclc)
		if !ok {
			return c.usageError("--oclc %q is not an OCLC number", *oclc)
		}
		f.OCLC = n
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.exports.List(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, jsonForms(list, func(at *exportlog.Attempt) attemptJSON { return newAttemptJSON(at, c.loc) }))
	}
	if len(list) == 0 {
		if f == (exportlog.Filter{Limit: *limit}) {
			fmt.Fprintln(e.stdout, "the export log is empty")
		} else {
			fmt.Fprintln(e.stdout, "no export attempts match")
		}
		return nil
	}
	t := newTable(e.stdout, "ID", "TIME", "USER", "OUTCOME", "CAUSE", "OCLC", "SYSNO", "TITLE")
	for _, at := range list {
		t.row(at.ID, adminTime(at.Time, c.loc), dash(at.User),
			at.Outcome, dash(at.Cause), dash(at.OCLCNumber), dash(at.SystemNumber), attemptTitle(at))
	}
	if err := t.flush(); err != nil {
		return err
	}
	moreNote(e.stdout, len(list), *limit, "newest")
	return nil
}

func attemptTitle(a *exportlog.Attempt) string {
	switch {
	case a.RecordIndex < 0:
		return "(the request as a whole)"
	case a.Title == "":
		return "-"
	}
	return clip(a.Title, 60)
}

func exportsShow(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "exports show", "[flags] ID", `
Show export attempt ID (from oclcbot exports list): what happened, the reply
the cataloger saw, the upstream ILS's reply in relay mode, and the request as
received with each record in MARC mnemonic form. Passwords were removed
before the request was logged.`)
	raw := c.fs.Bool("raw", false, "write the request's bytes exactly as logged (passwords overwritten) instead")
	if err := c.parse(args, exactArgs(1, "give one attempt ID")); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.pos[0], 10, 64)
	if err != nil || id <= 0 {
		return c.usageError("%q is not an attempt ID (a number from oclcbot exports list)", c.pos[0])
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	at, err := a.exports.Get(ctx, id)
	if errors.Is(err, exportlog.ErrNotFound) {
		return fmt.Errorf("no export attempt %d (never recorded, or older than export_log.retention)", id)
	}
	if err != nil {
		return err
	}
	if *raw {
		b := at.Request
		if b == nil {
			b = at.Record
		}
		_, err := e.stdout.Write(b)
		return err
	}
	return writeAttempt(e.stdout, at, c.loc)
}

// writeAttempt prints everything the log holds about one attempt.
func writeAttempt(w io.Writer, at *exportlog.Attempt, loc *time.Location) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Export attempt %d\n", at.ID)
	fmt.Fprintf(b, "  time:          %s, outcome decided %s\n", adminTime(at.Time, loc), adminTime(at.Done, loc))
	fmt.Fprintf(b, "  from:          %s, login %s\n", dash(at.RemoteAddr), dash(at.User))
	switch {
	case at.RecordIndex < 0:
		fmt.Fprintf(b, "  request:       %d (an event about the request as a whole)\n", at.RequestID)
	case at.RequestID != 0:
		fmt.Fprintf(b, "  request:       %d, record %d of it\n", at.RequestID, at.RecordIndex+1)
	default:
		fmt.Fprintf(b, "  request:       record %d of it\n", at.RecordIndex+1)
	}
	fmt.Fprintf(b, "  handled by:    %s\n", dash(at.Target))
	fmt.Fprintf(b, "  outcome:       %s", at.Outcome)
	if at.SystemNumber != "" {
		fmt.Fprintf(b, ", system number %s", at.SystemNumber)
	}
	fmt.Fprintln(b)
	if at.Failed() {
		fmt.Fprintf(b, "  failure:       %s class, cause %s\n", at.Class, at.Cause)
	}
	if at.Detail != "" {
		fmt.Fprintf(b, "  detail:        %s\n", at.Detail)
	}
	if at.Follows != 0 {
		fmt.Fprintf(b, "  follows:       attempt %d\n", at.Follows)
	}
	fmt.Fprintf(b, "  OCLC number:   %s\n  title:         %s\n", dash(at.OCLCNumber), dash(at.Title))
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	fmt.Fprintf(b, "  timings:       decode %s, store %s, total %s\n", us(at.Decode), us(at.Store), us(at.Elapsed))
	if at.Reply != "" {
		fmt.Fprintf(b, "\nReply to the cataloger:\n%s\n", indent(at.Reply, "  "))
	}
	if at.Upstream != "" {
		fmt.Fprintf(b, "\nUpstream reply:\n%s\n", indent(at.Upstream, "  "))
	}
	switch {
	case at.Request != nil:
		writeRequest(b, at)
	case at.Record != nil:
		fmt.Fprintf(b, "\nRecord as received (%d bytes):\n%s\n", len(at.Record), indent(incidents.Printout(at.Record), "  "))
	default:
		fmt.Fprintf(b, "\nNo bytes were kept for this attempt (see the first record of request %d).\n", at.RequestID)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// maxShownRequest bounds the bytes of an unreadable request shown as text.
const maxShownRequest = 64 << 10

func writeRequest(b *strings.Builder, at *exportlog.Attempt) {
	req, err := gateway.ParseRequest(at.Request)
	if err != nil && len(req.Records) == 0 {
		shown := at.Request
		if len(shown) > maxShownRequest {
			shown = shown[:maxShownRequest]
		}
		fmt.Fprintf(b, "\nRequest as received (%d bytes, passwords removed), not readable as a Connexion request: %v\n%s\n",
			len(at.Request), err, indent(visible(shown), "  "))
		if len(shown) < len(at.Request) {
			fmt.Fprintf(b, "  ... (%d more bytes; --raw writes them all)\n", len(at.Request)-len(shown))
		}
		return
	}
	fmt.Fprintf(b, "\nRequest as received (%d bytes, passwords removed): login %q, %d record(s)\n",
		len(at.Request), req.User, len(req.Records))
	if err != nil {
		fmt.Fprintf(b, "  (the request was cut short: %v)\n", err)
	}
	for i, rec := range req.Records {
		mark := ""
		if i == at.RecordIndex {
			mark = " (this attempt)"
		}
		fmt.Fprintf(b, "\n  Record %d%s, %d bytes:\n%s\n", i+1, mark, len(rec), indent(incidents.Printout(rec), "    "))
	}
}

// attemptJSON is the stable JSON form of an attempt for scripts (without
// the record bytes: exports show --raw has those).
type attemptJSON struct {
	ID           int64   `json:"id"`
	RequestID    uint64  `json:"request_id"`
	RecordIndex  int     `json:"record_index"`
	Time         string  `json:"time"`
	Done         string  `json:"done,omitempty"`
	RemoteAddr   string  `json:"remote_addr,omitempty"`
	User         string  `json:"user,omitempty"`
	Target       string  `json:"target,omitempty"`
	Follows      int64   `json:"follows,omitempty"`
	OCLCNumber   string  `json:"oclc_number,omitempty"`
	Title        string  `json:"title,omitempty"`
	SystemNumber string  `json:"system_number,omitempty"`
	Outcome      string  `json:"outcome"`
	Class        string  `json:"class,omitempty"`
	Cause        string  `json:"cause,omitempty"`
	Detail       string  `json:"detail,omitempty"`
	Reply        string  `json:"reply,omitempty"`
	Upstream     string  `json:"upstream,omitempty"`
	DecodeMS     float64 `json:"decode_ms"`
	StoreMS      float64 `json:"store_ms"`
	ElapsedMS    float64 `json:"elapsed_ms"`
	RecordBytes  int     `json:"record_bytes"`
}

func newAttemptJSON(a *exportlog.Attempt, loc *time.Location) attemptJSON {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return attemptJSON{
		ID: a.ID, RequestID: a.RequestID, RecordIndex: a.RecordIndex,
		Time: jsonTime(a.Time, loc), Done: jsonTime(a.Done, loc),
		RemoteAddr: a.RemoteAddr, User: a.User, Target: a.Target, Follows: a.Follows,
		OCLCNumber: a.OCLCNumber, Title: a.Title, SystemNumber: a.SystemNumber,
		Outcome: string(a.Outcome), Class: string(a.Class), Cause: a.Cause, Detail: a.Detail,
		Reply: a.Reply, Upstream: a.Upstream,
		DecodeMS: ms(a.Decode), StoreMS: ms(a.Store), ElapsedMS: ms(a.Elapsed),
		RecordBytes: len(a.Record),
	}
}

func joinOutcomes() string {
	s := make([]string, len(exportOutcomes))
	for i, o := range exportOutcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}
