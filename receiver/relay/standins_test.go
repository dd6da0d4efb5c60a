package relay

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// The wire behaviour of each receiver fakeILS stands in for, as its
// source shows it. None of their code is copied; what each does is
// described in listener.go and classify.go.

// serveKoha is Koha's misc/bin/connexion_import_daemon.pl: it reads
// until a chunk holds a NUL (keeping what precedes the chunk's last
// NUL), the end of the stream, or 5 seconds without data; parses U, A
// and P fields and then one MARC record; answers "Bad request" when
// there is none; calls Koha over HTTP, giving up after 10 seconds;
// answers with a NUL; and closes at once.
func (f *fakeILS) serveKoha(g *generation, c net.Conn) {
	k := f.settings()
	in := readKoha(c, k.readWait)
	login, rec, ok := parseKoha(in)
	if !ok {
		answer(c, "Bad request")
		return
	}
	f.countRequest()
	what, n, weird := f.backend(g, rec, login, k.kohaHTTP)
	if what == storedLater {
		k.advance(realKohaHTTP, k.kohaHTTP)
		answer(c, "Unsuccessful request")
		return
	}
	f.answerStored(c, what, n, weird)
}

// answer writes a reply and its NUL in one write, as Perl's printf and
// Vert.x's write do.
func answer(c net.Conn, reply string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(append([]byte(reply), 0))
}

// readKoha reads as Koha's read_request does.
func readKoha(c net.Conn, wait time.Duration) []byte {
	var in []byte
	buf := make([]byte, 100000) // CLIENT_READ_BUFFER_SIZE
	for {
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		chunk := buf[:n]
		if i := bytes.LastIndexByte(chunk, 0); i >= 0 {
			return append(in, chunk[:i]...)
		}
		in = append(in, chunk...)
		if err != nil || n == 0 {
			return in
		}
	}
}

// parseKoha parses as Koha's read_request does: U, A and P fields
// (their length one byte, 0x40 + n, or else decimal digits) and spaces,
// then, at a digit, one MARC record. Anything else ends the request.
func parseKoha(in []byte) (login ilsLogin, rec []byte, ok bool) {
	data := in
	for len(data) > 0 {
		switch c := data[0]; {
		case c == 'U' || c == 'A' || c == 'P':
			var v []byte
			v, data = kohaField(data)
			switch c {
			case 'U':
				login.user = string(v)
			case 'A':
				login.localUser = string(v)
			default:
				login.password = string(v)
			}
		case c == ' ':
			data = data[1:]
		case '0' <= c && c <= '9':
			// MARC::Record->new_from_usmarc: the first record; a
			// broken one is "Bad MARC".
			if len(data) < 5 {
				return login, nil, false
			}
			n, err := strconv.Atoi(string(data[:5]))
			if err != nil || n < 24 || n > len(data) || data[n-1] != 0x1D {
				return login, nil, false
			}
			return login, data[:n], true
		default:
			return login, nil, false
		}
	}
	return login, nil, false
}

// kohaField is Koha's _trim_identifier: a field's value and the rest.
func kohaField(data []byte) (value, rest []byte) {
	clamp := func(i int) int { return min(max(i, 0), len(data)) }
	if len(data) < 2 {
		return nil, nil
	}
	if n := int(data[1]) - 64; n >= 0 {
		return data[2:clamp(2+n)], data[clamp(2+n):]
	}
	digits := 0
	for 1+digits < len(data) && '0' <= data[1+digits] && data[1+digits] <= '9' {
		digits++
	}
	n, _ := strconv.Atoi(string(data[1 : 1+digits]))
	start := 1 + digits
	return data[clamp(start):clamp(start+n)], data[clamp(start+n):]
}

