package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-x, Windows-125x, Shift_JIS ... bodies and headers
	"github.com/emersion/go-message/mail"

	"github.com/oclcbot/oclcbot/bot"
)

// Limits of what one message may make the classifier hold. Larger parts
// are cut (text) or left out (attachments); the message is still
// classified.
const (
	// MaxMessageSize is the largest raw message Classify accepts.
	MaxMessageSize = 64 << 20
	// MaxHeaderSize bounds a message's (or a part's) header block.
	MaxHeaderSize = 256 << 10
	// MaxTextSize bounds the body text kept from one message.
	MaxTextSize = 1 << 20
	// MaxAttachments bounds the attachments kept from one message.
	MaxAttachments = 20
	// MaxAttachmentBytes bounds the bytes of all attachments kept.
	MaxAttachmentBytes = 16 << 20
	// maxDepth bounds the nesting of multiparts; maxParts their number.
	maxDepth = 8
	maxParts = 200
)

// Errors of Classify.
var (
	// ErrTooLarge: the message is larger than MaxMessageSize.
	ErrTooLarge = errors.New("mail message too large")
	// ErrMalformed: the message's header cannot be read at all.
	ErrMalformed = errors.New("malformed mail message")
)

// parsed is a message taken apart for the rules.
type parsed struct {
	h          mail.Header
	from       string // bare address, "" when unreadable
	subject    string
	messageID  string   // "<id>", "" when none
	inReplyTo  []string // "<id>" each
	references []string
	date       time.Time
	mediaType  string // of the whole message, lowercase
	text       string // the body as plain UTF-8 text (text/plain preferred over HTML)
	atts       []bot.Attachment
	// notes record what was left out or could not be decoded; they are
	// appended to a staff report's text so nobody mistakes a cut text for
	// the whole.
	notes []string
	key   string // dedup key: the Message-ID, else a digest of the header
}

// parse takes raw apart. It fails only when not even the header can be
// read; damage further in (bad base64, an unknown charset, a cut
// multipart) becomes a note and what could be read is kept.
func parse(raw []byte) (*parsed, error) {
	if len(raw) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), MaxMessageSize)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	ent, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: MaxHeaderSize})
	p := &parsed{}
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: read header: %w", ErrMalformed, err)
	}
	if err != nil {
		p.notes = append(p.notes, "body: "+err.Error())
	}
	if ent.Header.Len() == 0 {
		return nil, fmt.Errorf("%w: no header fields", ErrMalformed)
	}
	p.h = mail.Header{Header: ent.Header}
	p.key = headerKey(raw)
	p.readHeader()
	if p.messageID != "" {
		p.key = p.messageID
	}
	w := walker{p: p}
	w.entity(ent, 0)
	p.text = cleanText(w.text.String())
	if w.cut {
		p.notes = append(p.notes, fmt.Sprintf("text cut at %d bytes", MaxTextSize))
	}
	return p, nil
}

func (p *parsed) readHeader() {
	if addrs, err := p.h.AddressList("From"); err == nil && len(addrs) > 0 {
		p.from = addrs[0].Address
	} else {
		p.from = looseAddress(p.h.Get("From"))
	}
	p.from = strings.ToValidUTF8(p.from, "\ufffd")
	if s, err := p.h.Subject(); err == nil {
		p.subject = s
	} else {
		p.subject = p.h.Get("Subject")
	}
	p.subject = oneLine(p.subject)
	if ids := msgIDs(p.h.Get("Message-Id")); len(ids) > 0 {
		p.messageID = ids[0]
	}
	p.inReplyTo = msgIDs(p.h.Get("In-Reply-To"))
	p.references = msgIDs(p.h.Get("References"))
	if d, err := p.h.Date(); err == nil {
		p.date = d
	}
	mt, _, err := p.h.ContentType()
	if err == nil {
		p.mediaType = strings.ToLower(mt)
	} else {
		p.mediaType = strings.ToLower(strings.TrimSpace(strings.Split(p.h.Get("Content-Type"), ";")[0]))
	}
}

