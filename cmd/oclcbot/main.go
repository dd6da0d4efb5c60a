// Command oclcbot receives OCLC Connexion Gateway exports, loads them into
// an embedded catalog or relays them to the library's ILS, notices when the
// export path breaks, and tells the listserv, the chat channel and the
// systems office about it until it is solved.
//
// Run `oclcbot help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	_ "time/tzdata" // bot.time_zone works on machines without a zoneinfo database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// env is the outside world a subcommand sees; tests substitute buffers.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and something failed (e.g. a bad record)
	exitUsage   = 2 // the command line was wrong
)

// errUsage marks an error already explained by the flag package's usage
// output.
var errUsage = errors.New("usage")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the daemon: Connexion listener, catalog or relay, bot", runServe},
		{"print", "print MARC records (mrk, line, xml, json)", runPrint},
		{"export", "send MARC records to a Connexion Gateway listener", runExport},
		{"catalog", "search and show records in the embedded catalog", runCatalog},
		{"exports", "list export attempts from the export log", runExports},
		{"queue", "list, retry or drop records queued for the upstream ILS", runQueue},
		{"incidents", "list, show, acknowledge, solve, annotate and silence incidents", runIncidents},
		{"outbox", "list notifications, retry them, show dead letters", runOutbox},
		{"passwd", "hash a password for an [[accounts]] entry", runPasswd},
		{"config", "check a configuration file and print it (secrets redacted)", runConfig},
		{"version", "print the version", runVersion},
		{"help", "show help for oclcbot or a subcommand", runHelp},
	}
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" {
		usage(e.stdout)
		return exitOK
	}
	i := slices.IndexFunc(commands(), func(c command) bool { return c.name == name })
	if i < 0 {
		fmt.Fprintf(e.stderr, "oclcbot: unknown command %q\n\n", name)
		usage(e.stderr)
		return exitUsage
	}
	err := commands()[i].run(ctx, e, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errSilentFailure):
		return exitFailure
	default:
		fmt.Fprintf(e.stderr, "oclcbot %s: %v\n", name, err)
		return exitFailure
	}
}

// errSilentFailure ends a command with exit status 1 when it has already
// reported the failures itself (print's bad records, export's refused
// records).
var errSilentFailure = errors.New("failed")

func usage(w io.Writer) {
	fmt.Fprintf(w, "oclcbot keeps OCLC Connexion Gateway exports flowing.\n\nUsage:\n\n  oclcbot COMMAND [flags] [args]\n\nCommands:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun `oclcbot COMMAND -h` for a command's flags.\n")
}

// newFlags returns a FlagSet for a subcommand whose usage text goes to
// e.stderr (or e.stdout for -h) and starts with synopsis.
func newFlags(e *env, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("oclcbot "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: oclcbot %s %s\n\n", name, synopsis)
		if about != "" {
			fmt.Fprintf(out, "%s\n\n", strings.TrimSpace(about))
		}
		var has bool
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(out, "Flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; -h prints the usage on standard output and
// returns flag.ErrHelp, a bad flag returns errUsage after the usage text.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return nil
}

func runHelp(_ context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		usage(e.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			return c.run(context.Background(), e, []string{"-h"})
		}
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// version is set by the linker (-ldflags "-X main.version=v1.2.3");
// otherwise it comes from the module's build information.
var version = ""

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "", "Print oclcbot's version and the Go version it was built with.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	v, goV, rev := version, "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goV = bi.GoVersion
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	fmt.Fprintf(e.stdout, "oclcbot %s %s\n", v, goV)
	return nil
}
