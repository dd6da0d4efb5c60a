package marc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

const (
	// readBufSize holds a record of the largest size plus the whole of the
	// next one, which resynchronisation looks at.
	readBufSize = 256 << 10
	// maxSkipped bounds the filler bytes Reader keeps for Skipped.
	maxSkipped = 64 << 10
	// minFramed is the least a record can be: a leader and a terminator.
	minFramed = LeaderLen + 1
)

// Reader reads ISO 2709 records one after another from a stream in
// constant memory (one 256 KiB buffer, reused).
//
// Between records it skips, silently, the filler some files carry: CR,
// LF, space, tab, NUL, Ctrl-Z and stray record terminators (Skipped
// returns them). A record is framed by its leader length when the byte at
// that length is the record terminator. When it is not, Reader does not
// give up: it trusts the length if a record (or the end of input) follows
// it, else the next record terminator; bytes that belong to no record are
// reported as garbage up to the next place a record starts. Each such
// case is returned as a *ReadError with its stream offset, and the next
// call carries on with the following record.
type Reader struct {
	rd    io.Reader
	buf   []byte
	r, w  int   // buf[r:w] is read but not consumed
	off   int64 // stream offset of buf[r]
	eof   bool  // rd has returned io.EOF
	err   error // sticky error from rd
	skip  []byte
	skipO int64
}

// NewReader returns a Reader reading from rd.
func NewReader(rd io.Reader) *Reader {
	return &Reader{rd: rd, buf: make([]byte, readBufSize)}
}

// isFiller reports whether c may sit between records without being worth
// an error.
func isFiller(c byte) bool {
	switch c {
	case '\r', '\n', ' ', '\t', 0x00, 0x1a, RecordTerminator:
		return true
	}
	return false
}

// ReadRaw returns the next record's bytes, from leader/00 to its record
// terminator, and its offset in the stream. The bytes are valid only until
// the next call.
//
// At the end of the input it returns io.EOF. A *ReadError means the
// returned bytes are a damaged record (ErrRecordLength, ErrTerminator,
// ErrTruncated; DecodeLenient may recover it) or garbage that is no record
// at all (ErrGarbage); the Reader has resynchronised and the next call
// continues. Any other error comes from the underlying reader and is
// returned again by every later call.
func (r *Reader) ReadRaw() ([]byte, int64, error) {
	r.skip = r.skip[:0]
	for {
		if r.fill(1) == 0 {
			return nil, r.off, r.endErr()
		}
		c := r.buf[r.r]
		if !isFiller(c) {
			break
		}
		if len(r.skip) == 0 {
			r.skipO = r.off
		}
		if len(r.skip) < maxSkipped {
			r.skip = append(r.skip, c)
		}
		r.advance(1)
	}
	start := r.off
	n, lenOK := r.lengthAt(0)
	if lenOK && r.fill(n) >= n && r.buf[r.r+n-1] == RecordTerminator {
		return r.take(n), start, nil
	}
	return r.recover(start, n, lenOK)
}

// Read returns the next record decoded strictly, and its stream offset.
// Errors are as for ReadRaw, plus a *ReadError wrapping the *DecodeError
// of a record that frames correctly but does not decode; in both cases
// the next call continues with the following record.
func (r *Reader) Read() (*Record, int64, error) {
	raw, off, err := r.ReadRaw()
	if err != nil {
		return nil, off, err
	}
	rec, err := Decode(raw)
	if err != nil {
		return nil, off, &ReadError{Offset: off, Err: err}
	}
	return rec, off, nil
}

// Skipped returns the filler bytes skipped just before the record (or
// error, or end of input) that the last ReadRaw or Read returned, and the
// stream offset of the first of them. At most 64 KiB are kept.
func (r *Reader) Skipped() (int64, []byte) { return r.skipO, r.skip }

