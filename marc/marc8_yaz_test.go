package marc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The MARC-8 cross-check: testdata/marc8/records.mrc holds MARC-8 records
// with diacritics and non-Latin scripts, built by marc8CrossCheckRecords
// below (run `go test ./marc -run TestMARC8Testdata -marc8.update` after
// changing it). TestMARC8AgainstYaz converts them with
// `yaz-marcdump -f MARC-8 -t UTF-8` and compares every value with ToUTF8's.
//
// yaz and this package agree on all valid MARC-8. They differ, on purpose,
// on broken input, where yaz silently loses text:
//   - yaz drops bytes that are not in the current set, and a value whose
//     escape sequence it does not know, or that ends in a non-spacing mark,
//     comes out empty; MARC8ToUTF8 reports each with its offset (and the
//     lenient variants keep the rest of the value, with U+FFFD).
//   - yaz keeps at most seven pending marks: with eight or more before one
//     character ("\xe1...\xe8a") it loses the character and repeats the
//     last mark; this package has no limit.
//   - yaz writes a mark that precedes the second half of a ligature
//     ("\xe2\xecs") before its base character; this package after it.
var marc8Update = flag.Bool("marc8.update", false, "rewrite testdata/marc8/records.mrc from marc8CrossCheckRecords")

const marc8TestdataFile = "testdata/marc8/records.mrc"

