package catalog

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/marc"
)

var benchWords = []string{"whaling", "history", "Müller", "café", "society", "voyages", "Łódź", "river", "economics",
	"garden", "poems", "letters", "war", "peace", "children", "music", "Zürich", "science", "náutica", "journal"}

// benchBib returns the i-th record of a synthetic catalog with varied
// words.
func benchBib(i int, rng *rand.Rand) bib {
	w := func() string { return benchWords[rng.IntN(len(benchWords))] }
	return bib{
		oclc:     fmt.Sprintf("ocm%08d", 1_000_000+i),
		author:   fmt.Sprintf("%s, Author%d", w(), i%5000),
		title:    fmt.Sprintf("The %s of %s and %s, volume %d", w(), w(), w(), i),
		subjects: []string{w() + " " + w(), w()},
		holdings: []string{"HVDA"},
	}
}

// benchCatalog returns a catalog of n records on a database with
// synchronous=NORMAL (loading speed is not what is measured).
func benchCatalog(b *testing.B, n int) *Catalog {
	b.Helper()
	d, err := db.Open(filepath.Join(b.TempDir(), "bench.db"), db.Options{Synchronous: db.SyncNormal})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	c, err := Open(ctx, d, Options{LibraryCode: "HVD01"})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 500
	for start := 0; start < n; start += batch {
		ps := make([]*Prepared, 0, batch)
		for i := start; i < min(n, start+batch); i++ {
			ps = append(ps, prepare(b, c, benchBib(i, rng).input()))
		}
		if err := c.Write(ctx, func(tx *Txn) error {
			for _, p := range ps {
				if _, err := tx.Insert(ctx, p); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkTxnInsert measures the catalog's own cost of storing a record
// (row, version, OCLC numbers, words), 32 records per transaction as the
// database's group commit batches them, without the commit's fsync. It
// bounds what the single writer can store per second.
func BenchmarkTxnInsert(b *testing.B) {
	c := benchCatalog(b, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	ps := make([]*Prepared, b.N)
	for i := range ps {
		ps[i] = prepare(b, c, benchBib(i, rng).input())
	}
	b.ResetTimer()
	for start := 0; start < b.N; start += 32 {
		if err := c.Write(ctx, func(tx *Txn) error {
			for _, p := range ps[start:min(b.N, start+32)] {
				if _, err := tx.Insert(ctx, p); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepare measures encoding and index extraction, done by each
// export's goroutine outside the write transaction.
func BenchmarkPrepare(b *testing.B) {
	c := benchCatalog(b, 0)
	r := benchBib(1, rand.New(rand.NewPCG(5, 6))).record()
	r.AddField(marc.Field{Tag: "700", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "Roe, John."}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Prepare(Input{Record: r}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearch measures search latency on a catalog of 50,000
// records: each op is one search as a cataloger types it.
func BenchmarkSearch(b *testing.B) {
	c := benchCatalog(b, 50_000)
	for _, q := range []string{
		"muller",                 // common author word: many hits, ranked
		"whaling society volume", // several words
		"author:author4242",      // one author
		`"history of war"`,       // phrase
		"zur*",                   // prefix
		"ocm01004242",            // OCLC number
		"HVD01 000004242",        // system number
		"1004242",                // bare digits: OCLC, system number and words
	} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				hits, err := c.Search(ctx, q, DefaultSearchLimit)
				if err != nil || len(hits) == 0 {
					b.Fatalf("Search(%q) = %d hits, %v", q, len(hits), err)
				}
			}
		})
	}
	b.Run("findable", func(b *testing.B) {
		e, err := c.Get(ctx, 4242)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			ok, err := c.Findable(ctx, "000004242", e.Title)
			if err != nil || !ok {
				b.Fatalf("Findable = %v, %v", ok, err)
			}
		}
	})
}
