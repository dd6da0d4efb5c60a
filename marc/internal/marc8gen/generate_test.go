package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestGeneratedTablesAreCurrent regenerates marc8_tables.go in memory and
// checks that the committed file is the same: after changing the generator
// or codetables.xml, run `go generate ./marc`.
func TestGeneratedTablesAreCurrent(t *testing.T) {
	data, err := os.ReadFile("codetables.xml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../marc8_tables.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("marc/marc8_tables.go is stale (line %d is %q, the generator writes %q); run `go generate ./marc`", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("marc/marc8_tables.go is stale (%d lines, the generator writes %d); run `go generate ./marc`", len(gl), len(wl))
	}
	if !bytes.HasPrefix(got, []byte("// Code generated ")) || !bytes.Contains(got[:200], []byte("DO NOT EDIT.")) {
		t.Error("marc8_tables.go lacks the generated-code header")
	}
}

func TestGenerateCoversTheCodeTable(t *testing.T) {
	data, err := os.ReadFile("codetables.xml")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	// Counts of the Library of Congress table: every character of every
	// set must reach the generated tables.
	counts := map[string]int{"42": 95, "45": 69, "67": 3, "62": 14, "70": 14, "32": 78, "4E": 94, "51": 42, "33": 83, "34": 90, "53": 73}
	for i, s := range singleByteSets {
		n := 0
		for _, v := range tb.single[i] {
			if v != 0 {
				n++
			}
		}
		if n != counts[s.iso] {
			t.Errorf("set %s: %d characters, want %d", s.iso, n, counts[s.iso])
		}
	}
	if len(tb.eacc) != 15739 {
		t.Errorf("EACC: %d characters, want 15739", len(tb.eacc))
	}
	ri := reverse(tb)
	decs, comps := decompositions(ri)
	find := func(r rune) string {
		for _, d := range decs {
			if d.r == r {
				return string(d.d)
			}
		}
		return ""
	}
	for r, want := range map[rune]string{'é': "e\u0301", 'ǖ': "u\u0308\u0304", 'ờ': "ơ\u0300", 'ά': "α\u0301", 'Å': "A\u030a"} {
		if got := find(r); got != want {
			t.Errorf("decomposition of %c = %+q, want %+q", r, got, want)
		}
	}
	if find('ﬁ') != "" || find('Ơ') != "" {
		t.Error("decompositions list a compatibility ligature or a rune MARC-8 has")
	}
	found := false
	for _, c := range comps {
		found = found || (c.base == 'O' && c.mark == 0x31B && c.r == 'Ơ')
	}
	if !found {
		t.Error("compositions lack O + U+031B = Ơ")
	}
}

func TestGenerateRejectsBrokenTables(t *testing.T) {
	for name, xml := range map[string]string{
		"not xml":     "<codeTables>",
		"missing set": `<codeTables><codeTable><characterSet ISOcode="42"></characterSet></codeTable></codeTables>`,
		"bad code":    `<codeTables><codeTable><characterSet ISOcode="42"><code><marc>ZZ</marc><ucs>0041</ucs></code></characterSet></codeTable></codeTables>`,
	} {
		if _, err := Generate([]byte(xml)); err == nil {
			t.Errorf("%s: Generate succeeded, want an error", name)
		}
	}
}
