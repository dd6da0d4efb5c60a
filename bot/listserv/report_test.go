package listserv_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/listserv"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/marc"
)

func TestReportCarriesRecordsAndThreadsUpdates(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	cfg := s.config("")
	cfg.To = []string{"oncall@library.example.edu"}
	ch, err := listserv.NewReport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := notification(t, bot.FamilyReport, incidents.KindEscalation, "ois", 3, "")
	upd := notification(t, bot.FamilyReport, incidents.KindUpdate, "ois", 5, open.Key)
	solved := notification(t, bot.FamilyReport, incidents.KindSolved, "ois", 9, open.Key)
	for _, n := range []*incidents.Notification{open, upd, solved} {
		if err := ch.Send(ctx, n); err != nil {
			t.Fatalf("%s: %v", n.Key, err)
		}
	}
	got := s.messages()
	if len(got) != 3 {
		t.Fatalf("got %d messages", len(got))
	}
	nt, err := open.Notice()
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, r := range nt.Report.Records {
		want = append(want, r.Raw...)
	}
	if len(want) == 0 {
		t.Fatal("the sample report has no raw records")
	}

	p := parse(t, got[0].Data)
	if got[0].To[0] != "oncall@library.example.edu" {
		t.Errorf("sent to %v", got[0].To)
	}
	if subj, _ := p.h.Subject(); subj != open.Subject || !strings.HasPrefix(subj, "OCLC export incident OIS-2026-0042") {
		t.Errorf("subject %q, rendered %q", subj, open.Subject)
	}
	if ct, _, _ := p.h.ContentType(); ct != "multipart/mixed" {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(p.body, "Captured messages, verbatim") || !strings.Contains(p.body, "=245  14$aThe art of cataloging") {
		t.Errorf("report body:\n%s", p.body)
	}
	const mrc, xmlName = "OIS-2026-0042-escalation-3.mrc", "OIS-2026-0042-escalation-3.xml"
	if !bytes.Equal(p.files[mrc], want) || p.types[mrc] != listserv.TypeMARC {
		t.Errorf(".mrc attachment (%s, %d bytes) differs from the records received (%d bytes); files %v", p.types[mrc], len(p.files[mrc]), len(want), p.types)
	}
	for off, i := 0, 0; off < len(want); i++ {
		n, err := strconv.Atoi(string(p.files[mrc][off : off+5]))
		if err != nil {
			t.Fatalf("record %d: leader %q", i, p.files[mrc][off:off+5])
		}
		if _, err := marc.Decode(p.files[mrc][off : off+n]); err != nil {
			t.Fatalf("record %d of the attachment: %v", i, err)
		}
		off += n
	}
	if p.types[xmlName] != listserv.TypeMARCXML {
		t.Errorf("no MARCXML attachment: %v", p.types)
	}
	var coll struct {
		Records []struct {
			Leader string `xml:"leader"`
			Data   []struct {
				Tag string   `xml:"tag,attr"`
				Sub []string `xml:"subfield"`
			} `xml:"datafield"`
		} `xml:"record"`
	}
	if err := xml.Unmarshal(p.files[xmlName], &coll); err != nil {
		t.Fatalf("MARCXML does not parse: %v\n%s", err, p.files[xmlName])
	}
	if len(coll.Records) != len(nt.Report.Records) || !strings.Contains(string(p.files[xmlName]), "The art of cataloging") {
		t.Errorf("MARCXML has %d records, want %d", len(coll.Records), len(nt.Report.Records))
	}

	openID, _ := p.h.MessageID()
	for i, m := range got[1:] {
		q := parse(t, m.Data)
		irt, _ := q.h.MsgIDList("In-Reply-To")
		refs, _ := q.h.MsgIDList("References")
		if len(irt) != 1 || irt[0] != openID || len(refs) != 1 || refs[0] != openID {
			t.Errorf("message %d: In-Reply-To %v References %v, want %s", i+2, irt, refs, openID)
		}
		if subj, _ := q.h.Subject(); !strings.HasPrefix(subj, "Re: OCLC export incident OIS-2026-0042") {
			t.Errorf("message %d subject %q", i+2, subj)
		}
	}
	if q := parse(t, got[1].Data); len(q.files) != 2 {
		t.Errorf("update attachments %v, want the records it lists", q.types)
	}
	if q := parse(t, got[2].Data); len(q.files) != 0 {
		t.Errorf("solved carries attachments %v", q.types)
	}
}

func TestReportWithUndecodableRecordKeepsItsBytes(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	ch, err := listserv.NewReport(s.config(""))
	if err != nil {
		t.Fatal(err)
	}
	n := notification(t, bot.FamilyReport, incidents.KindEscalation, "ois", 3, "")
	nt, _ := n.Notice()
	junk := []byte("00042nam  2200025   4500\x1eNOT MARC\x1d\xff\x00")
	nt.Report.Records[0].Raw = junk
	n.Payload = mustJSON(t, nt)
	if err := ch.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := parse(t, s.await().Data)
	mrc := p.files["OIS-2026-0042-escalation-3.mrc"]
	if !bytes.HasPrefix(mrc, junk) || len(mrc) != len(junk)+len(nt.Report.Records[1].Raw) {
		t.Errorf(".mrc does not hold the bytes received")
	}
	if !strings.Contains(p.body, "lacks the record of attempt 981, which did not decode") {
		t.Errorf("body does not say what the MARCXML lacks:\n%s", p.body)
	}
}

func TestListservNeverAttaches(t *testing.T) {
	s := newSink(t, sinkOpts{startTLS: true})
	ch := mustNew(t, s.config(""))
	// A report-family payload with raw records, sent through the listserv.
	n := notification(t, bot.FamilyReport, incidents.KindEscalation, "listserv", 3, "")
	if err := ch.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := parse(t, s.await().Data)
	if ct, _, _ := p.h.ContentType(); ct != "text/plain" || len(p.files) != 0 {
		t.Errorf("content type %q, files %v", ct, p.types)
	}
}
