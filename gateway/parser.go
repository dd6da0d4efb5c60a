package gateway

import (
	"fmt"
	"math"
	"slices"
)

// Framing limits fixed by the protocol.
const (
	// MaxRecordBytes is the largest record ISO 2709 can frame: its length
	// is five decimal digits.
	MaxRecordBytes = 99999

	// MinRecordBytes is the smallest length a record can declare: the
	// five digits of the length itself. Framing accepts it; whether the
	// bytes are valid MARC is the MARC decoder's judgement.
	MinRecordBytes = 5

	// maxSingleByteLength is the longest value the single-byte length
	// form can carry (0xFF - 0x40).
	maxSingleByteLength = 0xFF - 0x40
)

type parseState uint8

const (
	stItem    parseState = iota // between items: SP, field letter, record digit or NUL
	stLen                       // first byte of a field's length
	stLenDec                    // further digits of a decimal length
	stValue                     // bytes of a field's value
	stRecLen                    // digits 2-5 of a record's length
	stRecBody                   // bytes of a record after its length
	stDone                      // request complete
	stFailed                    // error; nothing more is consumed
)

// Parser parses one Connexion export request incrementally, as its bytes
// arrive in arbitrary chunks (see docs/connexion-gateway.md):
//
//	request = *( SP / field / record ) [ NUL ]
//	field   = ( "U" / "A" / "P" ) length value
//	record  = 5 ASCII digits giving the record's total length, then the rest of the record
//
// A length is one byte b >= 0x40 (b - 0x40 bytes), a lone "0" (empty
// value; a "0" is always a complete length, so "P0" followed by a record
// is an empty password and the record), or decimal digits not starting
// with "0" (the value then necessarily starts with a non-digit). A later
// field of the same letter replaces an earlier one.
//
// A partial field or record is never an error by itself: call Finish
// when the client has closed or half-closed to learn whether the request
// is complete. The zero Parser is ready to use with the default limits.
// A Parser is not safe for concurrent use.
//
// Memory is bounded by MaxBytes: a claimed length is checked against the
// bytes remaining under the limit before anything is reserved for it.
type Parser struct {
	// MaxBytes bounds the request's size in bytes, everything included.
	// Zero means DefaultMaxRequestBytes; negative means no limit.
	MaxBytes int64
	// MaxRecords bounds the number of records. Zero means
	// DefaultMaxRecords; negative means no limit.
	MaxRecords int

	state parseState
	off   int64  // bytes consumed
	raw   []byte // bytes consumed, secrets overwritten with '*'
	err   error
	eof   bool // Finish was called

	field      byte   // letter of the field being read
	need       int64  // bytes still expected (value, record) or decimal length so far
	val        []byte // value of the field being read
	aSecret    bool   // in an A value, past its first space: bytes are secret
	afterValue byte   // letter of the field whose value ended just before the current item, 0 otherwise

	recStart int      // offset in raw of the record being read
	recDigit int      // digits of the record length read so far
	recLen   int      // record length accumulated
	recs     [][2]int // complete records: [start, end) in raw

	user, local, password string
}

