package marc_test

import (
	"errors"
	"fmt"

	"github.com/oclcbot/oclcbot/marc"
)

// A MARC-8 value: the acute accent (ANSEL 0xE2) precedes its letter, and an
// escape sequence switches to Cyrillic and back. The UTF-8 result has the
// accent after the letter, as U+0301 (printed escaped here: it displays as
// "Café Мир").
func ExampleMARC8ToUTF8() {
	utf8, err := marc.MARC8ToUTF8(nil, []byte("Caf\xe2e \x1b(NmIR\x1b(B"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+q\n", utf8)
	// Output:
	// "Cafe\u0301 \u041c\u0438\u0440"
}

// Bytes that are not MARC-8 are reported with their offset in the value.
func ExampleMARC8Error() {
	_, err := marc.MARC8ToUTF8(nil, []byte("Tit\x1b(Zle"))
	var me *marc.MARC8Error
	if errors.As(err, &me) {
		fmt.Println(me.Offset, me.Reason)
	}
	fmt.Println(err)
	// Output:
	// 3 unknown escape sequence
	// invalid MARC-8 at offset 3 (bytes 1B 28 5A): unknown escape sequence
}

// Converting a record read from a MARC-8 system: the original is kept, the
// copy says leader/09 = 'a'.
func ExampleToUTF8() {
	r := &marc.Record{}
	copy(r.Leader[:], "00000nam  2200000 a 4500")
	r.Fields = []marc.Field{{Tag: "100", Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{
		{Code: 'a', Value: "Dvo\xe9r\xe2ak, Anton\xe2in,"}, {Code: 'd', Value: "1841-1904."}}}}
	u, err := marc.ToUTF8(r)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q %+q\n", u.Leader[marc.CharCodingPos], u.Fields[0].Subfields[0].Value)
	fmt.Printf("%q %q\n", r.Leader[marc.CharCodingPos], r.Fields[0].Subfields[0].Value)
	// Output:
	// 'a' "Dvor\u030ca\u0301k, Antoni\u0301n,"
	// ' ' "Dvo\xe9r\xe2ak, Anton\xe2in,"
}

// Writing UTF-8 for a system that only takes MARC-8: characters MARC-8
// cannot express become numeric character references in the lenient form.
func ExampleUTF8ToMARC8Lenient() {
	m8, errs := marc.UTF8ToMARC8Lenient(nil, []byte("Việt Nam ₭"), nil)
	fmt.Printf("%q\n", m8)
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// "Vi\xf2\xe3et Nam &#x20AD;"
	// cannot write U+20AD at offset 11 as MARC-8: no MARC-8 form
}
