// Package config reads oclcbot's TOML configuration file, fills in the
// defaults (so that no file at all is a working loopback setup), and checks
// every value before anything starts. Unknown keys are errors: a misspelt
// setting must not silently fall back to a default.
//
// Passwords and tokens are Secret values, given inline or, better, through
// a *_file setting naming a file that holds only the secret. No error
// message or printout of the configuration contains a secret.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. The zero value is not valid; use
// Default, Load or Parse.
type Config struct {
	Listener   Listener   `toml:"listener"`
	Storage    Storage    `toml:"storage"`
	Library    Library    `toml:"library"`
	Accounts   []Account  `toml:"accounts"`
	Canary     Canary     `toml:"canary"`
	Duplicates Duplicates `toml:"duplicates"`
	Relay      *Relay     `toml:"relay"` // nil: records go to the embedded catalog
	ExportLog  ExportLog  `toml:"export_log"`
	Templates  Templates  `toml:"templates"`
	Log        Log        `toml:"log"`
	Bot        Bot        `toml:"bot"`
	Probes     Probes     `toml:"probes"`
	Email      Email      `toml:"email"`
	Listserv   Listserv   `toml:"listserv"`
	Report     Report     `toml:"report"`
	Mailbox    Mailbox    `toml:"mailbox"`
}

