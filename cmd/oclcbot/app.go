package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
	isqlite "github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/receiver/relay"
	"github.com/oclcbot/oclcbot/templates"

	"modernc.org/sqlite"
)

// configFlag adds -config to fs. Its default is $OCLCBOT_CONFIG, then
// ./oclcbot.toml when that file exists; with neither, the embedded
// defaults are used.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("OCLCBOT_CONFIG")
	if def == "" {
		if _, err := os.Stat("oclcbot.toml"); err == nil {
			def = "oclcbot.toml"
		}
	}
	return fs.String("config", def, "configuration `file` (default $OCLCBOT_CONFIG, else ./oclcbot.toml if present, else built-in defaults)")
}

// loadConfig reads path, or returns the defaults when path is "".
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// newLogger returns the daemon's logger on w as configured.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	switch c.Level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is oclcbot's storage and components built from a configuration:
// what both the daemon and the administrative commands use.
type app struct {
	cfg       *config.Config
	log       *slog.Logger
	db        *db.DB
	tmpl      *templates.Set
	exports   *exportlog.Log
	catalog   *catalog.Catalog
	relay     *relay.Relay // nil unless relay mode
	sink      receiver.Sink
	incidents *isqlite.Store
}

// errNoDatabase is returned by openApp for a command that only reads when
// the database file does not exist yet.
var errNoDatabase = errors.New("no database yet")

// openApp opens the database and the stores. With mustExist, a missing
// database file is an error (the read-only commands must not create an
// empty database somewhere unexpected).
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger, mustExist bool) (_ *app, err error) {
	path := cfg.Storage.Path
	if mustExist {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			abs, _ := filepath.Abs(path)
			return nil, fmt.Errorf("%w at %s (storage.path): start `oclcbot serve` first, or pass -config", errNoDatabase, abs)
		}
	}
	tmpl, err := templates.Load(cfg.Templates.Dir)
	if err != nil {
		return nil, err
	}
	d, err := db.Open(path, db.Options{Synchronous: strings.ToUpper(cfg.Storage.Synchronous), Logger: log})
	if err != nil {
		return nil, storageError(path, err)
	}
	a := &app{cfg: cfg, log: log, db: d, tmpl: tmpl}
	defer func() { // a, not the result: it is nil on the error returns
		if err != nil {
			a.Close()
			err = storageError(path, err)
		}
	}()
	if a.exports, err = exportlog.Open(ctx, d, exportlog.Options{Retention: cfg.ExportLog.Retention.D(), Logger: log}); err != nil {
		return nil, err
	}
	if a.catalog, err = catalog.Open(ctx, d, catalog.Options{LibraryCode: cfg.Library.Code, Logger: log}); err != nil {
		return nil, err
	}
	dups := receiver.Duplicates{Policy: receiver.DuplicatePolicy(cfg.Duplicates.Policy), Window: cfg.Duplicates.Window.D()}
	if r := cfg.Relay; r != nil {
		rc := relay.Config{
			Upstream:        r.Upstream,
			Listener:        relay.Listener(r.Listener),
			DB:              d,
			Log:             a.exports,
			Policy:          relay.Policy(r.Policy),
			Duplicates:      dups,
			ConnectTimeout:  r.ConnectTimeout.D(),
			ReplyTimeout:    r.ReplyTimeout.D(),
			InitialBackoff:  r.RetryInitial.D(),
			MaxBackoff:      r.RetryMax.D(),
			QueueName:       r.QueueName,
			ResendUncertain: r.ResendUncertain,
			ForwardPrepared: r.ForwardPrepared,
			MaxRefusals:     r.MaxRefusals,
			Logger:          log,
		}
		// LateReplyLimit stays the relay's default, which Open raises to
		// ReplyTimeout when that is longer.
		if r.User != "" {
			rc.Credentials = &relay.Credentials{User: r.User, LocalUser: r.LocalUser.Reveal(), Password: r.Password.Reveal()}
		}
		if rc.Patterns, err = relayPatterns(r); err != nil {
			return nil, err
		}
		if a.relay, err = relay.Open(ctx, rc); err != nil {
			return nil, err
		}
		a.sink = a.relay
	} else {
		if a.sink, err = receiver.NewCatalogSink(receiver.CatalogConfig{
			Catalog: a.catalog, Duplicates: dups, Holdings: cfg.Library.HoldingCodes, Logger: log,
		}); err != nil {
			return nil, err
		}
	}
	if a.incidents, err = isqlite.Open(ctx, d); err != nil {
		return nil, err
	}
	return a, nil
}

// SQLite's primary result codes for a database file that cannot be
// written or opened.
const (
	sqliteReadOnly  = 8  // SQLITE_READONLY
	sqliteCantOpen  = 14 // SQLITE_CANTOPEN
	sqlitePrimaryRC = 0xff
)

