package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oclcbot/oclcbot/marc"
)

const printAbout = `
Print the MARC (ISO 2709) records of each FILE, or of standard input when
there is no FILE or FILE is "-", one after another in one output.

Formats:
  mrk   MarcEdit mnemonic (=245  10$aTitle), the default: what catalogers
        read and what MarcEdit's MarcMaker reads back
  line  yaz-marcdump's default format, byte for byte (a cross-check)
  xml   MARCXML (MARC 21 slim): one <collection> for all the files; as
        yaz-marcdump -o marcxml for one file
  json  MARC-in-JSON, one JSON text per record, as yaz-marcdump -o json
  marc  ISO 2709 again (with --utf8: a MARC-8 file converted to UTF-8)

MARC-8 records (leader/09 blank) are printed as their raw bytes unless
--utf8 is given, as yaz-marcdump does; XML and JSON parsers need --utf8 for
them. With --utf8 each MARC-8 record is converted to UTF-8 (exactly as
yaz-marcdump -f MARC-8 -t UTF-8 does) and printed with leader/09 = 'a',
except in the line format, which keeps the original leader as yaz-marcdump
does; records already in UTF-8 are printed as they are.

A record that cannot be read is reported on standard error with its file,
record number and byte offset, and the other records are still printed;
with --lenient it is recovered as far as possible and printed too. Bytes
that cannot be converted by --utf8 are reported the same way and printed
as U+FFFD. The exit status is 1 if any record had a problem, 2 for a bad
command line, 0 otherwise.`

// printCheckEvery is how many records print reads between looks at the
// context (Ctrl-C).
const printCheckEvery = 256

// printer holds the state of one print run across its input files.
type printer struct {
	e        *env
	w        *marc.Writer
	format   marc.Format
	utf8     bool
	lenient  bool
	comments bool // copy yaz-marcdump's "Skipping bad byte" comments (line, xml)

	rec      marc.Record // reused by UnmarshalBinary
	recOff   int64       // file offset of the record being printed
	scratch  []byte
	records  int // records read, damaged ones included
	bad      int // records with a problem
	marc8Raw int // MARC-8 records printed raw as XML or JSON
}