// Listener is the Connexion Gateway export listener.
type Listener struct {
	// Addr is where oclcbot listens for Connexion (default 127.0.0.1:5500).
	Addr string `toml:"addr"`
	// PublicAddr is the host:port catalogers' Connexion clients connect to,
	// when it differs from Addr (a load balancer, NAT); probes dial it.
	PublicAddr      string   `toml:"public_addr"`
	MaxRequestBytes int      `toml:"max_request_bytes"`
	MaxRecords      int      `toml:"max_records"`
	MaxConns        int      `toml:"max_conns"`
	ReadTimeout     Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing a reply to Connexion (default: the
	// gateway's, 30s).
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
}

// Storage is the database.
type Storage struct {
	// Path of the SQLite database file (default ./oclcbot.db), relative to
	// the working directory.
	Path string `toml:"path"`
	// Synchronous is "full" (default: an acknowledged record survives
	// power loss) or "normal" (survives a crash of oclcbot, not of the
	// machine).
	Synchronous string `toml:"synchronous"`
}

// Library describes the library whose catalog oclcbot feeds.
type Library struct {
	// Code is the library code shown with system numbers, e.g. "HVD01".
	Code string `toml:"code"`
	// TargetPrefix marks an 035 $a that targets a local record, e.g.
	// "(HVD01)". Default: "(" + Code + ")".
	TargetPrefix string `toml:"target_prefix"`
	// HoldingCodes are the 049 $a codes that are ours; a targeted record
	// with another 049 is refused. Empty: any record may be targeted.
	HoldingCodes []string `toml:"holding_codes"`
}

// Account is one login allowed to export.
type Account struct {
	User         string   `toml:"user"`
	PasswordHash string   `toml:"password_hash"` // from `oclcbot passwd`
	Allowed049   []string `toml:"allowed_049"`   // empty: any
}

// Canary is the probe account whose exports exercise the whole path and
// are never stored.
type Canary struct {
	User         string `toml:"user"` // default "oclcbot-canary"
	Password     Secret `toml:"password"`
	PasswordFile string `toml:"password_file"`
}

// Duplicates is the repeated-export policy.
type Duplicates struct {
	Policy string   `toml:"policy"` // skip (default), overlay, mark-deleted
	Window Duration `toml:"window"` // default 24h
}

// Relay configures relay mode: records go to the ILS listener oclcbot
// wraps instead of the embedded catalog.
type Relay struct {
	Upstream string `toml:"upstream"` // host:port, required
	// Listener names the ILS's Connexion receiver (koha, folio,
	// evergreen, aleph, oclcbot; "" for another): it decides how records
	// are sent (Evergreen's takes the record alone) and how the upstream
	// is probed.
	Listener     string `toml:"listener"`
	User         string `toml:"user"` // rewrite credentials to these when set
	Password     Secret `toml:"password"`
	PasswordFile string `toml:"password_file"`
	// LocalUser replaces the A field (FOLIO edge-connexion: "tenant user
	// password", or an API key); a secret, as it usually holds a
	// password.
	LocalUser     Secret `toml:"local_user"`
	LocalUserFile string `toml:"local_user_file"`
	// QueueName names the relay's queue in the database (default
	// "upstream:HOST:PORT"): set it before changing upstream, or the
	// records still queued for the old address stay behind.
	QueueName string `toml:"queue_name"`
	// ResendUncertain puts records the upstream may or may not have
	// taken (it received the whole record and never answered) back in
	// the queue instead of waiting for an operator; only for an ILS that
	// overlays by OCLC number, since it can import a record twice.
	ResendUncertain bool `toml:"resend_uncertain"`
	// ForwardPrepared forwards records after oclcbot's import rules
	// (UTF-8, 040 rule, targeting 035 removed) instead of as the
	// cataloger sent them.
	ForwardPrepared bool     `toml:"forward_prepared"`
	Policy          string   `toml:"policy"` // queue (default) or reject
	ConnectTimeout  Duration `toml:"connect_timeout"`
	ReplyTimeout    Duration `toml:"reply_timeout"`
	// SuccessPatterns and FailurePatterns are regular expressions matched
	// against the upstream's reply; empty means the built-in ones for
	// Koha, FOLIO, Evergreen and Aleph.
	SuccessPatterns []string `toml:"success_patterns"`
	FailurePatterns []string `toml:"failure_patterns"`
	RetryInitial    Duration `toml:"retry_initial"`
	RetryMax        Duration `toml:"retry_max"`
	// MaxRefusals is how many refusals in a row of one queued record on
	// its own merits set it aside (held) so that the records behind it
	// go on: 0 means the default (3), a negative number never.
	MaxRefusals int `toml:"max_refusals"`
}

// ExportLog configures the record of export attempts.
type ExportLog struct {
	Retention Duration `toml:"retention"` // default 180d
}

// Templates configures message texts.
type Templates struct {
	// Dir holds *.tmpl files whose blocks replace the defaults.
	Dir string `toml:"dir"`
}

// Log configures oclcbot's own log (standard error).
type Log struct {
	Level  string `toml:"level"`  // debug, info (default), warn, error
	Format string `toml:"format"` // text (default) or json
}

// Default returns the configuration used when there is no file: Connexion
// on 127.0.0.1:5500 without passwords, data in ./oclcbot.db.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// Load reads and checks the file at path. Relative *_file paths and
// template directories in it are taken relative to the file's directory.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads and checks a configuration from data; baseDir anchors the
// relative paths of *_file settings and templates.dir.
func Parse(data []byte, baseDir string) (*Config, error) {
	c := &Config{}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, scrub(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("unknown setting %s (check the spelling against the README)", strings.Join(keys, ", "))
	}
	c.resolvePaths(baseDir)
	c.applyDefaults()
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// scrub drops values from a decoder error: a type error on a password
// setting would otherwise quote the password.
func scrub(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "\""); i >= 0 {
		msg = msg[:i] + "(value omitted)"
	}
	return errors.New(msg)
}

func (c *Config) resolvePaths(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && base != "" {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Canary.PasswordFile)
	abs(&c.Templates.Dir)
	abs(&c.Email.PasswordFile)
	abs(&c.Email.CAFile)
	abs(&c.Report.WebhookSecretFile)
	abs(&c.Mailbox.PasswordFile)
	abs(&c.Mailbox.CAFile)
	if c.Relay != nil {
		abs(&c.Relay.PasswordFile)
		abs(&c.Relay.LocalUserFile)
	}
}

func (c *Config) applyDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	defD := func(p *Duration, v Duration) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Listener.Addr, "127.0.0.1:5500")
	def(&c.Listener.PublicAddr, publicDefault(c.Listener.Addr))
	def(&c.Storage.Path, "oclcbot.db")
	def(&c.Storage.Synchronous, "full")
	def(&c.Library.Code, "LOCAL")
	def(&c.Library.TargetPrefix, "("+c.Library.Code+")")
	def(&c.Canary.User, "oclcbot-canary")
	def(&c.Duplicates.Policy, "skip")
	defD(&c.Duplicates.Window, Duration(24*hour))
	defD(&c.ExportLog.Retention, Duration(180*24*hour))
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "text")
	if r := c.Relay; r != nil {
		def(&r.Policy, "queue")
		defD(&r.ConnectTimeout, Duration(5*second))
		defD(&r.ReplyTimeout, Duration(30*second)) // relay.DefaultReplyTimeout: below Connexion's ~100 s
		defD(&r.RetryInitial, Duration(1*second))  // relay.DefaultInitialBackoff
		defD(&r.RetryMax, Duration(5*60*second))
	}
	c.botDefaults()
}

