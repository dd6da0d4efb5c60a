package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

const exportAbout = `
Send each MARC (ISO 2709) record of each FILE (standard input when there is
no FILE or FILE is "-") to a Connexion Gateway listener as its own export,
exactly as OCLC Connexion does, and print the listener's reply to each, in
the order of the input, prefixed with the record's number and OCLC number.

The password is read from the first line of --password-file, or else from
the environment variable OCLCBOT_PASSWORD; it is never taken from the
command line and never printed.

Records that cannot be read are reported on standard error with their byte
offset and are not sent. A record counts as failed when it could not be
delivered (no connection, timeout, connection closed before the reply) or
when the reply starts with "Error"; the exit status is then 1. Ctrl-C
stops sending and says how many records were sent. On a terminal a
progress line is shown on standard error.`

// Limits of the export command.
const (
	maxExportConcurrency = gateway.DefaultMaxConns
	// exportWindowPerWorker bounds the records read ahead of the one whose
	// reply is printed next, per worker, so memory stays flat.
	exportWindowPerWorker = 4
	// passwordEnv names the environment variable holding the password
	// when there is no --password-file.
	passwordEnv = "OCLCBOT_PASSWORD"
)

// exportJob is one record on its way through the export pipeline.
type exportJob struct {
	file string // display name, "" when there is a single input
	n    int    // record number within its file, 1-based
	off  int64  // byte offset in its file
	oclc string // the record's OCLC number, if any
	raw  []byte

	skip  error // the record could not be read: not sent
	fatal error // reading the input failed: nothing more follows
	reply string
	err   error         // transport failure
	done  chan struct{} // closed when reply or err is set
}

// where names the record for messages: "a.mrc record 3 (OCLC 123)".
func (j *exportJob) where() string {
	var b strings.Builder
	if j.file != "" {
		b.WriteString(j.file)
		b.WriteByte(' ')
	}
	b.WriteString("record ")
	b.WriteString(strconv.Itoa(j.n))
	if j.oclc != "" {
		b.WriteString(" (OCLC ")
		b.WriteString(j.oclc)
		b.WriteByte(')')
	}
	return b.String()
}

// exportTally counts the outcomes of an export run.
type exportTally struct {
	replied     int // a reply arrived
	refused     int // ... and it starts with "Error"
	failed      int // transport failure
	cancelled   int // interrupted after the whole record was sent
	maybeSent   int // failed or cancelled after the whole request was written
	unreadable  int // not sent: could not be read
	interrupted bool
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export", "--to HOST:PORT [--user USER] [--password-file FILE] [--concurrency N] [--timeout DURATION] [FILE...]", exportAbout)
	to := fs.String("to", "", "`HOST:PORT` of the Connexion Gateway listener (required)")
	user := fs.String("user", "", "`USER` sent in the U field (the OCLC authorization)")
	pwFile := fs.String("password-file", "", "read the password from the first line of `FILE` (default: $"+passwordEnv+")")
	concurrency := fs.Int("concurrency", 1, "send up to `N` records at once (1-"+strconv.Itoa(maxExportConcurrency)+")")
	timeout := fs.Duration("timeout", gateway.DefaultClientTimeout, "give up on one record after `DURATION`")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(e.stderr, "oclcbot export: "+format+"\n", a...)
		return errUsage
	}
	if *to == "" {
		return usageErr("--to HOST:PORT is required")
	}
	if _, port, err := net.SplitHostPort(*to); err != nil || port == "" {
		return usageErr("--to %q is not HOST:PORT", *to)
	}
	if *concurrency < 1 || *concurrency > maxExportConcurrency {
		return usageErr("--concurrency must be between 1 and %d", maxExportConcurrency)
	}
	if *timeout <= 0 {
		return usageErr("--timeout must be positive")
	}
	password, err := exportPassword(*pwFile)
	if err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, f := range files {
		if f == "-" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return err // before sending anything: a typo must not half-run
		}
	}

	client := &gateway.Client{Addr: *to, Timeout: *timeout}
	progress := newProgress(e.stderr, files)

	window := *concurrency * exportWindowPerWorker
	order := make(chan *exportJob, window)
	work := make(chan *exportJob)
	for range *concurrency {
		go func() {
			for j := range work {
				if j.err = ctx.Err(); j.err == nil {
					j.reply, j.err = client.Export(ctx, *user, password, j.raw)
				}
				j.raw = nil
				close(j.done)
			}
		}()
	}
	go func() {
		defer close(work)
		defer close(order)
		readExportJobs(ctx, e.stdin, files, func(j *exportJob) {
			order <- j
			if j.skip == nil && j.fatal == nil {
				work <- j
			} else {
				close(j.done)
			}
		})
	}()

	var t exportTally
	for j := range order {
		<-j.done
		t.interrupted = t.interrupted || ctx.Err() != nil
		progress.clear()
		printExportResult(e, j, &t)
		progress.update(t.replied+t.failed+t.cancelled+t.unreadable, t.refused+t.failed+t.unreadable)
	}
	progress.clear()
	if ctx.Err() != nil {
		t.interrupted = true
	}
	return exportSummary(e, &t)
}

