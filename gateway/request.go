package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// redacted stands in for a secret wherever a Request is printed.
const redacted = "[redacted]"

// Request is one parsed Connexion export request.
//
// Password, and the part of LocalUser after its first space, are secrets:
// Request's String, Format (every fmt verb, %+v and %#v included),
// LogValue and MarshalJSON never show them, and Raw has them overwritten.
// Code that copies fields out of a Request must keep those two out of
// logs, errors and messages itself.
type Request struct {
	// ID identifies the connection the request came on, unique per
	// Server (starting at 1), for correlating Handler and
	// FailureObserver calls and log lines. Zero outside a Server.
	ID uint64
	// User is the U field ("" when absent).
	User string
	// LocalUser is the A field, the "local user" (local system logon
	// id). Some clients put "user password" in it, separated by one
	// space; everything after the first space is treated as secret.
	LocalUser string
	// Password is the P field. Secret.
	Password string `json:"-"`
	// Records are the records in the order received, each exactly as
	// framed by its five-digit length; whether they are valid MARC is
	// for the MARC decoder to say. In a Request from a Server or Parser
	// they are sub-slices of Raw and must not be modified (copy one to
	// change it).
	Records [][]byte
	// RemoteAddr is the client's address.
	RemoteAddr net.Addr
	// Received is when the first byte arrived.
	Received time.Time
	// Complete is when the request ended (its NUL, or the client's
	// half-close), or when reading it failed.
	Complete time.Time
	// Raw is the request exactly as received (including the ending NUL,
	// if any) except that every secret value (all of P, and the part of
	// A after its first space) is overwritten by '*' of equal length:
	// safe to log and store. For a failed request it holds the bytes
	// accepted before the failure.
	Raw []byte
}

// Credentials returns the login the request carries. The spec does not
// say which field a client puts it in, so both are accepted: U and P when
// U is present; otherwise A split at its first space into user and
// password ("user password"); otherwise A as the user with P as the
// password.
func (r *Request) Credentials() (user, password string) {
	if r.User != "" {
		return r.User, r.Password
	}
	if u, p, ok := strings.Cut(r.LocalUser, " "); ok {
		return u, p
	}
	return r.LocalUser, r.Password
}

// RecordBytes returns the total size of the records.
func (r *Request) RecordBytes() int {
	n := 0
	for _, rec := range r.Records {
		n += len(rec)
	}
	return n
}

// String describes the request for people and logs, without secrets:
// `request 7 from 192.0.2.1:50123 (user "cat1", local user "", password
// [redacted], 1 record, 1530 bytes)`.
func (r Request) String() string {
	var b strings.Builder
	b.WriteString("request ")
	b.WriteString(strconv.FormatUint(r.ID, 10))
	if r.RemoteAddr != nil {
		b.WriteString(" from ")
		b.WriteString(r.RemoteAddr.String())
	}
	fmt.Fprintf(&b, " (user %q, local user %q, password %s, %d record", r.User, safeLocalUser(r.LocalUser), safePassword(r.Password), len(r.Records))
	if len(r.Records) != 1 {
		b.WriteByte('s')
	}
	fmt.Fprintf(&b, ", %d bytes)", len(r.Raw))
	return b.String()
}

// GoString returns a Go-syntax-like description without secrets; Records
// and Raw are summarised by size.
func (r Request) GoString() string {
	var remote string
	if r.RemoteAddr != nil {
		remote = r.RemoteAddr.String()
	}
	return fmt.Sprintf("gateway.Request{ID:%d, User:%q, LocalUser:%q, Password:%q, Records:%d records (%d bytes), RemoteAddr:%q, Received:%q, Complete:%q, Raw:%d bytes}",
		r.ID, r.User, safeLocalUser(r.LocalUser), safePassword(r.Password), len(r.Records), r.RecordBytes(),
		remote, r.Received.Format(time.RFC3339Nano), r.Complete.Format(time.RFC3339Nano), len(r.Raw))
}

// Format implements fmt.Formatter so that no verb can print a secret:
// %v and %s print String, %+v and %#v print GoString, %q quotes String,
// and any other verb prints String in fmt's bad-verb style.
func (r Request) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('+') || f.Flag('#') {
			io.WriteString(f, r.GoString())
			return
		}
		io.WriteString(f, r.String())
	case 's':
		io.WriteString(f, r.String())
	case 'q':
		io.WriteString(f, strconv.Quote(r.String()))
	default:
		fmt.Fprintf(f, "%%!%c(gateway.Request=%s)", verb, r.String())
	}
}

// LogValue implements slog.LogValuer: the request as a group of
// attributes without secrets or record bytes.
func (r Request) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Uint64("id", r.ID),
		slog.String("user", r.User),
		slog.String("local_user", safeLocalUser(r.LocalUser)),
		slog.Int("records", len(r.Records)),
		slog.Int("bytes", len(r.Raw)),
	}
	if r.RemoteAddr != nil {
		attrs = append(attrs, slog.String("remote", r.RemoteAddr.String()))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes the request without secrets: Password is left out
// and LocalUser has its secret part replaced by "[redacted]"; Records and
// Raw are base64 as usual for []byte.
func (r Request) MarshalJSON() ([]byte, error) {
	var remote string
	if r.RemoteAddr != nil {
		remote = r.RemoteAddr.String()
	}
	return json.Marshal(struct {
		ID         uint64    `json:"id"`
		User       string    `json:"user"`
		LocalUser  string    `json:"local_user"`
		Records    [][]byte  `json:"records"`
		RemoteAddr string    `json:"remote_addr,omitempty"`
		Received   time.Time `json:"received"`
		Complete   time.Time `json:"complete"`
		Raw        []byte    `json:"raw"`
	}{r.ID, r.User, safeLocalUser(r.LocalUser), r.Records, remote, r.Received, r.Complete, r.Raw})
}

// safeLocalUser keeps the user part of an A value and redacts what
// follows its first space.
func safeLocalUser(a string) string {
	if u, _, ok := strings.Cut(a, " "); ok {
		return u + " " + redacted
	}
	return a
}

func safePassword(p string) string {
	if p == "" {
		return ""
	}
	return redacted
}
