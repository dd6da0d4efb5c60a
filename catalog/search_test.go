package catalog

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/oclcbot/oclcbot/marc"
)

// searchFixture is a small catalog with the spellings catalogers' records
// really carry: precomposed and decomposed (converted from MARC-8)
// diacritics, letters with strokes, ALA-LC modifier letters and
// vernacular 880 fields.
type searchFixture struct {
	c                                             *Catalog
	muller, cafe, lodz, quran, orwell, num, tolst SystemNumber
}

func newSearchFixture(tb testing.TB) *searchFixture {
	tb.Helper()
	c, clk := mustOpen(tb, Options{LibraryCode: "HVD01"})
	f := &searchFixture{c: c}
	step := func() { clk.Advance(time.Second) }
	f.muller = insert(tb, c, bib{oclc: "ocm00000101", author: "Müller, Johann", title: "Geschichte der Stadt Wien", subjects: []string{"Cafés", "Vienna (Austria)"}})
	step()
	f.cafe = insert(tb, c, bib{oclc: "ocm00000102", author: "Mu\u0308ller, Anna", title: "Cafe\u0301 society"})
	step()
	f.lodz = insert(tb, c, bib{oclc: "ocm00000103", author: "Wałęsa, Lech", title: "Łódź w XX wieku", subjects: []string{"Ørsted, Hans Christian"}})
	step()
	f.quran = insert(tb, c, bib{oclc: "ocm00000104", author: "Ṭabarī", title: "Tafsīr al-Qurʼān"})
	step()
	f.orwell = insert(tb, c, bib{oclc: "ocm00000105", author: "Orwell, George", title: "1984"})
	step()
	f.num = insert(tb, c, bib{oclc: "ocm00001984", author: "Smith, Ann", title: "Statistics of whaling", subjects: []string{"Society"}})
	step()
	r := bib{oclc: "ocm00000107", author: "Tolstoy, Leo", title: "Voĭna i mir"}.record()
	r.Field("100").Subfields = append([]marc.Subfield{{Code: '6', Value: "880-01"}}, r.Field("100").Subfields...)
	r.AddField(marc.Field{Tag: "880", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: '6', Value: "100-01/(N"}, {Code: 'a', Value: "Толстой, Лев"}}})
	r.AddField(marc.Field{Tag: "880", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: '6', Value: "245-02/(N"}, {Code: 'a', Value: "Война и мир"}}})
	p := prepare(tb, c, Input{Record: r})
	if err := c.Write(ctx, func(tx *Txn) error { var err error; f.tolst, err = tx.Insert(ctx, p); return err }); err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestSearchIgnoresCaseAndDiacritics(t *testing.T) {
	f := newSearchFixture(t)
	for q, want := range map[string][]SystemNumber{
		"muller":                 {f.cafe, f.muller}, // newer first among equals
		"Müller":                 {f.cafe, f.muller},
		"MULLER":                 {f.cafe, f.muller},
		"cafe":                   {f.cafe},
		"Café":                   {f.cafe},
		"cafe*":                  {f.cafe, f.muller}, // title before subject
		"cafes":                  {f.muller},
		"lodz":                   {f.lodz},
		"Łódź":                   {f.lodz},
		"walesa":                 {f.lodz},
		"orsted":                 {f.lodz},
		"quran":                  {f.quran},
		"tafsir al-quran":        {f.quran},
		"tabari":                 {f.quran},
		"voina mir":              {f.tolst},
		"Война":                  {f.tolst},
		"толстой":                {f.tolst},
		"author:muller":          {f.cafe, f.muller},
		"title:muller":           nil,
		"subject:cafes":          {f.muller},
		"su:vienna":              {f.muller},
		"ti:society":             {f.cafe},
		"society":                {f.cafe, f.num}, // title weighs more than subject
		`"cafe society"`:         {f.cafe},
		`"society cafe"`:         nil,
		"soc*":                   {f.cafe, f.num},
		"muller wien":            {f.muller},
		"muller nonexistent":     nil,
		"Geschichte der Stadt":   {f.muller},
		"HVD01 000000003":        {f.lodz},
		"(HVD01)3":               {f.lodz},
		"hvd01-000000003":        {f.lodz},
		"ocm00000103":            {f.lodz},
		"(OCoLC)103":             {f.lodz},
		"(OCoLC) 103":            {f.lodz},
		"1984":                   {f.num, f.orwell}, // OCLC number, then the title
		"5":                      {f.orwell},        // system number 5
		"103":                    {f.lodz},          // OCLC number 103
		"HVD01 000000999":        nil,
		"on1234567890":           nil,
		`unbalanced "quote`:      nil,
		"muller OR wien":         nil, // words, not operators: "or" is not in the record
		"NEAR(muller wien)":      nil, // words, not operators: "near" is not in the record
		"-muller":                {f.cafe, f.muller},
		"^muller +wien":          {f.muller},
		"muller: wien":           {f.muller},
		"author:\"muller anna\"": {f.cafe},
		"author:\"anna muller\"": nil,
		"author:\"anna\"":        {f.cafe},
	} {
		hits, err := f.c.Search(ctx, q, 0)
		if err != nil {
			t.Errorf("Search(%q): %v", q, err)
			continue
		}
		if got := hitNumbers(hits); !slices.Equal(got, want) {
			t.Errorf("Search(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestSearchSaysWhyItMatched(t *testing.T) {
	f := newSearchFixture(t)
	hits, err := f.c.Search(ctx, "1984", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].Match != MatchOCLCNumber || hits[1].Match != MatchText {
		t.Errorf("hits = %+v", hits)
	}
	hits, _ = f.c.Search(ctx, "HVD01 000000003", 0)
	if len(hits) != 1 || hits[0].Match != MatchSystemNumber || hits[0].Title != "Łódź w XX wieku" {
		t.Errorf("hits = %+v", hits)
	}
}

func TestSearchPutsDeletedLastAndLimits(t *testing.T) {
	c, clk := mustOpen(t, Options{})
	var all []SystemNumber
	for range 5 {
		all = append(all, insert(t, c, bib{oclc: "ocm00000042", title: "Whaling voyages"}))
		clk.Advance(time.Second)
	}
	if err := c.Write(ctx, func(tx *Txn) error { _, err := tx.MarkDeleted(ctx, all[4], Source{}); return err }); err != nil {
		t.Fatal(err)
	}
	hits, err := c.Search(ctx, "whaling", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := hitNumbers(hits); len(got) != 5 || got[4] != all[4] || !hits[4].Deleted {
		t.Errorf("text hits = %v, want the deleted %d last", got, all[4])
	}
	hits, _ = c.Search(ctx, "ocm42", 0)
	if got := hitNumbers(hits); len(got) != 5 || got[4] != all[4] {
		t.Errorf("OCLC hits = %v, want the deleted %d last", got, all[4])
	}
	hits, _ = c.Search(ctx, "whaling", 2)
	if len(hits) != 2 {
		t.Errorf("limit 2 gave %d hits", len(hits))
	}
}

func TestSearchEmpty(t *testing.T) {
	c, _ := mustOpen(t, Options{})
	for _, q := range []string{"", "   ", "!!!", `""`, "* *", "ʼ"} {
		if _, err := c.Search(ctx, q, 0); !errors.Is(err, ErrEmptyQuery) {
			t.Errorf("Search(%q): %v, want ErrEmptyQuery", q, err)
		}
	}
}

func TestFindable(t *testing.T) {
	f := newSearchFixture(t)
	for _, tc := range []struct {
		sysno, title string
		want         bool
	}{
		{f.lodz.String(), "Łódź w XX wieku", true},
		{"HVD01 " + f.lodz.String(), "Łódź w XX wieku", true},
		{f.lodz.String(), "Lodz w XX wieku", true},
		{f.muller.String(), "Geschichte der Stadt Wien", true},
		{f.muller.String(), "Łódź w XX wieku", false}, // another record's title
		{"000000999", "Łódź w XX wieku", false},       // no such record
		{f.orwell.String(), "1984", true},
		{f.quran.String(), `Tafsīr "al-Qurʼān"`, true},
		{f.quran.String(), "— ...", true}, // no words: the record exists
		{"000000999", "— ...", false},
	} {
		got, err := f.c.Findable(ctx, tc.sysno, tc.title)
		if err != nil || got != tc.want {
			t.Errorf("Findable(%q, %q) = %v, %v; want %v", tc.sysno, tc.title, got, err, tc.want)
		}
	}
	if _, err := f.c.Findable(ctx, "not a number", "x"); !errors.Is(err, ErrBadSystemNumber) {
		t.Errorf("Findable with a bad system number: %v", err)
	}
}

func FuzzSearch(f *testing.F) {
	for _, s := range []string{"muller", `"cafe society"`, "author:muller", "soc*", "HVD01 000000003", "(OCoLC)103", "1984",
		`unbalanced "quote`, "NEAR(a b)", "a AND b OR NOT c", "{author}: x", "col:*", "\"\"*", "title:\"x", "^x", "a:b:c"} {
		f.Add(s)
	}
	fx := newSearchFixture(f)
	f.Fuzz(func(t *testing.T, q string) {
		hits, err := fx.c.Search(ctx, q, 5)
		if err != nil && !errors.Is(err, ErrEmptyQuery) {
			t.Fatalf("Search(%q): %v", q, err)
		}
		if len(hits) > 5 {
			t.Fatalf("Search(%q) returned %d hits, limit 5", q, len(hits))
		}
		if _, err := fx.c.Findable(ctx, "000000001", q); err != nil {
			t.Fatalf("Findable(title %q): %v", q, err)
		}
	})
}