// exportPassword reads the password from the first line of file, or from
// $OCLCBOT_PASSWORD when file is "". Errors never contain the password.
func exportPassword(file string) (string, error) {
	if file == "" {
		return os.Getenv(passwordEnv), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) == 0 {
		return "", fmt.Errorf("password file %s: the first line is empty", file)
	}
	return string(line), nil
}

// readExportJobs reads the records of files in order and hands each to
// emit, until the input ends, reading fails or ctx is cancelled.
func readExportJobs(ctx context.Context, stdin io.Reader, files []string, emit func(*exportJob)) {
	for _, name := range files {
		display := name
		switch {
		case len(files) == 1:
			display = ""
		case name == "-":
			display = "standard input"
		}
		if !readExportFile(ctx, stdin, name, display, emit) {
			return
		}
	}
}

// readExportFile reads the records of one file ("-" is stdin) and reports
// whether the next file may follow.
func readExportFile(ctx context.Context, stdin io.Reader, name, display string, emit func(*exportJob)) bool {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			emit(&exportJob{file: display, fatal: err, done: make(chan struct{})})
			return false
		}
		defer f.Close()
		in = f
	}
	rd := marc.NewReader(in)
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return false
		}
		raw, off, err := rd.ReadRaw()
		if err == io.EOF {
			return true
		}
		j := &exportJob{file: display, n: n, off: off, done: make(chan struct{})}
		var re *marc.ReadError
		switch {
		case errors.As(err, &re):
			j.skip = re.Err
		case err != nil:
			if name == "-" {
				name = "standard input"
			}
			j.fatal = fmt.Errorf("read %s: %w", name, err)
			emit(j)
			return false
		default:
			rec, err := marc.Decode(raw)
			if err != nil {
				j.skip = err
			} else {
				j.oclc = marc.OCLCNumber(rec)
				j.raw = bytes.Clone(raw)
			}
		}
		emit(j)
	}
}

