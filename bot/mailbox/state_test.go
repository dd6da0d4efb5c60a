package mailbox

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/oclcbot/oclcbot/db"
)

func TestStateRecordAndPrune(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(filepath.Join(t.TempDir(), "s.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := &state{d: d, account: "bot@imap:993/INBOX", limit: 3, now: time.Now}
	if err := st.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.migrate(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, _, ok, err := st.load(ctx); ok || err != nil {
		t.Fatalf("fresh state: %v %v", ok, err)
	}
	if err := st.reset(ctx, 7); err != nil {
		t.Fatal(err)
	}
	for uid := 1; uid <= 5; uid++ {
		if err := st.record(ctx, 7, uidOf(uid), fmt.Sprintf("<m%d@x>", uid), "handled"); err != nil {
			t.Fatal(err)
		}
	}
	v, last, ok, err := st.load(ctx)
	if err != nil || !ok || v != 7 || last != 5 {
		t.Fatalf("load: %d %d %v %v", v, last, ok, err)
	}
	// Only the newest 3 keys are remembered.
	for uid, want := range map[int]bool{1: false, 2: false, 3: true, 5: true} {
		if seen, err := st.seen(ctx, fmt.Sprintf("<m%d@x>", uid)); err != nil || seen != want {
			t.Errorf("seen m%d = %v %v, want %v", uid, seen, err, want)
		}
	}
	// A record for an older UIDVALIDITY is refused: it would mix folders.
	if err := st.record(ctx, 6, 9, "<old@x>", "handled"); err == nil {
		t.Error("record under a stale UIDVALIDITY accepted")
	}
	// A lower UID never moves last back.
	if err := st.record(ctx, 7, 2, "<m2@x>", "handled"); err != nil {
		t.Fatal(err)
	}
	if _, last, _, _ := st.load(ctx); last != 5 {
		t.Errorf("last %d, want 5", last)
	}
}

func uidOf(n int) imap.UID { return imap.UID(n) }
