package marc

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// sample is a small record used for the exact-output tests below. Its
// expected outputs were checked against yaz-marcdump 5.34.
func sample() *Record {
	return rec("00145cam a2200073 a 4500",
		ctl("001", "ocm12345678 "), ctl("008", "850101s1985    nyu"),
		dat("245", "10", "aTitle & <more> :", "b\"sub\" /", "c$5 {x}"),
		dat("500", "  "),
		dat("505", "0 ", "a", "bÉté"),
	)
}

func TestAppendLine(t *testing.T) {
	want := "00145cam a2200073 a 4500\n" +
		"001 ocm12345678 \n" +
		"008 850101s1985    nyu\n" +
		"245 10 $a Title & <more> : $b \"sub\" / $c $5 {x}\n" +
		"500   \n" +
		"505 0  $a  $b Été\n" +
		"\n"
	if got := string(AppendLine(nil, sample())); got != want {
		t.Fatalf("AppendLine =\n%s\nwant\n%s", got, want)
	}
}

// TestLineEmptyControlField: yaz-marcdump misreads an empty control field
// followed by a data field (it looks past the field for a subfield
// delimiter, as for Danish 00X fields with subfields, and prints the next
// field's indicators as its own). The line printer prints the record as it
// is instead.
func TestLineEmptyControlField(t *testing.T) {
	r := rec("00000nam a2200000   4500", ctl("008", ""), dat("245", "10", "aT"))
	want := "00000nam a2200000   4500\n008 \n245 10 $a T\n\n"
	if got := string(AppendLine(nil, r)); got != want {
		t.Fatalf("AppendLine = %q, want %q", got, want)
	}
}

func TestAppendMARCXML(t *testing.T) {
	want := `<record xmlns="http://www.loc.gov/MARC21/slim">
  <leader>00145cam a2200073 a 4500</leader>
  <controlfield tag="001">ocm12345678 </controlfield>
  <controlfield tag="008">850101s1985    nyu</controlfield>
  <datafield tag="245" ind1="1" ind2="0">
    <subfield code="a">Title &amp; &lt;more&gt; :</subfield>
    <subfield code="b">&quot;sub&quot; /</subfield>
    <subfield code="c">$5 {x}</subfield>
  </datafield>
  <datafield tag="500" ind1=" " ind2=" ">
  </datafield>
  <datafield tag="505" ind1="0" ind2=" ">
    <subfield code="a"></subfield>
    <subfield code="b">Été</subfield>
  </datafield>
</record>
`
	if got := string(AppendMARCXML(nil, sample())); got != want {
		t.Fatalf("AppendMARCXML =\n%s\nwant\n%s", got, want)
	}
}

func TestAppendMARCXMLLeader09(t *testing.T) {
	r := rec("00000cam  2200000 a 4500", ctl("001", "x"))
	if got := string(AppendMARCXML(nil, r)); !strings.Contains(got, "<leader>00000cam a2200000 a 4500</leader>") {
		t.Fatalf("leader/09 not written as 'a' (as yaz does): %s", got)
	}
	if r.Leader[9] != ' ' {
		t.Fatal("AppendMARCXML changed the record")
	}
}

func TestAppendJSON(t *testing.T) {
	want := `{
  "leader": "00145cam a2200073 a 4500",
  "fields": [
    {
      "001": "ocm12345678 "
    },
    {
      "008": "850101s1985    nyu"
    },
    {
      "245": {
        "subfields": [
          {
            "a": "Title & <more> :"
          },
          {
            "b": "\"sub\" /"
          },
          {
            "c": "$5 {x}"
          }
        ],
        "ind1": "1",
        "ind2": "0"
      }
    },
    {
      "500": {
        "subfields": [

        ],
        "ind1": " ",
        "ind2": " "
      }
    },
    {
      "505": {
        "subfields": [
          {
            "a": ""
          },
          {
            "b": "Été"
          }
        ],
        "ind1": "0",
        "ind2": " "
      }
    }
  ]
}
`
	if got := string(AppendJSON(nil, sample())); got != want {
		t.Fatalf("AppendJSON =\n%s\nwant\n%s", got, want)
	}
	empty := rec("00026nam a2200025   4500")
	if got := string(AppendJSON(nil, empty)); got != "{\n  \"leader\": \"00026nam a2200025   4500\",\n  \"fields\": []\n}\n" {
		t.Fatalf("AppendJSON of a record without fields = %q", got)
	}
}

