package listserv

import (
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxSoftLine is the longest body line sent as 7bit; a longer one makes
// the body quoted-printable (RFC 5322 asks for lines of 78 characters at
// most).
const maxSoftLine = 76

// headerText makes s safe for a header value: invalid UTF-8 becomes
// U+FFFD, each run of spaces, tabs and line breaks becomes one space
// (receivers unfold headers so anyway), other control characters are
// dropped and the ends are trimmed. go-message encodes what is not
// ASCII (RFC 2047) and folds long values, so nothing s contains can end
// the header or start another one.
func headerText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r == ' ' || r == '\r' || r == '\n' || r == '\t' || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// headerLike matches a body line that a list server (or a person's mail
// program) could take for a From:, Sender: or Reply-To: header, even
// indented or quoted with ">" or "|".
var headerLike = regexp.MustCompile(`(?im)^([ \t>|]*)(from|sender|reply-to|resent-from|resent-sender)([ \t]*:)`)

// bodyText makes s a clean text/plain body: valid UTF-8 (each run of
// invalid bytes becomes U+FFFD), LF line ends (CR LF and lone CR converted, Unicode line
// separators too), no control characters but TAB and LF, a final LF, and
// every header-like From:/Sender:/Reply-To: line neutralised as
// "From (quoted): ..." so that LISTSERV does not take the post for a loop
// or a forged header. Text quoted from records, replies and mail stays
// readable.
func bodyText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				n = 2
			}
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte('\n')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	out := headerLike.ReplaceAllString(b.String(), "$1$2 (quoted)$3")
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

// needsQP reports whether body (as bodyText made it) must be
// quoted-printable: it has non-ASCII characters or lines longer than
// maxSoftLine.
func needsQP(body string) bool {
	line := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c >= 0x80 {
			return true
		}
		if c == '\n' {
			line = 0
			continue
		}
		line++
		if line > maxSoftLine {
			return true
		}
	}
	return false
}

// crlf returns s with every LF preceded by CR (s has no CR: bodyText).
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// validKey reports whether key can stand left of "@" in a Message-ID: a
// dot-atom-text (RFC 5322 3.2.3) of at most 200 characters.
func validKey(key string) bool {
	if key == "" || len(key) > 200 || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", rune(c)) {
			return false
		}
	}
	return true
}

// fileName turns s into a safe attachment file name part.
func fileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-.")
}

// maxWord is the longest run of non-space characters a header value may
// keep unencoded: go-message folds at spaces and would otherwise have to
// insert one into the word.
const maxWord = 64

// subjectValue returns the Subject header value for s (as headerText
// made it), or "" when s can go through go-message's SetSubject as it is.
// A subject with a word longer than maxWord, or with text that a reader
// would take for an RFC 2047 encoded word ("=?"), is written as a run of
// base64 encoded words, which readers join back into exactly s.
func subjectValue(s string) string {
	long := false
	for _, w := range strings.Fields(s) {
		if len(w) > maxWord {
			long = true
			break
		}
	}
	if !long && !strings.Contains(s, "=?") {
		return ""
	}
	var words []string
	for len(s) > 0 {
		n := min(len(s), 45) // 60 base64 characters: 72 with the markers
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// maxSubject bounds a subject, in bytes of UTF-8: a longer one (never
// made by the templates, which keep subjects to one line) is cut at a
// character boundary and ends in "...".
const maxSubject = 900

// subjectText is headerText(s) within maxSubject.
func subjectText(s string) string {
	s = headerText(s)
	if len(s) <= maxSubject {
		return s
	}
	n := maxSubject - 3
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