// Feed consumes bytes of the request from b. It stops after the NUL that
// ends a request, or at the first byte that cannot be accepted, and
// returns the number of bytes consumed: n < len(b) only when Done or err
// != nil. err is a *ProtocolError or a *LimitError (ErrTooLarge,
// ErrTooManyRecords); the offending byte is not consumed, and after an
// error, as after Done, Feed consumes nothing more and returns the same
// error (nil once Done).
func (p *Parser) Feed(b []byte) (n int, err error) {
	if p.raw == nil && len(b) > 0 {
		// A request usually arrives whole in the first read: reserve
		// room for all of it (within MaxBytes) rather than growing Raw
		// item by item.
		size := int64(len(b))
		if max := p.maxBytes(); max >= 0 {
			size = min(size, max)
		}
		p.raw = make([]byte, 0, size)
	}
	for n < len(b) {
		switch p.state {
		case stDone:
			return n, nil
		case stFailed:
			return n, p.err

		case stItem:
			c := b[n]
			if !p.room(1) {
				return n, p.tooLarge()
			}
			switch {
			case c == ' ':
				p.take(b[n : n+1])
				n++
			case c == 'U' || c == 'A' || c == 'P':
				p.field = c
				p.take(b[n : n+1])
				n++
				p.state = stLen
			case isDigit(c):
				if max := p.maxRecords(); max >= 0 && len(p.recs) >= max {
					return n, p.fail(&LimitError{Err: ErrTooManyRecords, Limit: int64(max)})
				}
				p.recStart = len(p.raw)
				p.recLen = int(c - '0')
				p.recDigit = 1
				p.take(b[n : n+1])
				n++
				p.state = stRecLen
			case c == 0:
				if len(p.recs) == 0 {
					return n, p.fail(&ProtocolError{Offset: p.off, Msg: "the request ended (NUL) before any record"})
				}
				p.take(b[n : n+1])
				n++
				p.state = stDone
				return n, nil
			default:
				return n, p.fail(p.unexpected(c))
			}
			p.afterValue = 0

		case stLen:
			c := b[n]
			if !p.room(1) {
				return n, p.tooLarge()
			}
			switch {
			case c >= 0x40:
				p.take(b[n : n+1])
				n++
				if err := p.startValue(int64(c - 0x40)); err != nil {
					return n, err
				}
			case c == '0':
				p.take(b[n : n+1])
				n++
				p.endValue()
			case isDigit(c):
				p.take(b[n : n+1])
				n++
				p.need = int64(c - '0')
				p.state = stLenDec
			default:
				return n, p.fail(&ProtocolError{Offset: p.off, Msg: fmt.Sprintf(
					"invalid length %s for field %c: expected a byte 0x40-0xFF or decimal digits", describe(c), p.field)})
			}

		case stLenDec:
			c := b[n]
			if !isDigit(c) {
				// The decimal length ends at the value's first byte.
				if err := p.startValue(p.need); err != nil {
					return n, err
				}
				continue
			}
			if !p.room(1) || p.need > (math.MaxInt64-9)/10 {
				return n, p.tooLarge()
			}
			p.need = p.need*10 + int64(c-'0')
			p.take(b[n : n+1])
			n++
			if !p.room(p.need) {
				return n, p.tooLarge()
			}

		case stValue:
			k := int(min(p.need, int64(len(b)-n)))
			p.takeValue(b[n : n+k])
			n += k
			p.need -= int64(k)
			if p.need == 0 {
				p.endValue()
			}

		case stRecLen:
			c := b[n]
			if !isDigit(c) {
				return n, p.fail(&ProtocolError{Offset: p.off, Msg: fmt.Sprintf(
					"record length must be 5 ASCII digits, found %s after %d", describe(c), p.recDigit)})
			}
			if !p.room(1) {
				return n, p.tooLarge()
			}
			p.recLen = p.recLen*10 + int(c-'0')
			p.recDigit++
			p.take(b[n : n+1])
			n++
			if p.recDigit < 5 {
				continue
			}
			if p.recLen < MinRecordBytes {
				return n, p.fail(&ProtocolError{Offset: p.off - 5, Msg: fmt.Sprintf(
					"record length %05d is less than the 5 bytes of the length itself", p.recLen)})
			}
			p.need = int64(p.recLen - 5)
			if !p.room(p.need) {
				return n, p.tooLarge()
			}
			p.raw = slices.Grow(p.raw, int(p.need))
			p.state = stRecBody
			if p.need == 0 {
				p.endRecord()
			}

		case stRecBody:
			k := int(min(p.need, int64(len(b)-n)))
			p.take(b[n : n+k])
			n += k
			p.need -= int64(k)
			if p.need == 0 {
				p.endRecord()
			}
		}
	}
	if p.state == stFailed {
		return n, p.err
	}
	return n, nil
}

// Finish tells the parser that no more bytes will come (the client closed
// or half-closed). It returns nil if the request is complete: ended by
// NUL, or ending between items after at least one record. Otherwise it
// returns an error wrapping ErrIncomplete (stopped inside a field or
// record) or a *ProtocolError (no record at all), or the error Feed
// already returned.
func (p *Parser) Finish() error {
	p.eof = true
	switch p.state {
	case stDone:
		return nil
	case stFailed:
		return p.err
	case stItem:
		if len(p.recs) == 0 {
			return p.fail(&ProtocolError{Offset: p.off, Msg: "the request ended before any record"})
		}
		p.state = stDone
		return nil
	case stRecLen:
		return p.fail(fmt.Errorf("%w: record %d ended after %d of the 5 digits of its length (byte %d)",
			ErrIncomplete, len(p.recs)+1, p.recDigit, p.off))
	case stRecBody:
		return p.fail(fmt.Errorf("%w: record %d ended after %d of its %d bytes (byte %d)",
			ErrIncomplete, len(p.recs)+1, int64(p.recLen)-p.need, p.recLen, p.off))
	case stValue:
		return p.fail(fmt.Errorf("%w: field %c ended after %d of its %d value bytes (byte %d)",
			ErrIncomplete, p.field, len(p.val), int64(len(p.val))+p.need, p.off))
	default: // stLen, stLenDec
		return p.fail(fmt.Errorf("%w: field %c ended in its length (byte %d)", ErrIncomplete, p.field, p.off))
	}
}

// Done reports whether the request is complete: its NUL was consumed, or
// Finish found it complete.
func (p *Parser) Done() bool { return p.state == stDone }

// EndedByNUL reports whether the request was ended by a NUL byte (as
// opposed to the client half-closing).
func (p *Parser) EndedByNUL() bool { return p.state == stDone && !p.eof }

// Err returns the error that stopped the parser, or nil.
func (p *Parser) Err() error { return p.err }

// Offset returns the number of bytes consumed so far.
func (p *Parser) Offset() int64 { return p.off }

