package config

import (
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/internal/netutil"
)

// Bot configures failure detection, incidents and notifications.
type Bot struct {
	// IncidentPrefix starts incident ids: "OIS" gives OIS-2026-0042.
	IncidentPrefix string `toml:"incident_prefix"`
	// NoTag leaves the " [OIS-2026-0042]" tag out of subjects.
	NoTag bool `toml:"no_tag"`
	// TimeZone is the IANA zone of incident years and of times in
	// messages (default: the machine's).
	TimeZone string `toml:"time_zone"`
	// WorkingHours limits reminders, e.g. "Mon-Fri 08:00-17:00"; empty:
	// any time.
	WorkingHours  string   `toml:"working_hours"`
	ReopenWindow  Duration `toml:"reopen_window"`  // default 30m
	UpdateEvery   Duration `toml:"update_every"`   // default 1m
	RemindEvery   Duration `toml:"remind_every"`   // default 4h
	NoReminders   bool     `toml:"no_reminders"`   // turn reminders off
	EscalateAfter Duration `toml:"escalate_after"` // default 30m
	NoEscalation  bool     `toml:"no_escalation"`  // never escalate to the report channel
	EchoTimeout   Duration `toml:"echo_timeout"`   // default 15m
	ReportGrace   Duration `toml:"report_grace"`   // default 15m
	// MailAllow lists who may ACK or SOLVE by mail: addresses or
	// "@domain".
	MailAllow []string `toml:"mail_allow"`
	// MaxRecords bounds the records listed in one listserv or chat
	// message (default 50).
	MaxRecords int `toml:"max_records"`
	// LogChannel logs every notification on standard error (default
	// true). It is the only channel until email is configured.
	LogChannel *bool `toml:"log_channel"`

	Rules Rules `toml:"rules"`
	Retry Retry `toml:"retry"`
}

// Rules are the detectors' confirmation and recovery rules. Zero means the
// default; a negative count turns a rule off.
type Rules struct {
	SystemFailures   int      `toml:"system_failures"`   // default 3
	ProbeFailures    int      `toml:"probe_failures"`    // default 2
	Window           Duration `toml:"window"`            // default 5m
	WindowMin        int      `toml:"window_min"`        // default 10
	WindowRatio      float64  `toml:"window_ratio"`      // default 0.5
	TransportMin     int      `toml:"transport_min"`     // default 10
	TransportRatio   float64  `toml:"transport_ratio"`   // default 0.5
	AuthUsers        int      `toml:"auth_users"`        // default 3
	AuthWindow       Duration `toml:"auth_window"`       // default 10m
	RecoverSuccesses int      `toml:"recover_successes"` // default 2
	RecoverHealthy   Duration `toml:"recover_healthy"`   // default 2m
}

// Retry is the notification retry policy.
type Retry struct {
	Initial Duration `toml:"initial"` // default 10s
	Max     Duration `toml:"max"`     // default 30m
	MaxAge  Duration `toml:"max_age"` // default 24h
}

// Probes configures the active checks of the export path.
type Probes struct {
	// Disabled turns every probe off.
	Disabled         bool     `toml:"disabled"`
	ListenerInterval Duration `toml:"listener_interval"` // default 30s
	UpstreamInterval Duration `toml:"upstream_interval"` // default 30s
	// CanaryInterval is the time between canary exports (default 2m);
	// the canary runs only when canary.password is set or the listener
	// needs no password.
	CanaryInterval Duration `toml:"canary_interval"`
	NoCanary       bool     `toml:"no_canary"`
	// IndexWithin is how soon an imported record must be findable
	// (default 2m); embedded catalog only.
	IndexWithin Duration `toml:"index_within"`
}

// Email is the SMTP server oclcbot sends through, shared by the listserv
// and the OIS report.
type Email struct {
	// Addr is the SMTP server's host:port. Empty: no email.
	Addr string `toml:"addr"`
	// Security is "starttls" (default), "tls" (implicit, port 465) or
	// "none" (loopback only).
	Security     string   `toml:"security"`
	Username     string   `toml:"username"`
	Password     Secret   `toml:"password"`
	PasswordFile string   `toml:"password_file"`
	Auth         string   `toml:"auth"` // plain (default when a username is set) or login
	From         string   `toml:"from"` // "oclcbot <oclcbot@library.example.edu>", required
	Domain       string   `toml:"domain"`
	HELO         string   `toml:"helo"`
	Timeout      Duration `toml:"timeout"` // per SMTP step, default 30s
	// CAFile trusts this PEM certificate authority (a local server with
	// its own certificate) in addition to the system's.
	CAFile string `toml:"ca_file"`
}

