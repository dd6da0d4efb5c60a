package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/config"
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
	fs := newFlags(e, "exports list", "[flags]", `
List export attempts, newest first. Times are local (bot.time_zone).
--since and --until take a duration back from now (90m, 4h, 7d) or a time
(2026-03-01, "2026-03-01 14:30").`)
	cfgPath := configFlag(fs)
	since := fs.String("since", "", "only attempts at or after `WHEN` (a duration ago, or a time)")
	until := fs.String("until", "", "only attempts before `WHEN`")
	outcome := fs.String("outcome", "", "only this `outcome`: "+joinOutcomes())
	class := fs.String("class", "", "only failures of this `class`: system, transport or record")
	failed := fs.Bool("failed", false, "only failures (any class)")
	userName := fs.String("user", "", "only exports by this Connexion `login`")
	oclc := fs.String("oclc", "", "only records with this OCLC `number` (any form: ocm00012345, (OCoLC)12345, 12345)")
	limit := fs.Int("limit", 50, "show at most `N` attempts")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return adminUsageError(e, fs, "unexpected argument %q", pos[0])
	}
	if *limit <= 0 {
		return adminUsageError(e, fs, "--limit must be at least 1")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	loc, now := cfg.Bot.Location(), time.Now()
	f := exportlog.Filter{User: *userName, Failed: *failed, Limit: *limit}
	if *since != "" {
		if f.Since, err = parseWhen(*since, now, loc, -1); err != nil {
			return adminUsageError(e, fs, "--since: %v", err)
		}
	}
	if *until != "" {
		if f.Until, err = parseWhen(*until, now, loc, -1); err != nil {
			return adminUsageError(e, fs, "--until: %v", err)
		}
	}
	if *outcome != "" {
		f.Outcome = exportlog.Outcome(strings.ToLower(*outcome))
		if !isOutcome(f.Outcome) {
			return adminUsageError(e, fs, "--outcome %q: want one of %s", *outcome, joinOutcomes())
		}
	}
	switch c := exportlog.Class(strings.ToLower(*class)); c {
	case "":
	case exportlog.ClassSystem, exportlog.ClassTransport, exportlog.ClassRecord:
		f.Class = c
	default:
		return adminUsageError(e, fs, "--class %q: want system, transport or record", *class)
	}
	if *oclc != "" {
		n, ok := marc.NormalizeOCLCNumber(*oclc)
		if !ok {
			return adminUsageError(e, fs, "--oclc %q is not an OCLC number", *oclc)
		}
		f.OCLC = n
	}
	a, err := openAdmin(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.exports.List(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]attemptJSON, len(list))
		for i, at := range list {
			out[i] = newAttemptJSON(at, loc)
		}
		return writeJSON(e.stdout, out)
	}
	if len(list) == 0 {
		if f == (exportlog.Filter{Limit: *limit}) {
			fmt.Fprintln(e.stdout, "the export log is empty")
		} else {
			fmt.Fprintln(e.stdout, "no export attempts match")
		}
		return nil
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "ID\tTIME\tUSER\tOUTCOME\tCAUSE\tOCLC\tSYSNO\tTITLE")
	for _, at := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", at.ID, adminTime(at.Time, loc), dash(at.User),
			at.Outcome, dash(at.Cause), dash(at.OCLCNumber), dash(at.SystemNumber), attemptTitle(at))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(list) == *limit {
		fmt.Fprintf(e.stdout, "(the newest %d; --limit shows more)\n", len(list))
	}
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
	fs := newFlags(e, "exports show", "[flags] ID", `
Show export attempt ID (from oclcbot exports list): what happened, the reply
the cataloger saw, the upstream ILS's reply in relay mode, and the request as
received with each record in MARC mnemonic form. Passwords were removed
before the request was logged.`)
	cfgPath := configFlag(fs)
	raw := fs.Bool("raw", false, "write the request's bytes exactly as logged (passwords overwritten) instead")
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return adminUsageError(e, fs, "give one attempt ID")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return adminUsageError(e, fs, "%q is not an attempt ID (a number from oclcbot exports list)", pos[0])
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, e, cfg, true)
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
	return writeAttempt(e.stdout, at, cfg.Bot.Location())
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

func isOutcome(o exportlog.Outcome) bool {
	for _, x := range exportOutcomes {
		if x == o {
			return true
		}
	}
	return false
}

