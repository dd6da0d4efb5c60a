package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefaultIsAWorkingLoopbackSetup(t *testing.T) {
	c, err := Parse(nil, "")
	if err != nil {
		t.Fatalf("empty configuration: %v", err)
	}
	if c.Listener.Addr != "127.0.0.1:5500" || c.Listener.PublicAddr != c.Listener.Addr {
		t.Errorf("listener %q public %q, want 127.0.0.1:5500 for both", c.Listener.Addr, c.Listener.PublicAddr)
	}
	if c.Storage.Path != "oclcbot.db" || c.Relay != nil || len(c.Accounts) != 0 {
		t.Errorf("defaults: storage %q relay %v accounts %d", c.Storage.Path, c.Relay, len(c.Accounts))
	}
	if c.Duplicates.Policy != "skip" || c.Duplicates.Window.D() != 24*time.Hour {
		t.Errorf("duplicates %q %v, want skip 24h", c.Duplicates.Policy, c.Duplicates.Window.D())
	}
	if c.Bot.IncidentPrefix != "OIS" || !*c.Bot.LogChannel {
		t.Errorf("bot defaults: prefix %q log channel %v", c.Bot.IncidentPrefix, *c.Bot.LogChannel)
	}
	if err := Default().check(); err != nil {
		t.Errorf("Default() does not pass its own check: %v", err)
	}
}

