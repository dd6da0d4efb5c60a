package marc

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test corpus is generated here, deterministically, and committed
// under testdata/ so that other tools (yaz-marcdump, MarcEdit, pymarc) can
// be pointed at the same files. Regenerate with
//
//	go test ./marc -run TestCorpusFiles -update
//
// which also records yaz-marcdump's output for the corpus as golden files.

var update = flag.Bool("update", false, "rewrite testdata/ corpus and golden files (golden files need yaz-marcdump)")

// field helpers for building records in tests.
func ctl(tag, v string) Field { return Field{Tag: tag, Value: v} }

func dat(tag string, ind string, sub ...string) Field {
	f := Field{Tag: tag, Ind1: ind[0], Ind2: ind[1]}
	for _, s := range sub {
		f.Subfields = append(f.Subfields, Subfield{Code: s[0], Value: s[1:]})
	}
	return f
}

func rec(leader string, fields ...Field) *Record {
	r := &Record{Fields: fields}
	copy(r.Leader[:], leader)
	return r
}

// mustEncode encodes r and sets its leader's computed positions, so that
// the record equals its own decoding.
func mustEncode(tb testing.TB, r *Record) []byte {
	tb.Helper()
	b, err := Encode(r)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	copy(r.Leader[:], b[:LeaderLen])
	return b
}

