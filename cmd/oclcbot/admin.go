package main

// What the administrative commands (catalog, exports, queue, incidents,
// outbox) share: running a subcommand, reading its command line, opening
// the stores, and showing times, tables and JSON.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/config"
)

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

// adminCmd is one run of an administrative subcommand. It takes the steps
// they all take, in this order: parse the command line (parse), check the
// number of positional arguments and --limit, load the configuration
// (load), open the stores (open). A subcommand adds its own checks
// between the steps; start takes them all at once for one that has none.
type adminCmd struct {
	e       *env
	fs      *flag.FlagSet
	cfgPath *string
	limit   *int           // --limit, when limitFlag added it
	pos     []string       // the positional arguments, once parsed
	cfg     *config.Config // the configuration, once loaded
	loc     *time.Location // cfg.Bot.Location(): where times are shown
}

// newAdminCmd starts the subcommand "oclcbot name" with its usage text
// and the -config flag.
func newAdminCmd(e *env, name, synopsis, about string) *adminCmd {
	fs := newFlags(e, name, synopsis, about)
	return &adminCmd{e: e, fs: fs, cfgPath: configFlag(fs)}
}

// limitFlag adds --limit, at least 1 (parse checks it), default def.
func (c *adminCmd) limitFlag(def int, usage string) *int {
	c.limit = c.fs.Int("limit", def, usage)
	return c.limit
}

// jsonFlag adds --json, for listings that scripts read.
func (c *adminCmd) jsonFlag() *bool {
	return c.fs.Bool("json", false, "print JSON for scripts")
}

// byFlag adds --by, who does what the subcommand records (defaultActor).
func (c *adminCmd) byFlag(usage string) *string {
	return c.fs.String("by", defaultActor(), usage)
}

// argCount is how many positional arguments a subcommand takes, and what
// it says when given another number.
type argCount struct {
	min, max int    // max < 0: no upper bound
	wrong    string // the usage error; "" when min is 0: `unexpected argument "X"`
}

var (
	noArgs  = argCount{max: 0}
	anyArgs = argCount{max: -1}
)

// exactArgs is n positional arguments; any other number is wrong.
func exactArgs(n int, wrong string) argCount { return argCount{min: n, max: n, wrong: wrong} }

// someArgs is one positional argument or more; none is wrong.
func someArgs(wrong string) argCount { return argCount{min: 1, max: -1, wrong: wrong} }

// parse reads args into the flags and c.pos, then checks the number of
// positional arguments against n and --limit. It returns errUsage (after
// the usage text) or flag.ErrHelp for main to turn into an exit status.
func (c *adminCmd) parse(args []string, n argCount) error {
	pos, err := parseAdminArgs(c.e, c.fs, args)
	if err != nil {
		return err
	}
	c.pos = pos
	tooMany := n.max >= 0 && len(pos) > n.max
	switch {
	case len(pos) < n.min, tooMany && n.wrong != "":
		return c.usageError("%s", n.wrong)
	case tooMany:
		return c.usageError("unexpected argument %q", pos[n.max])
	}
	if c.limit != nil && *c.limit <= 0 {
		return c.usageError("--limit must be at least 1")
	}
	return nil
}

// usageError reports a wrong command line with the subcommand's usage on
// standard error and returns errUsage (exit status 2).
func (c *adminCmd) usageError(format string, a ...any) error {
	fmt.Fprintf(c.e.stderr, "%s: %s\n\n", c.fs.Name(), fmt.Sprintf(format, a...))
	c.fs.SetOutput(c.e.stderr)
	c.fs.Usage()
	return errUsage
}

// load loads the configuration named by -config, once.
func (c *adminCmd) load() error {
	if c.cfg != nil {
		return nil
	}
	cfg, err := loadConfig(*c.cfgPath)
	if err != nil {
		return err
	}
	c.cfg, c.loc = cfg, cfg.Bot.Location()
	return nil
}

