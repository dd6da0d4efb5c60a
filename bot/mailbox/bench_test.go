package mailbox

import "testing"

// BenchmarkClassify measures one message's classification: a reply with
// a quote and a staff report with two attachments.
func BenchmarkClassify(b *testing.B) {
	for _, name := range []string{"reply_solved_gmail.eml", "staff_report.eml"} {
		raw := readMail(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Classify(raw, testSelf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
