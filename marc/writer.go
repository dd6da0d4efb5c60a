package marc

import (
	"fmt"
	"io"
)

// Format names a way of printing records.
type Format int

// The formats a Writer prints.
const (
	FormatLine     Format = iota // yaz-marcdump's default line format (AppendLine)
	FormatMnemonic               // MarcEdit .mrk mnemonic (AppendMnemonic)
	FormatMARCXML                // MARCXML collection, as yaz-marcdump -o marcxml
	FormatJSON                   // MARC-in-JSON, as yaz-marcdump -o json (AppendJSON)
	FormatISO2709                // ISO 2709 transmission format (AppendEncode)
)

var formatNames = [...]string{
	FormatLine:     "line",
	FormatMnemonic: "mrk",
	FormatMARCXML:  "xml",
	FormatJSON:     "json",
	FormatISO2709:  "marc",
}

// String returns the format's name as ParseFormat accepts it.
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the format named s: "line", "mrk" (or "mnemonic"),
// "xml" (or "marcxml"), "json", "marc" (or "iso2709").
func ParseFormat(s string) (Format, error) {
	switch s {
	case "line":
		return FormatLine, nil
	case "mrk", "mnemonic":
		return FormatMnemonic, nil
	case "xml", "marcxml":
		return FormatMARCXML, nil
	case "json":
		return FormatJSON, nil
	case "marc", "iso2709":
		return FormatISO2709, nil
	}
	return 0, fmt.Errorf("unknown MARC output format %q (want line, mrk, xml, json or marc)", s)
}

// writerFlushAt is the buffered size past which Write flushes.
const writerFlushAt = 64 << 10

// Writer prints records to an io.Writer in one Format, buffering output
// in a reusable buffer. For FormatMARCXML it writes the <collection>
// start before the first record and the end in Close, exactly as
// yaz-marcdump does (so no records means no output at all). Call Close
// when done; it flushes but does not close the underlying writer.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	format  Format
	buf     []byte
	started bool
	err     error
}

// NewWriter returns a Writer printing to w in format f.
func NewWriter(w io.Writer, f Format) *Writer {
	return &Writer{w: w, format: f, buf: make([]byte, 0, writerFlushAt+8192)}
}

// Write prints one record. For FormatISO2709 a record that cannot be
// encoded returns its *EncodeError and nothing is written; the Writer
// stays usable. Errors from the underlying writer are final.
func (w *Writer) Write(r *Record) error {
	if w.err != nil {
		return w.err
	}
	switch w.format {
	case FormatLine:
		w.buf = AppendLine(w.buf, r)
	case FormatMnemonic:
		w.buf = AppendMnemonic(w.buf, r)
	case FormatMARCXML:
		if !w.started {
			w.buf = append(w.buf, xmlCollectionStart...)
		}
		w.buf = appendXMLRecord(w.buf, r, xmlRecordInner)
	case FormatJSON:
		w.buf = AppendJSON(w.buf, r)
	case FormatISO2709:
		var err error
		if w.buf, err = AppendEncode(w.buf, r); err != nil {
			return err
		}
	default:
		return fmt.Errorf("marc: unknown format %v", w.format)
	}
	w.started = true
	if len(w.buf) >= writerFlushAt {
		return w.Flush()
	}
	return nil
}

// WriteRaw copies b to the output as it is, in sequence with the records
// (for comments such as AppendSkipComments produces).
func (w *Writer) WriteRaw(b []byte) error {
	if w.err != nil {
		return w.err
	}
	w.buf = append(w.buf, b...)
	if len(w.buf) >= writerFlushAt {
		return w.Flush()
	}
	return nil
}

// Flush writes any buffered output to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		_, err := w.w.Write(w.buf)
		w.buf = w.buf[:0]
		if err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// Close ends the output (the </collection> of MARCXML, if a record was
// written) and flushes it. Later writes fail.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.format == FormatMARCXML && w.started {
		w.buf = append(w.buf, xmlCollectionEnd...)
	}
	err := w.Flush()
	if err == nil {
		w.err = errWriterClosed
	}
	return err
}

var errWriterClosed = fmt.Errorf("marc: write to closed Writer")
