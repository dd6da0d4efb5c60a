package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is a password or token from the configuration. Every way of
// printing it (fmt verbs, JSON/TOML/text marshalling, slog) writes
// "<redacted>"; only Reveal returns the value.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s} }

const redacted = "<redacted>"

// Reveal returns the secret's value, for handing to the component that
// needs it. Never log what it returns.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// Format implements fmt.Formatter so that no verb, %x and %q included,
// prints the value.
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler, redacting.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Secret) UnmarshalText(b []byte) error { s.v = string(b); return nil }

// secretFrom resolves an inline secret or a *_file one: exactly one may be
// set. The file's content is trimmed of surrounding white space (editors
// add a final newline). The error names the setting and the file, never
// the content.
func secretFrom(name string, inline Secret, file string) (Secret, error) {
	if !inline.IsZero() && file != "" {
		return Secret{}, fmt.Errorf("%s and %s_file are both set; keep one", name, name)
	}
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return Secret{}, fmt.Errorf("%s_file: %w", name, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return Secret{}, fmt.Errorf("%s_file %s is empty", name, file)
	}
	return Secret{v}, nil
}