// headerKey identifies a message without a Message-ID by a digest of its
// header block.
func headerKey(raw []byte) string {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if e2 := bytes.Index(raw, []byte("\n\n")); end < 0 || (e2 >= 0 && e2 < end) {
		end = e2
	}
	if end < 0 || end > MaxHeaderSize {
		end = min(len(raw), MaxHeaderSize)
	}
	sum := sha256.Sum256(raw[:end])
	return "sha256:" + hex.EncodeToString(sum[:])
}

// msgIDs reads a Message-ID, In-Reply-To or References field leniently:
// every <...> in it, or, when there are none, its words (clients that
// forget the brackets). Ids come back as "<id>".
func msgIDs(v string) []string {
	var out []string
	for len(out) < 100 {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" && !strings.ContainsAny(id, " \t\r\n<") {
			out = append(out, "<"+id+">")
		}
		v = v[i+j+1:]
	}
	if len(out) == 0 {
		for _, f := range strings.Fields(v) {
			if strings.Contains(f, "@") && !strings.ContainsAny(f, "<>") && len(out) < 100 {
				out = append(out, "<"+f+">")
			}
		}
	}
	return out
}

// looseAddress finds an address in a From field mail.ParseAddress
// refuses (unquoted specials in the display name, ...).
func looseAddress(v string) string {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	for _, f := range strings.Fields(v) {
		if strings.Contains(f, "@") {
			return strings.Trim(f, "<>\"'(),;")
		}
	}
	return ""
}

// walker collects the text and attachments of an entity tree.
type walker struct {
	p        *parsed
	text     strings.Builder
	cut      bool
	parts    int
	attBytes int
}

// entity visits one part: a multipart's parts in turn, a text part into
// the text, anything else (or a text with a file name) as an attachment.
func (w *walker) entity(e *message.Entity, depth int) {
	w.parts++
	if w.parts > maxParts {
		if w.parts == maxParts+1 {
			w.p.notes = append(w.p.notes, fmt.Sprintf("more than %d parts: the rest left out", maxParts))
		}
		return
	}
	mt, params, _ := e.Header.ContentType()
	mt = strings.ToLower(mt)
	if mt == "" {
		mt = "text/plain"
	}
	if mr := e.MultipartReader(); mr != nil {
		if depth >= maxDepth {
			w.p.notes = append(w.p.notes, fmt.Sprintf("multiparts nested deeper than %d: left out", maxDepth))
			return
		}
		w.multipart(mr, mt, depth)
		return
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = oneLine(decodeWord(name))
	isText := mt == "text/plain" || mt == "text/html"
	if isText && !strings.EqualFold(disp, "attachment") && name == "" {
		b, err := w.read(e.Body, MaxTextSize-w.text.Len())
		if err != nil {
			w.p.notes = append(w.p.notes, "a text part could not be read completely: "+err.Error())
		}
		s := toUTF8(b)
		if mt == "text/html" {
			s = htmlText(s)
		}
		if w.text.Len() > 0 && s != "" {
			w.text.WriteString("\n")
		}
		w.text.WriteString(s)
		return
	}
	w.attachment(e, mt, name)
}

// multipart visits the parts of a multipart: for an alternative only the
// best one (plain text, else HTML, else the last).
func (w *walker) multipart(mr message.MultipartReader, mt string, depth int) {
	var alts []*message.Entity
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			w.p.notes = append(w.p.notes, "the message's parts could not all be read: "+err.Error())
			break
		}
		if err != nil {
			w.p.notes = append(w.p.notes, "part: "+err.Error())
		}
		if mt != "multipart/alternative" {
			w.entity(part, depth+1)
			continue
		}
		// Parts must be read in turn: keep the alternatives' bytes.
		b, rerr := w.read(part.Body, MaxTextSize)
		if rerr != nil {
			w.p.notes = append(w.p.notes, "an alternative could not be read completely: "+rerr.Error())
		}
		alts = append(alts, &message.Entity{Header: part.Header, Body: bytes.NewReader(b)})
		if len(alts) > 10 {
			break
		}
	}
	if len(alts) == 0 {
		return
	}
	best := alts[len(alts)-1]
	for _, pref := range []string{"text/plain", "text/html"} {
		found := false
		for _, a := range alts {
			if t, _, _ := a.Header.ContentType(); strings.EqualFold(t, pref) {
				best, found = a, true
				break
			}
		}
		if found {
			break
		}
	}
	// The chosen alternative's body is already decoded: rebuild it
	// without the transfer encoding so it is not decoded twice.
	h := best.Header.Copy()
	h.Del("Content-Transfer-Encoding")
	if t, params, err := h.ContentType(); err == nil && params["charset"] != "" {
		delete(params, "charset")
		h.SetContentType(t, params)
	}
	ent, _ := message.New(h, best.Body)
	w.entity(ent, depth+1)
}