// corpusRecords returns the hand-designed records of the corpus: the
// shapes catalogers' records take, in the scripts they are written in.
func corpusRecords() []*Record {
	const utf8Leader = "00000cam a2200000 i 4500"
	const marc8Leader = "00000cam  2200000 a 4500"
	rs := []*Record{
		// A typical OCLC record exported from Connexion (MARC-8, ASCII only).
		rec(marc8Leader,
			ctl("001", "ocm12345678 "), ctl("003", "OCoLC"), ctl("005", "20240101120000.0"),
			ctl("008", "850101s1985    nyu           000 0 eng d"),
			dat("010", "  ", "a   85012345 "),
			dat("020", "  ", "a0394535421", "qhardcover", "c$18.95"),
			dat("020", "  ", "a9780394535425"),
			dat("035", "  ", "a(OCoLC)12345678", "z(OCoLC)87654321"),
			dat("040", "  ", "aDLC", "beng", "cDLC", "dOCL"),
			dat("049", "  ", "aHVDA"),
			dat("050", "00", "aPS3552.E5", "bT5 1985"),
			dat("082", "00", "a813/.54", "219"),
			dat("100", "1 ", "aDoe, Jane,", "d1950-"),
			dat("245", "10", "aThe title of the book :", "ba subtitle /", "cJane Doe ; with a foreword by John Roe."),
			dat("250", "  ", "a1st ed."),
			dat("260", "  ", "aNew York :", "bKnopf,", "c1985."),
			dat("300", "  ", "a320 p. ;", "c24 cm."),
			dat("490", "1 ", "aBorzoi books"),
			dat("500", "  ", "aIncludes index."),
			dat("504", "  ", "aBibliography: p. 301-315."),
			dat("650", " 0", "aAmerican fiction", "y20th century."),
			dat("650", " 0", "aWomen", "zNew York (State)", "vFiction."),
			dat("650", " 7", "aFiction.", "2fast", "0(OCoLC)fst00923989"),
			dat("700", "1 ", "aRoe, John."),
			dat("830", " 0", "aBorzoi books."),
		),
		// UTF-8, Latin script with precomposed and combining diacritics.
		rec(utf8Leader,
			ctl("001", "ocn987654321"), ctl("003", "OCoLC"),
			ctl("008", "200101s2020    fr            000 0 fre d"),
			dat("040", "  ", "aFRBNF", "bfre", "erda", "cFRBNF"),
			dat("100", "1 ", "aBrontë, Émilie,", "d1818-1848"),
			dat("245", "10", "aLes hauts de Hurle-Vent /", "cÉmilie Brontë ; traduit par Frédéric Delebecque."),
			dat("246", "3 ", "aHauts de Hurlevent"),
			dat("500", "  ", "aCombining: e\u0301 a\u0300 o\u0308 n\u0303 c\u0327; Ångström, Øresund, Łódź, Dvořák, Ærøskøbing, ß."),
			dat("700", "1 ", "aDelebecque, Frédéric,", "etranslator."),
		),
		// Greek.
		rec(utf8Leader,
			ctl("001", "on1234567890"), ctl("003", "OCoLC"),
			dat("100", "0 ", "aὍμηρος."),
			dat("245", "10", "aἸλιάς /", "cὍμηρος ; ἐπιμέλεια Γ. Παπαδόπουλος."),
			dat("650", " 4", "aΕλληνική λογοτεχνία."),
		),
		// Cyrillic with 880 linkage.
		rec(utf8Leader,
			ctl("001", "ocm00012345"), ctl("003", "OCoLC"),
			dat("100", "1 ", "6880-01", "aTolstoy, Leo,", "graf,", "d1828-1910."),
			dat("245", "10", "6880-02", "aVoĭna i mir /", "cL.N. Tolstoĭ."),
			dat("880", "1 ", "6100-01/(N", "aТолстой, Лев,", "graf,", "d1828-1910."),
			dat("880", "10", "6245-02/(N", "aВойна и мир /", "cЛ.Н. Толстой."),
		),
		// Hebrew (right to left).
		rec(utf8Leader,
			ctl("001", "ocn111111111"), ctl("003", "OCoLC"),
			dat("245", "10", "6880-01", "aSefer ha-Zohar."),
			dat("880", "10", "6245-01/(2/r", "aספר הזהר."),
			dat("500", "  ", "aמהדורה ראשונה, ירושלים תשמ\"ה."),
		),
		// Arabic.
		rec(utf8Leader,
			ctl("001", "ocn222222222"), ctl("003", "OCoLC"),
			dat("245", "10", "6880-01", "aKitāb al-aghānī /", "cAbū al-Faraj al-Iṣbahānī."),
			dat("880", "10", "6245-01/(3/r", "aكتاب الأغاني /", "cأبو الفرج الأصبهاني."),
		),
		// CJK: Chinese, Japanese, Korean.
		rec(utf8Leader,
			ctl("001", "ocn333333333"), ctl("003", "OCoLC"),
			dat("245", "10", "6880-01", "aHong lou meng."),
			dat("880", "10", "6245-01/$1", "a紅樓夢 /", "c曹雪芹著."),
			dat("880", "  ", "6500-02/$1", "a日本語のテキスト、カタカナとひらがな。"),
			dat("880", "  ", "6500-03/$1", "a한국어 텍스트입니다."),
			dat("500", "  ", "aSupplementary planes: 𠀀𠀁 𝄞 😀."),
		),
		// Raw MARC-8 bytes (ANSEL diacritics before their base letters, an
		// escape to Greek and back), left unconverted.
		rec(marc8Leader,
			ctl("001", "ocm44444444 "), ctl("003", "OCoLC"),
			dat("100", "1 ", "aBront\xe8e, Emily."),
			dat("245", "10", "aCaf\xe2e and r\xe2esum\xe2e /", "c\x1bSabg\x1bs ; \xa1\xb2\xa5."),
			dat("500", "  ", "aSubscript \x1bbx2\x1bs, superscript \x1bp2\x1bs."),
		),
		// Odd shapes that are still valid records.
		rec("00000nam a2200000   4500",
			ctl("001", ""), ctl("005", "20240101"), ctl("00A", "local control"),
			dat("500", "  "),                         // data field without subfields
			dat("505", "0 ", "a", "bnot empty", "c"), // empty subfields
			dat("520", "  ", "aSpecials & < > \" ' $ { } \\ / | ~ ^ ` @ # % * [ ]"),
			dat("530", "  ", "aTab\there, DEL\x7f, ESC\x1b, SOH\x01, BS\x08, FF\x0c, CR\r, LF\n end."),
			dat("540", "  ", "AUpper-case code", "1digit code", "9nine", "$dollar code", "{brace code", " blank code"),
			dat("590", "ab", "aIndicators are letters."),
			dat("CAT", "  ", "aALEPH", "b00", "c20240101", "lHVD01"),
			dat("LOC", "1 ", "aalphabetic tag"),
			dat("9ZZ", "  ", "amixed tag"),
		),
		// A record with no fields at all.
		rec("00000nam a2200000   4500"),
		// Leader/22-23 other than "00".
		rec("00000nas a2200000 c 4521", ctl("001", "serial"), dat("245", "00", "aJournal.")),
		// Blanks and zeros where the leader describes the structure: taken
		// as MARC 21's values, as yaz-marcdump takes them (it prints a
		// comment for each).
		rec("00000cam a  00000 a     ", ctl("001", "blank-structure"), dat("245", "10", "aT")),
		rec("00000cam a0000000 a 00x0", ctl("001", "zero-structure"), dat("245", "10", "aT")),
	}

	// Repeated fields and many fields.
	many := rec("00000nam a2200000   4500", ctl("001", "many"))
	for i := 0; i < 400; i++ {
		many.Fields = append(many.Fields, dat("500", "  ", fmt.Sprintf("aNote number %d.", i)))
	}
	rs = append(rs, many)

	// A field of 9,999 bytes (the largest a directory entry can give).
	long := rec("00000nam a2200000   4500", ctl("001", "longfield"))
	long.Fields = append(long.Fields, dat("520", "  ", "a"+strings.Repeat("Long summary. ", 1000)[:9999-6]))
	rs = append(rs, long)

	// A record of exactly 99,999 bytes.
	rs = append(rs, maxRecord())
	return rs
}

