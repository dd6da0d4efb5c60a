// Command loadgen measures a Connexion Gateway listener the way catalogers
// load it: many Connexion clients exporting at once, each export one
// record on its own connection (connect, send the request, read the reply
// up to its NUL, close), through gateway.Client.
//
// Usage:
//
//	loadgen -to 127.0.0.1:5500 [-conns 32] [-n 20000] [-warmup 1000]
//	        [-user NAME -password-file FILE] [-expect REGEXP] [-first N]
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
// machine-readable ("RESULT key=value ..."). The exit status is 1 when any
// measured export failed.
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

	"github.com/oclcbot/oclcbot/gateway"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen -to HOST:PORT [-conns 32] [-n 20000] [-warmup 1000] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *to == "" || *conns < 1 || *n < 1 || *warmup < 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	re, err := regexp.Compile(*expect)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: -expect: %v\n", err)
		return 2
	}
	o := options{to: *to, conns: *conns, n: *n, warmup: *warmup, user: *user, expect: re, first: *first, timeout: *timeout}
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
	res, err := load(context.Background(), o)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	res.print(stdout, o)
	if res.errors() > 0 {
		return 1
	}
	return 0
}

// result is one measured run.
type result struct {
	elapsed    time.Duration
	lat        []time.Duration // sorted, successful and failed exports alike
	transport  int64           // exports with no complete reply
	unexpected int64           // replies that did not match -expect
	samples    []string        // a few error texts, for the reader
}

func (r *result) errors() int64 { return r.transport + r.unexpected }

// load builds the records, runs the warm-up and then the measured exports.
func load(ctx context.Context, o options) (*result, error) {
	total := o.warmup + o.n
	recs := make([][]byte, total)
	for i := range recs {
		b, err := makeRecord(o.first + int64(i))
		if err != nil {
			return nil, err
		}
		recs[i] = b
	}
	c := &gateway.Client{Addr: o.to, Timeout: o.timeout}
	if o.warmup > 0 {
		w := phase(ctx, c, o, recs[:o.warmup])
		if w.errors() == int64(o.warmup) {
			return nil, fmt.Errorf("every warm-up export failed, e.g. %s", w.samples[0])
		}
	}
	return phase(ctx, c, o, recs[o.warmup:]), nil
}

// phase sends recs over o.conns concurrent clients and measures them.
func phase(ctx context.Context, c *gateway.Client, o options, recs [][]byte) *result {
	res := &result{lat: make([]time.Duration, len(recs))}
	var next atomic.Int64
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		if len(res.samples) < 5 {
			res.samples = append(res.samples, s)
		}
		mu.Unlock()
	}
	var transport, unexpected atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(o.conns, len(recs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(recs) {
					return
				}
				t0 := time.Now()
				reply, err := c.Export(ctx, o.user, o.password, recs[i])
				res.lat[i] = time.Since(t0)
				switch {
				case err != nil:
					transport.Add(1)
					note(err.Error())
				case !o.expect.MatchString(reply):
					unexpected.Add(1)
					note(fmt.Sprintf("unexpected reply: %.200q", reply))
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
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

func (r *result) print(w io.Writer, o options) {
	n := len(r.lat)
	rate := float64(n) / r.elapsed.Seconds()
	fmt.Fprintf(w, "loadgen: %d exports (after %d warm-up) over %d concurrent connections to %s, one record per connection\n",
		n, o.warmup, o.conns, o.to)
	fmt.Fprintf(w, "  exports/s      %.0f   (%d in %.2f s)\n", rate, n, r.elapsed.Seconds())
	fmt.Fprintf(w, "  reply latency  p50 %s ms   p90 %s ms   p99 %s ms   max %s ms\n",
		ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.lat[n-1]))
	fmt.Fprintf(w, "  errors         %d (%d without a reply, %d unexpected replies)\n", r.errors(), r.transport, r.unexpected)
	for _, s := range r.samples {
		fmt.Fprintf(w, "    e.g. %s\n", s)
	}
	fmt.Fprintf(w, "RESULT conns=%d n=%d exports_per_s=%.0f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s errors=%d ok=%d\n",
		o.conns, n, rate, ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.lat[n-1]), r.errors(), int64(n)-r.errors())
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
