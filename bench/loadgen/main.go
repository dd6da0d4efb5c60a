// Command loadgen measures a Connexion Gateway listener the way catalogers
// load it: many Connexion clients exporting at once, each export one
// record on its own connection (connect, send the request, read the reply
// up to its NUL, close).
//
// Usage:
//
//	loadgen -to 127.0.0.1:5500 [-conns 32] [-n 20000] [-warmup 1000]
//	        [-user NAME -password-file FILE] [-expect REGEXP] [-first N]
//	        [-timeout 30s] [-client epoll|raw|gateway]
//
// The load generator runs on the machine of the daemon it measures, so
// the CPU it uses is taken from the daemon. -client chooses how it sends:
//
//   - epoll (the default, Linux): one goroutine runs every connection
//     with non-blocking socket system calls made directly and an epoll
//     instance of its own, and sleeps only when no connection is ready.
//     The leanest: no goroutine, timer or thread wake-up per export.
//   - raw (Linux): each of the -conns connections is a goroutine locked
//     to its own OS thread making blocking socket system calls, bounded
//     by SO_SNDTIMEO and SO_RCVTIMEO. Less user CPU than gateway, but
//     one thread wakes per reply and the Go runtime hands its Ps between
//     the threads blocked in system calls, which costs more system CPU.
//   - gateway: gateway.Client, the production client, one goroutine per
//     connection on Go's netpoller.
//
// Elsewhere than on Linux, epoll and raw fall back to gateway, with a
// note on the standard error. All three send the same bytes
// (gateway.AppendRequest), read the reply up to its NUL, bound each
// export by -timeout and count failures the same way.
//
// Every record is generated in-process with the marc package: a realistic
// OCLC monograph record (001 ocn, 003, 005, 008, 020, 035, 040, 049, 100,
// 245, 264, 300, 504, 650s) with its own OCLC number, so that none is a
// repeat of another and each is added as a new catalog record. The first
// -warmup exports are sent at the same concurrency and not measured.
//
// It prints the export rate, the reply latency (from dialling to the
// reply's NUL) at p50/p90/p99/max, and the errors: a transport failure,
// or a reply that does not match -expect (by default the embedded
// catalog's "Added to the catalog" reply), counts as one. The last line is
// machine-readable ("RESULT key=value ..."). Where the system reports it,
// the load generator's own CPU time during the measured exports is
// printed too: on the daemon's machine it is CPU the daemon did not get.
// The exit status is 1 when any measured export failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oclcbot/oclcbot/marc"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	to       string
	conns    int
	n        int
	warmup   int
	user     string
	password string
	expect   *regexp.Regexp
	first    int64
	timeout  time.Duration
	client   string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "the listener's host:port (required)")
	conns := fs.Int("conns", 32, "concurrent Connexion clients")
	n := fs.Int("n", 20000, "exports to measure")
	warmup := fs.Int("warmup", 1000, "exports sent first and not measured")
	user := fs.String("user", "", "Login ID (U field); empty sends none")
	pwFile := fs.String("password-file", "", "file whose first line is the password (P field)")
	expect := fs.String("expect", `^(Record \d+ of \d+: )?Added to the catalog as system number`,
		"regular expression every reply must match; anything else is an error")
	first := fs.Int64("first", 0, "OCLC number of the first record (0: derived from the clock, so that runs do not repeat each other)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on one export")
	clientName := fs.String("client", clientEpoll, `how to send: "epoll" (non-blocking system calls, one thread and one epoll for all connections; Linux), "raw" (blocking system calls, one OS thread per connection; Linux) or "gateway" (gateway.Client)`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen -to HOST:PORT [-conns 32] [-n 20000] [-warmup 1000] [-client epoll|raw|gateway] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *to == "" || *conns < 1 || *n < 1 || *warmup < 0 || fs.NArg() > 0 ||
		*clientName != clientRaw && *clientName != clientEpoll && *clientName != clientGateway {
		fs.Usage()
		return 2
	}
	re, err := regexp.Compile(*expect)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: -expect: %v\n", err)
		return 2
	}
	o := options{to: *to, conns: *conns, n: *n, warmup: *warmup, user: *user, expect: re, first: *first, timeout: *timeout, client: *clientName}
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		o.password, _, _ = strings.Cut(string(b), "\n")
		o.password = strings.TrimSuffix(o.password, "\r")
	}
	if o.first == 0 {
		// Ten-digit OCLC numbers (the "on" range), a new block of a
		// million per second, so repeated runs against one catalog add.
		o.first = 1_000_000_000 + (time.Now().Unix()%8_000)*1_000_000
	}
	c, note, err := newClient(o)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if note != "" {
		fmt.Fprintf(stderr, "loadgen: %s\n", note)
	}
	res, err := load(context.Background(), c, o)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	res.print(stdout, c, o)
	if res.errors() > 0 {
		return 1
	}
	return 0
}