// Listserv posts ALERT and SOLVED to the staff list.
type Listserv struct {
	// To is the list address. Empty: no listserv posts.
	To []string `toml:"to"`
	// AwaitEcho expects each post to come back through the list into the
	// mailbox; a post not back after bot.echo_timeout raises an admin
	// notice (it was probably held for moderation). Needs [mailbox].
	AwaitEcho bool `toml:"await_echo"`
}

// Report sends the OIS incident report.
type Report struct {
	// To is the on-call address(es). Empty: no report email.
	To []string `toml:"to"`
	// WebhookURL receives the report as signed JSON (a ticketing system).
	WebhookURL        string `toml:"webhook_url"`
	WebhookSecret     Secret `toml:"webhook_secret"`
	WebhookSecretFile string `toml:"webhook_secret_file"`
}

// Mailbox is the IMAP mailbox the bot reads.
type Mailbox struct {
	// Addr is the IMAP server's host:port. Empty: no mailbox.
	Addr         string   `toml:"addr"`
	Security     string   `toml:"security"` // tls (default), starttls or none (loopback only)
	Username     string   `toml:"username"`
	Password     Secret   `toml:"password"`
	PasswordFile string   `toml:"password_file"`
	Folder       string   `toml:"folder"`      // default INBOX
	DoneFolder   string   `toml:"done_folder"` // default oclcbot-processed
	Poll         Duration `toml:"poll"`        // NOOP polling when the server has no IDLE, default 1m
	// CAFile, when set, is the only certificate authority trusted for the
	// IMAP server (a campus CA or a self-signed certificate); unlike
	// email.ca_file, it replaces the system's roots.
	CAFile string `toml:"ca_file"`
}

var prefixRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,15}$`)

func (c *Config) botDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	b := &c.Bot
	def(&b.IncidentPrefix, "OIS")
	if b.LogChannel == nil {
		t := true
		b.LogChannel = &t
	}
	if c.Email.Addr != "" {
		def(&c.Email.Security, "starttls")
		if c.Email.Timeout == 0 {
			c.Email.Timeout = Duration(30 * time.Second)
		}
		if c.Email.Domain == "" {
			if a, err := mail.ParseAddress(c.Email.From); err == nil {
				if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
					c.Email.Domain = a.Address[i+1:]
				}
			}
		}
	}
	if c.Mailbox.Addr != "" {
		def(&c.Mailbox.Security, "tls")
		def(&c.Mailbox.Folder, "INBOX")
		def(&c.Mailbox.DoneFolder, "oclcbot-processed")
		if c.Mailbox.Poll == 0 {
			c.Mailbox.Poll = Duration(time.Minute)
		}
	}
}

func (c *Config) checkBot(bad func(key, format string, args ...any), errs *[]error) {
	b := &c.Bot
	if !prefixRE.MatchString(b.IncidentPrefix) {
		bad("bot.incident_prefix", "%q: want 1-16 capital letters and digits, a letter first", b.IncidentPrefix)
	}
	loc := time.Local
	if b.TimeZone != "" {
		l, err := time.LoadLocation(b.TimeZone)
		if err != nil {
			bad("bot.time_zone", "%q: not a known time zone (e.g. America/New_York)", b.TimeZone)
		} else {
			loc = l
		}
	}
	if b.WorkingHours != "" {
		if _, err := incidents.ParseSchedule(b.WorkingHours, loc); err != nil {
			bad("bot.working_hours", "%q: %v (e.g. \"Mon-Fri 08:00-17:00\")", b.WorkingHours, err)
		}
	}
	for _, a := range b.MailAllow {
		if strings.HasPrefix(a, "@") && len(a) > 1 && !strings.ContainsAny(a[1:], "@ ") {
			continue
		}
		if _, err := mail.ParseAddress(a); err != nil {
			bad("bot.mail_allow", "%q: want an address or @domain", a)
		}
	}
	for key, r := range map[string]float64{"bot.rules.window_ratio": b.Rules.WindowRatio, "bot.rules.transport_ratio": b.Rules.TransportRatio} {
		if r > 1 {
			bad(key, "%v: a ratio is at most 1", r)
		}
	}
	if b.Retry.Max != 0 && b.Retry.Initial > b.Retry.Max {
		bad("bot.retry.max", "shorter than bot.retry.initial")
	}

	var err error
	e := &c.Email
	if e.Password, err = secretFrom("email.password", e.Password, e.PasswordFile); err != nil {
		*errs = append(*errs, err)
	}
	if e.Addr != "" {
		hostPortOK("email.addr", e.Addr, bad)
		switch e.Security {
		case "starttls", "tls":
		case "none":
			if !netutil.IsLoopback(e.Addr) {
				bad("email.security", `"none" sends the password and the records in clear: only for a server on loopback`)
			}
		default:
			bad("email.security", "%q: want starttls, tls or none", e.Security)
		}
		switch e.Auth {
		case "", "plain", "login":
		default:
			bad("email.auth", "%q: want plain or login", e.Auth)
		}
		if e.Username != "" && e.Password.IsZero() {
			bad("email.password", "missing: email.username is set")
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			bad("email.from", "%q: want an address such as \"oclcbot <oclcbot@library.example.edu>\"", e.From)
		}
	}
	for key, to := range map[string][]string{"listserv.to": c.Listserv.To, "report.to": c.Report.To} {
		if len(to) > 0 && e.Addr == "" {
			bad(key, "set, but [email] addr is not: there is no server to send through")
		}
		for _, a := range to {
			if _, err := mail.ParseAddress(a); err != nil {
				bad(key, "%q is not an email address", a)
			}
		}
	}
	r := &c.Report
	if r.WebhookSecret, err = secretFrom("report.webhook_secret", r.WebhookSecret, r.WebhookSecretFile); err != nil {
		*errs = append(*errs, err)
	}
	if r.WebhookURL != "" {
		u, err := url.Parse(r.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("report.webhook_url", "want an http(s) URL")
		} else if u.Scheme == "http" && !netutil.IsLoopback(u.Host) {
			bad("report.webhook_url", "plain http only to loopback: the report carries records and the signature")
		}
		if r.WebhookSecret.IsZero() {
			bad("report.webhook_secret", "missing: the webhook's payloads are signed with it")
		}
	}
	m := &c.Mailbox
	if m.Password, err = secretFrom("mailbox.password", m.Password, m.PasswordFile); err != nil {
		*errs = append(*errs, err)
	}
	if m.Addr != "" {
		hostPortOK("mailbox.addr", m.Addr, bad)
		switch m.Security {
		case "tls", "starttls":
		case "none":
			if !netutil.IsLoopback(m.Addr) {
				bad("mailbox.security", `"none" sends the password in clear: only for a server on loopback`)
			}
		default:
			bad("mailbox.security", "%q: want tls, starttls or none", m.Security)
		}
		if m.Username == "" || m.Password.IsZero() {
			bad("mailbox", "username and password (or password_file) are required")
		}
		if m.Folder == m.DoneFolder {
			bad("mailbox.done_folder", "must differ from mailbox.folder")
		}
	}
	if c.Listserv.AwaitEcho && m.Addr == "" {
		bad("listserv.await_echo", "needs [mailbox]: the echo is read from it")
	}
}

func hostPortOK(key, v string, bad func(key, format string, args ...any)) {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		bad(key, "%q is not host:port", v)
	}
}

// Location returns the bot's time zone (checked by Parse).
func (b *Bot) Location() *time.Location {
	if b.TimeZone == "" {
		return time.Local
	}
	l, err := time.LoadLocation(b.TimeZone)
	if err != nil {
		return time.Local
	}
	return l
}

// WorkingHoursSchedule returns the parsed working hours, or nil when
// none are set.
func (b *Bot) WorkingHoursSchedule() *incidents.Schedule {
	if b.WorkingHours == "" {
		return nil
	}
	s, err := incidents.ParseSchedule(b.WorkingHours, b.Location())
	if err != nil {
		return nil
	}
	return &s
}
