package gateway

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// rec10 is a framing test value: 10 bytes whose first five say 10.
const rec10 = "0001012345"

// frameCase is one framing example: the bytes a client sends before it
// half-closes, and what they must parse to.
type frameCase struct {
	name     string
	in       string
	user     string
	local    string
	password string
	records  []string
	raw      string // expected Raw: the bytes accepted, secrets starred
	err      error  // nil, a sentinel, or *ProtocolError (Offset compared)
	byNUL    bool   // the request ends with its NUL
}

// specCases are the framing examples of docs/connexion-gateway.md, each
// verbatim, followed by the other rules of its grammar.
var specCases = []frameCase{
	{
		name: "spec: decimal lengths",
		in:   "U5abcdeA2fgP3hij0001012345",
		user: "abcde", local: "fg", password: "hij", records: []string{rec10},
		raw: "U5abcdeA2fgP3***0001012345",
	},
	{
		name: "spec: single-byte lengths and spaces",
		in:   " UEabcde ABfg PChij 0001012345",
		user: "abcde", local: "fg", password: "hij", records: []string{rec10},
		raw: " UEabcde ABfg PC*** 0001012345",
	},
	{
		name:  "spec: A holds user and password, P0 followed directly by a record",
		in:    "A20diku dikuuser abc123P0" + rec10,
		local: "diku dikuuser abc123", records: []string{rec10},
		raw: "A20diku " + strings.Repeat("*", len("dikuuser abc123")) + "P0" + rec10,
	},
	{
		name:  "spec: lengths count UTF-8 bytes",
		in:    "A17testlib user bøf00007æ00008123",
		local: "testlib user bøf", records: []string{"00007æ", "00008123"},
		raw: "A17testlib " + strings.Repeat("*", len("user bøf")) + "00007æ00008123",
	},
	{
		name: "spec: incomplete at close",
		in:   "U3ab",
		raw:  "U3ab",
		err:  ErrIncomplete,
	},
	{
		name: "spec: protocol error at byte 1",
		in:   "U?abcde",
		raw:  "U",
		err:  &ProtocolError{Offset: 1},
	},

	// Length forms.
	{name: "single byte @ is an empty value", in: "U@P@" + rec10, records: []string{rec10}, raw: "U@P@" + rec10},
	{name: "single byte 0x7F is 63", in: "U\x7f" + strings.Repeat("u", 63) + rec10, user: strings.Repeat("u", 63), records: []string{rec10}, raw: "U\x7f" + strings.Repeat("u", 63) + rec10},
	{name: "single byte 0x80 is 64", in: "P\x80" + strings.Repeat("7", 64) + rec10, password: strings.Repeat("7", 64), records: []string{rec10}, raw: "P\x80" + strings.Repeat("*", 64) + rec10},
	{name: "single byte 0xFF is 191", in: "U\xff" + strings.Repeat("1", 191) + rec10, user: strings.Repeat("1", 191), records: []string{rec10}, raw: "U\xff" + strings.Repeat("1", 191) + rec10},
	{name: "decimal 192", in: "U192" + strings.Repeat("x", 192) + rec10, user: strings.Repeat("x", 192), records: []string{rec10}, raw: "U192" + strings.Repeat("x", 192) + rec10},
	{name: "decimal value may contain digits after its first byte", in: "U3a12" + rec10, user: "a12", records: []string{rec10}, raw: "U3a12" + rec10},
	{name: "lone 0 then a record: empty password", in: "P0" + rec10, records: []string{rec10}, raw: "P0" + rec10},
	{name: "lone 0 then a field", in: "U0A2fg" + rec10, local: "fg", records: []string{rec10}, raw: "U0A2fg" + rec10},
	{name: "decimal length whose value starts with NUL", in: "U2\x00\x00" + rec10, user: "\x00\x00", records: []string{rec10}, raw: "U2\x00\x00" + rec10},
	{name: "A without a space is only a user", in: "AEabcde" + rec10, local: "abcde", records: []string{rec10}, raw: "AEabcde" + rec10},
	{name: "A with a leading space is all secret after it", in: "AE abcd" + rec10, local: " abcd", records: []string{rec10}, raw: "AE ****" + rec10},
	{name: "a later field replaces an earlier one", in: "UBabUBcd" + rec10, user: "cd", records: []string{rec10}, raw: "UBabUBcd" + rec10},
	{name: "fields may follow records", in: rec10 + "UBab", user: "ab", records: []string{rec10}, raw: rec10 + "UBab"},
	{name: "length byte after a field letter may itself be a letter", in: "UU" + strings.Repeat("z", 21) + rec10, user: strings.Repeat("z", 21), records: []string{rec10}, raw: "UU" + strings.Repeat("z", 21) + rec10},

	// Records.
	{name: "NUL ends the request", in: "UEabcde" + rec10 + "\x00", user: "abcde", records: []string{rec10}, raw: "UEabcde" + rec10 + "\x00", byNUL: true},
	{name: "several records with spaces between", in: rec10 + " 00005 " + rec10 + "\x00", records: []string{rec10, "00005", rec10}, raw: rec10 + " 00005 " + rec10 + "\x00", byNUL: true},
	{name: "NUL and structural bytes inside a record are data", in: "00011\x00\x1d\x1e\x1f\x00\x00\x00", records: []string{"00011\x00\x1d\x1e\x1f\x00\x00"}, raw: "00011\x00\x1d\x1e\x1f\x00\x00\x00", byNUL: true},
	{name: "length 00005 is the smallest record", in: "00005", records: []string{"00005"}, raw: "00005"},
	{name: "plus sign length", in: "+0010123456", err: &ProtocolError{Offset: 0}},
	{name: "minus sign length", in: "-0001", err: &ProtocolError{Offset: 0}},
	{name: "short length then letter", in: "0001x12345", raw: "0001", err: &ProtocolError{Offset: 4}},
	{name: "space inside length", in: "000 1012345", raw: "000", err: &ProtocolError{Offset: 3}},
	{name: "length below 5", in: "00003ab", raw: "00003", err: &ProtocolError{Offset: 0}},
	{name: "length 00000", in: "00000", raw: "00000", err: &ProtocolError{Offset: 0}},
	{name: "short length at close", in: "0001", raw: "0001", err: ErrIncomplete},
	{name: "short record at close", in: "00010123", raw: "00010123", err: ErrIncomplete},
	{name: "second record short at close", in: rec10 + "00010", records: []string{rec10}, raw: rec10 + "00010", err: ErrIncomplete},
	{name: "field value short at close", in: "PEab", raw: "PE**", err: ErrIncomplete},
	{name: "decimal length at close", in: "U12", raw: "U12", err: ErrIncomplete},

	// Not a request.
	{name: "empty", in: "", err: &ProtocolError{Offset: 0}},
	{name: "only spaces", in: "   ", raw: "   ", err: &ProtocolError{Offset: 3}},
	{name: "only a NUL", in: "\x00", err: &ProtocolError{Offset: 0}},
	{name: "credentials without a record, NUL", in: "UEabcde\x00", user: "abcde", raw: "UEabcde", err: &ProtocolError{Offset: 7}},
	{name: "credentials without a record, close", in: "UEabcdePChij", user: "abcde", password: "hij", raw: "UEabcdePC***", err: &ProtocolError{Offset: 12}},
	{name: "space where a length belongs", in: "U 5abcde", raw: "U", err: &ProtocolError{Offset: 1}},
	{name: "lower-case field letter", in: "u5abcde", err: &ProtocolError{Offset: 0}},
	{name: "unknown field letter", in: "X5abcde", err: &ProtocolError{Offset: 0}},
	{name: "CR LF after the record", in: rec10 + "\r\n", records: []string{rec10}, raw: rec10, err: &ProtocolError{Offset: 10}},
	{name: "value longer than its length", in: "U3abcd" + rec10, user: "abc", raw: "U3abc", err: &ProtocolError{Offset: 5}},
	{name: "HTTP request", in: "GET / HTTP/1.0\r\n\r\n", err: &ProtocolError{Offset: 0}},
}

