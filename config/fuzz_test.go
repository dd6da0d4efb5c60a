package config

import (
	"fmt"
	"strings"
	"testing"
)

// fmtAll prints c every way a careless caller might.
func fmtAll(c *Config) string {
	return fmt.Sprintf("%v %+v %#v %s %q %x", c, c, c, c.Canary.Password, c.Email.Password, c.Mailbox.Password)
}

// FuzzParse feeds arbitrary bytes to the configuration parser: it must
// return a configuration or an error that says something, never panic,
// and every secret it accepts prints as "<redacted>" however it is
// formatted.
func FuzzParse(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("[listener]\naddr = \"0.0.0.0:5500\"\n[[accounts]]\nuser = \"a\"\npassword_hash = \"pbkdf2-sha256$1$x$y\"\n"))
	f.Add([]byte("[email]\npassword = [\"zzSECRETzz\"]\n"))
	f.Add([]byte("[relay]\nupstream = \"ils:5500\"\npassword = \"zzSECRETzz\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, t.TempDir())
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if c.Listener.Addr == "" || c.Storage.Path == "" {
			t.Fatalf("accepted configuration without defaults filled in")
		}
		for _, s := range []Secret{c.Canary.Password, c.Email.Password, c.Mailbox.Password, c.Report.WebhookSecret} {
			for _, verb := range []string{"%v", "%s", "%q", "%x", "%#v", "%+v"} {
				if got := fmt.Sprintf(verb, s); !s.IsZero() && strings.Contains(got, s.Reveal()) && s.Reveal() != redacted {
					t.Fatalf("%s of a secret shows it: %s", verb, got)
				}
			}
		}
	})
}
