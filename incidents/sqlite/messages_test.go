package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
)

func openAt(tb testing.TB, path string) (*db.DB, *Store) {
	tb.Helper()
	d, err := db.Open(path, db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Open(context.Background(), d)
	if err != nil {
		d.Close()
		tb.Fatal(err)
	}
	return d, s
}

// Counts, first and last times and other senders of repeated messages,
// and failed checks, survive a store round trip and a restart, and a
// copy captured after the restart still counts on the stored message.
func TestRepeatedMessagesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	d, s := openAt(t, path)
	inc := incidents.New(incidents.Opening{ID: "OIS-2026-0007", Target: "upstream:ils:5500", Cause: exportlog.CauseUpstreamDown, Class: exportlog.ClassSystem, Time: t0})
	refused := "dial tcp 10.0.0.5:5500: connect: connection refused"
	lim := incidents.Limits{First: 2, Last: 2}
	save := func(s *Store, inc *incidents.Incident) {
		t.Helper()
		if err := s.Apply(ctx, &incidents.Change{Incident: inc, Journal: inc.TakeChanges()}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		at := t0.Add(time.Duration(i) * time.Second)
		for _, p := range []string{"upstream-tcp", "upstream-roundtrip"} {
			inc.CheckFailed(at)
			inc.Capture(incidents.Message{Time: at, Source: incidents.SourceProbe, From: p, Text: refused}, lim)
		}
		if i == 10 {
			inc.Failed(at)
			inc.Capture(incidents.Message{Time: at, Source: incidents.SourceReply, From: "ann", Text: "Record kept by oclcbot"}, lim)
		}
		save(s, inc) // every capture is its own change, as in the bot
	}
	got, err := s.Incident(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	check := func(got *incidents.Incident, count int, last time.Time) {
		t.Helper()
		if len(got.Messages) != 2 || got.MessageCount != 2 || got.Failures != 2*30+1 || got.CheckFailures != 60 || got.ExportFailures() != 1 {
			t.Fatalf("stored: %d messages of %d, failures %d (%d checks): %+v", len(got.Messages), got.MessageCount, got.Failures, got.CheckFailures, got.Messages)
		}
		m := got.Messages[0]
		if m.Seq != 1 || m.Text != refused || m.From != "upstream-tcp" || strings.Join(m.Others, ",") != "upstream-roundtrip" ||
			m.Count != count || m.Repeats != count-1 || !m.Time.Equal(t0) || !m.Last.Equal(last) {
			t.Errorf("probe message: %+v", m)
		}
		if r := got.Messages[1]; r.Seq != 2 || r.Count != 1 || r.Others != nil || !r.Time.Equal(t0.Add(10*time.Second)) || !r.Last.Equal(r.Time) {
			t.Errorf("reply message: %+v", r)
		}
	}
	check(got, 60, t0.Add(29*time.Second))

	// Restart: a new process opens the same database.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, s = openAt(t, path)
	defer d.Close()
	got, err = s.Incident(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	check(got, 60, t0.Add(29*time.Second))
	got.CheckFailed(t0.Add(time.Minute))
	if got.Capture(incidents.Message{Time: t0.Add(time.Minute), Source: incidents.SourceProbe, From: "upstream-tcp", Text: refused + "\n"}, lim) {
		t.Fatal("a copy captured after the restart was kept as a new message")
	}
	save(s, got)
	got, _ = s.Incident(ctx, inc.ID)
	if got.CheckFailures != 61 || got.Messages[0].Count != 61 || !got.Messages[0].Last.Equal(t0.Add(time.Minute)) || len(got.Messages) != 2 {
		t.Errorf("after the restart: %d checks, %+v", got.CheckFailures, got.Messages)
	}
}

// Version 2 of the schema folds the identical messages that version 1
// kept apart (it merged only consecutive copies) into the first one.
func TestMigrationFoldsIdenticalMessages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	d, err := db.Open(path, db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, Component, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	err = d.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO incidents (id, prefix, year, seq, target, cause, class, severity, state, opened, since,
			failures, message_count, version) VALUES ('OIS-2026-0001', 'OIS', 2026, 1, 'catalog', 'storage', 'system', 2, 'open', 1, 1, 9, 7, 1)`); err != nil {
			return err
		}
		// seq 1, 3, 5 are the same probe error (5 with a trailing
		// newline), 2 and 4 the same reply from two users, 6 the probe's
		// text from another source.
		for _, r := range []struct {
			seq, at, last int64
			source, from  string
			text          string
			repeats       int
		}{
			{1, 100, 150, "probe", "upstream-tcp", "refused", 2},
			{2, 110, 110, "reply", "ann", "kept", 0},
			{3, 120, 190, "probe", "upstream-roundtrip", "refused", 4},
			{4, 130, 130, "reply", "bob", "kept", 0},
			{5, 140, 140, "probe", "upstream-tcp", "refused\n", 0},
			{6, 160, 160, "upstream", "ils", "refused", 0},
		} {
			if _, err := tx.Exec(`INSERT INTO incident_messages (incident, seq, at, last, source, sender, text, repeats)
				VALUES ('OIS-2026-0001', ?, ?, ?, ?, ?, ?, ?)`, r.seq, r.at, r.last, r.source, r.from, r.text, r.repeats); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	inc, err := s.Incident(ctx, "OIS-2026-0001")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range inc.Messages {
		got = append(got, fmt.Sprintf("%d %s %s [%s] %s x%d %d-%d", m.Seq, m.Source, m.From, strings.Join(m.Others, ","),
			strings.TrimSpace(m.Text), m.Count, m.Time.UnixNano(), m.Last.UnixNano()))
	}
	want := "1 probe upstream-tcp [upstream-roundtrip] refused x9 100-190|2 reply ann [bob] kept x2 110-130|6 upstream ils [] refused x1 160-160"
	if strings.Join(got, "|") != want || inc.MessageCount != 4 || inc.Omitted() != 1 || inc.CheckFailures != 0 || inc.Failures != 9 {
		t.Errorf("after migration: %s (count %d, omitted %d)\nwant %s", strings.Join(got, "|"), inc.MessageCount, inc.Omitted(), want)
	}
	if v, _ := d.SchemaVersion(ctx, Component); v != len(migrations) {
		t.Errorf("schema version %d, want %d", v, len(migrations))
	}
}
