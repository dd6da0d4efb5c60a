package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRequest checks, for any bytes a client may send, that the
// parser never panics or hangs; that the chunking of the bytes does not
// change the outcome; that Raw is the input with only secret bytes
// starred; and that a request it accepts re-encodes (AppendRequest) to
// bytes it parses back to the same values.
func FuzzParseRequest(f *testing.F) {
	for _, tc := range specCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		limits := Parser{MaxBytes: 1 << 16, MaxRecords: 8}

		whole := limits
		wreq, werr := parseInChunks(t, &whole, data, []int{len(data) + 1})

		// The same bytes in chunks derived from the data itself.
		sizes := []int{1}
		for i := 0; i < len(data) && len(sizes) < 16; i += 3 {
			sizes = append(sizes, 1+int(data[i])%13)
		}
		chunked := limits
		creq, cerr := parseInChunks(t, &chunked, data, sizes)
		if fmt.Sprint(werr) != fmt.Sprint(cerr) {
			t.Fatalf("error depends on chunking: whole %v, chunked %v", werr, cerr)
		}
		if !sameRequest(wreq, creq) || !bytes.Equal(wreq.Raw, creq.Raw) {
			t.Fatalf("request depends on chunking:\nwhole   %q %q\nchunked %q %q", wreq.Raw, wreq.Records, creq.Raw, creq.Records)
		}

		// Raw is what was accepted, with only secrets overwritten.
		if int64(len(wreq.Raw)) != whole.Offset() || len(wreq.Raw) > len(data) {
			t.Fatalf("Raw has %d bytes; %d consumed of %d", len(wreq.Raw), whole.Offset(), len(data))
		}
		for i, c := range wreq.Raw {
			if c != data[i] && c != '*' {
				t.Fatalf("Raw[%d] = %q, input %q", i, c, data[i])
			}
		}

		if werr != nil {
			var pe *ProtocolError
			var le *LimitError
			if !errors.As(werr, &pe) && !errors.As(werr, &le) && !errors.Is(werr, ErrIncomplete) {
				t.Fatalf("unexpected error type %T: %v", werr, werr)
			}
			return
		}
		if len(wreq.Records) == 0 {
			t.Fatal("request accepted without a record")
		}
		for _, r := range wreq.Records {
			if err := checkFraming(r); err != nil {
				t.Fatalf("accepted a record that is not framed by its length: %v", err)
			}
		}

		// Round trip: what was accepted re-encodes and parses back.
		enc, err := AppendRequest(nil, wreq)
		if err != nil {
			t.Fatalf("AppendRequest of a parsed request: %v", err)
		}
		back, err := ParseRequest(enc)
		if err != nil {
			t.Fatalf("parsing the re-encoded request %q: %v", enc, err)
		}
		if !sameRequest(wreq, back) {
			t.Fatalf("round trip changed the request: %q -> %q", data, enc)
		}

		// Raw parses as the same request with the secrets starred.
		if !whole.EndedByNUL() {
			return
		}
		scrubbed, err := ParseRequest(wreq.Raw)
		if err != nil {
			t.Fatalf("parsing Raw %q: %v", wreq.Raw, err)
		}
		want := *wreq
		want.Password = strings.Repeat("*", len(wreq.Password))
		if u, p, ok := strings.Cut(wreq.LocalUser, " "); ok {
			want.LocalUser = u + " " + strings.Repeat("*", len(p))
		}
		if !sameRequest(&want, scrubbed) {
			t.Fatalf("Raw %q parses as U=%q A=%q P=%q", wreq.Raw, scrubbed.User, scrubbed.LocalUser, scrubbed.Password)
		}
	})
}

// FuzzRoundTrip checks that whatever a Client sends (AppendRequest) is
// parsed back to the same values, or is refused as ErrUnencodable for the
// one documented reason.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripSeeds {
		f.Add(s.user, s.local, s.password, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, user, local, password string, body []byte) {
		if len(body)+5 > MaxRecordBytes {
			return
		}
		rec := append([]byte(fmt.Sprintf("%05d", len(body)+5)), body...)
		req := &Request{User: user, LocalUser: local, Password: password, Records: [][]byte{rec, []byte("00005")}}
		enc, err := AppendRequest(nil, req)
		if err != nil {
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("error %v is not ErrUnencodable", err)
			}
			longDigit := func(v string) bool { return len(v) > maxSingleByteLength && isDigit(v[0]) }
			if !longDigit(user) && !longDigit(local) && !longDigit(password) {
				t.Fatalf("refused an encodable request: %v", err)
			}
			if len(password) > 3 && strings.Contains(err.Error(), password) {
				t.Fatalf("error contains the password: %v", err)
			}
			return
		}
		for _, sizes := range [][]int{{len(enc)}, {1}, {7, 1, 3}} {
			var p Parser
			got, err := parseInChunks(t, &p, enc, sizes)
			if err != nil {
				t.Fatalf("parsing %q: %v", enc, err)
			}
			if !p.EndedByNUL() || !sameRequest(req, got) {
				t.Fatalf("%q parsed as U=%q A=%q P=%q records %q", enc, got.User, got.LocalUser, got.Password, got.Records)
			}
			// Raw is exactly the encoding of the request with its
			// secrets starred.
			scrubbed := *req
			scrubbed.Password = strings.Repeat("*", len(password))
			if u, p, ok := strings.Cut(local, " "); ok {
				scrubbed.LocalUser = u + " " + strings.Repeat("*", len(p))
			}
			want, err := AppendRequest(nil, &scrubbed)
			if err != nil || !bytes.Equal(got.Raw, want) {
				t.Fatalf("Raw = %q, want %q (%v)", got.Raw, want, err)
			}
		}
	})
}

// sameRequest compares the values a request carries.
func sameRequest(a, b *Request) bool {
	return a.User == b.User && a.LocalUser == b.LocalUser && a.Password == b.Password &&
		(len(a.Records) == 0 && len(b.Records) == 0 || reflect.DeepEqual(a.Records, b.Records))
}
