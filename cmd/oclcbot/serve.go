package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	stdmail "net/mail"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/mailbox"
	"github.com/oclcbot/oclcbot/bot/probe"
	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/receiver"
)

// allTemplateSamples returns the sample data every template block is
// checked against at start-up.
func allTemplateSamples() map[string]any {
	s := receiver.TemplateSamples()
	maps.Copy(s, bot.TemplateSamples())
	return s
}

// shutdownGrace bounds how long serve waits for exports in progress when
// it is asked to stop; abandonGrace bounds the wait for the exports it
// then abandons to return, before the database closes under them.
// Variables so that tests can shorten them.
var (
	shutdownGrace = 30 * time.Second
	abandonGrace  = 10 * time.Second
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[-config FILE] [-check]", `
Run the daemon: the Connexion Gateway export listener, the embedded catalog
or the relay to the ILS, the export log, the failure detection and the
notifications. Without a configuration file it listens on 127.0.0.1:5500,
accepts exports without passwords, and keeps everything in ./oclcbot.db.
It stops cleanly on SIGINT or SIGTERM, finishing the exports in progress.
With -check it runs the checks of `+"`oclcbot config check`"+` and exits; it
neither opens the database nor binds the port, so it can check an edited
configuration while the daemon runs.`)
	cfgPath := configFlag(fs)
	check := fs.Bool("check", false, "check the configuration, secrets files and templates (as `oclcbot config check`), then exit without serving")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.Log)
	if *check {
		if err := checkSetup(cfg, log); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "configuration and templates are valid")
		return nil
	}
	if err := checkListener(cfg); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// serveGCPercent is the garbage collector's pace in the daemon unless the
// GOGC environment variable sets it. The daemon's live heap is a few tens
// of megabytes, so Go's default (a collection each time the heap doubles)
// collects many times a second under load, about 6% of the CPU at a few
// thousand exports per second; at 400 the heap peaks at a few times
// that, on a machine that has it to spare.
const serveGCPercent = 400

// daemon is a running oclcbot: every component serve starts.
type daemon struct {
	*app
	receiver *receiver.Receiver
	server   *gateway.Server
	engine   *bot.Engine
	disp     *bot.Dispatcher
	probes   *probe.Scheduler // nil when every probe is off
	mailbox  *mailbox.Watcher // nil without [mailbox]
	ln       net.Listener
	lock     *os.File // held while the daemon runs: one daemon per database
}

// newDaemon builds every component and binds the listener; nothing runs
// yet. A broken template override, an unusable setting or a port in use
// stops it here with a message saying which.
func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *daemon, err error) {
	// The port and the database lock first: a second daemon, or a port
	// taken by another program, is refused before anything is created.
	d := &daemon{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.lock, err = lockDatabase(cfg.Storage.Path); err != nil {
		return nil, err
	}
	// No TCP keep-alive on accepted connections: an export lasts
	// milliseconds and a stalled one ends at the gateway's read and
	// idle timeouts, while keep-alive would cost four setsockopt calls
	// per connection.
	lc := net.ListenConfig{KeepAlive: -1}
	if d.ln, err = lc.Listen(context.Background(), "tcp", cfg.Listener.Addr); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listener.addr %s is already in use: another program (perhaps another oclcbot serve) listens there; stop it or choose another port: %w", cfg.Listener.Addr, err)
		}
		return nil, fmt.Errorf("listener.addr: %w", err)
	}
	if _, port, _ := net.SplitHostPort(cfg.Listener.PublicAddr); port == "0" {
		// Port 0 (tests, scripts): the probes dial the port chosen, and
		// the OIS report's facts (built with the bot's configuration
		// below) name it.
		cfg.Listener.PublicAddr = d.ln.Addr().String()
	}

	if d.app, err = openApp(ctx, cfg, log, false); err != nil {
		return nil, err
	}
	a := d.app
	if err := a.tmpl.Check(allTemplateSamples()); err != nil {
		return nil, err
	}

	accounts := make([]receiver.Account, len(cfg.Accounts))
	for i, acc := range cfg.Accounts {
		accounts[i] = receiver.Account{User: acc.User, PasswordHash: acc.PasswordHash, Allowed049: acc.Allowed049}
	}
	if d.receiver, err = receiver.New(receiver.Config{
		Sink:         a.sink,
		Log:          a.exports,
		Templates:    a.tmpl,
		Accounts:     accounts,
		Open:         len(accounts) == 0,
		Canary:       receiver.Canary{User: cfg.Canary.User, Password: cfg.Canary.Password.Reveal()},
		TargetPrefix: cfg.Library.TargetPrefix,
		Logger:       log,
	}); err != nil {
		return nil, err
	}
	d.server = &gateway.Server{
		Addr:            cfg.Listener.Addr,
		Handler:         d.receiver,
		MaxRequestBytes: int64(cfg.Listener.MaxRequestBytes),
		MaxRecords:      cfg.Listener.MaxRecords,
		MaxConns:        cfg.Listener.MaxConns,
		ReadTimeout:     cfg.Listener.ReadTimeout.D(),
		WriteTimeout:    cfg.Listener.WriteTimeout.D(),
		IdleTimeout:     cfg.Listener.IdleTimeout.D(),
		ErrorReply:      d.receiver.ErrorReply,
		Logger:          log,
	}

	chans, err := channelConfigs(cfg, log, true)
	if err != nil {
		return nil, err
	}
	bc := a.botConfig(chans)
	if d.disp, err = bot.NewDispatcher(bot.DispatcherConfig{
		Outbox:    a.incidents,
		Channels:  chans,
		Templates: a.tmpl,
		Retry: bot.RetryPolicy{
			Initial: cfg.Bot.Retry.Initial.D(), Max: cfg.Bot.Retry.Max.D(), MaxAge: cfg.Bot.Retry.MaxAge.D(),
		},
		NoTag:    bc.NoTag,
		Location: bc.Location,
		Logger:   log,
	}); err != nil {
		return nil, err
	}
	bc.Wake = d.disp.Wake
	if d.engine, err = bot.New(ctx, bc); err != nil {
		return nil, err
	}
	if cfg.Mailbox.Addr != "" {
		if d.mailbox, err = mailbox.New(d.mailboxConfig(), a.db, d.engine.HandleMail, log); err != nil {
			return nil, err
		}
	}
	if err := d.buildProbes(); err != nil {
		return nil, err
	}
	return d, nil
}

// mailboxConfig tells the mailbox who the bot is: its addresses, the
// domain of its Message-IDs, its list and the targets mail may be about.
func (d *daemon) mailboxConfig() mailbox.Config {
	cfg := d.cfg
	m := cfg.Mailbox
	self := mailbox.Self{Domain: cfg.Email.Domain, Prefix: cfg.Bot.IncidentPrefix}
	if a, err := stdmail.ParseAddress(cfg.Email.From); err == nil {
		self.Addresses = append(self.Addresses, a.Address)
	}
	if strings.Contains(m.Username, "@") && !slices.Contains(self.Addresses, m.Username) {
		self.Addresses = append(self.Addresses, m.Username)
	}
	for _, to := range cfg.Listserv.To {
		if a, err := stdmail.ParseAddress(to); err == nil {
			self.Lists = append(self.Lists, mailbox.List{Address: a.Address, Channel: chanListserv})
		}
	}
	self.Targets = []mailbox.Target{{Name: probe.TargetListener, Words: []string{"connexion", "connect", "gateway"}}}
	if d.relay != nil {
		self.Targets = append(self.Targets, mailbox.Target{Name: d.sink.Name(), Words: []string{"ils"}})
	} else {
		self.Targets = append(self.Targets, mailbox.Target{Name: d.sink.Name(), Words: []string{"catalog"}})
	}
	return mailbox.Config{
		Addr:       m.Addr,
		Security:   mailbox.Security(m.Security),
		Username:   m.Username,
		Password:   m.Password.Reveal(),
		Folder:     m.Folder,
		DoneFolder: m.DoneFolder,
		Self:       self,
		Poll:       m.Poll.D(),
		CAFile:     m.CAFile,
	}
}

// buildProbes configures the active checks.
func (d *daemon) buildProbes() error {
	cfg := d.cfg
	if cfg.Probes.Disabled {
		return nil
	}
	var ps []probe.Probe
	lt := probe.NewListenerTCP(cfg.Listener.PublicAddr, nil)
	if v := cfg.Probes.ListenerInterval.D(); v > 0 {
		lt.Interval = v
	}
	ps = append(ps, lt)
	if d.relay != nil {
		target := probe.UpstreamTarget(d.relay.Upstream())
		for _, p := range []probe.Probe{probe.NewUpstreamTCP(target, d.relay), probe.NewUpstreamRoundTrip(target, d.relay)} {
			if v := cfg.Probes.UpstreamInterval.D(); v > 0 {
				p.Interval = v
			}
			ps = append(ps, p)
		}
	}
	switch {
	case cfg.Probes.NoCanary:
	case len(cfg.Accounts) > 0 && cfg.Canary.Password.IsZero():
		// Not silent: an operator who set up accounts expects the canary.
		d.log.Warn("canary probe off: the listener requires passwords and canary.password (or canary.password_file) is not set; " +
			"set one to have oclcbot send a test export every probes.canary_interval, or set probes.no_canary = true to silence this")
	default:
		c, err := probe.NewCanary(probe.CanaryConfig{
			Exporter: &gateway.Client{Addr: cfg.Listener.PublicAddr, Timeout: 30 * time.Second},
			User:     cfg.Canary.User,
			Password: cfg.Canary.Password,
			Target:   d.sink.Name(),
			Interval: cfg.Probes.CanaryInterval.D(),
		})
		if err != nil {
			return err
		}
		ps = append(ps, c)
	}
	if d.relay == nil {
		last, err := d.exports.LastID(context.Background())
		if err != nil {
			return err
		}
		ic, err := probe.NewIndexCheck(probe.IndexConfig{
			Attempts: d.exports.Subscribe(last, exportlog.WithBlobs(exportlog.BlobsNone)), // titles and numbers only
			Finder:   d.catalog,
			Within:   cfg.Probes.IndexWithin.D(),
			Logger:   d.log,
		})
		if err != nil {
			return err
		}
		ps = append(ps, ic.Probe())
	}
	var err error
	d.probes, err = probe.NewScheduler(probe.Config{
		Probes: ps,
		Emit: func(o bot.Observation) {
			if err := d.engine.Observe(context.Background(), o); err != nil {
				d.log.Error("record probe result", "probe", o.Probe, "err", err)
			}
		},
		Logger: d.log,
	})
	return err
}

// run serves until ctx ends, then shuts down in order: stop accepting
// and finish the exports in progress, then stop the background work,
// then close the database.
func (d *daemon) run(ctx context.Context) error {
	defer d.close()
	bg, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(bg); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	start("dispatcher", d.disp.Run)
	start("bot", func(ctx context.Context) error { return d.engine.Run(ctx, bot.ExportLog(d.exports)) })
	start("export log pruner", d.exports.RunPruner)
	if d.relay != nil {
		start("relay", d.relay.Run)
	}
	if d.probes != nil {
		start("probes", d.probes.Run)
	}
	if d.mailbox != nil {
		start("mailbox", d.mailbox.Run)
	}
	served := make(chan error, 1)
	go func() { served <- d.server.Serve(d.ln) }()

	mode := "embedded catalog " + d.cfg.Library.Code
	if d.relay != nil {
		mode = "relay to " + d.relay.Upstream()
	}
	d.log.Info("oclcbot ready", "listener", d.ln.Addr().String(), "mode", mode, "database", d.cfg.Storage.Path,
		"passwords", len(d.cfg.Accounts) > 0)

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("stopping: finishing the exports in progress")
	case err := <-served:
		runErr = fmt.Errorf("listener: %w", err)
	case runErr = <-errc:
	}
	if err := d.shutdownServer(); err != nil && runErr == nil {
		runErr = err
	}
	stop()
	wg.Wait()
	close(errc)
	for err := range errc {
		if runErr == nil {
			runErr = err
		}
	}
	if runErr == nil {
		d.log.Info("stopped")
	}
	return runErr
}

// shutdownServer stops the listener and waits up to shutdownGrace for the
// exports in progress. Those still running then are abandoned (their
// contexts cancelled, connections closed; nothing half-written is
// committed) and waited for up to abandonGrace more, so that none of them
// uses the database or the relay after run closes them.
func (d *daemon) shutdownServer() error {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	err := d.server.Shutdown(sctx)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Shutdown has just closed the connections that were only waiting
	// for their client to close after the reply; if nothing else was
	// running, those end at once.
	settle, scancel := context.WithTimeout(context.Background(), time.Second)
	err = d.server.Shutdown(settle)
	scancel()
	if err == nil {
		return nil
	}
	d.log.Error("stopping: exports still in progress after the grace period are abandoned; Connexion shows those catalogers an error and they must export again",
		"grace", shutdownGrace)
	d.server.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), abandonGrace)
	defer wcancel()
	if werr := d.server.Shutdown(wctx); werr != nil {
		d.log.Error("stopping: abandoned exports did not end; closing the database anyway", "waited", abandonGrace)
	}
	return fmt.Errorf("stopped with exports in progress after waiting %v for them", shutdownGrace)
}

func (d *daemon) close() {
	if d.ln != nil {
		d.ln.Close()
	}
	if d.app != nil {
		if err := d.app.Close(); err != nil {
			d.log.Error("close", "err", err)
		}
	}
	if d.lock != nil {
		d.lock.Close() // releases the lock
	}
}

// lockDatabase takes an exclusive lock on DB.lock beside the database, so
// that a second `oclcbot serve` on the same database (which would deliver
// every notification twice) refuses to start. The lock goes with the
// process, even on SIGKILL; the file records who holds it.
func lockDatabase(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, storageError(path, fmt.Errorf("storage.path: cannot create the lock file: %w", err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(name)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "unknown"
			}
			return nil, fmt.Errorf("another oclcbot serve (pid %s) is already running on the database %s (storage.path); stop it first", who, path)
		}
		return nil, fmt.Errorf("storage.path: cannot lock %s: %w", name, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