// result is one measured run.
type result struct {
	elapsed    time.Duration
	cpuUser    time.Duration // this process's CPU during the phase
	cpuSys     time.Duration
	cpuOK      bool            // the platform reports CPU time
	lat        []time.Duration // sorted, successful and failed exports alike
	transport  int64           // exports with no complete reply
	unexpected int64           // replies that did not match -expect
	samples    []string        // a few error texts, for the reader
}

func (r *result) errors() int64 { return r.transport + r.unexpected }

// load builds the records, runs the warm-up and then the measured exports.
func load(ctx context.Context, c *client, o options) (*result, error) {
	total := o.warmup + o.n
	recs := make([][]byte, total)
	for i := range recs {
		b, err := makeRecord(o.first + int64(i))
		if err != nil {
			return nil, err
		}
		recs[i] = b
	}
	if o.warmup > 0 {
		w := phase(ctx, c, o, recs[:o.warmup])
		if w.errors() == int64(o.warmup) {
			return nil, fmt.Errorf("every warm-up export failed, e.g. %s", w.samples[0])
		}
	}
	return phase(ctx, c, o, recs[o.warmup:]), nil
}

// phase sends recs over o.conns concurrent connections of c and
// measures them.
func phase(ctx context.Context, c *client, o options, recs [][]byte) *result {
	res := &result{lat: make([]time.Duration, len(recs))}
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		if len(res.samples) < 5 {
			res.samples = append(res.samples, s)
		}
		mu.Unlock()
	}
	var transport, unexpected atomic.Int64
	done := func(i int, latency time.Duration, reply []byte, err error) {
		res.lat[i] = latency
		switch {
		case err != nil:
			transport.Add(1)
			note(err.Error())
		case !o.expect.Match(reply):
			unexpected.Add(1)
			note(fmt.Sprintf("unexpected reply: %.200q", reply))
		}
	}
	user0, sys0, cpuOK := processCPU()
	start := time.Now()
	c.run(ctx, recs, min(o.conns, len(recs)), done)
	res.elapsed = time.Since(start)
	if user1, sys1, ok := processCPU(); cpuOK && ok {
		res.cpuUser, res.cpuSys, res.cpuOK = user1-user0, sys1-sys0, true
	}
	res.transport, res.unexpected = transport.Load(), unexpected.Load()
	slices.Sort(res.lat)
	return res
}

