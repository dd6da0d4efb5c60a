package listserv

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/marc"
)

// MIME types of the report's attachments.
const (
	TypeMARC    = "application/marc"        // ISO 2709 records (RFC 2220)
	TypeMARCXML = "application/marcxml+xml" // MARC 21 slim XML (RFC 6207)
)

// attachment is one file of the report.
type attachment struct {
	name, ctype string
	data        []byte
}

// build returns the whole message for n, CRLF line ends, as Send submits
// it. Errors are permanent (*Error at step "message").
func (c *Channel) build(n *incidents.Notification, now time.Time) ([]byte, error) {
	s := c.s
	if !validKey(n.Key) {
		return nil, s.newError("message", fmt.Errorf("%w: %q", ErrBadKey, n.Key))
	}
	thread := n.ThreadKey
	if thread != "" && thread != n.Key && !validKey(thread) {
		return nil, s.newError("message", fmt.Errorf("%w: thread %q", ErrBadKey, thread))
	}
	body := n.Body
	var files []attachment
	if c.report {
		var note string
		files, note = reportFiles(n)
		if note != "" {
			body = strings.TrimRight(body, "\n") + "\n\n" + note + "\n"
		}
	}
	body = bodyText(body)

	// go-message writes the fields it is given last first.
	var h mail.Header
	h.Set("X-Oclcbot-Key", n.Key)
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set("Auto-Submitted", "auto-generated")
	if thread != "" && thread != n.Key {
		id := incidents.MessageID(thread, s.Domain) // with brackets: set as is
		h.Set("References", id)
		h.Set("In-Reply-To", id)
	}
	h.Set("Message-Id", incidents.MessageID(n.Key, s.Domain))
	subject := subjectText(n.Subject)
	if subject == "" {
		subject = "oclcbot " + string(n.Kind)
		if n.Incident != "" {
			subject += " " + incidents.Tag(n.Incident)
		}
	}
	if v := subjectValue(subject); v != "" {
		h.Set("Subject", v)
	} else {
		h.SetSubject(subject)
	}
	h.SetAddressList("To", s.to)
	h.SetAddressList("From", []*mail.Address{s.from})
	h.SetDate(now.In(s.Location))

	var ih mail.InlineHeader
	ih.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	if needsQP(body) {
		ih.Set("Content-Transfer-Encoding", "quoted-printable")
	} else {
		ih.Set("Content-Transfer-Encoding", "7bit")
		body = crlf(body)
	}

	var buf bytes.Buffer
	var err error
	if len(files) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", ih.Get("Content-Transfer-Encoding"))
		err = writeSingle(&buf, h, body)
	} else {
		err = writeMixed(&buf, h, ih, body, files)
	}
	if err != nil {
		return nil, s.newError("message", err)
	}
	return buf.Bytes(), nil
}

func writeSingle(w io.Writer, h mail.Header, body string) error {
	bw, err := mail.CreateSingleInlineWriter(w, h)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(bw, body); err != nil {
		return err
	}
	return bw.Close()
}

func writeMixed(w io.Writer, h mail.Header, ih mail.InlineHeader, body string, files []attachment) error {
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	bw, err := mw.CreateSingleInline(ih)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(bw, body); err != nil {
		return err
	}
	if err := bw.Close(); err != nil {
		return err
	}
	for _, f := range files {
		var ah mail.AttachmentHeader
		ah.SetContentType(f.ctype, nil)
		ah.SetFilename(f.name)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return err
		}
		if _, err := aw.Write(f.data); err != nil {
			return err
		}
		if err := aw.Close(); err != nil {
			return err
		}
	}
	return mw.Close()
}

// reportFiles returns the report's attachments for n: the records as
// received (.mrc, the raw bytes concatenated, as ISO 2709 files are) and
// as MARCXML (.xml, the records that decode, converted to UTF-8). Thread
// openers (escalation, reported, reopened, alert) carry every record of
// the incident, updates the records they list; acknowledgements and
// SOLVED carry none. note, when not empty, is a line for the body saying
// what could not be attached.
func reportFiles(n *incidents.Notification) (files []attachment, note string) {
	if n.Kind != incidents.KindUpdate && !n.Kind.Opens() {
		return nil, ""
	}
	notice, err := n.Notice()
	if err != nil {
		return nil, "(oclcbot could not attach the records: the notification's data does not decode.)"
	}
	recs := notice.Records
	if n.Kind.Opens() && notice.Report != nil {
		recs = notice.Report.Records
	}
	var raw, xml bytes.Buffer
	xw := marc.NewWriter(&xml, marc.FormatMARCXML)
	var count, inXML int
	var undecoded []string
	for _, r := range recs {
		if len(r.Raw) == 0 {
			continue
		}
		count++
		raw.Write(r.Raw)
		rec, err := marc.Decode(r.Raw)
		if err != nil {
			undecoded = append(undecoded, fmt.Sprint(r.AttemptID))
			continue
		}
		if rec.Leader[marc.CharCodingPos] != 'a' {
			if u, _ := marc.ToUTF8Lenient(rec); u != nil {
				rec = u
			}
		}
		if err := xw.Write(rec); err != nil {
			undecoded = append(undecoded, fmt.Sprint(r.AttemptID))
			continue
		}
		inXML++
	}
	if err := xw.Close(); err != nil {
		inXML = 0
	}
	if count == 0 {
		return nil, ""
	}
	base := fileName(strings.TrimSuffix(n.Key, "/"+n.Channel))
	files = append(files, attachment{name: base + ".mrc", ctype: TypeMARC, data: raw.Bytes()})
	if inXML > 0 {
		files = append(files, attachment{name: base + ".xml", ctype: TypeMARCXML, data: xml.Bytes()})
	}
	if len(undecoded) > 0 {
		note = fmt.Sprintf("(Attached: %d %s as received (.mrc); the MARCXML file lacks the %s of attempt %s, which did not decode.)",
			count, plural(count, "record", "records"), plural(len(undecoded), "record", "records"), strings.Join(undecoded, ", "))
	}
	return files, note
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
