package incidents

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseSchedule: schedules come from configuration files and the CLI.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"Mon-Fri 08:00-17:00 America/New_York", "daily 22:00-02:00", "Sat,Sun 00:00-24:00 UTC", "x", ""} {
		f.Add(s)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSchedule(spec, nil)
		if err != nil {
			return
		}
		s.Active(at)
		s.Next(at)
		back, err := ParseSchedule(s.String(), nil)
		if err != nil || back.String() != s.String() {
			t.Fatalf("%q -> %q does not read back: %v", spec, s.String(), err)
		}
	})
}

// FuzzIDs: incident ids and tags come from mail subjects and the CLI,
// Message-IDs from mail headers.
func FuzzIDs(f *testing.F) {
	for _, s := range []string{"OIS-2026-0042", "Re: ALERT [OIS-2026-0042]", "<OIS-2026-0042/alert/1/listserv@x.example>", "[", "<@>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := CanonicalID(s); err == nil {
			if again, err := CanonicalID(id); err != nil || again != id {
				t.Fatalf("%q -> %q not canonical", s, id)
			}
		}
		if id, ok := FindTag(s, ""); ok {
			if _, err := CanonicalID(id); err != nil {
				t.Fatalf("FindTag(%q) = %q, not an id", s, id)
			}
		}
		if k, ok := KeyFromMessageID(s, ""); ok && k == "" {
			t.Fatalf("KeyFromMessageID(%q) ok with an empty key", s)
		}
	})
}

// FuzzPrintout: affected records are whatever bytes a client sent.
func FuzzPrintout(f *testing.F) {
	f.Add([]byte("00026nam a2200025   4500\x1e\x1d"))
	f.Add([]byte{0x1d, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Printout(b)
		if p == "" {
			t.Fatal("empty printout")
		}
		_ = utf8.ValidString(p)
	})
}
