package mailbox

import (
	"html"
	"strings"
	"unicode"
)

// ownText returns what the sender of a reply wrote: the body without the
// quoted message below or above it, the attribution line introducing
// the quote, a forwarded or original message, and the signature. It
// knows the styles of the usual clients:
//
//	> quoted lines                          (any client, bottom or top posting)
//	On Tue, 3 Mar 2026 ..., X <x@y> wrote:  (Gmail, Apple Mail, Thunderbird; maybe wrapped)
//	-----Original Message-----              (Outlook desktop)
//	________________________________        (Outlook web and new Outlook)
//	From: X / Sent: ... / To: / Subject:    (Outlook without a separator)
//	---------- Forwarded message ---------  (Gmail forwards)
//	--                                      (signature separator)
func ownText(body string) string {
	lines := strings.Split(body, "\n")
	var kept []string
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t")
		t := strings.TrimSpace(line)
		switch {
		case line == "--" || line == "-- ":
			return joinKept(kept)
		case isSeparator(t):
			return joinKept(kept)
		case isUnderscoreRule(t) && nextStartsHeader(lines, i+1):
			return joinKept(kept)
		case isHeaderLine(t, "From") && nextStartsHeader(lines, i+1):
			return joinKept(kept)
		case strings.HasPrefix(t, ">"):
			continue
		case isAttribution(t):
			continue
		case strings.HasPrefix(t, "On ") && i+1 < len(lines) && isAttribution(t+" "+strings.TrimSpace(lines[i+1])):
			i++ // an attribution wrapped over two lines
			continue
		case strings.HasSuffix(t, ":") && nextIsQuote(lines, i+1):
			continue // an attribution in another language
		}
		kept = append(kept, line)
	}
	return joinKept(kept)
}

func joinKept(lines []string) string { return strings.TrimSpace(strings.Join(lines, "\n")) }

// isSeparator matches "-----Original Message-----", "----- Original
// Message -----", "-------- Original message --------", "----------
// Forwarded message ---------" and "Begin forwarded message:".
func isSeparator(t string) bool {
	if strings.HasPrefix(strings.ToLower(t), "begin forwarded message") {
		return true
	}
	if !strings.HasPrefix(t, "---") {
		return false
	}
	inner := strings.ToLower(strings.TrimSpace(strings.Trim(t, "- ")))
	switch inner {
	case "original message", "forwarded message", "message d'origine", "ursprüngliche nachricht", "mensaje original":
		return true
	}
	return false
}

func isUnderscoreRule(t string) bool {
	return len(t) >= 10 && strings.Trim(t, "_") == ""
}

// isHeaderLine matches "Name: ..." (also bold "*Name:*" from HTML mail).
func isHeaderLine(t, name string) bool {
	t = strings.TrimLeft(t, "*")
	if len(t) <= len(name) || !strings.EqualFold(t[:len(name)], name) {
		return false
	}
	rest := strings.TrimLeft(t[len(name):], "*")
	return strings.HasPrefix(rest, ":")
}

// nextStartsHeader reports whether the lines from i (skipping blanks)
// look like a quoted message's header: From/Sent/Date/To/Subject lines.
func nextStartsHeader(lines []string, i int) bool {
	n := 0
	for ; i < len(lines) && n < 5; i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" && n == 0 {
			continue
		}
		for _, h := range []string{"From", "Sent", "Date", "To", "Cc", "Subject"} {
			if isHeaderLine(t, h) {
				n++
				break
			}
		}
		if n == 0 || !strings.Contains(t, ":") {
			break
		}
	}
	return n >= 1
}

func nextIsQuote(lines []string, i int) bool {
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t != "" {
			return strings.HasPrefix(t, ">")
		}
	}
	return false
}

// isAttribution matches "On <date>, <someone> wrote:".
func isAttribution(t string) bool {
	return strings.HasPrefix(t, "On ") && strings.HasSuffix(t, "wrote:") && len(t) < 400
}

// firstWord returns the first word of s, upper-cased, without the
// punctuation people put after it ("Ack.", "SOLVED:", "*ACK*").
func firstWord(s string) string {
	s = strings.TrimLeftFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) || r == '\ufeff' })
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if end >= 0 {
		s = s[:end]
	}
	return strings.ToUpper(s)
}

// htmlText renders HTML mail as plain text: tags dropped, blocks on their
// own lines, <blockquote> content quoted with "> " so ownText treats it
// as the quote it is, <style>, <script> and <head> left out.
func htmlText(s string) string {
	var out strings.Builder
	var line strings.Builder
	quote := 0
	flush := func() {
		text := strings.Join(strings.Fields(html.UnescapeString(line.String())), " ")
		out.WriteString(strings.Repeat("> ", quote))
		out.WriteString(text)
		out.WriteString("\n")
		line.Reset()
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			line.WriteString(s)
			break
		}
		line.WriteString(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			j := strings.Index(s, "-->")
			if j < 0 {
				break
			}
			s = s[j+3:]
			continue
		}
		j := strings.IndexByte(s, '>')
		if j < 0 {
			break
		}
		tag := strings.ToLower(s[1:j])
		s = s[j+1:]
		closing := strings.HasPrefix(tag, "/")
		tag = strings.TrimPrefix(tag, "/")
		if k := strings.IndexAny(tag, " \t\r\n/"); k >= 0 {
			tag = tag[:k]
		}
		switch tag {
		case "style", "script", "head", "title":
			if !closing {
				if k := indexFold(s, "</"+tag); k >= 0 {
					s = s[k:]
				} else {
					s = ""
				}
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "pre":
			flush()
		case "blockquote":
			flush()
			if closing {
				quote = max(quote-1, 0)
			} else {
				quote = min(quote+1, 20)
			}
		}
	}
	if line.Len() > 0 {
		flush()
	}
	// Collapse runs of empty lines the block tags left.
	lines := strings.Split(out.String(), "\n")
	var kept []string
	blank := false
	for _, l := range lines {
		b := strings.Trim(l, "> ") == ""
		if b && blank {
			continue
		}
		blank = b
		kept = append(kept, l)
	}
	return strings.TrimSpace(strings.Join(kept, "\n"))
}

// indexFold is strings.Index ignoring ASCII case; sub must be lower case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lowerASCII(s[i+j]) == sub[j] {
			j++
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