// parseInChunks feeds in to a fresh Parser in the chunks given by sizes
// (cycled), then calls Finish as the client's half-close would. Bytes
// after the NUL that ends the request are left unread, as the Server
// leaves them.
func parseInChunks(t testing.TB, p *Parser, in []byte, sizes []int) (*Request, error) {
	t.Helper()
	for i := 0; len(in) > 0; i++ {
		k := min(sizes[i%len(sizes)], len(in))
		n, err := p.Feed(in[:k])
		if err != nil {
			return p.Request(), err
		}
		if p.Done() {
			if in[n-1] != 0 {
				t.Fatalf("Done without consuming a NUL")
			}
			return p.Request(), nil
		}
		if n != k {
			t.Fatalf("Feed consumed %d of %d bytes without Done or error", n, k)
		}
		in = in[k:]
	}
	return p.Request(), p.Finish()
}

// chunkings returns the ways each case is fed: whole, byte by byte, and
// random chunk sizes.
func chunkings(seed uint64) map[string][]int {
	r := rand.New(rand.NewPCG(seed, 42))
	c := map[string][]int{"whole": {1 << 30}, "byte by byte": {1}}
	for i := range 20 {
		sizes := make([]int, 1+r.IntN(8))
		for j := range sizes {
			sizes[j] = 1 + r.IntN(12)
		}
		c["random "+string(rune('a'+i))] = sizes
	}
	return c
}

