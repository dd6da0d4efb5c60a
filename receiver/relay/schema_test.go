package relay

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/receiver"
)

// TestMigrationToHeldKeepsTheQueue opens a relay on a database written
// by the first schema: the queue, its links from relay_seen and the
// never-reused IDs survive the table rebuild that brings the held state.
func TestMigrationToHeldKeepsTheQueue(t *testing.T) {
	ctx := context.Background()
	d, _ := newDB(t)
	if err := d.Migrate(ctx, Component, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	raw := makeRecord(t, 9100, "Before the upgrade")
	received := db.TimeNS(time.Now().Add(-time.Minute))
	err := d.Write(ctx, func(tx *sql.Tx) error {
		for i, state := range []string{"queued", "uncertain", "delivered", "dropped"} {
			_, err := tx.Exec(`INSERT INTO relay_queue (id, queue, state, request_id, record_index, received_ns, queued_ns,
				remote_addr, user_name, fwd_user, fwd_local_user, oclc, title, hash, record, cause, attempts, last_error, upstream_reply, logged)
				VALUES (?, 'q', ?, 7, 0, ?, ?, '192.0.2.7:1', 'cat1', 'cat1', '', '9100', 'Before the upgrade', ?, ?, 'upstream-down', 2,
				'the upstream answered with an error', 'Bad request', 1)`, 10+i, state, received, received, "hash-"+state, raw)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO relay_seen (queue, oclc, hash, time_ns, queue_id) VALUES ('q', '9100', ?, ?, ?)`,
				"hash-"+state, received, 10+i); err != nil {
				return err
			}
		}
		// Rows up to 40 were pruned: their IDs are never given again.
		_, err := tx.Exec(`UPDATE sqlite_sequence SET seq = 40 WHERE name = 'relay_queue'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(d, closedPort(t))
	cfg.QueueName = "q"
	r := openRelay(t, cfg)
	defer r.Close()
	if v, err := d.SchemaVersion(ctx, Component); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(migrations))
	}
	es := listAll(t, r)
	if len(es) != 4 {
		t.Fatalf("%d entries after the upgrade, want 4", len(es))
	}
	for i, want := range []State{StateQueued, StateUncertain, StateDelivered, StateDropped} {
		e := es[i]
		if e.ID != int64(10+i) || e.State != want || e.Attempts != 2 || e.OCLCNumber != "9100" || e.Upstream != "Bad request" ||
			e.Bytes != len(raw) || e.Refusals != 0 || !e.Held.IsZero() {
			t.Errorf("entry %d after the upgrade: %+v", i, e)
		}
	}
	var linked int
	if err := d.Reader().QueryRow(`SELECT COUNT(*) FROM relay_seen s JOIN relay_queue q ON q.id = s.queue_id`).Scan(&linked); err != nil || linked != 4 {
		t.Errorf("%d relay_seen rows still linked to their queue entry (%v), want 4", linked, err)
	}
	var parent string
	if err := d.Reader().QueryRow(`SELECT "table" FROM pragma_foreign_key_list('relay_seen')`).Scan(&parent); err != nil || parent != "relay_queue" {
		t.Errorf("relay_seen references %q (%v), want relay_queue", parent, err)
	}

	// The queued record still counts as an earlier export, the dropped
	// one still does not: the links survived.
	if prev, err := r.duplicateOf(ctx, &receiver.Item{OCLCNumber: "9100", Hash: "hash-queued"}); err != nil || prev == nil {
		t.Errorf("duplicateOf(the queued record) = %v, %v; want the earlier export", prev, err)
	}
	if prev, err := r.duplicateOf(ctx, &receiver.Item{OCLCNumber: "9100", Hash: "hash-dropped"}); err != nil || prev != nil {
		t.Errorf("duplicateOf(the dropped record) = %v, %v; want none", prev, err)
	}

	// New entries get new IDs, and the held state is allowed.
	if res := deliver1(t, r, makeRecord(t, 9101, "After the upgrade")); !res.Outcome.Succeeded() {
		t.Fatalf("deliver after the upgrade: %+v", res)
	}
	es = listAll(t, r)
	if last := es[len(es)-1]; last.ID <= 40 {
		t.Errorf("new entry got ID %d, want above the old high-water mark 40", last.ID)
	}
	for _, tc := range []struct {
		state string
		ok    bool
	}{{"held", true}, {"bogus", false}} {
		err := d.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE relay_queue SET state = ? WHERE id = 10`, tc.state)
			return err
		})
		if (err == nil) != tc.ok {
			t.Errorf("setting state %q: %v", tc.state, err)
		}
	}
	if e := entry(t, r, 10); e.State != StateHeld {
		t.Errorf("entry 10 is %s, want held", e.State)
	}
}
