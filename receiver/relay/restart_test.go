package relay

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
)

func TestRelayRestartResumesDelivery(t *testing.T) {
	ils := newFakeILS(t, "aleph")
	ils.stop()
	d, path := newDB(t)
	cfg := ils.relayConfig(d)
	r := openRelay(t, cfg)
	var raws [][]byte
	for i := range 6 {
		raw := makeRecord(t, 900+i, fmt.Sprintf("Restart %d", i))
		raws = append(raws, raw)
		if res := deliver1(t, r, raw); res.Outcome != exportlog.OutcomeQueued {
			t.Fatalf("record %d: %+v", i, res)
		}
	}
	stop := runRelay(t, r)
	stop()
	r.Close()
	d.Close()

	// A new process: new database handle, new relay.
	d2 := openDB(t, path)
	defer d2.Close()
	cfg.DB = d2
	r2 := openRelay(t, cfg)
	defer r2.Close()
	if es := listAll(t, r2); len(es) != 6 {
		t.Fatalf("after restart the queue holds %d entries, want 6", len(es))
	}
	runRelay(t, r2)
	ils.start()
	imp := ils.waitImports(6, 10*time.Second)
	for i, raw := range raws {
		if imp[i].record != string(raw) {
			t.Errorf("arrival %d is not record %d", i, i)
		}
		// The cataloger's password was in memory only.
		if imp[i].user != "cat1" || imp[i].password != "" {
			t.Errorf("arrival %d carried %q/%q, want the login name without a password", i, imp[i].user, imp[i].password)
		}
	}
	waitFor(t, 5*time.Second, "all delivered", func() bool {
		for _, e := range listAll(t, r2) {
			if e.State != StateDelivered {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // a few PollEvery: nothing more may arrive
	if n := len(ils.importsCopy()); n != 6 {
		t.Errorf("%d imports, want 6 (no duplicates)", n)
	}
}

func TestSendingLeftByAnEarlierProcessBecomesUncertain(t *testing.T) {
	ils := newFakeILS(t, "koha")
	d, _ := newDB(t)
	cfg := testConfig(d, closedPort(t))
	cfg.QueueName = "ils" // the upstream moves to a new address: keep the queue
	r := openRelay(t, cfg)
	deliver1(t, r, makeRecord(t, 1, "A"))
	deliver1(t, r, makeRecord(t, 2, "B"))
	r.Close()
	// The earlier process was sending the first when it was killed.
	err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE relay_queue SET state = 'sending', owner = 'killed' WHERE id = (SELECT MIN(id) FROM relay_queue)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstream = ils.addr
	r2 := openRelay(t, cfg)
	defer r2.Close()
	runRelay(t, r2)
	ils.waitImports(1, 10*time.Second)
	waitFor(t, 5*time.Second, "second delivered", func() bool { return listAll(t, r2)[1].State == StateDelivered })
	es := listAll(t, r2)
	if es[0].State != StateUncertain || !strings.Contains(es[0].LastError, "stopped while sending") {
		t.Errorf("first entry %+v, want uncertain", es[0])
	}
	if imp := ils.importsCopy(); len(imp) != 1 || imp[0].record != string(makeRecord(t, 2, "B")) {
		t.Errorf("imports %+v, want only the second record (the first may already be there)", imp)
	}
}

// TestSecretsStayOut checks that neither the configured upstream
// password nor the cataloger's reaches the logs, the queue or the
// database file, while the rewritten credentials do reach the upstream.
func TestSecretsStayOut(t *testing.T) {
	const (
		svcPass   = "Upstr3amPassw0rd"
		svcLocal  = "tenant svcuser L0calS3cret"
		catPass   = "Catal0gerSecret"
		echoReply = "Error: login Upstr3amPassw0rd refused\n"
	)
	ils := newFakeILS(t, "folio")
	ils.tune(func(k *knobs) { k.folioKey = svcLocal }) // login_strategy full: "tenant user password"
	d, path := newDB(t)
	logs := &syncBuffer{}
	log, err := exportlog.Open(context.Background(), d, exportlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(d, ils.addr)
	cfg.Log = log
	cfg.Credentials = &Credentials{User: "svc", LocalUser: svcLocal, Password: svcPass}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := openRelay(t, cfg)
	defer r.Close()
	cfg.Logger.Info("config", slog.Any("credentials", *cfg.Credentials))
	for _, s := range []string{fmt.Sprintf("%v", *cfg.Credentials), fmt.Sprintf("%+v", *cfg.Credentials), fmt.Sprintf("%#v", *cfg.Credentials)} {
		if strings.Contains(s, svcPass) || strings.Contains(s, "L0calS3cret") {
			t.Errorf("Credentials print their secrets: %s", s)
		}
	}

	ils.weird(echoReply) // an upstream that echoes the password it got
	res := r.Deliver(context.Background(), exportOf(t, "cat1", catPass, makeRecord(t, 43, "Echo")))[0]
	if res.Outcome != exportlog.OutcomeQueued || !strings.Contains(res.Upstream, "****") {
		t.Fatalf("echo: %+v", res)
	}
	if strings.Contains(res.Upstream+res.Detail+res.Reply, svcPass) {
		t.Errorf("echoed password reached the result: %+v", res)
	}
	ils.stop()
	res = r.Deliver(context.Background(), exportOf(t, "cat1", catPass, makeRecord(t, 42, "Secret")))[0]
	if res.Outcome != exportlog.OutcomeQueued {
		t.Fatal(res)
	}
	ils.start()
	ils.set(modeOK, 0)
	runRelay(t, r)
	// The echoing upstream imported the first record before its error
	// reply, so it is imported again on redelivery: 3 imports.
	imp := ils.waitImports(3, 10*time.Second)
	for _, im := range imp {
		if im.user != "svc" || im.localUser != svcLocal || im.password != svcPass {
			t.Errorf("upstream got %q/%q/%q, want the configured credentials", im.user, im.localUser, im.password)
		}
	}
	waitFor(t, 5*time.Second, "delivered", func() bool {
		es := listAll(t, r)
		return es[0].State == StateDelivered && es[1].State == StateDelivered
	})
	r.Close()
	d.Write(context.Background(), func(tx *sql.Tx) error { _, err := tx.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); return err })

	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err == nil {
			files = append(files, b...)
		}
	}
	if len(files) == 0 {
		t.Fatal("database file not read")
	}
	for _, secret := range []string{svcPass, "L0calS3cret", catPass} {
		if bytes.Contains(files, []byte(secret)) {
			t.Errorf("secret %q is in the database file", secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("secret %q is in the logs", secret)
		}
	}
	for _, e := range listAll(t, r) {
		if strings.Contains(fmt.Sprintf("%+v", e), svcPass) || strings.Contains(fmt.Sprintf("%+v", e), catPass) {
			t.Errorf("queue entry shows a secret: %+v", e)
		}
	}
	if !strings.Contains(logs.String(), "record queued") {
		t.Error("the logs were not captured (test is vacuous)")
	}
}