func runPrint(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "print", "[--format mrk|line|xml|json|marc] [--utf8] [--lenient] [FILE...]", printAbout)
	formatName := fs.String("format", "mrk", "output `format`: mrk, line, xml, json or marc")
	toUTF8 := fs.Bool("utf8", false, "convert MARC-8 records to UTF-8")
	lenient := fs.Bool("lenient", false, "recover and print damaged records (their problems are still reported)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	format, err := marc.ParseFormat(*formatName)
	if err != nil {
		fmt.Fprintf(e.stderr, "oclcbot print: %v\n", err)
		return errUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	p := &printer{
		e:        e,
		w:        marc.NewWriter(e.stdout, format),
		format:   format,
		utf8:     *toUTF8,
		lenient:  *lenient,
		comments: format == marc.FormatLine || format == marc.FormatMARCXML,
	}
	for _, name := range files {
		if err := p.printFile(ctx, name); err != nil {
			// Still end the output properly (</collection>) so that what
			// was printed can be read.
			p.w.Close()
			return err
		}
	}
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if p.marc8Raw > 0 {
		fmt.Fprintf(e.stderr, "oclcbot print: note: %d MARC-8 records were printed as raw MARC-8 bytes; use --utf8 for %s that parsers accept\n",
			p.marc8Raw, map[marc.Format]string{marc.FormatMARCXML: "XML", marc.FormatJSON: "JSON"}[format])
	}
	if p.bad > 0 {
		fmt.Fprintf(e.stderr, "oclcbot print: %d of %d records had problems\n", p.bad, p.records)
		return errSilentFailure
	}
	return nil
}

// printFile prints the records of one file ("-" is standard input).
func (p *printer) printFile(ctx context.Context, name string) error {
	var in io.Reader = p.e.stdin
	display := "standard input"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err // *PathError names the file
		}
		defer f.Close()
		in, display = f, name
	}
	rd := marc.NewReader(in)
	for n := 1; ; n++ {
		if n%printCheckEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("interrupted in %s after %d records", display, p.records)
		}
		raw, off, err := rd.ReadRaw()
		if p.comments {
			if so, skipped := rd.Skipped(); len(skipped) > 0 {
				p.scratch = marc.AppendSkipComments(p.scratch[:0], so, skipped, err == io.EOF)
				if err := p.w.WriteRaw(p.scratch); err != nil {
					return fmt.Errorf("write: %w", err)
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		var re *marc.ReadError
		if err != nil && !errors.As(err, &re) {
			return fmt.Errorf("read %s: %w", display, err)
		}
		if err := p.printRecord(display, n, off, raw, re); err != nil {
			return err
		}
	}
}

// printRecord decodes, converts and prints the n-th record of a file, read
// at byte off, and reports its problems; readErr is the Reader's verdict on
// its framing. The returned error is an output failure.
func (p *printer) printRecord(file string, n int, off int64, raw []byte, readErr *marc.ReadError) error {
	where := func() string { return fmt.Sprintf("%s: record %d at byte %d", file, n, off) }
	p.recOff = off
	if readErr != nil && errors.Is(readErr, marc.ErrGarbage) {
		// Not a record at all: nothing to print, and no record number.
		p.recOff = off
		p.report(fmt.Sprintf("%s: byte %d", file, off), readErr.Err)
		p.bad++
		return nil
	}
	p.records++
	rec := &p.rec
	decodeErr := error(nil)
	if readErr != nil {
		decodeErr = readErr.Err
	} else {
		decodeErr = rec.UnmarshalBinary(raw)
	}
	if decodeErr != nil {
		p.bad++
		if !p.lenient {
			p.report(where(), decodeErr)
			return nil
		}
		r, problems := marc.DecodeLenient(raw)
		if r == nil {
			p.report(where(), decodeErr)
			return nil
		}
		errs := make([]error, 0, len(problems)+1)
		if readErr != nil {
			errs = append(errs, decodeErr) // the framing problem
		}
		for i := range problems {
			errs = append(errs, &problems[i])
		}
		p.reportAll(where(), errs)
		rec = r
	}
	out := rec
	if coding := rec.Leader[marc.CharCodingPos]; coding != 'a' {
		if p.utf8 {
			u, problems := marc.ToUTF8Lenient(rec)
			if len(problems) > 0 {
				if decodeErr == nil {
					p.bad++
				}
				errs := make([]error, len(problems))
				for i, pr := range problems {
					errs[i] = pr
				}
				p.reportAll(where(), errs)
			}
			if p.format == marc.FormatLine {
				// yaz-marcdump -f MARC-8 -t UTF-8 keeps the leader as
				// it was in this format.
				u.Leader = rec.Leader
			}
			out = u
		} else if p.format == marc.FormatMARCXML || p.format == marc.FormatJSON {
			if hasHighBytes(rec) {
				p.marc8Raw++
			}
		}
	}
	if err := p.w.Write(out); err != nil {
		var ee *marc.EncodeError
		if errors.As(err, &ee) {
			if decodeErr == nil {
				p.bad++
			}
			p.report(where(), err)
			return nil
		}
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// report writes one problem to standard error. A decoding problem is
// located both within the record and within the file.
func (p *printer) report(where string, err error) {
	var de *marc.DecodeError
	if errors.As(err, &de) && errors.Is(de.Kind, marc.ErrGarbage) {
		fmt.Fprintf(p.e.stderr, "oclcbot print: %s: %v: %s\n", where, de.Kind, de.Detail)
		return
	}
	if errors.As(err, &de) && de.Kind != nil {
		fmt.Fprintf(p.e.stderr, "oclcbot print: %s: %v at record byte %d (file byte %d): %s\n",
			where, de.Kind, de.Offset, p.recOff+int64(de.Offset), de.Detail)
		return
	}
	fmt.Fprintf(p.e.stderr, "oclcbot print: %s: %v\n", where, err)
}

// maxReportsPerRecord bounds the problems listed for one record; a
// record of binary garbage can have thousands.
const maxReportsPerRecord = 5

// reportAll reports a record's problems, at most maxReportsPerRecord of
// them and then how many more there were.
func (p *printer) reportAll(where string, errs []error) {
	for i, err := range errs {
		if i == maxReportsPerRecord {
			fmt.Fprintf(p.e.stderr, "oclcbot print: %s: ... and %d more problems\n", where, len(errs)-i)
			return
		}
		p.report(where, err)
	}
}

// hasHighBytes reports whether a MARC-8 record holds bytes that are not
// ASCII text: escape sequences (which XML drops) and bytes 0x80-0xFF
// (which XML and JSON would carry as invalid UTF-8).
func hasHighBytes(r *marc.Record) bool {
	high := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 || s[i] == 0x1b {
				return true
			}
		}
		return false
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		if high(f.Value) {
			return true
		}
		for _, sf := range f.Subfields {
			if high(sf.Value) {
				return true
			}
		}
	}
	return false
}
