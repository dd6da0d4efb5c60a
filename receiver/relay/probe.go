package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/receiver"
)

// ErrProbe is wrapped by every error of Ping and RoundTrip, together with
// the underlying network error.
var ErrProbe = errors.New("relay: upstream probe failed")

// maxProbeReply bounds what a probe reads from the upstream.
const maxProbeReply = 64 << 10

// Ping opens a TCP connection to the upstream within ConnectTimeout (and
// ctx) and closes it. Nothing is sent, so nothing is imported: every
// receiver treats it as a client that changed its mind.
func (r *Relay) Ping(ctx context.Context) error {
	conn, err := r.dialer.DialContext(ctx, "tcp", r.cfg.Upstream)
	if err != nil {
		return fmt.Errorf("%w: connect to %s: %w", ErrProbe, r.cfg.Upstream, err)
	}
	return conn.Close()
}

// RoundTrip checks that the upstream answers, without importing
// anything, as Config.Probe says (see Probe for what each ILS does):
// ProbeConnect is Ping; ProbeHTTP sends an HTTP GET on the Connexion port
// and wants status 200; ProbeEmpty sends an empty request (a lone NUL)
// and wants any reply ended by NUL. The exchange is bounded by
// ReplyTimeout.
func (r *Relay) RoundTrip(ctx context.Context) error {
	if r.cfg.Probe == ProbeConnect {
		return r.Ping(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReplyTimeout)
	defer cancel()
	conn, err := r.dialer.DialContext(ctx, "tcp", r.cfg.Upstream)
	if err != nil {
		return fmt.Errorf("%w: connect to %s: %w", ErrProbe, r.cfg.Upstream, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	switch r.cfg.Probe {
	case ProbeHTTP:
		return r.probeHTTP(conn)
	default:
		return r.probeEmpty(conn)
	}
}

func (r *Relay) probeHTTP(conn net.Conn) error {
	host, _, _ := net.SplitHostPort(r.cfg.Upstream)
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\nUser-Agent: oclcbot-relay\r\n\r\n", host); err != nil {
		return fmt.Errorf("%w: HTTP health check of %s: send: %w", ErrProbe, r.cfg.Upstream, err)
	}
	line, err := bufio.NewReader(io.LimitReader(conn, maxProbeReply)).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("%w: HTTP health check of %s: no status line: %w", ErrProbe, r.cfg.Upstream, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || f[1] != "200" {
		return fmt.Errorf("%w: HTTP health check of %s answered %q, want HTTP status 200", ErrProbe, r.cfg.Upstream, firstLine(line))
	}
	return nil
}

func (r *Relay) probeEmpty(conn net.Conn) error {
	if _, err := conn.Write([]byte{0}); err != nil {
		return fmt.Errorf("%w: empty request to %s: send: %w", ErrProbe, r.cfg.Upstream, err)
	}
	buf := make([]byte, 4096)
	total := 0
	for total < maxProbeReply {
		n, err := conn.Read(buf)
		total += n
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: empty request to %s: no reply (%d bytes before the connection ended): %w", ErrProbe, r.cfg.Upstream, total, err)
		}
	}
	return fmt.Errorf("%w: empty request to %s: reply longer than %d bytes", ErrProbe, r.cfg.Upstream, maxProbeReply)
}

// probeCause is the export-log cause of a failed probe.
func probeCause(err error) string {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return exportlog.CauseUpstreamTimeout
	}
	return exportlog.CauseUpstreamDown
}

// canary answers a probe's export: the path is exercised up to the
// upstream's door, and nothing is forwarded (it would be stored).
func (r *Relay) canary(ctx context.Context, results []receiver.Result) {
	start := time.Now()
	err := r.Ping(ctx)
	if err == nil && r.cfg.Probe != ProbeConnect {
		err = r.RoundTrip(ctx)
	}
	for i := range results {
		if err == nil {
			results[i] = receiver.Result{Outcome: exportlog.OutcomeCanary, Elapsed: time.Since(start),
				Detail: fmt.Sprintf("canary: %s answered the %s probe; the record was not forwarded", r.cfg.Upstream, r.cfg.Probe)}
			continue
		}
		results[i] = receiver.Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: probeCause(err),
			Detail: "canary: " + err.Error(), Elapsed: time.Since(start)}
	}
}