func TestExampleFileParses(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("../oclcbot.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oclcbot.toml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "secrets"), 0o700)
	for _, s := range []string{"canary", "smtp", "imap"} {
		if err := os.WriteFile(filepath.Join(dir, "secrets", s), []byte("s3cret-"+s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(filepath.Join(dir, "oclcbot.toml"))
	if err != nil {
		t.Fatalf("the example configuration in the repository does not load: %v", err)
	}
	if got := c.Email.Password.Reveal(); got != "s3cret-smtp" {
		t.Errorf("email password from password_file: %q, want the trimmed file content", got)
	}
	if c.Email.Domain != "library.example.edu" {
		t.Errorf("email.domain defaults to the From address's domain, got %q", c.Email.Domain)
	}
	if c.Bot.WorkingHoursSchedule() == nil || c.Bot.Location().String() != "America/New_York" {
		t.Errorf("working hours %v in %v", c.Bot.WorkingHoursSchedule(), c.Bot.Location())
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"misspelt key", "[listener]\nadress = \"x\"\n", []string{"unknown setting listener.adress"}},
		{"syntax", "[listener\n", []string{"line "}},
		{"bad duration", "[duplicates]\nwindow = \"soon\"\n", []string{"invalid duration"}},
		{"negative duration", "[duplicates]\nwindow = \"-5m\"\n", []string{"must not be negative"}},
		{"all problems at once", "[library]\ncode = \"no spaces\"\n[duplicates]\npolicy = \"merge\"\n[log]\nlevel = \"loud\"\n",
			[]string{"library.code", "duplicates.policy", "log.level"}},
		{"relay without upstream", "[relay]\npolicy = \"queue\"\n", []string{"relay.upstream: missing"}},
		{"bad relay pattern", "[relay]\nupstream = \"ils:5500\"\nsuccess_patterns = [\"(\"]\n", []string{"relay patterns"}},
		{"clear SMTP off loopback", "[email]\naddr = \"smtp.example.edu:25\"\nsecurity = \"none\"\nfrom = \"a@b.c\"\n", []string{"email.security"}},
		{"list without server", "[listserv]\nto = [\"list@example.edu\"]\n", []string{"listserv.to", "no server"}},
		{"echo without mailbox", "[email]\naddr = \"127.0.0.1:25\"\nsecurity = \"none\"\nfrom = \"a@b.c\"\n[listserv]\nto = [\"l@b.c\"]\nawait_echo = true\n", []string{"listserv.await_echo"}},
		{"bad time zone", "[bot]\ntime_zone = \"Mars/Olympus\"\n", []string{"bot.time_zone"}},
		{"bad working hours", "[bot]\nworking_hours = \"weekdays\"\n", []string{"bot.working_hours"}},
		{"bad prefix", "[bot]\nincident_prefix = \"ois\"\n", []string{"bot.incident_prefix"}},
		{"webhook without secret", "[report]\nwebhook_url = \"https://t.example.edu/h\"\n", []string{"report.webhook_secret"}},
		{"duplicate account", "[[accounts]]\nuser = \"a\"\npassword_hash = \"pbkdf2-sha256$1$x$y\"\n[[accounts]]\nuser = \"a\"\npassword_hash = \"pbkdf2-sha256$1$x$y\"\n", []string{"appears twice"}},
		{"mark-deleted in relay mode", "[relay]\nupstream = \"ils:5500\"\n[duplicates]\npolicy = \"mark-deleted\"\n", []string{"duplicates.policy", "relay"}},
		{"A field without user", "[relay]\nupstream = \"ils:5500\"\nlocal_user = \"t u p\"\n", []string{"relay.user"}},
		{"unknown listener", "[relay]\nupstream = \"ils:5500\"\nlistener = \"sierra\"\n", []string{"relay.listener", "koha, folio, evergreen"}},
		{"login for Evergreen", "[relay]\nupstream = \"ils:5544\"\nlistener = \"evergreen\"\nuser = \"oclc\"\n", []string{"relay.user", "Evergreen"}},
		{"account without hash", "[[accounts]]\nuser = \"a\"\n", []string{"oclcbot passwd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml), t.TempDir())
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.toml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSecretsNeverShown(t *testing.T) {
	const pw = "hunter2-Very-Secret"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte(pw+"\n"), 0o600)

	// A type error on a secret setting must not quote it.
	_, err := Parse([]byte("[email]\npassword = [\""+pw+"\"]\n"), dir)
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("type error on a password: %v", err)
	}
	// Inline and file both set: named, not shown.
	_, err = Parse([]byte("[mailbox]\npassword = \""+pw+"\"\npassword_file = \"pw\"\n"), dir)
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "both set") {
		t.Errorf("inline and file: %v", err)
	}
	c, err := Parse([]byte(`
[canary]
password_file = "pw"
[relay]
upstream = "127.0.0.1:6000"
user = "oclc"
password = "`+pw+`"
[email]
addr = "127.0.0.1:25"
security = "none"
from = "bot@lib.test"
username = "bot"
password = "`+pw+`"
[report]
webhook_url = "http://127.0.0.1:9/h"
webhook_secret = "`+pw+`"
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Canary.Password.Reveal() != pw || c.Relay.Password.Reveal() != pw {
		t.Fatalf("secrets not loaded")
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{buf.String(), fmtAll(c)} {
		if strings.Contains(s, pw) {
			t.Errorf("a printout of the configuration contains the password:\n%s", s)
		}
	}
	if !strings.Contains(buf.String(), redacted) {
		t.Errorf("printed configuration does not show that secrets exist:\n%s", buf.String())
	}
}

func TestMissingSecretFile(t *testing.T) {
	_, err := Parse([]byte("[canary]\npassword_file = \"nope\"\n"), t.TempDir())
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "canary.password_file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestPublicAddrDefault(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:5500":         "127.0.0.1:5500",
		"[::]:5500":            "[::1]:5500",
		":5500":                "127.0.0.1:5500",
		"10.1.2.3:5500":        "10.1.2.3:5500",
		"oclc.example.edu:600": "oclc.example.edu:600",
	} {
		c, err := Parse([]byte("[listener]\naddr = \""+addr+"\"\n[[accounts]]\nuser = \"a\"\npassword_hash = \"pbkdf2-sha256$1$x$y\"\n"), "")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if c.Listener.PublicAddr != want {
			t.Errorf("listener.addr %s: public_addr defaults to %s, want %s (the probes must dial something that reaches the listener)", addr, c.Listener.PublicAddr, want)
		}
	}
}

func TestDurationDays(t *testing.T) {
	c, err := Parse([]byte("[export_log]\nretention = \"7d\"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ExportLog.Retention.D() != 7*24*time.Hour {
		t.Errorf("7d = %v", c.ExportLog.Retention.D())
	}
	b, _ := c.ExportLog.Retention.MarshalText()
	if string(b) != "7d" {
		t.Errorf("7d printed as %q", b)
	}
}

func TestListenerWriteTimeout(t *testing.T) {
	c, err := Parse([]byte("[listener]\nwrite_timeout = \"45s\"\n"), "")
	if err != nil {
		t.Fatalf("listener.write_timeout: %v", err)
	}
	if c.Listener.WriteTimeout.D() != 45*time.Second {
		t.Errorf("write_timeout %v, want 45s", c.Listener.WriteTimeout.D())
	}
}
