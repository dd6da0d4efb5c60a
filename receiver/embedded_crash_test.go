package receiver_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/receiver"
)

// Environment of the crash test's child process.
const (
	crashEnvDB    = "OCLCBOT_CRASH_CHILD_DB"    // database path; set only in the child
	crashEnvAcks  = "OCLCBOT_CRASH_CHILD_ACKS"  // file of acknowledged records
	crashEnvRound = "OCLCBOT_CRASH_CHILD_ROUND" // makes OCLC numbers unique across rounds
)

const crashWorkers = 16

// TestCatalogSinkSurvivesSIGKILL imports records from a child process
// under load (16 concurrent exports, some of them repeats) and kills it
// with SIGKILL at a random moment, several times over the same database.
// The child writes each record whose Deliver said it was safe to a side
// file, fsynced, after Deliver returned: the reply a cataloger would have
// seen. After each kill every acknowledged record must be in the catalog
// exactly once under the number it was given, and no record may be half
// written (a row without its version, OCLC index or words).
func TestCatalogSinkSurvivesSIGKILL(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, acks := filepath.Join(dir, "oclcbot.db"), filepath.Join(dir, "acked.txt")
	for round := 1; round <= 5; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCatalogSinkCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvDB+"="+path, crashEnvAcks+"="+acks, crashEnvRound+"="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rand.IntN(400)
		sc := bufio.NewScanner(out)
		seen := 0
		var other strings.Builder // the child's test output, should it fail
		for seen < killAfter && sc.Scan() {
			if sc.Text() == "ack" {
				seen++
			} else {
				other.WriteString(sc.Text() + "\n")
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if seen < killAfter {
			t.Fatalf("round %d: the child stopped after %d acknowledgements, before being killed:\n%s%s", round, seen, other.String(), stderr.String())
		}
		n := verifyAfterCrash(t, path, acks)
		t.Logf("round %d: killed after %d acknowledgements; %d acknowledged records intact", round, seen, n)
	}
}

// verifyAfterCrash reopens the database and checks every acknowledged
// record; it returns how many there were.
func verifyAfterCrash(t *testing.T, path, acks string) int {
	t.Helper()
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cat, err := catalog.Open(bg, d, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(acks)
	if err != nil {
		t.Fatal(err)
	}
	type ack struct{ sysno, title string }
	acked := map[string]ack{} // by OCLC number
	for line := range strings.Lines(string(data)) {
		if !strings.HasSuffix(line, "\n") {
			continue // cut by the kill mid-write: never acknowledged
		}
		f := strings.SplitN(strings.TrimSpace(line), "\t", 4)
		if len(f) != 4 {
			t.Fatalf("bad acknowledgement line %q", line)
		}
		oclc, sysno, outcome, title := f[0], f[1], f[2], f[3]
		if prev, ok := acked[oclc]; ok && prev.sysno != sysno {
			t.Errorf("OCLC number %s acknowledged as %s and as %s (%s)", oclc, prev.sysno, sysno, outcome)
		}
		acked[oclc] = ack{sysno, title}
	}
	for oclc, a := range acked {
		ss, err := cat.FindByOCLC(bg, oclc)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 1 || ss[0].SystemNumber.String() != a.sysno {
			t.Errorf("acknowledged record %s (OCLC %s): catalog has %d records with that number", a.sysno, oclc, len(ss))
			continue
		}
		if ok, err := cat.Findable(bg, a.sysno, a.title); err != nil || !ok {
			t.Errorf("acknowledged record %s not findable by its title %q: %v", a.sysno, a.title, err)
		}
	}
	probs, err := cat.Check(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("after the crash: %s", p)
	}
	if err := cat.Write(bg, func(tx *catalog.Txn) error { return tx.CheckIndex(bg) }); err != nil {
		t.Errorf("after the crash: %v", err)
	}
	dups, err := cat.Duplicates(bg, catalog.DuplicatesOptions{IncludeDeleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dups) != 0 {
		t.Errorf("records stored twice: %+v", dups)
	}
	return len(acked)
}

// TestCatalogSinkCrashChild is the child process of
// TestCatalogSinkSurvivesSIGKILL; run directly, it returns at once. It
// imports until it is killed.
func TestCatalogSinkCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvDB)
	if path == "" {
		return
	}
	round, _ := strconv.Atoi(os.Getenv(crashEnvRound))
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(bg, d, catalog.Options{LibraryCode: "HVD01"})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := receiver.NewCatalogSink(receiver.CatalogConfig{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(os.Getenv(crashEnvAcks), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acknowledge := func(oclc string, res receiver.Result, title string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(f, "%s\t%s\t%s\t%s\n", oclc, res.SystemNumber, res.Outcome, title); err != nil {
			panic(err)
		}
		if err := f.Sync(); err != nil {
			panic(err)
		}
		fmt.Println("ack")
	}
	notes := []string{strings.Repeat("Includes bibliographical references and index. ", 20)}
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			for j := 0; ; j++ {
				oclc := fmt.Sprintf("%d%02d%06d", round, w, j)
				r := rec{oclc: oclc, title: "Crash test record " + oclc, notes: notes, marc8: j%2 == 0}
				it := r.item(t)
				exp := export(it)
				for try := range 1 + j%4/3 { // every fourth record is exported twice
					res := sink.Deliver(bg, exp)[0]
					switch {
					case try == 0 && res.Outcome == exportlog.OutcomeAdded,
						try == 1 && res.Outcome == exportlog.OutcomeDuplicate:
						acknowledge(oclc, res, it.Title)
					default:
						fmt.Fprintf(os.Stderr, "record %s, export %d: %+v\n", oclc, try+1, res)
						os.Exit(3)
					}
				}
			}
		})
	}
	wg.Wait()
}