// open loads the configuration if need be and opens the stores (see
// openAdmin); the caller closes them.
func (c *adminCmd) open(ctx context.Context, mustExist bool) (*app, error) {
	if err := c.load(); err != nil {
		return nil, err
	}
	return openAdmin(ctx, c.e, c.cfg, mustExist)
}

// start is parse, then open with an existing database: the whole
// beginning of a subcommand that only reads and checks nothing more.
func (c *adminCmd) start(ctx context.Context, args []string, n argCount) (*app, error) {
	if err := c.parse(args, n); err != nil {
		return nil, err
	}
	return c.open(ctx, true)
}

// openEngine is open, plus the incident engine for a subcommand that
// changes incidents or silences; the caller closes the app.
func (c *adminCmd) openEngine(ctx context.Context, mustExist bool) (*app, *bot.Engine, error) {
	a, err := c.open(ctx, mustExist)
	if err != nil {
		return nil, nil, err
	}
	eng, err := a.openEngine(ctx)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, eng, nil
}

// pastTime reads the value of flag name (--since, --until) as parseWhen
// does, back from now in c.loc; "" is the zero time. The configuration
// must be loaded.
func (c *adminCmd) pastTime(name, value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := parseWhen(value, now, c.loc, -1)
	if err != nil {
		return time.Time{}, c.usageError("%s: %v", name, err)
	}
	return t, nil
}

// parseStates reads the comma-separated value of --state: each state,
// in any case, must be one of valid. It returns nil for "".
func parseStates[S ~string](c *adminCmd, value string, valid []S) ([]S, error) {
	if value == "" {
		return nil, nil
	}
	var states []S
	for _, s := range strings.Split(value, ",") {
		st := S(strings.ToLower(strings.TrimSpace(s)))
		if !slices.Contains(valid, st) {
			return nil, c.usageError("--state %q: want %s", s, orList(valid))
		}
		states = append(states, st)
	}
	return states, nil
}

// orList is "a, b or c".
func orList[S ~string](s []S) string {
	words := make([]string, len(s))
	for i, w := range s {
		words[i] = string(w)
	}
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// forEachArg does do for each of items. A failure is reported on standard
// error, after the subcommand's name, and the next item is done; if any
// failed it returns errSilentFailure (exit status 1).
func forEachArg[T any](c *adminCmd, items []T, do func(T) error) error {
	failed := false
	for _, it := range items {
		if err := do(it); err != nil {
			failed = true
			fmt.Fprintf(c.e.stderr, "%s: %v\n", c.fs.Name(), err)
		}
	}
	if failed {
		return errSilentFailure
	}
	return nil
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

// adminTime is t in loc as adminTimeLayout, "-" for the zero time.
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

// table is a listing for people: a header line, then a row a line, in
// columns two spaces apart.
type table struct {
	tw *tabwriter.Writer
}

// newTable starts a table on w with the column names.
func newTable(w io.Writer, columns ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, strings.Join(columns, "\t"))
	return t
}

// row adds a row, a cell a column, each printed as fmt.Print does.
func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

// flush writes the table out.
func (t *table) flush() error {
	return t.tw.Flush()
}

// moreNote says under a listing that --limit shows more when the n rows
// shown (the best, the newest) are as many as limit allowed.
func moreNote(w io.Writer, n, limit int, which string) {
	if n == limit {
		fmt.Fprintf(w, "(the %s %d; --limit shows more)\n", which, n)
	}
}

// jsonForms converts each of list with form, for writeJSON: a list,
// possibly empty, is never null.
func jsonForms[S, J any](list []S, form func(S) J) []J {
	out := make([]J, len(list))
	for i, s := range list {
		out[i] = form(s)
	}
	return out
}

// writeJSON writes v as indented JSON, for scripts.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dash is s, or "-" for nothing.
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

// indent puts pad before each line of s, without a final newline.
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