func TestAppendMnemonic(t *testing.T) {
	r := sample()
	r.Fields = append(r.Fields, ctl("007", `cr\un`), dat("590", "  ", "aESC\x1b(B, LF\n, back\\slash."))
	want := "=LDR  00145cam a2200073 a 4500\n" +
		"=001  ocm12345678\\\n" +
		"=008  850101s1985\\\\\\\\nyu\n" +
		"=245  10$aTitle & <more> :$b\"sub\" /$c{dollar}5 {lcub}x{rcub}\n" +
		"=500  \\\\\n" +
		"=505  0\\$a$bÉté\n" +
		"=007  cr{bsol}un\n" +
		"=590  \\\\$aESC{esc}(B, LF{x0A}, back\\slash.\n" +
		"\n"
	got := AppendMnemonic(nil, r)
	if string(got) != want {
		t.Fatalf("AppendMnemonic =\n%s\nwant\n%s", got, want)
	}
	back, err := NewMnemonicReader(bytes.NewReader(got)).Read()
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(r) {
		t.Fatalf("mnemonic round trip:\n got %+v\nwant %+v", back, r)
	}
}

// xmlRecord is MARCXML as encoding/xml sees it.
type xmlRecord struct {
	Leader  string `xml:"leader"`
	Control []struct {
		Tag   string `xml:"tag,attr"`
		Value string `xml:",chardata"`
	} `xml:"controlfield"`
	Data []struct {
		Tag  string `xml:"tag,attr"`
		Ind1 string `xml:"ind1,attr"`
		Ind2 string `xml:"ind2,attr"`
		Subs []struct {
			Code  string `xml:"code,attr"`
			Value string `xml:",chardata"`
		} `xml:"subfield"`
	} `xml:"datafield"`
}

// xmlExpect is what an XML parser must read back for value v of a UTF-8
// record: forbidden controls dropped, invalid UTF-8 and U+FFFE/U+FFFF as
// U+FFFD, CR as LF (XML end-of-line handling).
func xmlExpect(v string) string {
	var b strings.Builder
	for len(v) > 0 {
		r, n := utf8.DecodeRuneInString(v)
		v = v[n:]
		switch {
		case r == utf8.RuneError && n == 1, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r':
		default:
			b.WriteRune(r)
		}
	}
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\r", "\n")
}

// utf8Records returns records with leader/09 'a' and arbitrary bytes in
// their values, including invalid UTF-8.
func utf8Records() []*Record {
	rs, _ := corpusFileRecords()
	rng := rand.New(rand.NewPCG(3, 5))
	for i := 0; i < 500; i++ {
		rs = append(rs, arbitraryRecord(rng))
	}
	for _, r := range rs {
		r.Leader[CharCodingPos] = 'a'
	}
	return rs
}

func corpusFileRecords() ([]*Record, error) {
	return append(corpusRecords(), randomRecords(1, 100)...), nil
}

// TestMARCXMLWellFormed: for every UTF-8 record, whatever bytes it holds,
// the MARCXML is well-formed and reads back as the record's values.
func TestMARCXMLWellFormed(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, FormatMARCXML)
	rs := utf8Records()
	for _, r := range rs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&out)
	i := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("MARCXML not well-formed: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "record" {
			continue
		}
		if se.Name.Space != MARCXMLNamespace {
			t.Fatalf("record namespace %q", se.Name.Space)
		}
		var got xmlRecord
		if err := dec.DecodeElement(&got, &se); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		checkXMLRecord(t, i, &got, rs[i])
		i++
	}
	if i != len(rs) {
		t.Fatalf("read %d records back, wrote %d", i, len(rs))
	}
}

func checkXMLRecord(t *testing.T, i int, got *xmlRecord, r *Record) {
	t.Helper()
	ldr, _ := yazLeader(&r.Leader)
	if got.Leader != xmlExpect(string(ldr[:])) {
		t.Errorf("record %d: leader %q", i, got.Leader)
	}
	c, d := 0, 0
	for _, f := range r.Fields {
		if f.IsControl() {
			if g := got.Control[c]; g.Tag != f.Tag || g.Value != xmlExpect(f.Value) {
				t.Fatalf("record %d: controlfield %q %q, want %q %q", i, g.Tag, g.Value, f.Tag, xmlExpect(f.Value))
			}
			c++
			continue
		}
		g := got.Data[d]
		d++
		if g.Tag != f.Tag || g.Ind1 != xmlExpect(string([]byte{f.Ind1})) || g.Ind2 != xmlExpect(string([]byte{f.Ind2})) || len(g.Subs) != len(f.Subfields) {
			t.Fatalf("record %d: datafield %q %q %q with %d subfields, want %+v", i, g.Tag, g.Ind1, g.Ind2, len(g.Subs), f)
		}
		for k, sf := range f.Subfields {
			if g.Subs[k].Code != xmlExpect(string([]byte{sf.Code})) || g.Subs[k].Value != xmlExpect(sf.Value) {
				t.Fatalf("record %d field %s: subfield %q %q, want %q %q", i, f.Tag, g.Subs[k].Code, g.Subs[k].Value, sf.Code, xmlExpect(sf.Value))
			}
		}
	}
	if c != len(got.Control) || d != len(got.Data) {
		t.Fatalf("record %d: %d+%d fields read back, want %d+%d", i, len(got.Control), len(got.Data), c, d)
	}
}

