package gateway

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// healthBody is the body of the answer to an HTTP health check.
const healthBody = "Connexion gateway ok\n"

// maxHealthHeader bounds the HTTP request header read before answering.
const maxHealthHeader = 8 << 10

type sniffResult int

const (
	sniffNo    sniffResult = iota // not an HTTP request
	sniffMaybe                    // a prefix of "GET " or "HEAD ": need more bytes
	sniffYes                      // starts with "GET " or "HEAD "
)

// sniffHTTP says whether the first bytes of a connection are an HTTP GET
// or HEAD request. A Connexion request never starts with 'G' or 'H'.
func sniffHTTP(b []byte) sniffResult {
	for _, m := range [...]string{"GET ", "HEAD "} {
		switch {
		case len(b) >= len(m) && string(b[:len(m)]) == m:
			return sniffYes
		case len(b) < len(m) && string(b) == m[:len(b)]:
			return sniffMaybe
		}
	}
	return sniffNo
}

// serveHealth answers an HTTP health check, as FOLIO's edge-connexion does
// on its Connexion port: "HTTP/1.0 200 OK" with a short text body (none
// for HEAD). It reads the request header first (up to a blank line, the
// client's half-close, or 8 KiB), within the read deadline already set.
func (c *conn) serveHealth(head, buf []byte) {
	req := head
	for !bytes.Contains(req, []byte("\r\n\r\n")) && !bytes.Contains(req, []byte("\n\n")) {
		if len(req) > maxHealthHeader {
			if l := c.debugLogger(); l != nil {
				l.Debug("HTTP health check: header too long")
			}
			return
		}
		n, err := c.rwc.Read(buf)
		req = append(req, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if l := c.debugLogger(); l != nil {
				l.Debug("HTTP health check: reading the request failed", slog.Any(keyErr, err))
			}
			return
		}
	}
	resp := "HTTP/1.0 200 OK\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(healthBody)) + "\r\n" +
		"Connection: close\r\n\r\n"
	if bytes.HasPrefix(req, []byte("GET ")) {
		resp += healthBody
	}
	if d := c.srv.writeTimeout(); d > 0 {
		c.rwc.SetWriteDeadline(time.Now().Add(d))
	}
	if _, err := io.WriteString(c.rwc, resp); err != nil {
		if l := c.debugLogger(); l != nil {
			l.Debug("HTTP health check: writing the answer failed", slog.Any(keyErr, err))
		}
		return
	}
	if l := c.debugLogger(); l != nil {
		l.Debug("answered an HTTP health check")
	}
	// HTTP/1.0: the end of the body is our close. Half-close so the
	// client sees it, then let the client finish closing.
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.lingerUntilClosed(buf)
}
