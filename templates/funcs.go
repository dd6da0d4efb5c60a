package templates

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Funcs returns the functions every template may call:
//
//	time T            formats a time.Time as "2006-01-02 15:04 MST"
//	date T            formats a time.Time as "2006-01-02"
//	duration D        a time.Duration in words: "2 h 5 min", "40 s"
//	indent N S        prefixes every line of S with N spaces
//	join SEP LIST     strings.Join with the separator first, for pipelines
//	upper S, lower S  case mapping
//	trim S            strings.TrimSpace
//	plural N ONE MANY ONE when N == 1, else MANY
func Funcs() template.FuncMap {
	return template.FuncMap{
		"time":     func(t time.Time) string { return t.Format("2006-01-02 15:04 MST") },
		"date":     func(t time.Time) string { return t.Format("2006-01-02") },
		"duration": HumanDuration,
		"indent":   indent,
		"join":     func(sep string, list []string) string { return strings.Join(list, sep) },
		"upper":    strings.ToUpper,
		"lower":    strings.ToLower,
		"trim":     strings.TrimSpace,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
	}
}

// HumanDuration writes d for people: "3 days 4 h", "2 h 5 min", "7 min",
// "40 s". It rounds down to the two largest units.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d/time.Second))
	}
	days := int(d / (24 * time.Hour))
	h := int(d % (24 * time.Hour) / time.Hour)
	m := int(d % time.Hour / time.Minute)
	switch {
	case days > 0 && h > 0:
		return fmt.Sprintf("%d %s %d h", days, pl(days, "day", "days"), h)
	case days > 0:
		return fmt.Sprintf("%d %s", days, pl(days, "day", "days"))
	case h > 0 && m > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case h > 0:
		return fmt.Sprintf("%d h", h)
	default:
		return fmt.Sprintf("%d min", m)
	}
}

func pl(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if l != "\n" {
			b.WriteString(pad)
		}
		b.WriteString(l)
	}
	return b.String()
}
