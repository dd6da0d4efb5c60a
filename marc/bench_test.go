package marc

import (
	"bytes"
	"io"
	"testing"
)

// Benchmarks report ns/record and MB/s (of ISO 2709 input) for decoding,
// encoding and each printer, and for the whole print pipeline (Reader,
// Decode, Writer) that `oclcbot print` runs. Compare with yaz-marcdump on
// a large file with bench/ (see the package's report in the README).

// benchRecords returns typical catalog records: the corpus's real-world
// shapes (without the giant ones) and random records of similar size.
func benchRecords(tb testing.TB) ([]*Record, [][]byte, []byte) {
	tb.Helper()
	var rs []*Record
	for _, r := range corpusRecords() {
		if b, _ := Encode(r); len(b) < 5000 {
			rs = append(rs, r)
		}
	}
	rs = append(rs, randomRecords(4, 40)...)
	raws := make([][]byte, len(rs))
	var file []byte
	for i, r := range rs {
		raws[i] = mustEncode(tb, r)
		file = append(file, raws[i]...)
	}
	return rs, raws, file
}

func perRecord(b *testing.B, records int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
}

func BenchmarkDecode(b *testing.B) {
	_, raws, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range raws {
			if _, err := Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	perRecord(b, len(raws))
}

func BenchmarkUnmarshalBinaryReuse(b *testing.B) {
	_, raws, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var r Record
	for b.Loop() {
		for _, raw := range raws {
			if err := r.UnmarshalBinary(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	perRecord(b, len(raws))
}

func BenchmarkDecodeLenient(b *testing.B) {
	_, raws, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range raws {
			DecodeLenient(raw)
		}
	}
	perRecord(b, len(raws))
}

func BenchmarkEncode(b *testing.B) {
	rs, _, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		for _, r := range rs {
			var err error
			if buf, err = AppendEncode(buf[:0], r); err != nil {
				b.Fatal(err)
			}
		}
	}
	perRecord(b, len(rs))
}

func benchAppend(b *testing.B, appendFn func([]byte, *Record) []byte) {
	rs, _, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		for _, r := range rs {
			buf = appendFn(buf[:0], r)
		}
	}
	perRecord(b, len(rs))
}

func BenchmarkAppendLine(b *testing.B)     { benchAppend(b, AppendLine) }
func BenchmarkAppendMARCXML(b *testing.B)  { benchAppend(b, AppendMARCXML) }
func BenchmarkAppendJSON(b *testing.B)     { benchAppend(b, AppendJSON) }
func BenchmarkAppendMnemonic(b *testing.B) { benchAppend(b, AppendMnemonic) }

func BenchmarkReaderRaw(b *testing.B) {
	_, raws, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(file))
		for {
			if _, _, err := rd.ReadRaw(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	perRecord(b, len(raws))
}

// benchPrint runs the print pipeline: Reader, strict decode into a reused
// record, Writer, to io.Discard.
func benchPrint(b *testing.B, f Format) {
	_, raws, file := benchRecords(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(file))
		w := NewWriter(io.Discard, f)
		var r Record
		for {
			raw, _, err := rd.ReadRaw()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := r.UnmarshalBinary(raw); err != nil {
				b.Fatal(err)
			}
			if err := w.Write(&r); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	perRecord(b, len(raws))
}

func BenchmarkPrintLine(b *testing.B)     { benchPrint(b, FormatLine) }
func BenchmarkPrintMARCXML(b *testing.B)  { benchPrint(b, FormatMARCXML) }
func BenchmarkPrintJSON(b *testing.B)     { benchPrint(b, FormatJSON) }
func BenchmarkPrintMnemonic(b *testing.B) { benchPrint(b, FormatMnemonic) }