// storageError adds to err, when SQLite could not open or write the
// database file, what to check: a librarian reading "unable to open
// database file (14)" does not know it is about storage.path's directory
// or permissions.
func storageError(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & sqlitePrimaryRC {
	case sqliteReadOnly, sqliteCantOpen:
		abs, aerr := filepath.Abs(path)
		if aerr != nil {
			abs = path
		}
		return fmt.Errorf("%w\n(the database %s, storage.path, cannot be created or written: check that its directory exists and that the user running oclcbot may write to the directory and the file)", err, abs)
	}
	return err
}

// relayPatterns builds the reply classification: the configured failure
// patterns, then the configured success patterns, then the built-in ones
// for Koha, FOLIO, Evergreen and Aleph.
func relayPatterns(r *config.Relay) (*relay.Patterns, error) {
	p := relay.DefaultPatterns()
	var rules []relay.Rule
	for i, expr := range r.FailurePatterns {
		rule, err := relay.NewRule(fmt.Sprintf("config-failure-%d", i+1), false, expr)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	for i, expr := range r.SuccessPatterns {
		rule, err := relay.NewRule(fmt.Sprintf("config-success-%d", i+1), true, expr)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	p.Rules = append(rules, p.Rules...)
	return p, nil
}

// Close closes the stores and the database.
func (a *app) Close() error {
	var errs []error
	if a.relay != nil {
		errs = append(errs, a.relay.Close())
	}
	if a.exports != nil {
		errs = append(errs, a.exports.Close())
	}
	if a.db != nil {
		errs = append(errs, a.db.Close())
	}
	return errors.Join(errs...)
}

// botConfig is the engine configuration shared by the daemon and the
// commands that change incidents (which must render with the same
// channels). channels come from buildChannels.
func (a *app) botConfig(channels []bot.ChannelConfig) bot.Config {
	b := a.cfg.Bot
	rules := bot.Rules{
		SystemFailures: b.Rules.SystemFailures, ProbeFailures: b.Rules.ProbeFailures,
		Window: b.Rules.Window.D(), WindowMin: b.Rules.WindowMin, WindowRatio: b.Rules.WindowRatio,
		TransportMin: b.Rules.TransportMin, TransportRatio: b.Rules.TransportRatio,
		AuthUsers: b.Rules.AuthUsers, AuthWindow: b.Rules.AuthWindow.D(),
		RecoverSuccesses: b.Rules.RecoverSuccesses, RecoverHealthy: b.Rules.RecoverHealthy.D(),
	}
	c := bot.Config{
		Store:         a.incidents,
		Templates:     a.tmpl,
		Channels:      channels,
		Prefix:        b.IncidentPrefix,
		NoTag:         b.NoTag,
		Location:      b.Location(),
		Rules:         rules,
		ReopenWindow:  b.ReopenWindow.D(),
		UpdateEvery:   b.UpdateEvery.D(),
		RemindEvery:   b.RemindEvery.D(),
		WorkingHours:  b.WorkingHoursSchedule(),
		EscalateAfter: b.EscalateAfter.D(),
		EchoTimeout:   b.EchoTimeout.D(),
		ReportGrace:   b.ReportGrace.D(),
		MailAllow:     b.MailAllow,
		MaxRecords:    b.MaxRecords,
		Facts:         a.facts(),
		Logger:        a.log,
	}
	if b.NoReminders {
		c.RemindEvery = -1
	}
	if b.NoEscalation {
		c.EscalateAfter, c.EscalateCritical = -1, -1
	}
	return c
}

// facts are the configuration facts the OIS report shows; never secrets.
func (a *app) facts() []incidents.Fact {
	c := a.cfg
	f := []incidents.Fact{
		{Name: "Connexion listener", Value: c.Listener.PublicAddr},
		{Name: "Mode", Value: "embedded catalog (" + c.Library.Code + ")"},
		{Name: "Database", Value: c.Storage.Path},
	}
	if c.Relay != nil {
		f[1].Value = "relay to " + c.Relay.Upstream + ", policy " + c.Relay.Policy
	}
	if len(c.Accounts) > 0 {
		f = append(f, incidents.Fact{Name: "Accounts", Value: fmt.Sprintf("%d", len(c.Accounts))})
	}
	return f
}

// openEngine builds a bot engine over the app's store, for the commands
// that acknowledge, solve, annotate or silence. It configures the same
// channels as the daemon (without delivering: the daemon's dispatcher
// sends what the command queues).
func (a *app) openEngine(ctx context.Context) (*bot.Engine, error) {
	chans, err := channelConfigs(a.cfg, a.log, false)
	if err != nil {
		return nil, err
	}
	return bot.New(ctx, a.botConfig(chans))
}