func TestParserFraming(t *testing.T) {
	for i, tc := range specCases {
		t.Run(tc.name, func(t *testing.T) {
			for how, sizes := range chunkings(uint64(i)) {
				var p Parser
				req, err := parseInChunks(t, &p, []byte(tc.in), sizes)
				checkFrameCase(t, how, tc, &p, req, err)
			}
		})
	}
}

func checkFrameCase(t *testing.T, how string, tc frameCase, p *Parser, req *Request, err error) {
	t.Helper()
	switch want := tc.err.(type) {
	case nil:
		if err != nil {
			t.Fatalf("%s: unexpected error: %v", how, err)
		}
		if !p.Done() {
			t.Fatalf("%s: not Done", how)
		}
		if p.EndedByNUL() != tc.byNUL {
			t.Errorf("%s: EndedByNUL = %v, want %v", how, p.EndedByNUL(), tc.byNUL)
		}
	case *ProtocolError:
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: error = %v, want a *ProtocolError", how, err)
		}
		if pe.Offset != want.Offset {
			t.Fatalf("%s: error offset = %d (%v), want %d", how, pe.Offset, err, want.Offset)
		}
	default:
		if !errors.Is(err, want) {
			t.Fatalf("%s: error = %v, want %v", how, err, want)
		}
	}
	if err != nil && p.Done() {
		t.Errorf("%s: Done after an error", how)
	}
	if req.User != tc.user || req.LocalUser != tc.local || req.Password != tc.password {
		t.Errorf("%s: U=%q A=%q P=%q, want U=%q A=%q P=%q", how, req.User, req.LocalUser, req.Password, tc.user, tc.local, tc.password)
	}
	var got []string
	for _, r := range req.Records {
		got = append(got, string(r))
	}
	if !reflect.DeepEqual(got, tc.records) {
		t.Errorf("%s: records = %q, want %q", how, got, tc.records)
	}
	if string(req.Raw) != tc.raw {
		t.Errorf("%s: Raw = %q, want %q", how, req.Raw, tc.raw)
	}
	if p.Offset() != int64(len(req.Raw)) {
		t.Errorf("%s: Offset = %d, len(Raw) = %d", how, p.Offset(), len(req.Raw))
	}
}

func TestParserStopsAfterNUL(t *testing.T) {
	in := []byte("UEabcde" + rec10 + "\x00more bytes")
	var p Parser
	n, err := p.Feed(in)
	if err != nil || !p.Done() || !p.EndedByNUL() {
		t.Fatalf("Feed = %d, %v; Done %v", n, err, p.Done())
	}
	if want := len("UEabcde" + rec10 + "\x00"); n != want {
		t.Errorf("consumed %d bytes, want %d (through the NUL)", n, want)
	}
	if n, err := p.Feed([]byte("x")); n != 0 || err != nil {
		t.Errorf("Feed after Done = %d, %v; want 0, nil", n, err)
	}
}

func TestParserErrorIsSticky(t *testing.T) {
	var p Parser
	_, err := p.Feed([]byte("U?"))
	if err == nil {
		t.Fatal("no error for U?")
	}
	if n, err2 := p.Feed([]byte(rec10)); n != 0 || err2 != err {
		t.Errorf("Feed after error = %d, %v; want 0 and the same error", n, err2)
	}
	if err2 := p.Finish(); err2 != err || p.Err() != err {
		t.Errorf("Finish after error = %v, Err = %v; want %v", err2, p.Err(), err)
	}
}

