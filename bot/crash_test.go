package bot

import (
	"bufio"
	"context"
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
	"time"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/incidents/sqlite"
	"github.com/oclcbot/oclcbot/templates"
)

// The crash test runs the engine and the dispatcher in a child process (this
// test binary, re-executed) through a scripted outage and its recovery,
// kills it with SIGKILL at random points, restarts it, and checks what
// the channels received.

const crashEnv = "OCLCBOT_CRASH_CHILD"

// crashScript is the outage: which export of each step succeeds.
func crashScript() []bool {
	var s []bool
	for range 5 {
		s = append(s, true)
	}
	for range 25 {
		s = append(s, false)
	}
	for range 10 {
		s = append(s, true)
	}
	return s
}

var crashBase = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fileChannel appends each delivery's key to a file and fsyncs it before
// reporting success: what it has written, the far side has.
type fileChannel struct {
	mu   sync.Mutex
	f    *os.File
	name string
}

func (c *fileChannel) Send(ctx context.Context, n *incidents.Notification) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.f, "%s\n", n.Key); err != nil {
		return err
	}
	return c.f.Sync()
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashSafety")
	}
	if err := crashChild(dir); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func crashChild(dir string) error {
	ctx := context.Background()
	d, err := db.Open(filepath.Join(dir, "bot.db"), db.Options{})
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, d)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "deliveries"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	stepFile := filepath.Join(dir, "step")
	step := 0
	if b, err := os.ReadFile(stepFile); err == nil {
		step, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	clock := &fakeClock{t: crashBase.Add(time.Duration(step) * 20 * time.Second)}
	set := templates.MustLoadDefaults()
	var chans []ChannelConfig
	for _, n := range []string{"listserv", "slack"} {
		fam := FamilyEmail
		if n == "slack" {
			fam = FamilySlack
		}
		chans = append(chans, ChannelConfig{Name: n, Channel: &fileChannel{f: f, name: n}, Templates: fam})
	}
	disp, err := NewDispatcher(DispatcherConfig{Outbox: st, Channels: chans, Templates: set, Now: clock.Now, Location: time.UTC})
	if err != nil {
		return err
	}
	eng, err := New(ctx, Config{Store: st, Templates: set, Channels: chans, Now: clock.Now, Wake: disp.Wake, Location: time.UTC})
	if err != nil {
		return err
	}
	// Deliver what an earlier run left, then go on with the script.
	if _, err := disp.RunDue(ctx, clock.Now()); err != nil {
		return err
	}
	script := crashScript()
	for ; step < len(script); step++ {
		now := crashBase.Add(time.Duration(step) * 20 * time.Second)
		clock.t = now
		a := &exportlog.Attempt{ID: int64(step + 1), Time: now, Done: now, User: "cat", Target: upstream,
			Title: fmt.Sprintf("Record %d", step), OCLCNumber: strconv.Itoa(step), Record: sampleRecord(), Outcome: exportlog.OutcomeAdded}
		if !script[step] {
			a.Outcome, a.Class, a.Cause, a.Reply = exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseUpstreamDown, "no answer"
		}
		if err := eng.ObserveAttempt(ctx, a); err != nil {
			return err
		}
		if err := eng.Tick(ctx, now); err != nil {
			return err
		}
		if _, err := disp.RunDue(ctx, now); err != nil {
			return err
		}
		if err := writeSync(stepFile, strconv.Itoa(step+1)); err != nil {
			return err
		}
	}
	for range 3 {
		now := clock.Now().Add(time.Minute)
		clock.t = now
		if err := eng.Tick(ctx, now); err != nil {
			return err
		}
		if _, err := disp.RunDue(ctx, now); err != nil {
			return err
		}
	}
	return d.Close()
}

func writeSync(path, s string) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("kills and restarts a child process many times")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	crashes := 0
	for run := 0; ; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if run < 15 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("child failed: %v\n%s", err, stderr.String())
				}
				goto finished
			case <-time.After(time.Duration(10+rnd.IntN(200)) * time.Millisecond):
			}
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err == nil {
				goto finished // it finished just before the kill
			}
			crashes++
			continue
		}
		if err := <-done; err != nil {
			t.Fatalf("child failed: %v\n%s", err, stderr.String())
		}
		break
	}
finished:
	t.Logf("%d crashes", crashes)
	checkCrashResult(t, dir, crashes)
}

func checkCrashResult(t *testing.T, dir string, crashes int) {
	ctx := context.Background()
	f, err := os.Open(filepath.Join(dir, "deliveries"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	count := map[string]int{}
	first := map[string]int{}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k := sc.Text()
		if _, ok := first[k]; !ok {
			first[k] = len(lines)
		}
		count[k]++
		lines = append(lines, k)
	}
	d, err := db.Open(filepath.Join(dir, "bot.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := sqlite.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.Outbox(ctx, sqlite.OutboxFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, n := range all {
		if n.State != incidents.DeliverySent {
			t.Errorf("%s is %s", n.Key, n.State)
		}
		if count[n.Key] == 0 {
			t.Errorf("%s was never delivered", n.Key)
		}
		dups += count[n.Key] - 1
	}
	if len(count) != len(all) {
		t.Errorf("delivered %d distinct keys, the outbox has %d", len(count), len(all))
	}
	if dups > crashes {
		t.Errorf("%d duplicate deliveries after %d crashes: at most one per crash", dups, crashes)
	}
	list, err := st.List(ctx, sqlite.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State != incidents.StateSolved || list[0].Reopens != 0 {
		t.Fatalf("incidents: %d (want exactly one, solved, never reopened)", len(list))
	}
	id := list[0].ID
	for _, ch := range []string{"listserv", "slack"} {
		var alerts, solved []string
		for k := range count {
			if strings.HasSuffix(k, "/"+ch) && strings.HasPrefix(k, id+"/alert/") {
				alerts = append(alerts, k)
			}
			if strings.HasSuffix(k, "/"+ch) && strings.HasPrefix(k, id+"/solved/") {
				solved = append(solved, k)
			}
		}
		if len(alerts) != 1 || len(solved) != 1 {
			t.Fatalf("%s: alerts %v solved %v: the incident must be announced once and solved once", ch, alerts, solved)
		}
		if first[alerts[0]] > first[solved[0]] {
			t.Errorf("%s: SOLVED delivered before its ALERT", ch)
		}
	}
	t.Logf("%d deliveries of %d notifications, %d duplicates", len(lines), len(all), dups)
}
