package catalog

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/oclcbot/oclcbot/marc"
)

// queryKind says how a search is answered.
type queryKind int

const (
	queryText   queryKind = iota // full text over author, title, subjects
	queryNumber                  // bare digits: OCLC number or system number
	queryOCLC                    // "ocm…", "(OCoLC)…": OCLC number only
	querySysno                   // with the library code: system number only
)

// query is a parsed search.
type query struct {
	kind  queryKind
	oclc  string       // normalised, for queryNumber and queryOCLC
	sysno SystemNumber // for queryNumber (when in range) and querySysno
	match string       // FTS5 MATCH expression, for queryText and queryNumber
}

// columns a search term may be limited to ("author:tolstoy"), and the
// FTS column each means.
var searchColumns = map[string]string{
	"author": "author", "au": "author",
	"title": "title", "ti": "title",
	"subject": "subjects", "subjects": "subjects", "su": "subjects",
}

// parseQuery reads what a cataloger typed into the search box (see
// Search). ok is false when there is nothing to search for.
func parseQuery(s, code string) (q query, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return q, false
	}
	if isDigits(s) {
		q.kind = queryNumber
		q.oclc, _ = marc.NormalizeOCLCNumber(s)
		q.sysno, _ = ParseSystemNumber(s, "")
		q.match = ftsMatch(s, false) // "1984" is a title too
		return q, true
	}
	if !strings.ContainsAny(s, " \t") || code != "" && hasPrefixFold(s, code) || hasPrefixFold(s, "(OCoLC)") {
		if code != "" {
			if n, err := ParseSystemNumber(s, code); err == nil {
				return query{kind: querySysno, sysno: n}, true
			}
		}
		if n, ok := marc.NormalizeOCLCNumber(s); ok {
			return query{kind: queryOCLC, oclc: n}, true
		}
	}
	q.kind = queryText
	q.match = ftsMatch(s, true)
	return q, q.match != ""
}

// ftsMatch turns free text into an FTS5 MATCH expression in which every
// word must occur (in any column). With operators, a cataloger may also
// write "a phrase" in double quotes, end a word with * to match words
// starting with it, and limit a term to a column with author:, title: or
// subject:. Nothing a user types can make the expression invalid: every
// term is quoted. It returns "" when s has no words.
func ftsMatch(s string, operators bool) string {
	// SQLite reads the expression as a C string (a NUL would end it) and
	// as UTF-8: control characters and invalid bytes become blanks.
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	var b strings.Builder
	for _, tok := range splitTerms(s, operators) {
		col, text, prefix := "", tok, false
		if operators {
			if name, rest, found := strings.Cut(text, ":"); found && rest != "" && !strings.HasPrefix(text, `"`) {
				if c, known := searchColumns[strings.ToLower(name)]; known {
					col, text = c, rest
				}
			}
			if strings.HasSuffix(text, "*") {
				text, prefix = strings.TrimRight(text, "*"), true
			}
			if len(text) >= 2 && text[0] == '"' && text[len(text)-1] == '"' {
				text = text[1 : len(text)-1]
			}
			text = strings.ReplaceAll(text, `"`, " ")
		}
		text = fold(text)
		if !hasWord(text) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if col != "" {
			b.WriteString(col)
			b.WriteString(" : ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(text, `"`, `""`))
		b.WriteByte('"')
		if prefix {
			b.WriteString(" *")
		}
	}
	return b.String()
}

// splitTerms splits s at blanks; with operators, a double-quoted phrase
// (possibly after "column:") is one term.
func splitTerms(s string, operators bool) []string {
	if !operators {
		return strings.Fields(s)
	}
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case unicode.IsSpace(r) && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// hasWord reports whether s has a letter or digit, that is, a token for
// the index to look up.
func hasWord(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
