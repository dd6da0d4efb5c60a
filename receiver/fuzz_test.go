package receiver

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

// memLog is an AttemptLog in memory.
type memLog struct {
	mu sync.Mutex
	as []*exportlog.Attempt
}

func (l *memLog) Append(_ context.Context, as ...*exportlog.Attempt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.as = append(l.as, as...)
	return nil
}

// FuzzPipeline feeds arbitrary record bytes (as a Connexion client may
// send them) through the whole receiver with a sink that checks what it
// is given. Whatever the bytes, the receiver must not panic (which it
// would report as CauseInternal), must answer one line, must record one
// attempt with the bytes as received, and must hand the sink only a
// record that is valid UTF-8 MARC with the rules applied.
func FuzzPipeline(f *testing.F) {
	f.Add(engRecord(f, "12345", "The title"))
	f.Add(benchRecord(f, ' '))
	f.Add(record(f, ' ', dat("245", "10", "a", "Bad \x1b(Zescape.")))
	f.Add(record(f, 'a', ctl("001", "ocn987654321"),
		dat("035", "  ", "a", "(HVD01)000000001"), dat("035", "  ", "a", "(OCoLC)987654321"),
		dat("040", "  ", "a", "FRBNF", "b", "fre"), dat("049", "  ", "a", "HVDA"), dat("245", "10", "a", "Titre.")))
	f.Add(record(f, 'a', dat("035", "  ", "a", "(hvd01) 12x"), dat("245", "10", "a", "Caf\xC3(")))
	f.Add(record(f, 'z', dat("245", "10", "a", "Unknown coding")))
	f.Add([]byte("00026nam a2200025   4500x\x1d"))
	f.Add([]byte("00000"))
	f.Add([]byte{})
	sink := &checkingSink{}
	log := &memLog{}
	rcv, err := New(Config{Sink: sink, Log: log, Open: true, TargetPrefix: "(HVD01)",
		Logger: slog.New(slog.DiscardHandler)}) // a fuzz worker must not fill its stderr pipe
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		sink.t, log.as = t, nil
		req := &gateway.Request{ID: 1, User: "cat1", Records: [][]byte{rec}, Raw: rec}
		reply := rcv.ServeExport(context.Background(), req)
		if reply == "" || !strings.HasSuffix(reply, "\n") || strings.Count(reply, "\n") != 1 {
			t.Fatalf("reply %q is not one line", reply)
		}
		if !utf8.ValidString(reply) {
			t.Fatalf("reply %q is not UTF-8", reply)
		}
		if len(log.as) != 1 {
			t.Fatalf("%d attempts recorded", len(log.as))
		}
		a := log.as[0]
		if a.Cause == exportlog.CauseInternal {
			t.Fatalf("internal error: %s", a.Detail)
		}
		if !bytes.Equal(a.Record, rec) || a.Reply+"\n" != reply {
			t.Fatal("the attempt does not hold the record and reply")
		}
	})
}

// checkingSink fails the test if an item breaks the pipeline's promises.
type checkingSink struct{ t *testing.T }

func (*checkingSink) Name() string { return "catalog" }

func (s *checkingSink) Deliver(_ context.Context, exp *Export) []Result {
	out := make([]Result, len(exp.Items))
	for i, it := range exp.Items {
		r := it.Record
		if r.Leader[marc.CharCodingPos] != 'a' {
			s.t.Fatalf("leader/09 %q reached the sink", r.Leader[marc.CharCodingPos])
		}
		if p := invalidUTF8(r); p != "" {
			s.t.Fatalf("invalid UTF-8 reached the sink: %s", p)
		}
		b, err := marc.Encode(r)
		if err != nil {
			s.t.Fatalf("unencodable record reached the sink: %v", err)
		}
		if _, err := marc.Decode(b); err != nil {
			s.t.Fatalf("the prepared record does not decode: %v", err)
		}
		if h, _ := ContentHash(r); h != it.Hash {
			s.t.Fatal("Item.Hash is not the record's content hash")
		}
		for _, f := range r.FieldsByTag("035") {
			for _, sf := range f.Subfields {
				if _, ok := targetValue(sf, "(HVD01)"); ok {
					s.t.Fatalf("a targeting 035 reached the sink: %q", sf.Value)
				}
			}
		}
		conv, _ := marc.ToUTF8Lenient(it.Original)
		if lang := CatalogingLanguage(conv); lang != "" && !strings.EqualFold(lang, "eng") {
			if len(r.FieldsByTag("035", "040")) != 0 || r.Leader[marc.EncodingLevelPos] != '5' {
				s.t.Fatalf("040 $b %q: the rule was not applied", lang)
			}
		}
		before, after := conv.FieldsByTag("049"), r.FieldsByTag("049")
		if len(before) != len(after) {
			s.t.Fatal("049 fields removed")
		}
		for j := range before {
			if !before[j].Equal(after[j]) {
				s.t.Fatalf("049 changed: %+v -> %+v", before[j], after[j])
			}
		}
		out[i] = Result{Outcome: exportlog.OutcomeAdded, SystemNumber: "000000001"}
	}
	return out
}