// serveFOLIO is FOLIO's edge-connexion (MainVerticle, ConnexionRequest):
// it parses each chunk as it comes, ignoring a chunk's bytes from a NUL
// on; answers an HTTP GET with "HTTP/1.0 200 OK" and closes; closes
// without a word when more than 100,000 bytes are buffered; as soon as
// a whole record has arrived, logs in with the A field and imports it
// through mod-copycat, then answers "Import ok\n" or "Error: ...\n" with
// a NUL; keeps the connection open until the client closes it (or
// closes only its sending side: Netty then closes the connection, and a
// reply still to come is lost) or it has been idle for 30 seconds,
// while an import in progress goes on.
func (f *fakeILS) serveFOLIO(g *generation, c net.Conn) {
	k := f.settings()
	type chunk struct {
		b   []byte
		err error
	}
	chunks := make(chan chunk)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			select {
			case chunks <- chunk{buf[:n], err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	replies := make(chan string, 1)
	idle := time.NewTimer(k.folioIdle)
	defer idle.Stop()
	var req folioRequest
	importing, answered := false, false
	for {
		select {
		case ch := <-chunks:
			idle.Reset(k.folioIdle)
			b := ch.b
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			req.feed(b)
			if len(req.records) > 0 && !importing && !answered {
				if len(req.records) != 1 {
					answer(c, "Error: One record expected in OCLC Connexion request\n")
					answered = true
				} else {
					importing = true
					f.countRequest()
					go func(rec []byte, login ilsLogin) { replies <- f.folioImport(g, k, rec, login) }(req.records[0], req.login())
				}
			}
			if len(req.buf) > 100000 {
				return
			}
			if req.isHTTP() {
				c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n"))
				return
			}
			if ch.err != nil {
				return
			}
		case reply := <-replies:
			importing, answered = false, true
			if reply != "" {
				idle.Reset(k.folioIdle)
				answer(c, reply)
			}
		case <-idle.C:
			if importing {
				k.advance(realFOLIOIdle, k.folioIdle)
			}
			return
		case <-g.dead:
			return
		}
	}
}

// folioImport is MainVerticle.callCopycat: the reply for rec, "" when
// the ILS crashed meanwhile.
func (f *fakeILS) folioImport(g *generation, k knobs, rec []byte, login ilsLogin) string {
	if strings.TrimSpace(login.localUser) != k.folioKey {
		return "Error: access denied\n"
	}
	what, _, weird := f.backend(g, rec, login, 0)
	switch what {
	case storedYes:
		if weird != "" {
			return weird
		}
		return "Import ok\n"
	case storedNo:
		return f.errorReply()
	case storedRefused:
		return f.refusalReply()
	case storedDown:
		return f.downReply()
	}
	return ""
}

// folioRequest is edge-connexion's ConnexionRequest: values and records
// parsed so far, and the bytes not parsed yet.
type folioRequest struct {
	user, localUser, password []byte
	records                   [][]byte
	buf                       []byte
	all                       []byte // everything received, for the HTTP check
}

func (q *folioRequest) login() ilsLogin {
	return ilsLogin{user: string(q.user), localUser: string(q.localUser), password: string(q.password)}
}

// isHTTP reports a GET request ended by an empty line.
func (q *folioRequest) isHTTP() bool {
	return bytes.HasPrefix(q.all, []byte("GET ")) &&
		(bytes.Contains(q.all, []byte("\n\n")) || bytes.Contains(q.all, []byte("\n\r\n")))
}

// feed is ConnexionRequest.handle: parse as far as the bytes go.
func (q *folioRequest) feed(b []byte) {
	q.all = append(q.all, b...)
	q.buf = append(q.buf, b...)
	i := 0
	for i < len(q.buf) {
		var next int
		var ok bool
		switch q.buf[i] {
		case 'U':
			next, ok = folioValue(q.buf, i, &q.user)
		case 'A':
			next, ok = folioValue(q.buf, i, &q.localUser)
		case 'P':
			next, ok = folioValue(q.buf, i, &q.password)
		case ' ':
			next, ok = i+1, true
		default:
			next, ok = folioRecord(q.buf, i, &q.records)
		}
		if !ok {
			break
		}
		i = next
	}
	q.buf = append([]byte(nil), q.buf[i:]...)
}

// folioValue is ConnexionRequest.parseValue: a length byte >= 64 (n =
// b - 64, up to 191) or decimal digits, then the value.
func folioValue(b []byte, i int, v *[]byte) (int, bool) {
	i++
	if i >= len(b) {
		return 0, false
	}
	var n int
	if b[i] >= 64 {
		n = int(b[i]) - 64
		i++
	} else {
		d := 0
		for i+d < len(b) && '0' <= b[i+d] && b[i+d] <= '9' {
			d++
		}
		var err error
		if n, err = strconv.Atoi(string(b[i : i+d])); err != nil {
			return 0, false
		}
		i += d
	}
	if i+n > len(b) {
		return 0, false
	}
	*v = append(*v, b[i:i+n]...)
	return i + n, true
}

// folioRecord is ConnexionRequest.parseMarc: five digits of length,
// then that many bytes.
func folioRecord(b []byte, i int, recs *[][]byte) (int, bool) {
	if i+5 > len(b) {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[i : i+5]))
	if err != nil || n < 5 || i+n > len(b) {
		return 0, false
	}
	*recs = append(*recs, append([]byte(nil), b[i:i+n]...))
	return i + n, true
}

// serveEvergreen is Evergreen's marc_stream_importer.pl (2014 and
// later): it exits without reading when it lost its OpenSRF connection;
// reads, within 5 seconds of the connection, up to the first record
// terminator (0x1D) or the end of the stream, and closes without a word
// when the time runs out; hands everything read to Vandelay, which
// takes a request not starting with a digit for MARCXML and finds no
// record in it; answers "Successfully imported N bib records using merge
// profile 'P'\n" and/or "Failed to import N bib records\n", then a NUL
// (a lone NUL when nothing was imported or failed); and closes.
func (f *fakeILS) serveEvergreen(g *generation, c net.Conn) {
	f.mu.Lock()
	down := f.mode == modeDown
	f.mu.Unlock()
	if down {
		return // "no longer connected to opensrf": exit
	}
	c.SetReadDeadline(time.Now().Add(f.settings().readWait))
	var in []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		in = append(in, buf[:n]...)
		if i := bytes.IndexByte(in, 0x1D); i >= 0 {
			in = in[:i+1]
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // "reading from STDIN failed or timed out"
		}
		if err != nil {
			break
		}
	}
	if len(in) == 0 || in[0] < '0' || in[0] > '9' || in[len(in)-1] != 0x1D {
		answer(c, "") // nothing spooled: nothing imported, nothing failed
		return
	}
	f.countRequest()
	what, _, weird := f.backend(g, in, ilsLogin{}, 0)
	switch what {
	case storedYes:
		if weird != "" {
			answer(c, weird)
			return
		}
		answer(c, f.successReply(0))
	case storedNo:
		answer(c, f.errorReply())
	case storedRefused:
		answer(c, f.refusalReply())
	}
	// storedGone: the process died; storedDown does not happen here.
}