// pct returns the p-th percentile (nearest rank) of the sorted latencies.
func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p/100*float64(len(r.lat))+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func (r *result) print(w io.Writer, c *client, o options) {
	n := len(r.lat)
	rate := float64(n) / r.elapsed.Seconds()
	fmt.Fprintf(w, "loadgen: %d exports (after %d warm-up) over %d concurrent connections to %s, one record per connection, client=%s\n",
		n, o.warmup, o.conns, o.to, c.name)
	fmt.Fprintf(w, "  exports/s      %.0f   (%d in %.2f s)\n", rate, n, r.elapsed.Seconds())
	fmt.Fprintf(w, "  reply latency  p50 %s ms   p90 %s ms   p99 %s ms   max %s ms\n",
		ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.lat[n-1]))
	fmt.Fprintf(w, "  errors         %d (%d without a reply, %d unexpected replies)\n", r.errors(), r.transport, r.unexpected)
	for _, s := range r.samples {
		fmt.Fprintf(w, "    e.g. %s\n", s)
	}
	cpu := ""
	if r.cpuOK {
		perExport := float64(r.cpuUser+r.cpuSys) / float64(time.Millisecond) / float64(n)
		fmt.Fprintf(w, "  loadgen CPU    user %.2f s + system %.2f s = %.4f ms per export (CPU the daemon did not get)\n",
			r.cpuUser.Seconds(), r.cpuSys.Seconds(), perExport)
		cpu = fmt.Sprintf(" cpu_user_s=%.2f cpu_sys_s=%.2f cpu_ms_per_export=%.4f", r.cpuUser.Seconds(), r.cpuSys.Seconds(), perExport)
	}
	fmt.Fprintf(w, "RESULT client=%s conns=%d n=%d exports_per_s=%.0f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s errors=%d ok=%d%s\n",
		c.name, o.conns, n, rate, ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.lat[n-1]), r.errors(), int64(n)-r.errors(), cpu)
}

// makeRecord builds a UTF-8 OCLC monograph record whose OCLC number is
// oclc, encoded as ISO 2709.
func makeRecord(oclc int64) ([]byte, error) {
	r := marc.NewRecord()
	num := fmt.Sprint(oclc)
	prefix := "ocm"
	switch {
	case len(num) >= 10:
		prefix = "on"
	case len(num) == 9:
		prefix = "ocn"
	}
	for len(num) < 8 {
		num = "0" + num
	}
	year := 1950 + int(oclc%75)
	sf := func(kv ...string) []marc.Subfield {
		out := make([]marc.Subfield, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, marc.Subfield{Code: kv[i][0], Value: kv[i+1]})
		}
		return out
	}
	data := func(tag string, i1, i2 byte, kv ...string) marc.Field {
		return marc.Field{Tag: tag, Ind1: i1, Ind2: i2, Subfields: sf(kv...)}
	}
	topics := []string{"Cataloging", "Libraries", "Metadata", "Bibliographic databases", "Information retrieval", "Archives"}
	t1, t2 := topics[oclc%6], topics[(oclc/6)%6]
	r.Fields = []marc.Field{
		{Tag: "001", Value: prefix + num},
		{Tag: "003", Value: "OCoLC"},
		{Tag: "005", Value: "20260302104200.0"},
		{Tag: "008", Value: "260302s" + fmt.Sprint(year) + "    nyua     b    001 0 eng d"},
		data("020", ' ', ' ', "a", fmt.Sprintf("978%010d", oclc%10_000_000_000), "q", "(hardcover)"),
		data("035", ' ', ' ', "a", "(OCoLC)"+fmt.Sprint(oclc)),
		data("040", ' ', ' ', "a", "DLC", "b", "eng", "e", "rda", "c", "DLC", "d", "OCLCO", "d", "OCLCF"),
		data("049", ' ', ' ', "a", "HVDA"),
		data("100", '1', ' ', "a", fmt.Sprintf("Müller, Jürgen %d,", oclc%1000), "e", "author."),
		data("245", '1', '0', "a", fmt.Sprintf("Benchmark studies in cataloguing, volume %d :", oclc), "b", "a practical guide for libraries /", "c", "Jürgen Müller."),
		data("264", ' ', '1', "a", "New York :", "b", "Library Press,", "c", fmt.Sprintf("[%d]", year)),
		data("300", ' ', ' ', "a", "xii, 342 pages :", "b", "illustrations ;", "c", "24 cm"),
		data("336", ' ', ' ', "a", "text", "b", "txt", "2", "rdacontent"),
		data("504", ' ', ' ', "a", "Includes bibliographical references (pages 301-335) and index."),
		data("650", ' ', '0', "a", t1, "x", "Data processing."),
		data("650", ' ', '0', "a", t2, "z", "United States", "v", "Handbooks, manuals, etc."),
	}
	b, err := marc.Encode(r)
	if err != nil {
		return nil, fmt.Errorf("build record %d: %w", oclc, err)
	}
	return b, nil
}