func TestParserLimits(t *testing.T) {
	tests := []struct {
		name       string
		maxBytes   int64
		maxRecords int
		in         string
		wantErr    error
		wantLimit  int64
		wantOffset int64 // bytes consumed when the error was found
	}{
		{name: "request exactly at the byte limit", maxBytes: 21, in: "UEabcde" + rec10 + "PA*\x00"},
		{name: "NUL one byte over the limit", maxBytes: 20, in: "UEabcde" + rec10 + "PA*\x00", wantErr: ErrTooLarge, wantLimit: 20, wantOffset: 20},
		{name: "claimed record length over the limit is refused before its bytes arrive", maxBytes: 1000, in: "99999", wantErr: ErrTooLarge, wantLimit: 1000, wantOffset: 5},
		{name: "claimed decimal field length over the limit", maxBytes: 1000, in: "P1001", wantErr: ErrTooLarge, wantLimit: 1000, wantOffset: 5},
		{name: "decimal length that would overflow int64, no limit", maxBytes: -1, in: "U" + strings.Repeat("9", 40), wantErr: ErrTooLarge, wantLimit: -1, wantOffset: 19},
		{name: "records at the limit", maxRecords: 2, in: rec10 + rec10 + "\x00"},
		{name: "one record over the limit", maxRecords: 2, in: rec10 + rec10 + rec10, wantErr: ErrTooManyRecords, wantLimit: 2, wantOffset: 20},
		{name: "no record limit", maxRecords: -1, in: strings.Repeat("00005", 500) + "\x00"},
		{name: "default record limit is 100", in: strings.Repeat("00005", 101), wantErr: ErrTooManyRecords, wantLimit: 100, wantOffset: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for how, sizes := range chunkings(7) {
				p := Parser{MaxBytes: tc.maxBytes, MaxRecords: tc.maxRecords}
				_, err := parseInChunks(t, &p, []byte(tc.in), sizes)
				if tc.wantErr == nil {
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					continue
				}
				var le *LimitError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &le) {
					t.Fatalf("%s: error = %v, want a *LimitError for %v", how, err, tc.wantErr)
				}
				if le.Limit != tc.wantLimit {
					t.Errorf("%s: Limit = %d, want %d", how, le.Limit, tc.wantLimit)
				}
				if p.Offset() != tc.wantOffset {
					t.Errorf("%s: error after %d bytes, want %d", how, p.Offset(), tc.wantOffset)
				}
				if max := tc.maxBytes; max > 0 && int64(cap(p.raw)) > 2*max {
					t.Errorf("%s: buffer grew to %d bytes, limit %d", how, cap(p.raw), max)
				}
			}
		})
	}
}

// A client that counted a password's characters instead of its bytes
// leaves part of it where the next item should be: the error must not
// quote that byte.
func TestProtocolErrorDoesNotQuoteSecret(t *testing.T) {
	for in, leaks := range map[string][]string{
		"PCpässword" + rec10: {"'s'", "0x73"},
		"AFuser xZ" + rec10:  {"'Z'", "0x5A"},
		"P3abc\x01" + rec10:  {"0x01"},
		"AEu pqr P0" + rec10: nil, // a space resets: nothing secret follows
	} {
		_, err := ParseRequest([]byte(in))
		if leaks == nil {
			if err != nil {
				t.Errorf("%q: %v", in, err)
			}
			continue
		}
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("%q: error = %v, want a *ProtocolError", in, err)
		}
		for _, leak := range leaks {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%q: error %q quotes the byte after a secret value", in, err)
			}
		}
	}
	// Not after a public value: the byte is named, which helps.
	_, err := ParseRequest([]byte("U3abcd" + rec10))
	if err == nil || !strings.Contains(err.Error(), "'d'") {
		t.Errorf("error %v does not name the unexpected byte 'd'", err)
	}
}

func TestParseRequest(t *testing.T) {
	req, err := ParseRequest([]byte("UEabcde" + rec10 + "\x00"))
	if err != nil || req.User != "abcde" || len(req.Records) != 1 {
		t.Fatalf("ParseRequest = %+v, %v", req, err)
	}
	req, err = ParseRequest([]byte(rec10 + "\x00x"))
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Offset != 11 {
		t.Errorf("trailing data: error = %v, want a *ProtocolError at byte 11", err)
	}
	if req == nil || len(req.Records) != 1 {
		t.Errorf("trailing data: partial request %+v, want the parsed record", req)
	}
}

// Records and Raw must stay valid while the parser goes on.
func TestParserRequestSnapshotIsStable(t *testing.T) {
	var p Parser
	p.Feed([]byte(rec10))
	snap := p.Request()
	p.Feed(bytes.Repeat([]byte("00005"), 50))
	p.Feed([]byte{0})
	if string(snap.Raw) != rec10 || len(snap.Records) != 1 || string(snap.Records[0]) != rec10 {
		t.Errorf("earlier Request changed: Raw %q, records %q", snap.Raw, snap.Records)
	}
	full := p.Request()
	if len(full.Records) != 51 {
		t.Errorf("got %d records, want 51", len(full.Records))
	}
	if cap(full.Records[0]) != len(full.Records[0]) {
		t.Errorf("record slice has spare capacity into Raw; appending to it would overwrite the next record")
	}
}
