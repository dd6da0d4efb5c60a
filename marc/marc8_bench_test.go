package marc

import "testing"

// marc8BenchValues are MARC-8 values typical of catalog records.
var marc8BenchValues = map[string]string{
	"ascii":    "The adventures of Tom Sawyer / by Mark Twain ; with an introduction by Bernard DeVoto. New York : Harper & Brothers, 1922.",
	"latin":    "Dvo\xe9r\xe2ak, Anton\xe2in, 1841-1904. Symfonie \xe8c. 9, e moll, op. 95 : Z Nov\xe2eho sv\xe2eta / K\xb2benhavn : Gyldendal, \xc31999.",
	"cyrillic": m8Esc + "(NwOJNA I MIR / l. n. tOLSTOJ ; [PEREWOD S FRANCUZSKOGO]. mOSKWA : hUDOVESTWENNAQ LITERATURA, 1985." + m8Esc + "(B",
	"cjk":      m8Esc + "$1!04!7o!BX!:` !0d!0!!0\"!Bs!Ci i$+i$Ji%+i%J!+%!+&!+3!+5 o\\eoIo" + m8Esc + "(B",
}

func BenchmarkMARC8ToUTF8(b *testing.B) {
	for _, name := range []string{"ascii", "latin", "cyrillic", "cjk"} {
		src := []byte(marc8BenchValues[name])
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				var err error
				if dst, err = MARC8ToUTF8(dst[:0], src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUTF8ToMARC8(b *testing.B) {
	for _, name := range []string{"ascii", "latin", "cyrillic", "cjk"} {
		src, err := MARC8ToUTF8(nil, []byte(marc8BenchValues[name]))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				var err error
				if dst, err = UTF8ToMARC8(dst[:0], src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkToUTF8 converts whole records: the cross-check records, whose
// values are mostly not ASCII, and a typical English-language record with
// one diacritic, the common case in a MARC-8 file.
func BenchmarkToUTF8(b *testing.B) {
	typical := marc8TestRecord()
	typical.Fields = typical.Fields[:4]
	for range 20 {
		typical.Fields = append(typical.Fields, Field{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: []Subfield{
			{Code: 'a', Value: "Russia"}, {Code: 'x', Value: "History"}, {Code: 'y', Value: "1801-1917"}, {Code: 'v', Value: "Fiction."}}})
	}
	for name, recs := range map[string][]*Record{"crosscheck": marc8CrossCheckRecords(b), "typical": {typical}} {
		size := 0
		for _, r := range recs {
			enc, err := Encode(r)
			if err != nil {
				b.Fatal(err)
			}
			size += len(enc)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range recs {
					if _, err := ToUTF8(r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