// maxRecord returns a record whose encoding is exactly MaxRecordLen bytes.
func maxRecord() *Record {
	r := rec("00000nam a2200000   4500", ctl("001", "maxsize"))
	chunk := "a" + strings.Repeat("Chapter. ", 1000)[:8000]
	size := func() int {
		b, err := Encode(r)
		if err != nil {
			panic(err)
		}
		return len(b)
	}
	for size()+8017+1000 <= MaxRecordLen {
		r.Fields = append(r.Fields, dat("505", "0 ", chunk))
	}
	// One more field fills the record exactly: its directory entry (12),
	// indicators (2), delimiter and code (2) and terminator (1), and value.
	r.Fields = append(r.Fields, dat("505", "0 ", "a"+strings.Repeat("y", MaxRecordLen-size()-17)))
	return r
}

// randomRecord returns a valid record with random content: tags, shapes,
// scripts, empty values and the control characters a record may carry.
func randomRecord(rng *rand.Rand) *Record {
	leader := []byte("00000nam a2200000   4500")
	leader[5] = "acdnp"[rng.IntN(5)]
	leader[6] = "acdefgijkmoprt"[rng.IntN(14)]
	leader[7] = "abcdims"[rng.IntN(7)]
	leader[9] = " a"[rng.IntN(2)]
	leader[17] = " 1234578IKLMuz"[rng.IntN(14)]
	leader[18] = " aciu"[rng.IntN(5)]
	r := &Record{}
	copy(r.Leader[:], leader)
	nf := rng.IntN(40)
	for i := 0; i < nf; i++ {
		var tag string
		switch rng.IntN(10) {
		case 0:
			tag = fmt.Sprintf("00%d", 1+rng.IntN(9))
		case 1:
			tag = string([]byte{'X', randTagByte(rng), randTagByte(rng)})
		default:
			tag = fmt.Sprintf("%03d", 10+rng.IntN(990))
		}
		if IsControlTag(tag) {
			// Never empty: yaz-marcdump misreads an empty control field
			// followed by a data field (see TestLineEmptyControlField).
			r.Fields = append(r.Fields, ctl(tag, "x"+randValue(rng, 60)))
			continue
		}
		f := Field{Tag: tag, Ind1: " 0123456789ab"[rng.IntN(13)], Ind2: " 0123456789ab"[rng.IntN(13)]}
		const codes = "abcdefghijklmnopqrstuvwxyz0123456789ABZ&$"
		ns := rng.IntN(8)
		for j := 0; j < ns; j++ {
			f.Subfields = append(f.Subfields, Subfield{Code: codes[rng.IntN(len(codes))], Value: randValue(rng, 80)})
		}
		r.Fields = append(r.Fields, f)
	}
	return r
}

func randTagByte(rng *rand.Rand) byte {
	const s = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	return s[rng.IntN(len(s))]
}

// randValue returns up to max runes drawn from many scripts, with the odd
// XML/JSON special character and control byte (never NUL or a
// terminator).
func randValue(rng *rand.Rand, max int) string {
	pieces := []string{
		"a", "Z", "9", " ", ".", ",", ":", ";", "/", "-", "(", ")", "[", "]",
		"&", "<", ">", "\"", "'", "\\", "$", "{", "}", "\t", "\x01", "\x1b", "\x7f", "\r", "\n",
		"é", "ü", "ø", "ñ", "e\u0301", "Ω", "λ", "Ж", "ы", "א", "ש", "ع", "ب", "中", "文", "日", "ア", "한", "글", "𝄞", "😀", "\u200e", "\ufeff",
	}
	n := rng.IntN(max + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		if rng.IntN(4) == 0 {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		} else {
			b.WriteByte("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"[rng.IntN(64)])
		}
	}
	return b.String()
}

// randomRecords returns n random records from a fixed seed.
func randomRecords(seed uint64, n int) []*Record {
	rng := rand.New(rand.NewPCG(seed, 0x6d617263))
	rs := make([]*Record, n)
	for i := range rs {
		rs[i] = randomRecord(rng)
	}
	return rs
}

// corpusFile returns every corpus record, hand-designed then random, and
// their concatenated encoding.
func corpusFile(tb testing.TB) ([]*Record, []byte) {
	tb.Helper()
	rs := append(corpusRecords(), randomRecords(1, 100)...)
	var file []byte
	for _, r := range rs {
		file = append(file, mustEncode(tb, r)...)
	}
	return rs, file
}

// brokenRecords are hand-made damaged records: each starts from the same
// valid record and breaks one rule. Strict decoding must fail with the
// given kind at the given offset. They are written to testdata/broken/.
type brokenCase struct {
	name   string
	kind   error
	offset int
	make   func(good []byte) []byte
}

