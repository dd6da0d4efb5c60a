// Command genmarc writes a file of realistic, deterministic MARC 21
// bibliographic records (ISO 2709) for benchmarks:
//
//	go run ./bench/genmarc -n 100000 -marc8 > records.mrc
//
// Records look like OCLC exports: 001 ocm/ocn numbers with 003 OCoLC,
// 005, 008, 020, 035, 040, 1XX, 245, 250, 264, 300, 336-338, 490, 5XX,
// 6XX, 7XX and, for some, 880 fields in Cyrillic, Greek, Hebrew, Arabic or
// Chinese. Names and titles carry diacritics. With -marc8 the records are
// in MARC-8 (leader/09 blank, combining marks before their base, escape
// sequences for other scripts), except for a share (-utf8-share) left in
// UTF-8 as in real mixed files; without it every record is UTF-8. The
// same flags always produce the same bytes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/oclcbot/oclcbot/marc"
)

func main() {
	n := flag.Int("n", 100000, "number of records")
	marc8 := flag.Bool("marc8", false, "write records in MARC-8 (leader/09 blank)")
	utf8Share := flag.Float64("utf8-share", 0.05, "with -marc8, the share of records left in UTF-8")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := generate(*n, *marc8, *utf8Share, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genmarc:", err)
		os.Exit(1)
	}
}