// check validates every setting, reporting all problems at once.
func (c *Config) check() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	hostPortOK("listener.addr", c.Listener.Addr, bad)
	hostPortOK("listener.public_addr", c.Listener.PublicAddr, bad)
	for key, v := range map[string]int{"listener.max_request_bytes": c.Listener.MaxRequestBytes, "listener.max_records": c.Listener.MaxRecords, "listener.max_conns": c.Listener.MaxConns} {
		if v < 0 {
			bad(key, "must not be negative")
		}
	}
	switch strings.ToLower(c.Storage.Synchronous) {
	case "full", "normal":
	default:
		bad("storage.synchronous", "%q: want full or normal", c.Storage.Synchronous)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`).MatchString(c.Library.Code) {
		bad("library.code", "%q: want 1-16 letters or digits, e.g. HVD01", c.Library.Code)
	}
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		switch {
		case a.User == "":
			bad(key+".user", "missing")
		case strings.ContainsAny(a.User, " \x00"):
			bad(key+".user", "must not contain spaces")
		case seen[a.User]:
			bad(key+".user", "%q appears twice", a.User)
		case a.User == c.Canary.User:
			bad(key+".user", "%q is the canary account's name", a.User)
		}
		seen[a.User] = true
		if !strings.HasPrefix(a.PasswordHash, "pbkdf2-sha256$") {
			bad(key+".password_hash", "missing or not made by `oclcbot passwd`")
		}
	}
	var err error
	if c.Canary.Password, err = secretFrom("canary.password", c.Canary.Password, c.Canary.PasswordFile); err != nil {
		errs = append(errs, err)
	}
	switch c.Duplicates.Policy {
	case "skip", "overlay", "mark-deleted":
	default:
		bad("duplicates.policy", "%q: want skip, overlay or mark-deleted", c.Duplicates.Policy)
	}
	if r := c.Relay; r != nil {
		if r.Upstream == "" {
			bad("relay.upstream", "missing: the host:port of the ILS's Connexion listener")
		} else {
			hostPortOK("relay.upstream", r.Upstream, bad)
		}
		switch r.Listener {
		case "", "koha", "folio", "evergreen", "aleph", "oclcbot":
		default:
			bad("relay.listener", "%q: want koha, folio, evergreen, aleph or oclcbot (or leave it out for another receiver)", r.Listener)
		}
		if r.Listener == "evergreen" && r.User != "" {
			bad("relay.user", "Evergreen's marc_stream_importer takes the record alone, without a login: remove relay.user")
		}
		if r.LocalUser, err = secretFrom("relay.local_user", r.LocalUser, r.LocalUserFile); err != nil {
			errs = append(errs, err)
		}
		if !r.LocalUser.IsZero() && r.User == "" {
			bad("relay.user", "missing: relay.local_user is set")
		}
		if c.Duplicates.Policy == "mark-deleted" {
			bad("duplicates.policy", `"mark-deleted" marks a record in the embedded catalog; a relay cannot mark one in the ILS (use skip or overlay)`)
		}
		if r.Password, err = secretFrom("relay.password", r.Password, r.PasswordFile); err != nil {
			errs = append(errs, err)
		}
		if !r.Password.IsZero() && r.User == "" {
			bad("relay.user", "missing: relay.password is set")
		}
		switch r.Policy {
		case "queue", "reject":
		default:
			bad("relay.policy", "%q: want queue or reject", r.Policy)
		}
		for i, p := range slices.Concat(r.SuccessPatterns, r.FailurePatterns) {
			if _, err := regexp.Compile(p); err != nil {
				bad("relay patterns", "pattern %d: %v", i+1, err)
			}
		}
		if r.RetryMax < r.RetryInitial {
			bad("relay.retry_max", "shorter than relay.retry_initial")
		}
	}
	c.checkBot(bad, &errs)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// publicDefault is the address probes dial when listener.public_addr is
// not set: the listener's own, with a wildcard host ("0.0.0.0:5500",
// ":5500") replaced by loopback, which reaches it.
func publicDefault(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			return net.JoinHostPort("::1", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}