// baseBroken is the record the broken cases damage:
// leader (0-23), directory 001 at 24, 245 at 36, terminator at 48,
// base 49: "123" FT at 49-52, "10" $a "Title" $c "Auth." FT at 53-69, RT 70.
func baseBroken() []byte {
	b, err := Encode(rec("00000cam a2200000 a 4500", ctl("001", "123"), dat("245", "10", "aTitle", "cAuth.")))
	if err != nil {
		panic(err)
	}
	return b
}

func setBytes(at int, s string) func([]byte) []byte {
	return func(b []byte) []byte { copy(b[at:], s); return b }
}

var brokenCases = []brokenCase{
	{"short", ErrRecordLength, 0, func(b []byte) []byte { return b[:20] }},
	{"length-not-digits", ErrRecordLength, 1, setBytes(0, "0a071")},
	{"length-too-big", ErrRecordLength, 0, setBytes(0, "00081")},
	{"length-too-small", ErrRecordLength, 0, setBytes(0, "00061")},
	{"leader-control-byte", ErrLeader, 8, setBytes(8, "\x01")},
	{"leader-high-byte", ErrLeader, 18, setBytes(18, "\xe9")},
	{"indicator-count", ErrLeader, 10, setBytes(10, "3")},
	{"subfield-code-length", ErrLeader, 11, setBytes(11, "1")},
	{"length-of-length", ErrLeader, 20, setBytes(20, "3400")},
	{"base-not-digits", ErrBaseAddress, 14, setBytes(14, "x")},
	{"base-mismatch", ErrBaseAddress, 12, setBytes(12, "00050")},
	{"no-record-terminator", ErrTerminator, 70, setBytes(70, "X")},
	{"directory-unterminated", ErrDirectory, 48, setBytes(48, "X")},
	{"directory-misaligned", ErrDirectory, 47, func(b []byte) []byte {
		// Drop one byte from the last entry: the terminator moves to 47.
		out := append(append([]byte{}, b[:47]...), b[48:]...)
		copy(out, "00070")
		return out
	}},
	{"entry-length-not-digits", ErrDirectory, 28, setBytes(27, "0x04")},
	{"entry-start-not-digits", ErrDirectory, 43, setBytes(43, "-")},
	{"entry-length-zero", ErrDirectory, 27, setBytes(27, "0000")},
	{"tag-not-alphanumeric", ErrTag, 36, setBytes(36, "2 5")},
	{"field-outside-record", ErrFieldBounds, 36, setBytes(43, "00900")},
	{"field-past-data", ErrFieldBounds, 36, setBytes(39, "0018")},
	{"field-terminator-missing", ErrTerminator, 52, setBytes(52, "X")},
	{"field-terminator-inside", ErrTerminator, 58, setBytes(58, "\x1e")},
	{"record-terminator-inside", ErrTerminator, 58, setBytes(58, "\x1d")},
	{"control-field-delimiter", ErrFieldData, 50, setBytes(50, "\x1f")},
	{"control-field-nul", ErrFieldData, 51, setBytes(51, "\x00")},
	{"value-nul", ErrFieldData, 58, setBytes(58, "\x00")},
	{"indicator-delimiter", ErrIndicator, 54, setBytes(54, "\x1f")},
	{"indicator-nul", ErrIndicator, 53, setBytes(53, "\x00")},
	{"data-field-too-short", ErrIndicator, 53, func(b []byte) []byte {
		// 245 becomes the 2-byte field "1" FT; the rest of the area is a gap.
		copy(b[39:43], "0002")
		b[54] = FieldTerminator
		return b
	}},
	{"no-delimiter-after-indicators", ErrSubfield, 55, setBytes(55, "X")},
	{"delimiter-without-code", ErrSubfield, 62, setBytes(63, "\x1f")},
	{"delimiter-at-field-end", ErrSubfield, 68, setBytes(68, "\x1f")},
}

func brokenBytes(c brokenCase) []byte {
	return c.make(baseBroken())
}

// TestCorpusFiles checks that the committed corpus files are what the
// generator makes (or rewrites them with -update), so the files other
// tools read cannot drift from the records the tests reason about.
func TestCorpusFiles(t *testing.T) {
	_, file := corpusFile(t)
	want := map[string][]byte{filepath.Join("testdata", "corpus.mrc"): file}
	for _, c := range brokenCases {
		want[filepath.Join("testdata", "broken", c.name+".mrc")] = brokenBytes(c)
	}
	for path, data := range fuzzSeedFiles(t) {
		want[path] = data
	}
	for path, data := range want {
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with: go test ./marc -run TestCorpusFiles -update)", err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s differs from the generator (regenerate with: go test ./marc -run TestCorpusFiles -update)", path)
		}
	}
}