// recover handles a record whose length does not land on a terminator.
func (r *Reader) recover(start int64, n int, lenOK bool) ([]byte, int64, error) {
	fail := func(raw []byte, off int, kind error, format string, args ...any) ([]byte, int64, error) {
		return raw, start, &ReadError{Offset: start, Err: decErr(off, kind, fmt.Sprintf(format, args...))}
	}
	// The length is right but the terminator is wrong: another record (or
	// the end of the input) follows exactly where the length says.
	if lenOK && r.fill(n) >= n && r.followedByRecord(n) {
		c := r.buf[r.r+n-1]
		return fail(r.take(n), n-1, ErrTerminator, "record ends with byte 0x%02X, not the record terminator 0x1D", c)
	}
	avail := r.fill(MaxRecordLen)
	limit := min(avail, MaxRecordLen)
	end := limit // where to look for the next record start
	rt := bytes.IndexByte(r.buf[r.r+1:r.r+limit], RecordTerminator)
	if rt >= 0 {
		rt++
		end = rt
	}
	for s := 1; s <= end && s < avail; s++ {
		if r.validStart(s) {
			return r.garbage(start, s)
		}
	}
	if rt >= 0 && rt+1 < minFramed {
		return r.garbage(start, rt+1)
	}
	if rt >= 0 {
		lead := string(r.buf[r.r : r.r+5])
		if lenOK {
			return fail(r.take(rt+1), 0, ErrRecordLength, "leader/00-04 says %d bytes, but the record terminator ends the record after %d", n, rt+1)
		}
		return fail(r.take(rt+1), 0, ErrRecordLength, "leader/00-04 %s is not a record length; record of %d bytes framed by its terminator", quoteBytes(lead), rt+1)
	}
	if avail < MaxRecordLen && (r.eof || r.err != nil) {
		if lenOK {
			return fail(r.take(avail), 0, ErrTruncated, "leader/00-04 says %d bytes, the input ends after %d", n, avail)
		}
	}
	return r.garbage(start, limit)
}

// garbage consumes and reports n bytes that are not a record.
func (r *Reader) garbage(start int64, n int) ([]byte, int64, error) {
	head := quoteBytes(string(r.buf[r.r : r.r+min(n, 16)]))
	return r.take(n), start, &ReadError{Offset: start, Err: decErr(0, ErrGarbage, fmt.Sprintf("%d bytes starting %s", n, head))}
}

// lengthAt parses a 5-digit record length at buf[r.r+s] and reports
// whether it is a possible length.
func (r *Reader) lengthAt(s int) (int, bool) {
	if r.fill(s+5) < s+5 {
		return 0, false
	}
	n, _, ok := atoiDigits(r.buf[r.r+s : r.r+s+5])
	return n, ok && n >= minFramed
}

// validStart reports whether a well-framed record starts at buf[r.r+s].
func (r *Reader) validStart(s int) bool {
	n, ok := r.lengthAt(s)
	return ok && r.fill(s+n) >= s+n && r.buf[r.r+s+n-1] == RecordTerminator
}

// followedByRecord reports whether, after filler, the input ends or a
// well-framed record starts at buf[r.r+p].
func (r *Reader) followedByRecord(p int) bool {
	for lim := p + 4096; ; p++ {
		if r.fill(p+1) < p+1 {
			return true
		}
		if !isFiller(r.buf[r.r+p]) || p >= lim {
			break
		}
	}
	return r.validStart(p)
}

func (r *Reader) take(n int) []byte {
	b := r.buf[r.r : r.r+n]
	r.advance(n)
	return b
}

func (r *Reader) advance(n int) {
	r.r += n
	r.off += int64(n)
}

func (r *Reader) endErr() error {
	if r.err != nil {
		return r.err
	}
	return io.EOF
}

// fill tries to have n unread bytes buffered (n <= len(buf)) and returns
// how many there are.
func (r *Reader) fill(n int) int {
	for empty := 0; r.w-r.r < n && !r.eof && r.err == nil; {
		if r.r > 0 && (len(r.buf)-r.r < n || r.w == len(r.buf)) {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		}
		m, err := r.rd.Read(r.buf[r.w:])
		if m < 0 || m > len(r.buf)-r.w {
			r.err = errors.New("marc: reader returned an invalid count")
			break
		}
		r.w += m
		switch {
		case err == io.EOF:
			r.eof = true
		case err != nil:
			r.err = err
		case m == 0:
			if empty++; empty >= 100 {
				r.err = io.ErrNoProgress
			}
		}
	}
	return r.w - r.r
}