// jsonExpect is what a JSON parser reads back for v in a UTF-8 record.
// Each invalid byte becomes one U+FFFD.
func jsonExpect(v string) string {
	var b strings.Builder
	for len(v) > 0 {
		r, n := utf8.DecodeRuneInString(v)
		v = v[n:]
		b.WriteRune(r)
	}
	return b.String()
}

// TestJSONValid: for every UTF-8 record the output is valid JSON that reads
// back as the record's values.
func TestJSONValid(t *testing.T) {
	var out []byte
	rs := utf8Records()
	for _, r := range rs {
		out = AppendJSON(out, r)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for i, r := range rs {
		var got struct {
			Leader string                       `json:"leader"`
			Fields []map[string]json.RawMessage `json:"fields"`
		}
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("record %d: invalid JSON: %v", i, err)
		}
		if ldr, _ := yazLeader(&r.Leader); got.Leader != string(ldr[:]) || len(got.Fields) != len(r.Fields) {
			t.Fatalf("record %d: leader %q, %d fields", i, got.Leader, len(got.Fields))
		}
		for k, f := range r.Fields {
			raw, ok := got.Fields[k][jsonExpect(f.Tag)]
			if !ok || len(got.Fields[k]) != 1 {
				t.Fatalf("record %d field %d: %v, want one key %q", i, k, got.Fields[k], f.Tag)
			}
			if f.IsControl() {
				var v string
				if err := json.Unmarshal(raw, &v); err != nil || v != jsonExpect(f.Value) {
					t.Fatalf("record %d field %s: %q (%v), want %q", i, f.Tag, v, err, f.Value)
				}
				continue
			}
			var df struct {
				Subfields []map[string]string `json:"subfields"`
				Ind1      string              `json:"ind1"`
				Ind2      string              `json:"ind2"`
			}
			if err := json.Unmarshal(raw, &df); err != nil {
				t.Fatalf("record %d field %s: %v", i, f.Tag, err)
			}
			if df.Ind1 != jsonExpect(string([]byte{f.Ind1})) || df.Ind2 != jsonExpect(string([]byte{f.Ind2})) || len(df.Subfields) != len(f.Subfields) {
				t.Fatalf("record %d field %s: %+v", i, f.Tag, df)
			}
			for j, sf := range f.Subfields {
				if v, ok := df.Subfields[j][jsonExpect(string([]byte{sf.Code}))]; !ok || v != jsonExpect(sf.Value) {
					t.Fatalf("record %d field %s subfield %d: %v, want %q=%q", i, f.Tag, j, df.Subfields[j], sf.Code, sf.Value)
				}
			}
		}
	}
}

// TestMARC8BytesPassThrough: MARC-8 records (leader/09 blank) are copied
// byte for byte into XML and JSON, as yaz does.
func TestMARC8BytesPassThrough(t *testing.T) {
	r := rec("00000cam  2200000 a 4500", dat("245", "10", "aCaf\xe2e \xa1"))
	if x := AppendMARCXML(nil, r); !bytes.Contains(x, []byte("Caf\xe2e \xa1")) {
		t.Errorf("MARCXML changed MARC-8 bytes: %q", x)
	}
	if j := AppendJSON(nil, r); !bytes.Contains(j, []byte("Caf\xe2e \xa1")) {
		t.Errorf("JSON changed MARC-8 bytes: %q", j)
	}
	r.Leader[CharCodingPos] = 'a'
	if x := AppendMARCXML(nil, r); !bytes.Contains(x, []byte("Caf\uFFFDe \uFFFD")) {
		t.Errorf("MARCXML of invalid UTF-8 in a UTF-8 record: %q", x)
	}
}

func TestMnemonicRoundTrip(t *testing.T) {
	rs, _ := corpusFileRecords()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 500; i++ {
		rs = append(rs, arbitraryRecord(rng))
	}
	var text []byte
	for _, r := range rs {
		text = AppendMnemonic(text, r)
	}
	mr := NewMnemonicReader(bytes.NewReader(text))
	for i, want := range rs {
		got, err := mr.Read()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !got.Equal(want) {
			t.Fatalf("record %d: mnemonic round trip\n got %+v\nwant %+v", i, got, want)
		}
	}
	if _, err := mr.Read(); err != io.EOF {
		t.Fatalf("after the last record: %v", err)
	}
}