// serveAleph stands in for Aleph's oclc_server, whose source is not
// public: it reads the request as the Connexion protocol frames it (to
// its NUL), answers with a NUL as library staff pages quote it, and
// closes.
func (f *fakeILS) serveAleph(g *generation, c net.Conn) {
	p := &gateway.Parser{}
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(f.settings().readWait))
	for !p.Done() {
		n, err := c.Read(buf)
		if _, ferr := p.Feed(buf[:n]); ferr != nil {
			answer(c, "Error: bad request; record not added\n")
			return
		}
		if err != nil {
			if p.Finish() != nil {
				return
			}
			break
		}
	}
	req := p.Request()
	if len(req.Records) == 0 {
		answer(c, "Error: no record; record not added\n")
		return
	}
	f.countRequest()
	what, n, weird := f.backend(g, req.Records[0], ilsLogin{req.User, req.LocalUser, req.Password}, 0)
	f.answerStored(c, what, n, weird)
}

// answerStored sends the reply the ILS gives for what its backend did
// with the record.
func (f *fakeILS) answerStored(c net.Conn, what stored, n int, weird string) {
	switch what {
	case storedYes:
		if weird != "" {
			answer(c, weird)
			return
		}
		answer(c, f.successReply(n))
	case storedNo:
		answer(c, f.errorReply())
	case storedRefused:
		answer(c, f.refusalReply())
	case storedDown:
		answer(c, f.downReply())
	}
}