func (w *walker) attachment(e *message.Entity, mt, name string) {
	if len(w.p.atts) >= MaxAttachments {
		w.p.notes = append(w.p.notes, fmt.Sprintf("attachment %q left out: more than %d attachments", name, MaxAttachments))
		return
	}
	room := MaxAttachmentBytes - w.attBytes
	b, err := w.read(e.Body, room)
	if err != nil {
		w.p.notes = append(w.p.notes, fmt.Sprintf("attachment %q could not be read completely: %v", name, err))
	}
	if len(b) >= room {
		w.p.notes = append(w.p.notes, fmt.Sprintf("attachment %q left out: attachments larger than %d bytes in all", name, MaxAttachmentBytes))
		return
	}
	if name == "" {
		name = fmt.Sprintf("part-%d%s", w.parts, extension(mt))
	}
	if strings.HasPrefix(mt, "text/") {
		b = []byte(toUTF8(b))
	}
	w.attBytes += len(b)
	w.p.atts = append(w.p.atts, bot.Attachment{Name: name, ContentType: mt, Data: b})
}

// read reads up to limit bytes of r (draining no more), reporting
// through the walker when the limit cut it.
func (w *walker) read(r io.Reader, limit int) ([]byte, error) {
	if limit <= 0 {
		w.cut = true
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(b) > limit {
		b = b[:limit]
		w.cut = true
	}
	return b, err
}

func extension(mt string) string {
	if exts, err := mime.ExtensionsByType(mt); err == nil && len(exts) > 0 {
		return exts[0]
	}
	switch mt {
	case "message/rfc822":
		return ".eml"
	case "application/marc":
		return ".mrc"
	}
	return ".bin"
}

// decodeWord decodes an RFC 2047 encoded file name, leaving anything it
// cannot decode as it is.
func decodeWord(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// toUTF8 returns b as valid UTF-8. Text whose charset go-message did not
// know (so still raw) and that is not UTF-8 is read as Windows-1252's
// Latin-1 subset, the likeliest guess for a library's mail.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	// UTF-8 cut inside its last character by a size limit.
	for i := 1; i <= 3 && i < len(b); i++ {
		if utf8.Valid(b[:len(b)-i]) && !utf8.FullRune(b[len(b)-i:]) {
			return string(b[:len(b)-i])
		}
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// cleanText normalises line ends and drops control characters other than
// tab and newline.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || r == '\ufeff' {
			return -1
		}
		return r
	}, s)
}

// oneLine folds a header value to one line of valid UTF-8 text.
func oneLine(s string) string {
	return strings.Join(strings.Fields(cleanText(strings.ToValidUTF8(s, "\ufffd"))), " ")
}

// rawHeader returns the header field k of h, unfolded.
func rawHeader(h message.Header, k string) string { return oneLine(h.Get(k)) }
