package gateway

import (
	"errors"
	"strings"
	"testing"
)

func TestAppendRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{
			name: "single-byte lengths, as the desktop client sends",
			req:  Request{User: "abcde", LocalUser: "fg", Password: "hij", Records: [][]byte{[]byte(rec10)}},
			want: "UEabcdeABfgPChij" + rec10 + "\x00",
		},
		{
			name: "empty fields are left out",
			req:  Request{Records: [][]byte{[]byte(rec10), []byte("00005")}},
			want: rec10 + "00005\x00",
		},
		{
			name: "191 bytes is the longest single-byte length",
			req:  Request{Password: strings.Repeat("9", 191), Records: [][]byte{[]byte(rec10)}},
			want: "P\xff" + strings.Repeat("9", 191) + rec10 + "\x00",
		},
		{
			name: "192 bytes needs a decimal length",
			req:  Request{User: strings.Repeat("u", 192), Records: [][]byte{[]byte(rec10)}},
			want: "U192" + strings.Repeat("u", 192) + rec10 + "\x00",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendRequest([]byte("prefix"), &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tc.want {
				t.Errorf("AppendRequest = %q, want %q", got, "prefix"+tc.want)
			}
			back, err := ParseRequest(got[len("prefix"):])
			if err != nil {
				t.Fatalf("parsing it back: %v", err)
			}
			if back.User != tc.req.User || back.LocalUser != tc.req.LocalUser || back.Password != tc.req.Password || len(back.Records) != len(tc.req.Records) {
				t.Errorf("parsed back as %+v", back)
			}
		})
	}
}

func TestAppendRequestUnencodable(t *testing.T) {
	secret := "1" + strings.Repeat("s3cr3t", 40) // 241 bytes starting with a digit
	tests := []struct {
		name string
		req  Request
		want string // in the error message
	}{
		{"long password starting with a digit", Request{Password: secret, Records: [][]byte{[]byte(rec10)}}, "password (P) of 241 bytes starts with a digit"},
		{"long local user starting with a digit", Request{LocalUser: "9 " + secret, Records: [][]byte{[]byte(rec10)}}, "local user (A) of 243 bytes"},
		{"no record", Request{User: "u"}, "no record"},
		{"record length does not match", Request{Records: [][]byte{[]byte("00011abc")}}, "record 1: leader/00-04 says 11 bytes but the record has 8"},
		{"record length not digits", Request{Records: [][]byte{[]byte(rec10), []byte("0x010abcde")}}, "record 2: leader/00-04"},
		{"record too short to hold its length", Request{Records: [][]byte{[]byte("0004")}}, "record 1: 4 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendRequest(dst, &tc.req)
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("error = %v, want ErrUnencodable", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q contains the secret", err)
			}
			if string(got) != "keep" {
				t.Errorf("dst changed to %q on error", got)
			}
		})
	}
}
