// Command marc8gen generates marc/marc8_tables.go, the MARC-8 conversion
// tables of package marc, from the Library of Congress MARC-8 code table
// (codetables.xml, public data, committed beside this file).
//
// It is run by `go generate` in the marc directory:
//
//	//go:generate go run ./internal/marc8gen
//
// With no flags it reads internal/marc8gen/codetables.xml and writes
// marc8_tables.go, both relative to the current directory. The output is
// deterministic; a test in this package checks that the committed file is
// what the generator produces.
//
// Besides the code table itself the generator derives, with
// golang.org/x/text/unicode/norm, the canonical decompositions of the
// precomposed characters whose every part has a MARC-8 form (é = e + U+0301),
// which package marc needs to write UTF-8 text as MARC-8 without depending on
// anything outside the standard library at run time.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	in := flag.String("in", "internal/marc8gen/codetables.xml", "Library of Congress MARC-8 code table `file`")
	out := flag.String("out", "marc8_tables.go", "generated Go `file` (\"-\" for standard output)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: marc8gen [-in codetables.xml] [-out marc8_tables.go]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintf(os.Stderr, "marc8gen: %v\n", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	src, err := Generate(data)
	if err != nil {
		return fmt.Errorf("generate from %s: %w", in, err)
	}
	if out == "-" {
		_, err = os.Stdout.Write(src)
		return err
	}
	return os.WriteFile(out, src, 0o644)
}