// Request returns what has been parsed so far: the fields and the records
// completed, and Raw, every byte consumed with secret values overwritten.
// It can be called at any time, also after an error (to log the partial
// request). Records are sub-slices of Raw (they hold no secrets) and must
// not be modified; the Request stays valid if the Parser is fed further.
// ID, RemoteAddr, Received and Complete are left for the caller to set.
func (p *Parser) Request() *Request {
	raw := p.raw[:len(p.raw):len(p.raw)]
	r := &Request{
		User:      p.user,
		LocalUser: p.local,
		Password:  p.password,
		Raw:       raw,
	}
	if len(p.recs) > 0 {
		r.Records = make([][]byte, len(p.recs))
		for i, se := range p.recs {
			r.Records[i] = raw[se[0]:se[1]:se[1]]
		}
	}
	return r
}

// ParseRequest parses a whole request held in b, as if the client had
// sent b and then half-closed, with the default limits. Bytes after the
// NUL that ends a request are a *ProtocolError. On error the partial
// request is returned too (never nil), as Parser.Request describes.
func ParseRequest(b []byte) (*Request, error) {
	var p Parser
	n, err := p.Feed(b)
	if err != nil {
		return p.Request(), err
	}
	if p.Done() {
		if n < len(b) {
			return p.Request(), &ProtocolError{Offset: int64(n), Msg: "data after the NUL that ended the request"}
		}
		return p.Request(), nil
	}
	return p.Request(), p.Finish()
}

func (p *Parser) maxBytes() int64 {
	if p.MaxBytes == 0 {
		return DefaultMaxRequestBytes
	}
	return p.MaxBytes
}

func (p *Parser) maxRecords() int {
	if p.MaxRecords == 0 {
		return DefaultMaxRecords
	}
	return p.MaxRecords
}

// room reports whether n more bytes fit under MaxBytes.
func (p *Parser) room(n int64) bool {
	max := p.maxBytes()
	return max < 0 || n <= max-p.off
}

func (p *Parser) tooLarge() error {
	return p.fail(&LimitError{Err: ErrTooLarge, Limit: p.maxBytes()})
}

func (p *Parser) fail(err error) error {
	p.state = stFailed
	p.err = err
	return err
}

// take consumes b verbatim.
func (p *Parser) take(b []byte) {
	p.raw = append(p.raw, b...)
	p.off += int64(len(b))
}

// startValue begins a field value of n bytes (the length is consumed).
func (p *Parser) startValue(n int64) error {
	if !p.room(n) {
		return p.tooLarge()
	}
	p.val = p.val[:0]
	p.aSecret = false
	p.need = n
	if n == 0 {
		p.endValue()
		return nil
	}
	p.state = stValue
	return nil
}

// takeValue consumes value bytes, overwriting secret ones in raw: all of
// P, and in A everything after the first space ("user password").
func (p *Parser) takeValue(b []byte) {
	p.val = append(p.val, b...)
	p.off += int64(len(b))
	switch p.field {
	case 'P':
		p.raw = appendStars(p.raw, len(b))
	case 'A':
		for i, c := range b {
			if p.aSecret {
				p.raw = appendStars(p.raw, len(b)-i)
				break
			}
			p.raw = append(p.raw, c)
			p.aSecret = c == ' '
		}
	default:
		p.raw = append(p.raw, b...)
	}
}

func (p *Parser) endValue() {
	v := string(p.val)
	switch p.field {
	case 'U':
		p.user = v
	case 'A':
		p.local = v
	case 'P':
		p.password = v
	}
	clear(p.val) // do not leave a password lying in a reusable buffer
	p.val = p.val[:0]
	if len(v) > 0 && (p.field == 'P' || p.aSecret) {
		p.afterValue = p.field
	}
	p.state = stItem
}

func (p *Parser) endRecord() {
	p.recs = append(p.recs, [2]int{p.recStart, len(p.raw)})
	p.state = stItem
}

// unexpected describes a byte that cannot start an item. Right after a
// secret value the byte may be part of the secret (a client that counted
// characters instead of bytes), so it is not quoted.
func (p *Parser) unexpected(c byte) error {
	if p.afterValue != 0 {
		return &ProtocolError{Offset: p.off, Msg: fmt.Sprintf(
			"unexpected byte right after the value of field %c (is its length counted in bytes?)", p.afterValue)}
	}
	return &ProtocolError{Offset: p.off, Msg: fmt.Sprintf(
		"unexpected %s: expected a field (U, A, P), a record length, a space or the closing NUL", describe(c))}
}

func appendStars(b []byte, n int) []byte {
	for range n {
		b = append(b, '*')
	}
	return b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// describe names a byte for an error message: 'x' (0x78) or 0x00.
func describe(c byte) string {
	if c > ' ' && c < 0x7F && c != '\'' {
		return fmt.Sprintf("byte '%c' (0x%02X)", c, c)
	}
	return fmt.Sprintf("byte 0x%02X", c)
}