func generate(n int, marc8 bool, utf8Share float64, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var buf []byte
	for i := range n {
		r := record(rng, i)
		if marc8 && rng.Float64() >= utf8Share {
			m, err := marc.ToMARC8(r)
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
			r = m
		}
		var err error
		if buf, err = marc.AppendEncode(buf[:0], r); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}

var (
	surnames = []string{
		"Dvořák", "Müller", "Gómez", "Nguyễn", "Łukasiewicz", "Søndergaard", "Çelik", "Ibáñez",
		"Smith", "Johnson", "O'Brien", "García Márquez", "Björk", "Zoë", "Šimůnek", "Öztürk",
		"Brontë", "Lefèvre", "Dąbrowska", "Håkansson", "Ferreira", "Kovačević", "Ångström", "Weiß",
	}
	forenames = []string{
		"Antonín", "José", "Zoë", "Renée", "François", "Jürgen", "Đorđe", "Ana María",
		"Mary", "John", "Þóra", "Łucja", "Søren", "İsmail", "Chloé", "Ramón",
	}
	titleWords = []string{
		"history", "music", "cathedral", "café", "naïve", "art", "politics", "économie",
		"children", "rivers", "Málaga", "Kraków", "São Paulo", "Zürich", "poetry", "science",
		"kingdom", "revolution", "Österreich", "garden", "letters", "déjà vu", "theory", "island",
	}
	subjects = []string{
		"Music -- History and criticism", "Cathedrals -- Spain -- Málaga", "Economic history",
		"Poets, Czech -- 19th century -- Biography", "Cookery, Vietnamese", "Mathematics -- Study and teaching",
		"Women -- Employment -- Poland", "Folk songs, Hungarian", "Architecture, Gothic", "Climatic changes",
	}
	places    = []string{"Praha", "Madrid", "Kraków", "København", "Zürich", "New York", "Montréal", "Hà Nội", "São Paulo", "İstanbul"}
	publisher = []string{"Gyldendal", "Éditions du Seuil", "Státní nakladatelství", "Penguin Books", "Wydawnictwo Literackie", "Alfaguara", "Suhrkamp"}
	scripts   = []struct{ code, title, name string }{
		{"(N", "Война и мир", "Толстой, Лев Николаевич"},
		{"(S", "Ἀθῆναι καὶ Σπάρτη", "Παπαδόπουλος, Γιώργος"},
		{"(2/r", "שָׁלוֹם עֲלֵיכֶם", "עגנון, ש. י."},
		{"(3/r", "الكتاب العربي", "محفوظ، نجيب"},
		{"$1", "中國文學史", "魯迅"},
	}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func data(tag string, ind string, subs ...string) marc.Field {
	f := marc.Field{Tag: tag, Ind1: ind[0], Ind2: ind[1]}
	for i := 0; i+1 < len(subs); i += 2 {
		f.Subfields = append(f.Subfields, marc.Subfield{Code: subs[i][0], Value: subs[i+1]})
	}
	return f
}

func title(rng *rand.Rand) string {
	n := 2 + rng.IntN(6)
	words := make([]string, n)
	for i := range words {
		words[i] = pick(rng, titleWords)
	}
	t := []rune(strings.Join(words, " "))
	t[0] = unicode.ToUpper(t[0])
	return string(t)
}

// record returns the i-th record, in UTF-8.
func record(rng *rand.Rand, i int) *marc.Record {
	r := marc.NewRecord()
	copy(r.Leader[:], "00000cam a2200000 i 4500")
	oclc := 10000000 + i*7 + rng.IntN(7)
	prefix := "ocm"
	if oclc >= 10000000+350000 {
		prefix = "ocn"
	}
	year := 1850 + rng.IntN(175)
	name := pick(rng, surnames) + ", " + pick(rng, forenames)
	t := title(rng)
	place := pick(rng, places)
	r.Fields = append(r.Fields,
		marc.Field{Tag: "001", Value: prefix + strconv.Itoa(oclc)},
		marc.Field{Tag: "003", Value: "OCoLC"},
		marc.Field{Tag: "005", Value: fmt.Sprintf("2024%02d%02d%02d%02d%02d.0", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))},
		marc.Field{Tag: "008", Value: fmt.Sprintf("%02d%02d%02ds%d    xx a          000 1 eng d", rng.IntN(100), 1+rng.IntN(12), 1+rng.IntN(28), year)},
	)
	if rng.IntN(3) > 0 {
		r.Fields = append(r.Fields, data("020", "  ", "a", fmt.Sprintf("978%010d", rng.Int64N(1e10)), "q", "(paperback)"))
	}
	r.Fields = append(r.Fields,
		data("035", "  ", "a", "(OCoLC)"+strconv.Itoa(oclc)),
		data("040", "  ", "a", "DLC", "b", "eng", "e", "rda", "c", "DLC", "d", "OCLCQ"),
		data("100", "1 ", "a", name+",", "d", fmt.Sprintf("%d-%d.", year-60, year-5), "e", "author."),
	)
	script := rng.IntN(6) == 0
	if script {
		r.Fields = append(r.Fields, data("245", "10", "6", "880-01", "a", t+" /", "c", name+"."))
	} else {
		r.Fields = append(r.Fields, data("245", "10", "a", t+" :", "b", title(rng)+" /", "c", "by "+name+"."))
	}
	r.Fields = append(r.Fields,
		data("250", "  ", "a", strconv.Itoa(1+rng.IntN(5))+". vydání."),
		data("264", " 1", "a", place+" :", "b", pick(rng, publisher)+",", "c", "["+strconv.Itoa(year)+"]"),
		data("300", "  ", "a", strconv.Itoa(50+rng.IntN(900))+" pages :", "b", "illustrations ;", "c", "24 cm"),
		data("336", "  ", "a", "text", "b", "txt", "2", "rdacontent"),
		data("337", "  ", "a", "unmediated", "b", "n", "2", "rdamedia"),
		data("338", "  ", "a", "volume", "b", "nc", "2", "rdacarrier"),
	)
	if rng.IntN(4) == 0 {
		r.Fields = append(r.Fields, data("490", "1 ", "a", "Série "+title(rng)+" ;", "v", strconv.Itoa(rng.IntN(99))))
	}
	r.Fields = append(r.Fields, data("504", "  ", "a", "Includes bibliographical references (pages 301-315) and index."))
	if rng.IntN(2) == 0 {
		r.Fields = append(r.Fields, data("520", "  ", "a", "A study of "+strings.ToLower(title(rng))+" in "+place+", with notes on "+strings.ToLower(title(rng))+" and the "+strings.ToLower(title(rng))+"."))
	}
	for range 1 + rng.IntN(4) {
		parts := strings.Split(pick(rng, subjects), " -- ")
		subs := []string{"a", parts[0]}
		for _, p := range parts[1:] {
			subs = append(subs, "x", p)
		}
		r.Fields = append(r.Fields, data("650", " 0", subs...))
	}
	for range rng.IntN(3) {
		r.Fields = append(r.Fields, data("700", "1 ", "a", pick(rng, surnames)+", "+pick(rng, forenames)+",", "e", "editor."))
	}
	if script {
		s := pick(rng, scripts)
		r.Fields = append(r.Fields,
			data("880", "10", "6", "245-01/"+s.code, "a", s.title+" /", "c", s.name+"."),
			data("880", "1 ", "6", "100-02/"+s.code, "a", s.name))
	}
	return r
}