// printExportResult prints one record's outcome: its reply on standard
// output, or its failure on standard error.
func printExportResult(e *env, j *exportJob, t *exportTally) {
	switch {
	case j.fatal != nil:
		fmt.Fprintf(e.stderr, "oclcbot export: %v\n", j.fatal)
		t.unreadable++
	case j.skip != nil:
		fmt.Fprintf(e.stderr, "oclcbot export: %s at byte %d: not sent: %v\n", j.where(), j.off, j.skip)
		t.unreadable++
	case errors.Is(j.err, context.Canceled):
		// Interrupted: only a record that was on its way is worth a
		// line; the others are "the rest" of the summary.
		var ce *gateway.ClientError
		if errors.As(j.err, &ce) && ce.Sent {
			t.cancelled++
			t.maybeSent++
			fmt.Fprintf(e.stderr, "oclcbot export: %s at byte %d: interrupted after it was sent: the server may have imported it\n", j.where(), j.off)
		}
	case j.err != nil:
		t.failed++
		msg := j.err.Error()
		var ce *gateway.ClientError
		if errors.As(j.err, &ce) && ce.Sent {
			t.maybeSent++
			msg += " (the whole record was sent: the server may have imported it, check before sending it again)"
		}
		fmt.Fprintf(e.stderr, "oclcbot export: %s at byte %d: failed: %s\n", j.where(), j.off, msg)
	default:
		t.replied++
		if isErrorReply(j.reply) {
			t.refused++
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", j.where(), displayReply(j.reply))
	}
}

// isErrorReply reports whether a reply says the record was refused: it
// starts with "Error", as gateway.DefaultErrorReply and other receivers'
// refusals do.
func isErrorReply(reply string) bool {
	s := strings.TrimSpace(reply)
	return len(s) >= 5 && strings.EqualFold(s[:5], "error")
}

// displayReply makes a reply safe to print on one terminal: trailing
// blank lines go, later lines are indented under the record's prefix, and
// control characters (which could drive the terminal) are shown as \xNN.
func displayReply(reply string) string {
	reply = strings.TrimRight(reply, " \t\r\n")
	var b strings.Builder
	for i := 0; i < len(reply); i++ {
		switch c := reply[i]; {
		case c == '\r' && i+1 < len(reply) && reply[i+1] == '\n':
		case c == '\n':
			b.WriteString("\n    ")
		case c == '\t':
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// exportSummary ends the run: a summary line on standard error when
// something went wrong or the run was interrupted, and the error run
// turns into the exit status.
func exportSummary(e *env, t *exportTally) error {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(t.refused, "refused by the server")
	add(t.failed, "failed")
	add(t.cancelled, "interrupted in flight")
	add(t.unreadable, "not sent (unreadable)")
	detail := ""
	if len(parts) > 0 {
		detail = ": " + strings.Join(parts, ", ")
	}
	if t.maybeSent > 0 {
		detail += fmt.Sprintf("; the server may have received %d of the failed or cancelled records", t.maybeSent)
	}
	switch {
	case t.interrupted:
		fmt.Fprintf(e.stderr, "oclcbot export: interrupted: %d %s sent and answered%s; the rest were not sent\n", t.replied, plural(t.replied, "record", "records"), detail)
		return errSilentFailure
	case len(parts) > 0:
		fmt.Fprintf(e.stderr, "oclcbot export: %d %s answered%s\n", t.replied, plural(t.replied, "record", "records"), detail)
		return errSilentFailure
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// progress draws a one-line progress bar on a terminal; on anything else
// it does nothing.
type progress struct {
	w     io.Writer
	total int // 0 when unknown (standard input)
	last  time.Time
	shown bool
}

// newProgress returns a progress bar on w if w is a terminal, counting the
// records of files first when they are all regular files.
func newProgress(w io.Writer, files []string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	p := &progress{w: w}
	for _, name := range files {
		n, err := countRecords(name)
		if err != nil {
			p.total = 0
			break
		}
		p.total += n
	}
	return p
}

// countRecords counts the records (damaged ones included) of a regular
// file.
func countRecords(name string) (int, error) {
	if name == "-" {
		return 0, errors.New("standard input cannot be read twice")
	}
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return 0, errors.New("not a regular file")
	}
	rd := marc.NewReader(f)
	n := 0
	for {
		_, _, err := rd.ReadRaw()
		var re *marc.ReadError
		switch {
		case err == io.EOF:
			return n, nil
		case errors.As(err, &re):
			if !errors.Is(err, marc.ErrGarbage) {
				n++
			}
		case err != nil:
			return 0, err
		default:
			n++
		}
	}
}

// update redraws the bar for done records of which failed failed, at most
// ten times a second.
func (p *progress) update(done, failed int) {
	if p.w == nil || (p.shown && time.Since(p.last) < 100*time.Millisecond && done != p.total) {
		return
	}
	p.last = time.Now()
	p.shown = true
	io.WriteString(p.w, "\r"+renderProgress(done, p.total, failed)+"\x1b[K")
}

// clear removes the bar so that a message can be written.
func (p *progress) clear() {
	if p.w != nil && p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// renderProgress returns the bar's text: "[#####     ] 512/1024 records,
// 3 failed", or without the bar and total when total is unknown.
func renderProgress(done, total, failed int) string {
	const width = 30
	var b strings.Builder
	if total > 0 {
		filled := min(width, done*width/total)
		b.WriteString("[")
		b.WriteString(strings.Repeat("#", filled))
		b.WriteString(strings.Repeat(" ", width-filled))
		fmt.Fprintf(&b, "] %d/%d records", done, total)
	} else {
		fmt.Fprintf(&b, "%d records", done)
	}
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed", failed)
	}
	return b.String()
}