func joinOutcomes() string {
	s := make([]string, len(exportOutcomes))
	for i, o := range exportOutcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// ---- Helpers shared by the administrative commands (catalog, exports,
// queue, incidents, outbox).

// adminSub is one subcommand of an administrative command.
type adminSub struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// runAdminSubs runs the subcommand args[0] of group. Without one, or with
// an unknown one, it prints the group's usage on standard error and
// returns errUsage; -h prints it on standard output.
func runAdminSubs(ctx context.Context, e *env, group, about string, subs []adminSub, args []string) error {
	help := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: oclcbot %s SUBCOMMAND [flags] [args]\n\n%s\n\nSubcommands:\n\n", group, strings.TrimSpace(about))
		for _, s := range subs {
			fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun `oclcbot %s SUBCOMMAND -h` for its flags.\n", group)
	}
	if len(args) == 0 {
		help(e.stderr)
		return errUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		help(e.stdout)
		return flag.ErrHelp
	case "help":
		if len(args) == 1 {
			help(e.stdout)
			return flag.ErrHelp
		}
		name, args = args[1], []string{name, "-h"}
	}
	for _, s := range subs {
		if s.name == name {
			return s.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "oclcbot %s: unknown subcommand %q\n\n", group, name)
	help(e.stderr)
	return errUsage
}

// parseAdminArgs parses args with flags allowed among the positional
// arguments ("catalog show 42 --format xml"), as people type them, and
// returns the positional ones. After "--" everything is positional.
func parseAdminArgs(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	if err := parseFlags(e, fs, args); err != nil {
		return nil, err
	}
	var pos []string
	for {
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
	}
}

// adminUsageError reports a wrong command line with the command's usage
// on standard error and returns errUsage (exit status 2).
func adminUsageError(e *env, fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(e.stderr, "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.SetOutput(e.stderr)
	fs.Usage()
	return errUsage
}

// openAdmin opens the stores for an administrative command. Its log lines
// (warnings and errors only, unless log.level is debug) go to standard
// error. With mustExist a missing database is an error and no file is
// created.
func openAdmin(ctx context.Context, e *env, cfg *config.Config, mustExist bool) (*app, error) {
	lc := cfg.Log
	if lc.Level != "debug" && lc.Level != "error" {
		lc.Level = "warn"
	}
	return openApp(ctx, cfg, newLogger(e.stderr, lc), mustExist)
}

// defaultActor is who an acknowledgement, solution, note, silence or drop
// is recorded as when --by is not given: the login (the one behind sudo)
// at this machine's short host name.
func defaultActor() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		h, _, _ = strings.Cut(h, ".")
		name += "@" + h
	}
	return name
}

// adminTimeLayout is how the administrative commands show times (in
// bot.time_zone, the machine's zone unless configured).
const adminTimeLayout = "2006-01-02 15:04:05"

func adminTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(adminTimeLayout)
}

// jsonTime is t in RFC 3339 in loc, "" for the zero time.
func jsonTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(time.RFC3339Nano)
}

// whenLayouts are the times people may give for --since, --until and a
// silence's end, read in bot.time_zone.
var whenLayouts = []string{
	time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", adminTimeLayout, "2006-01-02 15:04", "2006-01-02",
}

// parseWhen reads a duration counted from now (back when dir < 0,
// forward when dir > 0) or a time in loc.
func parseWhen(s string, now time.Time, loc *time.Location, dir int) (time.Time, error) {
	var d config.Duration
	if err := d.UnmarshalText([]byte(s)); err == nil {
		if dir < 0 {
			return now.Add(-d.D()), nil
		}
		return now.Add(d.D()), nil
	}
	for _, layout := range whenLayouts {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (90m, 4h, 7d) nor a time (2026-03-01, \"2026-03-01 14:30\")", s)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens s to n runes for a table column, on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-3]) + "..."
}

func indent(s, pad string) string {
	s = strings.TrimRight(s, "\n")
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// visible writes bytes that are not a readable request as text, with
// control characters and invalid UTF-8 shown as {xHH}.
func visible(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == '\n':
			sb.WriteByte('\n')
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f:
			fmt.Fprintf(&sb, "{x%02X}", b[0])
		default:
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

// pluralize returns "1 record", "2 records".
func pluralize(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