func TestMnemonicReaderErrors(t *testing.T) {
	in := "# a comment\r\n" +
		"=LDR  00000nam a2200000   4500\r\n=001  one\r\n\r\n" +
		"=LDR  too short\n=001  x\n\n" +
		"=LDR  00000nam a2200000   4500\n=245  10aNo dollar\n\n" +
		"=001  no leader\n\n" +
		"=LDR  00000nam a2200000   4500\n=245 10$aOne space\n\n" +
		"=LDR  00000nam a2200000   4500\n=245  10$aBad {x1E} byte\n\n" +
		"=LDR  00000nam a2200000   4500\n=001  two\n=500  \\\\$aNote {acute}e.\n"
	mr := NewMnemonicReader(strings.NewReader(in))
	want := []struct {
		id   string
		line int
	}{{"one", 0}, {"", 5}, {"", 9}, {"", 11}, {"", 14}, {"", 17}, {"two", 0}}
	for i, w := range want {
		r, err := mr.Read()
		if w.id != "" {
			if err != nil || r.Fields[0].Value != w.id {
				t.Fatalf("read %d: %v %v, want record %q", i, r, err, w.id)
			}
			continue
		}
		var me *MnemonicError
		if !errors.As(err, &me) || !errors.Is(err, ErrMnemonic) || me.Line != w.line {
			t.Fatalf("read %d: err %v, want a MnemonicError at line %d", i, err, w.line)
		}
	}
	if _, err := mr.Read(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestMnemonicUnknownNameKept(t *testing.T) {
	r, err := NewMnemonicReader(strings.NewReader("=LDR  00000nam a2200000   4500\n=500  \\\\$aCaf{acute}e {x} {xZZ}\n")).Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Fields[0].Subfields[0].Value; got != "Caf{acute}e {x} {xZZ}" {
		t.Fatalf("value %q", got)
	}
}

func TestWriterFormats(t *testing.T) {
	r := sample()
	iso, _ := Encode(r)
	for _, c := range []struct {
		name string
		want string
	}{
		{"line", string(AppendLine(AppendLine(nil, r), r))},
		{"mrk", string(AppendMnemonic(AppendMnemonic(nil, r), r))},
		{"json", string(AppendJSON(AppendJSON(nil, r), r))},
		{"marc", string(iso) + string(iso)},
		{"xml", xmlCollectionStart + string(appendXMLRecord(appendXMLRecord(nil, r, xmlRecordInner), r, xmlRecordInner)) + xmlCollectionEnd},
	} {
		f, err := ParseFormat(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if f.String() != c.name {
			t.Errorf("Format(%q).String() = %q", c.name, f)
		}
		var out bytes.Buffer
		w := NewWriter(&out, f)
		for i := 0; i < 2; i++ {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("%s: Writer output differs:\n%s\nwant\n%s", c.name, out.String(), c.want)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("ParseFormat accepted yaml")
	}
}

func TestWriterEmptyXMLIsEmpty(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, FormatMARCXML)
	if err := w.Close(); err != nil || out.Len() != 0 {
		t.Fatalf("no records: %q %v (yaz prints nothing)", out.String(), err)
	}
	if err := w.Write(sample()); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

func TestWriterErrors(t *testing.T) {
	boom := errors.New("pipe closed")
	w := NewWriter(errWriter{boom}, FormatLine)
	if err := w.Write(sample()); err != nil {
		t.Fatalf("buffered write failed early: %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want the write error", err)
	}
	w = NewWriter(io.Discard, FormatISO2709)
	if err := w.Write(rec("00000nam a2200000   4500", ctl("0 1", "x"))); !errors.Is(err, ErrTag) {
		t.Fatalf("unencodable record: %v", err)
	}
	if err := w.Write(sample()); err != nil {
		t.Fatalf("Writer unusable after an encode error: %v", err)
	}
}

func TestAppendSkipComments(t *testing.T) {
	got := string(AppendSkipComments(nil, 71, []byte("\r\n"), false))
	want := "<!-- Skipping bad byte 13 (0x0D) at offset 71 (0x47) -->\n<!-- Skipping bad byte 10 (0x0A) at offset 72 (0x48) -->\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := AppendSkipComments(nil, 0, []byte("\r\n\r\n\r\n"), true); bytes.Count(got, []byte("\n")) != 2 {
		t.Fatalf("at the end yaz omits the last four bytes: %q", got)
	}
}
