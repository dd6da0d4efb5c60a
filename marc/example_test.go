package marc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oclcbot/oclcbot/marc"
)

// exampleRecord builds a small record the way a program would.
func exampleRecord() *marc.Record {
	r := marc.NewRecord()
	r.AddField(marc.Field{Tag: "001", Value: "ocm00012345"})
	r.AddField(marc.Field{Tag: "003", Value: "OCoLC"})
	r.AddField(marc.Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{
		{Code: 'a', Value: "Moby Dick :"}, {Code: 'b', Value: "or, The whale /"}, {Code: 'c', Value: "Herman Melville."},
	}})
	r.AddField(marc.Field{Tag: "100", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "Melville, Herman,"}}})
	return r
}

func Example() {
	data, err := marc.Encode(exampleRecord())
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := marc.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Title())
	fmt.Println(r.Author())
	fmt.Println(marc.OCLCNumber(r))
	os.Stdout.Write(marc.AppendLine(nil, r))
	// Output:
	// Moby Dick : or, The whale
	// Melville, Herman
	// 12345
	// 00165nam a2200073   4500
	// 001 ocm00012345
	// 003 OCoLC
	// 100 1  $a Melville, Herman,
	// 245 10 $a Moby Dick : $b or, The whale / $c Herman Melville.
}

func ExampleDecode_error() {
	data, _ := marc.Encode(exampleRecord())
	copy(data[12:17], "00050") // a wrong base address
	_, err := marc.Decode(data)
	var de *marc.DecodeError
	if errors.As(err, &de) {
		fmt.Println("offset:", de.Offset)
		fmt.Println("base address problem:", errors.Is(err, marc.ErrBaseAddress))
	}
	fmt.Println(err)
	// Output:
	// offset: 12
	// base address problem: true
	// offset 12: bad base address of data: leader/12-16 says data starts at 50, but the directory of 4 entries ends at 72, so it must be 73
}

func ExampleDecodeLenient() {
	data, _ := marc.Encode(exampleRecord())
	copy(data[12:17], "00050") // a wrong base address
	r, problems := marc.DecodeLenient(data)
	for _, p := range problems {
		fmt.Println(p.Error())
	}
	fmt.Println(r.Title())
	// Output:
	// offset 12: bad base address of data: leader/12-16 says data starts at 50, but the directory ends at 72; using 73
	// Moby Dick : or, The whale
}

func ExampleReader() {
	good, _ := marc.Encode(exampleRecord())
	// Two records with a broken one and a CR LF between them.
	stream := bytes.Join([][]byte{good, []byte("not a record"), good, []byte("\r\n")}, nil)

	rd := marc.NewReader(bytes.NewReader(stream))
	for {
		r, off, err := rd.Read()
		if err == io.EOF {
			break
		}
		var re *marc.ReadError
		if errors.As(err, &re) {
			fmt.Println("skipped:", err)
			continue
		}
		if err != nil {
			fmt.Println("read failed:", err)
			return
		}
		fmt.Println(off, r.ControlValue("001"))
	}
	// Output:
	// 0 ocm00012345
	// skipped: record at byte 165: offset 0: not a MARC record: 12 bytes starting "not a record"
	// 177 ocm00012345
}

func ExampleWriter() {
	w := marc.NewWriter(os.Stdout, marc.FormatMARCXML)
	w.Write(exampleRecord())
	w.Close()
	// Output:
	// <collection xmlns="http://www.loc.gov/MARC21/slim">
	// <record>
	//   <leader>00000nam a2200000   4500</leader>
	//   <controlfield tag="001">ocm00012345</controlfield>
	//   <controlfield tag="003">OCoLC</controlfield>
	//   <datafield tag="100" ind1="1" ind2=" ">
	//     <subfield code="a">Melville, Herman,</subfield>
	//   </datafield>
	//   <datafield tag="245" ind1="1" ind2="0">
	//     <subfield code="a">Moby Dick :</subfield>
	//     <subfield code="b">or, The whale /</subfield>
	//     <subfield code="c">Herman Melville.</subfield>
	//   </datafield>
	// </record>
	// </collection>
}

func ExampleAppendMnemonic() {
	os.Stdout.Write(marc.AppendMnemonic(nil, exampleRecord()))
	// Output:
	// =LDR  00000nam a2200000   4500
	// =001  ocm00012345
	// =003  OCoLC
	// =100  1\$aMelville, Herman,
	// =245  10$aMoby Dick :$bor, The whale /$cHerman Melville.
}

func ExampleOCLCNumbers() {
	r := marc.NewRecord()
	r.AddField(marc.Field{Tag: "001", Value: "99123456"})
	r.AddField(marc.Field{Tag: "003", Value: "HVD"})
	r.AddField(marc.Field{Tag: "019", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "4711"}}})
	r.AddField(marc.Field{Tag: "035", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "(OCoLC)ocm00012345"}}})
	fmt.Println(marc.OCLCNumber(r), marc.OCLCNumbers(r))
	// Output:
	// 12345 [12345 4711]
}
