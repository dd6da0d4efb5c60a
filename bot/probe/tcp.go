package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Default timing of the listener probes.
const (
	DefaultListenerInterval = 30 * time.Second
	DefaultListenerTimeout  = 5 * time.Second
)

// Dialer opens network connections; *net.Dialer is one. Probes take a
// Dialer so that a deployment can choose the source address or a proxy
// path catalogers' traffic takes.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewListenerTCP returns the listener connect probe: NameListenerTCP on
// TargetListener, dialling addr every DefaultListenerInterval with
// DefaultListenerTimeout. addr must be the public address catalogers'
// Connexion clients use (config listener.public_addr), not a loopback
// shortcut, so that the probe fails whenever they would see "Unable to
// open the TCP/IP connection". d may be nil.
func NewListenerTCP(addr string, d Dialer) Probe {
	return Probe{
		Name:     NameListenerTCP,
		Target:   TargetListener,
		Interval: DefaultListenerInterval,
		Timeout:  DefaultListenerTimeout,
		Func:     TCPConnect(addr, d),
	}
}

// NewListenerHTTP returns the listener health-check probe: NameListenerHTTP
// on TargetListener, an HTTP GET to addr (see HTTPHealth), with the
// listener probes' default timing. d may be nil.
func NewListenerHTTP(addr string, d Dialer) Probe {
	return Probe{
		Name:     NameListenerHTTP,
		Target:   TargetListener,
		Interval: DefaultListenerInterval,
		Timeout:  DefaultListenerTimeout,
		Func:     HTTPHealth(addr, d),
	}
}

// TCPConnect returns a probe that opens a TCP connection to addr
// (host:port) with d (nil: a net.Dialer) and closes it at once, sending
// nothing. It passes when the connection opens; Latency is the connect
// time. A failure's Message is the dial error verbatim, e.g.
// "dial tcp 10.0.0.5:5500: connect: connection refused".
func TCPConnect(addr string, d Dialer) Func {
	d = dialerOrDefault(d)
	return func(ctx context.Context) Result {
		start := time.Now()
		conn, err := d.DialContext(ctx, "tcp", addr)
		lat := time.Since(start)
		if err != nil {
			r := FromError(err)
			r.Latency = lat
			return r
		}
		conn.Close()
		return Result{OK: true, Message: "connected to " + addr, Latency: lat}
	}
}

// maxStatusLine bounds how much of the health-check answer is read.
const maxStatusLine = 512

// healthRequest is what HTTPHealth sends: the load-balancer style check
// the Connexion listener answers with "HTTP/1.0 200 OK".
const healthRequest = "GET / HTTP/1.0\r\n\r\n"

// HTTPHealth returns a probe that connects to addr with d (nil: a
// net.Dialer), sends "GET / HTTP/1.0" and reads the status line of the
// answer. It passes on status 200; the Message is the status line
// verbatim (on failure, with what went wrong). Latency is the time from
// connecting to the status line.
func HTTPHealth(addr string, d Dialer) Func {
	d = dialerOrDefault(d)
	return func(ctx context.Context) Result {
		start := time.Now()
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			r := FromError(err)
			r.Latency = time.Since(start)
			return r
		}
		defer conn.Close()
		stop := bindConn(ctx, conn)
		defer stop()

		if _, err := io.WriteString(conn, healthRequest); err != nil {
			return withLatency(FromError(ctxErr(ctx, err)), start)
		}
		line, err := readLine(conn, maxStatusLine)
		if err != nil {
			err = ctxErr(ctx, err)
			r := FromError(fmt.Errorf("health check of %s: %w", addr, err))
			if line != "" {
				r.Message += ": " + strconv.Quote(line)
			}
			return withLatency(r, start)
		}
		code, err := ParseStatusLine(line)
		switch {
		case err != nil:
			return withLatency(Fail(CauseBadReply, fmt.Sprintf("health check of %s: %v", addr, err)), start)
		case code != 200:
			return withLatency(Fail(CauseBadReply, fmt.Sprintf("health check of %s answered %q", addr, line)), start)
		}
		return withLatency(Pass(line), start)
	}
}

// ErrStatusLine is wrapped by ParseStatusLine's errors.
var ErrStatusLine = errors.New("not an HTTP status line")

// ParseStatusLine returns the status code of an HTTP/1.x status line such
// as "HTTP/1.0 200 OK" (without its line ending). Anything else is an
// error wrapping ErrStatusLine that quotes the line.
func ParseStatusLine(line string) (int, error) {
	bad := func() (int, error) {
		return 0, fmt.Errorf("%w: %q", ErrStatusLine, line)
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || (proto != "HTTP/1.0" && proto != "HTTP/1.1") {
		return bad()
	}
	codeText, _, _ := strings.Cut(rest, " ")
	if len(codeText) != 3 {
		return bad()
	}
	code := 0
	for i := range 3 {
		c := codeText[i]
		if c < '0' || c > '9' {
			return bad()
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return bad()
	}
	return code, nil
}

// readLine reads up to the first '\n' (dropping "\r\n" or "\n"), at most
// max bytes. A peer that closes after some bytes without a line end has
// sent its whole answer: those bytes are the line. What was read before
// an error is returned with it.
func readLine(r io.Reader, max int) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, int64(max)), max)
	line, err := br.ReadString('\n')
	switch {
	case err == nil:
		return strings.TrimSuffix(line[:len(line)-1], "\r"), nil
	case !errors.Is(err, io.EOF):
		return line, err
	case len(line) >= max:
		return line, fmt.Errorf("no line end within %d bytes", max)
	case line == "":
		return "", io.ErrUnexpectedEOF
	}
	return line, nil
}

// bindConn makes conn's I/O end at ctx's deadline or cancellation; the
// returned function undoes the binding.
func bindConn(ctx context.Context, conn net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

// ctxErr prefers ctx's error over the I/O error it caused, so that a
// deadline reads as a timeout.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

func withLatency(r Result, start time.Time) Result {
	r.Latency = time.Since(start)
	return r
}

func dialerOrDefault(d Dialer) Dialer {
	if d == nil {
		return &net.Dialer{}
	}
	return d
}