// marc8CrossCheckRecords returns the records of the cross-check file.
func marc8CrossCheckRecords(t testing.TB) []*Record {
	t.Helper()
	type field struct {
		tag  string
		ind  string
		subs []string // code then value, or one value for a control field
	}
	rec := func(id string, fields ...field) *Record {
		r := &Record{}
		copy(r.Leader[:], "00000nam  2200000 a 4500")
		r.Fields = append(r.Fields, Field{Tag: "001", Value: id})
		for _, f := range fields {
			if IsControlTag(f.tag) {
				r.Fields = append(r.Fields, Field{Tag: f.tag, Value: f.subs[0]})
				continue
			}
			nf := Field{Tag: f.tag, Ind1: f.ind[0], Ind2: f.ind[1]}
			for i := 0; i < len(f.subs); i += 2 {
				nf.Subfields = append(nf.Subfields, Subfield{Code: f.subs[i][0], Value: f.subs[i+1]})
			}
			r.Fields = append(r.Fields, nf)
		}
		return r
	}
	var allMarks strings.Builder
	for b := 0xE0; b <= 0xFE; b++ {
		if b != 0xEC && b != 0xFB && b != 0xFC && b != 0xFD {
			allMarks.WriteString(string([]byte{byte(b), 'o', ' '}))
		}
	}
	recs := []*Record{
		rec("m8-latin",
			field{"008", "", []string{"850101s1985    xr            000 1 cze d"}},
			field{"100", "1 ", []string{"a", "Dvo\xe9r\xe2ak, Anton\xe2in,", "d", "1841-1904."}},
			field{"245", "10", []string{"a", "Les mis\xe2erables /", "c", "Victor Hugo ; pr\xe2eface de \xa1ukasz \xc5\xe2Alvarez."}},
			field{"246", "3 ", []string{"a", "Vi\xf2\xe3et Nam : Vi\xe3\xf2et Nam ; Th\xe1\xbc ; Nguy\xe3\xe4en"}},
			field{"260", "  ", []string{"a", "K\xb2benhavn :", "b", "Gyldendal,", "c", "\xc31999, \xc22001."}},
			field{"500", "  ", []string{"a", "\xe8\xe5u \xf2\xe3e \xf0c \xf1a \xe9s \xeeo \xea\xe2a \xe4\xe1n"}},
		),
		rec("m8-ansel",
			field{"245", "14", []string{"a", "\x88The\x89 Beatles :", "b", "\xa2\xb2 \xa5\xb5 \xa6\xb6 \xa1\xb1 \xa3\xb3 \xa4\xb4 \xba \xb8 \xc7 \xc8 \xb9 \xc0 \xc5\xc6 \xa9\xc4 \xaa\xab \xa8 \xc1"}},
			field{"246", "  ", []string{"a", "\xa7\xb7 \xae\xb0 \xac\xbc\xad\xbd a\x8db\x8ec"}},
			field{"500", "  ", []string{"a", allMarks.String()}},
			field{"505", "0 ", []string{"a", "\xebT\xecSentral\xa7nyi \xebi\xecu \xfan\xfbg \xebt\xecs\xe2a"}},
		),
		rec("m8-greek",
			field{"245", "00", []string{"6", "880-01", "a", "Athenai"}},
			field{"880", "00", []string{"6", "245-01/(S", "a", m8Esc + "(S%Ak$jpal" + m8Esc + "(B /", "c", m8Esc + "(S\"a%l&s#i'w" + m8Esc + "(B"}},
			field{"500", "  ", []string{"a", m8Esc + "ga" + m8Esc + "s-particles, " + m8Esc + "gb" + m8Esc + "s-decay and " + m8Esc + "gc" + m8Esc + "s-rays."}},
			field{"546", "  ", []string{"a", m8Esc + "(S012345;?ABDEFGHIJKLMNOPQRSTUVXYZ[\\]^abcdefghijklmnopqrstuvwxyz{|}~" + m8Esc + "(B"}},
		),
		rec("m8-cyrillic",
			field{"100", "1 ", []string{"6", "880-01", "a", "Tolsto\xe2i, Lev,", "d", "1828-1910."}},
			field{"880", "1 ", []string{"6", "100-01/(N", "a", m8Esc + "(NtOLSTOJ, lEW," + m8Esc + "(B", "d", "1828-1910."}},
			field{"880", "10", []string{"6", "245-02/(N", "a", m8Esc + "(NwOJNA I MIR / l. n. tOLSTOJ ; [PEREWOD S FRANCUZSKOGO]." + m8Esc + "(B"}},
			field{"880", "  ", []string{"6", "260-03/(N", "a", m8Esc + "(NmOSKWA :" + m8Esc + "(B", "b", m8Esc + "(NhUDOVESTWENNAQ LITERATURA," + m8Esc + "(B", "c", "1985."}},
			field{"880", "  ", []string{"a", m8Esc + "(Q@ABCDEFGHIJKLMNPQRS`abcdefghijklmnopqrs" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "(N!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "(NJ" + m8Esc + "(B \xe6" + m8Esc + "(NI" + m8Esc + "(B \xe8" + m8Esc + "(NE" + m8Esc + "(B"}},
		),
		rec("m8-hebrew",
			field{"245", "10", []string{"6", "880-01", "a", "Shalom"}},
			field{"880", "10", []string{"6", "245-01/(2/r", "a", m8Esc + "(2AMylEem" + m8Esc + "(B /", "c", m8Esc + "(2`a b c d e f g h i j k l m n o p q r s t u v w x y z { | }" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "(2@`A`B`C`D`E`F`G`H`I`J`K`L`M`N`\"'-" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "(2!#$%&()*+,./0123456789:;<=>?[]" + m8Esc + "(B"}},
		),
		rec("m8-arabic",
			field{"245", "10", []string{"6", "880-01", "a", "al-Kit\xe5ab"}},
			field{"880", "10", []string{"6", "245-01/(3/r", "a", m8Esc + "(3GdCJGH" + m8Esc + "(B", "b", m8Esc + "(3nHoIpJqKrL" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "(3ABCDEFGHIJKLMNOPQRSTUVWXYZ`abcdefghijklmnsopqrtxyz%*,0123456789;?" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "(4!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwx}1~1" + m8Esc + "(B"}},
		),
		rec("m8-scripts",
			field{"245", "10", []string{"a", "H" + m8Esc + "b2" + m8Esc + "sO and CO" + m8Esc + "b2" + m8Esc + "s :", "b", "E = mc" + m8Esc + "p2" + m8Esc + "s, 10" + m8Esc + "p-3" + m8Esc + "s m" + m8Esc + "p(+)" + m8Esc + "s."}},
			field{"500", "  ", []string{"a", m8Esc + "b0123456789()+-" + m8Esc + "s " + m8Esc + "p0123456789()+-" + m8Esc + "s"}},
		),
		rec("m8-cjk",
			field{"245", "10", []string{"6", "880-01", "a", "Zhongguo wen xue"}},
			field{"880", "10", []string{"6", "245-01/$1", "a", m8Esc + "$1!04!7o!BX!:`" + m8Esc + "(B /", "c", m8Esc + "$1!0d !0! !0\"" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "$1!Bs!Ci i$+i$Ji%+i%J!+%!+&!+3!+5 o\\eoIo" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "$1!# !0d" + m8Esc + "(B, " + m8Esc + "$1K7o!0W" + m8Esc + "(B"}},
			field{"880", "  ", []string{"a", m8Esc + "$1\"*+ ov$" + m8Esc + "(B"}},
		),
		rec("m8-mixed",
			field{"500", "  ", []string{"a", "Latin caf\xe2e, " + m8Esc + "(NRUSSKIJ" + m8Esc + "(B, " + m8Esc + "(2ylem" + m8Esc + "(B, " + m8Esc + "(3GH" + m8Esc + "(B, " + m8Esc + "(SAbd" + m8Esc + "(B, " + m8Esc + "$1!0d" + m8Esc + "(B, x" + m8Esc + "p2" + m8Esc + "s, \xc3 end."}},
			field{"500", "  ", []string{"a", m8Esc + "(NmIR" + m8Esc + "(B \xe2e " + m8Esc + "$1!0d" + m8Esc + "(N wOJNA" + m8Esc + "(B"}},
		),
		rec("m8-designations",
			field{"500", "  ", []string{"a", m8Esc + ")NA\xc1\xc2 " + m8Esc + "-N\xed " + m8Esc + ")!E\xe2e"}},
			field{"500", "  ", []string{"a", m8Esc + ")2\xf9\xec " + m8Esc + ")2\xe0" + m8Esc + ")!E x"}},
			field{"500", "  ", []string{"a", m8Esc + "$)1\xa1\xb0\xe4a " + m8Esc + "$(1!0!" + m8Esc + ",B b " + m8Esc + "$,1!0!" + m8Esc + "(B"}},
			field{"500", "  ", []string{"a", m8Esc + "(!E!1" + m8Esc + "(B " + m8Esc + ",NA" + m8Esc + "(B " + m8Esc + "(E!" + m8Esc + "(B " + m8Esc + ")B\xc1 " + m8Esc + "-!E\xc1"}},
			field{"500", "  ", []string{"a", "\xe2" + m8Esc + "(Na" + m8Esc + "(B \xe2 x " + m8Esc + "(Nunclosed"}},
		),
		rec("m8-control",
			field{"008", "", []string{"850101s1985    xx \xe2a           000 1 und d"}},
			field{"009", "", []string{m8Esc + "(Nabc" + m8Esc + "(B"}},
		),
	}

	// Values written by UTF8ToMARC8, so yaz also reads what this package
	// writes.
	utf8Values := []string{
		"Vi\u1ec7t Nam, Th\u1edd, Nguy\u1ec5n, \u01b0\u01a1, O\u031b, caf\u00e9, \u00c5ngstr\u00f6m, Dvo\u0159\u00e1k, \u0141\u00f3d\u017a",
		"\u1f08\u03b8\u1fc6\u03bd\u03b1\u03b9 \u03ac\u03ad\u03ae \u03b1-particle",
		"\u0412\u043e\u0439\u043d\u0430 \u0438 \u043c\u0438\u0440, 1985. London \u0451\u0452\u0439",
		"\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u0627\u0644\u0643\u062a\u0627\u0628 \u0686\u06a4",
		"\u4e2d\u570b\u6587\u5b78 \u65e5\u672c \u304b\u306a \ud55c\uad6d \u4e99 \uf900",
		"H\u2082O x\u00b2 10\u207b\u00b3 \u00a9 \u2117 \u20ac t\u0361s n\u0360g \u0098The\u009c",
	}
	u := rec("m8-written")
	u.Leader[CharCodingPos] = 'a'
	for _, v := range utf8Values {
		u.Fields = append(u.Fields, Field{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{Code: 'a', Value: v}}})
	}
	m, err := ToMARC8(u)
	if err != nil {
		t.Fatalf("ToMARC8: %v", err)
	}
	m.Fields[0].Value = "m8-written"
	recs = append(recs, m)
	for _, r := range recs {
		if _, err := ToUTF8(r); err != nil {
			t.Fatalf("cross-check record %s is not valid MARC-8: %v", r.Fields[0].Value, err)
		}
	}
	return recs
}

func marc8CrossCheckFile(t testing.TB) []byte {
	var out []byte
	for _, r := range marc8CrossCheckRecords(t) {
		var err error
		if out, err = AppendEncode(out, r); err != nil {
			t.Fatalf("encode %s: %v", r.Fields[0].Value, err)
		}
	}
	return out
}

// TestMARC8TestdataCurrent checks that the committed cross-check file is
// what marc8CrossCheckRecords builds (-marc8.update rewrites it).
func TestMARC8TestdataCurrent(t *testing.T) {
	want := marc8CrossCheckFile(t)
	if *marc8Update {
		if err := os.MkdirAll(filepath.Dir(marc8TestdataFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(marc8TestdataFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(marc8TestdataFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./marc -run TestMARC8TestdataCurrent -marc8.update", marc8TestdataFile)
	}
}

// marc8ReadTestdata decodes the committed cross-check file.
func marc8ReadTestdata(t *testing.T) []*Record {
	t.Helper()
	f, err := os.Open(marc8TestdataFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*Record
	rd := NewReader(f)
	for {
		r, _, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", marc8TestdataFile, err)
		}
		recs = append(recs, r)
	}
	if len(recs) < 12 {
		t.Fatalf("%s has %d records, want at least 12", marc8TestdataFile, len(recs))
	}
	return recs
}

// marc8YazMarcdump runs yaz-marcdump with args on the cross-check file. Without
// yaz-marcdump the test is skipped, except under CI=true, where it fails.
func marc8YazMarcdump(t *testing.T, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("yaz-marcdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("yaz-marcdump is required when CI=true (install the Debian package yaz): %v", err)
		}
		t.Skipf("yaz-marcdump not found (install the Debian package yaz): skipping the MARC-8 cross-check: %v", err)
	}
	cmd := exec.Command(path, append(args, marc8TestdataFile)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("yaz-marcdump %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestMARC8AgainstYazLine compares ToUTF8 with
// `yaz-marcdump -f MARC-8 -t UTF-8 -o line`, field by field. yaz prints the
// leader unchanged in this format (leader/09 stays blank).
func TestMARC8AgainstYazLine(t *testing.T) {
	recs := marc8ReadTestdata(t)
	out := marc8YazMarcdump(t, "-f", "MARC-8", "-t", "UTF-8", "-o", "line")
	blocks := strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n")
	if len(blocks) != len(recs) {
		t.Fatalf("yaz printed %d records, want %d", len(blocks), len(recs))
	}
	for i, r := range recs {
		u, err := ToUTF8(r)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(blocks[i], "\n")
		want := []string{string(r.Leader[:])}
		for _, f := range u.Fields {
			var b strings.Builder
			b.WriteString(f.Tag + " ")
			if f.IsControl() {
				b.WriteString(f.Value)
			} else {
				b.WriteString(string([]byte{f.Ind1, f.Ind2}))
				for _, sf := range f.Subfields {
					b.WriteString(" $" + string(sf.Code) + " " + sf.Value)
				}
			}
			want = append(want, b.String())
		}
		if len(lines) != len(want) {
			t.Errorf("record %s: yaz printed %d lines, want %d", r.Fields[0].Value, len(lines), len(want))
			continue
		}
		for j := range want {
			if lines[j] != want[j] {
				t.Errorf("record %s line %d:\nyaz:  %+q\nours: %+q", r.Fields[0].Value, j, lines[j], want[j])
			}
		}
	}
}

// marc8YazXML is the part of MARCXML the cross-check compares.
type marc8YazXML struct {
	Records []struct {
		Leader  string `xml:"leader"`
		Control []struct {
			Tag   string `xml:"tag,attr"`
			Value string `xml:",chardata"`
		} `xml:"controlfield"`
		Data []struct {
			Tag       string `xml:"tag,attr"`
			Subfields []struct {
				Code  string `xml:"code,attr"`
				Value string `xml:",chardata"`
			} `xml:"subfield"`
		} `xml:"datafield"`
	} `xml:"record"`
}

// TestMARC8AgainstYazMARCXML compares ToUTF8 with
// `yaz-marcdump -f MARC-8 -t UTF-8 -o marcxml`, which also sets leader/09
// to 'a'.
func TestMARC8AgainstYazMARCXML(t *testing.T) {
	recs := marc8ReadTestdata(t)
	out := marc8YazMarcdump(t, "-f", "MARC-8", "-t", "UTF-8", "-o", "marcxml")
	var doc marc8YazXML
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("parse yaz MARCXML: %v", err)
	}
	if len(doc.Records) != len(recs) {
		t.Fatalf("yaz wrote %d records, want %d", len(doc.Records), len(recs))
	}
	for i, r := range recs {
		u, err := ToUTF8(r)
		if err != nil {
			t.Fatal(err)
		}
		y := doc.Records[i]
		id := r.Fields[0].Value
		if y.Leader[CharCodingPos] != 'a' || y.Leader[CharCodingPos] != u.Leader[CharCodingPos] {
			t.Errorf("record %s: yaz leader %q, ours %q", id, y.Leader, u.Leader[:])
		}
		var ctl, data []Field
		for _, f := range u.Fields {
			if f.IsControl() {
				ctl = append(ctl, f)
			} else {
				data = append(data, f)
			}
		}
		if len(y.Control) != len(ctl) || len(y.Data) != len(data) {
			t.Errorf("record %s: yaz has %d control and %d data fields, want %d and %d", id, len(y.Control), len(y.Data), len(ctl), len(data))
			continue
		}
		for j, f := range ctl {
			if y.Control[j].Tag != f.Tag || y.Control[j].Value != f.Value {
				t.Errorf("record %s %s: yaz %+q, ours %+q", id, f.Tag, y.Control[j].Value, f.Value)
			}
		}
		for j, f := range data {
			ys := y.Data[j].Subfields
			if y.Data[j].Tag != f.Tag || len(ys) != len(f.Subfields) {
				t.Errorf("record %s field %s: yaz has %s with %d subfields, want %d", id, f.Tag, y.Data[j].Tag, len(ys), len(f.Subfields))
				continue
			}
			for k, sf := range f.Subfields {
				if ys[k].Code != string(sf.Code) || ys[k].Value != sf.Value {
					t.Errorf("record %s %s $%c:\nyaz:  %+q\nours: %+q", id, f.Tag, sf.Code, ys[k].Value, sf.Value)
				}
			}
		}
	}
}
