package probe

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/config"
	"github.com/oclcbot/oclcbot/marc"
)

// Default timing of the canary export.
const (
	DefaultCanaryInterval = 2 * time.Minute
	DefaultCanaryTimeout  = 30 * time.Second
)

// DefaultCanaryUser is the canary account's login when none is configured
// (config canary.user has the same default).
const DefaultCanaryUser = "oclcbot-canary"

// Exporter sends one record as a Connexion Gateway export and returns the
// reply text (without its NUL). *gateway.Client is one, pointed at the
// public listener address. Its errors must not contain the password.
type Exporter interface {
	Export(ctx context.Context, user, password string, record []byte) (string, error)
}

// CanaryConfig configures the canary export probe.
type CanaryConfig struct {
	// Exporter sends the canary export; it must dial the public listener
	// address, as catalogers' clients do. Required.
	Exporter Exporter
	// User and Password are the canary account's login (User default
	// DefaultCanaryUser). The receiver recognises this account and never
	// stores its records.
	User     string
	Password config.Secret
	// Record is the ISO 2709 record to send; nil means CanaryRecord().
	Record []byte
	// Accept decides whether a reply is the receiver's canary success
	// reply; nil means IsCanaryReply. Any other reply fails the probe
	// with CauseBadReply and the reply as its Message.
	Accept func(reply string) bool
	// Target is the detector target of the canary's replies, success or
	// failure: the sink behind the listener that handled the export
	// (receiver.Sink.Name: "catalog", or "upstream:HOST:PORT" in relay
	// mode), so that a catalog or upstream outage feeds that target's
	// detector only. Default TargetListener.
	Target string
	// ListenerTarget is the detector target of failures that got no
	// reply at all (connection refused, timed out or closed before the
	// reply): those are the listener's. Default TargetListener.
	ListenerTarget string
	// Interval and Timeout default to DefaultCanaryInterval and
	// DefaultCanaryTimeout.
	Interval time.Duration
	Timeout  time.Duration
}

// CanaryReplyText is the reply the receiver sends for a canary export
// that went through the whole path (exportlog.OutcomeCanary): the default
// "reply.canary" template. A library that overrides that template must
// give the canary probe a matching CanaryConfig.Accept.
const CanaryReplyText = "Test export received by oclcbot; nothing was stored."

// IsCanaryReply reports whether reply is the receiver's canary success
// reply: apart from surrounding white space, it starts with
// CanaryReplyText. Every other reply (an error, a login refused, a record
// "Added to the catalog" because the canary account was not recognised)
// is not.
func IsCanaryReply(reply string) bool {
	return strings.HasPrefix(strings.TrimSpace(reply), CanaryReplyText)
}

// NewCanary returns the canary export probe (NameCanary): every interval
// it exports the canary record with the canary account through
// cfg.Exporter and passes only when the reply is the canary success reply.
// The Message is the reply verbatim, or the export's error; either has the
// canary password, should it appear, replaced by "[redacted]". A reply
// (success or not) counts toward cfg.Target; an export that got no reply
// counts toward cfg.ListenerTarget (see Result.Target).
func NewCanary(cfg CanaryConfig) (Probe, error) {
	if cfg.Exporter == nil {
		return Probe{}, fmt.Errorf("%w: canary: Exporter is nil", ErrConfig)
	}
	if cfg.User == "" {
		cfg.User = DefaultCanaryUser
	}
	if cfg.Record == nil {
		rec, err := CanaryRecord()
		if err != nil {
			return Probe{}, err
		}
		cfg.Record = rec
	}
	if cfg.Accept == nil {
		cfg.Accept = IsCanaryReply
	}
	listener := cmp.Or(cfg.ListenerTarget, TargetListener)
	p := Probe{
		Name:     NameCanary,
		Target:   cmp.Or(cfg.Target, TargetListener),
		Interval: cmp.Or(cfg.Interval, DefaultCanaryInterval),
		Timeout:  cmp.Or(cfg.Timeout, DefaultCanaryTimeout),
	}
	p.Func = func(ctx context.Context) Result {
		start := time.Now()
		reply, err := cfg.Exporter.Export(ctx, cfg.User, cfg.Password.Reveal(), cfg.Record)
		var r Result
		switch {
		case err != nil:
			r = FromError(err)
			r.Target = listener
		case cfg.Accept(reply):
			r = Pass(reply)
		default:
			r = Fail(CauseBadReply, reply)
		}
		r.Message = redact(r.Message, cfg.Password.Reveal())
		return withLatency(r, start)
	}
	return p, nil
}

// redact replaces every occurrence of secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// Canary record contents.
const (
	canaryControlNumber = "oclcbot-canary"
	canaryTitle         = "oclcbot canary record :"
	canaryRemainder     = "a probe export, never stored."
)

// CanaryRecord returns the record the canary probe exports: a small,
// valid MARC 21 bibliographic record in UTF-8 (001 "oclcbot-canary",
// 008, 040 $b eng, 245 "oclcbot canary record : a probe export, never
// stored.", 500) without an OCLC number, so that if the receiver ever
// failed to recognise the canary account nothing would be merged with a
// real record and the stray copy would be plain to see.
func CanaryRecord() ([]byte, error) {
	r := marc.NewRecord()
	r.Fields = []marc.Field{
		{Tag: "001", Value: canaryControlNumber},
		{Tag: "008", Value: "260101s2026    xx            000 0 eng d"},
		{Tag: "040", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "OCLCBOT"}, {Code: 'b', Value: "eng"}, {Code: 'c', Value: "OCLCBOT"}}},
		{Tag: "245", Ind1: '0', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: canaryTitle}, {Code: 'b', Value: canaryRemainder}}},
		{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "Sent by oclcbot's canary probe to check the Connexion export path; the receiver does not store it."}}},
	}
	b, err := marc.Encode(r)
	if err != nil {
		return nil, fmt.Errorf("probe: encode the canary record: %w", err)
	}
	return b, nil
}
