package templates

import (
	"testing"
	"time"
)

// replyData has the field names and types of receiver.ReplyData, which this
// package cannot import (receiver imports templates).
type replyData struct {
	Number int
	Count  int

	Outcome string
	Cause   string

	SystemNumber string
	OCLCNumber   string
	Title        string
	Sharing      []string

	Target       string
	TargetPrefix string

	PreviousSystemNumber string
	PreviousTime         time.Time
	Policy               string

	Problem   string
	Uncertain bool
	Wait      time.Duration
	Limit     string
}

// benchReply is what the receiver renders for an added record that shares
// its OCLC number with another catalog record.
func benchReply() replyData {
	return replyData{
		Number: 2, Count: 3, Outcome: "added",
		SystemNumber: "000123457", OCLCNumber: "1234567", Title: "Les misérables",
		Sharing: []string{"000098765"}, TargetPrefix: "(HVD01)",
		PreviousTime: time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC), Policy: "mark-deleted",
	}
}

// benchRender renders block with d through render, passing d by value as
// the receiver does (so each call boxes it, as in the daemon).
func benchRender(b *testing.B, block string, render func(string, any) (string, error)) {
	d := benchReply()
	if _, err := render(block, d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := render(block, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderReply measures Set.Render of "reply.added", the block the
// receiver renders for almost every export, with receiver.ReplyData-shaped
// data.
func BenchmarkRenderReply(b *testing.B) {
	benchRender(b, "reply.added", MustLoadDefaults().Render)
}

// BenchmarkRenderReplyDuplicate measures "reply.duplicate", which also
// compares strings and calls time.Time.IsZero and the time function.
func BenchmarkRenderReplyDuplicate(b *testing.B) {
	benchRender(b, "reply.duplicate", MustLoadDefaults().Render)
}

// BenchmarkRenderReplyTextTemplate is BenchmarkRenderReply with
// text/template's Execute alone, as Render worked before the fast path:
// the figure to compare with.
func BenchmarkRenderReplyTextTemplate(b *testing.B) {
	s := MustLoadDefaults()
	benchRender(b, "reply.added", func(name string, data any) (string, error) {
		return execute(name, s.blocks[name].tmpl, data)
	})
}
