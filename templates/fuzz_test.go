package templates

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"text/template"
	"time"
)

// The fuzz target derives data from its input and, from its first
// argument, template text built from a grammar of the template language
// (inside and outside the fast path's subset), then checks that Render
// and the fast path agree with text/template.

// fuzzInner is a struct reached through fields, pointers and slices.
type fuzzInner struct {
	S    string
	N    int
	L    []string
	T    time.Time
	PS   ptrStringer
	Next *fuzzInner
}

// Method has a value receiver.
func (i fuzzInner) Method() string { return "m:" + i.S }

// PtrMethod has a pointer receiver: only addressable values have it.
func (i *fuzzInner) PtrMethod() string { return "pm:" + i.S }

// Err returns an error for a negative N.
func (i fuzzInner) Err() (string, error) {
	if i.N < 0 {
		return "", errors.New("negative N")
	}
	return "fine", nil
}

// Panics panics when N is 13.
func (i fuzzInner) Panics() int {
	if i.N == 13 {
		panic("thirteen")
	}
	return i.N * 2
}

// stringerKind prints through its String method.
type stringerKind string

func (k stringerKind) String() string { return "K(" + string(k) + ")" }

// plainKind is a named string without methods.
type plainKind string

// ptrStringer has a String method on its pointer only: text/template
// prints an addressable one through it.
type ptrStringer int

func (p *ptrStringer) String() string { return fmt.Sprintf("P(%d)", int(*p)) }

// formatted prints through fmt.Formatter.
type formatted uint16

func (f formatted) Format(s fmt.State, verb rune) { fmt.Fprintf(s, "F<%d>", uint16(f)) }

// Embedded is embedded in fuzzData: its fields and methods are promoted.
type Embedded struct{ X string }

// Promoted is promoted to fuzzData.
func (e Embedded) Promoted() string { return "promoted " + e.X }

// hidden is embedded through an unexported pointer.
type hidden struct{ Y int }

// fuzzData is the fuzzed templates' data.
type fuzzData struct {
	Embedded
	*hidden
	S, S2  string
	N      int
	I8     int8
	U      uint8
	U64    uint64
	B      bool
	F      float64
	C      complex128
	L      []string
	E      []string
	Arr    [2]string
	T      time.Time
	D      time.Duration
	P      *fuzzInner
	In     fuzzInner
	Items  []fuzzInner
	Ptrs   []*fuzzInner
	Any    any
	M      map[string]string
	K      stringerKind
	K2     plainKind
	PS     ptrStringer
	Fm     formatted
	Err    error
	Fn     func() string
	Ch     chan int
	unseen string
}

// fuzzValue builds the data from the fuzzer's values.
func fuzzValue(s1, s2 string, n int64, flags uint16, list string, unix int64) fuzzData {
	loc := []*time.Location{time.UTC, time.FixedZone("EST", -5*3600), time.FixedZone("", 5*3600+1800)}[int(flags>>8)%3]
	var l []string
	if list != "" || flags&1 != 0 {
		l = strings.Split(list, ",")
	}
	var t time.Time
	if flags&2 != 0 {
		t = time.Unix(unix%(1<<40), n%1e9).In(loc)
	}
	inner := fuzzInner{S: s2, N: int(n % 20), L: l, T: t, PS: ptrStringer(n)}
	d := fuzzData{
		Embedded: Embedded{X: s2}, S: s1, S2: s2, N: int(n), I8: int8(n), U: uint8(n), U64: uint64(n),
		B: flags&4 != 0, F: float64(n) / 3, C: complex(float64(n), 1),
		L: l, Arr: [2]string{s1, s2}, T: t, D: time.Duration(n), In: inner,
		Items: []fuzzInner{inner, {S: s1, N: -1}}, Ptrs: []*fuzzInner{&inner},
		Any: s1, M: map[string]string{"k": s1}, K: stringerKind(s1), K2: plainKind(s2),
		PS: ptrStringer(n), Fm: formatted(n), unseen: s1,
	}
	if flags&8 != 0 {
		d.P = &fuzzInner{S: s1, N: 13, Next: &inner}
	}
	if flags&16 != 0 {
		d.Ptrs = append(d.Ptrs, nil)
	}
	if flags&32 != 0 {
		d.hidden = &hidden{Y: int(n)}
	}
	if flags&64 != 0 {
		d.Err = errors.New(s2)
		d.Fn = func() string { return s1 }
	}
	if flags&128 != 0 {
		d.Items = nil
	}
	return d
}

// tmplGen writes template text driven by the bytes of b: each choice
// reads one byte (zero once b is used up, which ends lists).
type tmplGen struct {
	b      []byte
	i      int
	out    strings.Builder
	depth  int
	lo, hi int // templates "t{lo}" .. "t{hi-1}" may be called
}

func (g *tmplGen) next(n int) int {
	if g.i >= len(g.b) {
		return 0
	}
	c := g.b[g.i]
	g.i++
	return int(c) % n
}

func (g *tmplGen) pick(options ...string) string { return options[g.next(len(options))] }

var (
	fuzzTexts    = []string{"a", " ", "\n", "é", "<&>", "%d", "  ", "\t-\t"}
	fuzzOperands = []string{
		".", "$", ".S", ".S2", ".N", ".I8", ".U", ".U64", ".B", ".F", ".C", ".L", ".E", ".Arr",
		".T", ".D", ".P", ".P.S", ".P.N", ".P.Next", ".P.Next.S", ".In", ".In.S", ".In.N", ".In.L",
		".In.T", ".In.PS", ".In.Method", ".In.PtrMethod", ".In.Err", ".In.Panics", ".P.PtrMethod",
		".P.Method", ".P.Panics", ".Items", ".Ptrs", ".Any", ".M", ".M.k", ".K", ".K2", ".PS", ".Fm",
		".Err", ".Fn", ".Ch", ".X", ".Y", ".Promoted", ".Embedded", ".unseen", ".Missing",
		".T.IsZero", ".T.Year", ".D.Minutes", "$.S", "$.P.N", "$.In.PtrMethod", ".S.Missing",
		"\"x\"", "\"\"", "0", "1", "-1", "13", "1.5", "1e3", "0x1F", "'a'", "2i", "true", "false", "nil",
	}
	fuzzRanges = []string{
		".L", ".E", ".Arr", ".Items", ".Ptrs", ".In.L", ".P.L", ".M", ".S", ".Ch", ".Fn", ".In",
		"(len .L)", "$.Items", ".Any",
	}
	fuzzFuncs = []string{
		"eq %s %s", "eq %s %s %s", "ne %s %s", "lt %s %s", "le %s %s", "gt %s %s", "ge %s %s",
		"not %s", "and %s %s", "or %s %s %s", "len %s", "time %s", "date %s", "duration %s",
		"join \",\" %s", "upper %s", "lower %s", "trim %s", "indent %s %s", "plural %s \"one\" \"many\"",
		"printf \"%%v\" %s", "index %s 0", "print %s",
	}
)

// pipe writes a pipeline.
func (g *tmplGen) pipe() {
	if g.depth > 3 || g.next(3) == 0 {
		g.out.WriteString(g.pick(fuzzOperands...))
	} else {
		g.depth++
		f := g.pick(fuzzFuncs...)
		args := make([]any, strings.Count(f, "%s"))
		for i := range args {
			var sub tmplGen
			sub.b, sub.i, sub.depth = g.b, g.i, g.depth
			sub.out.WriteString("(")
			sub.pipe()
			sub.out.WriteString(")")
			g.i = sub.i
			args[i] = sub.out.String()
		}
		g.out.WriteString(fmt.Sprintf(f, args...))
		g.depth--
	}
	if g.next(8) == 7 {
		g.out.WriteString(" | " + g.pick("upper", "printf \"%v\"", "len", "not"))
	}
}

// action writes {{...}} with optional trim markers.
func (g *tmplGen) action(body func()) {
	g.out.WriteString(g.pick("{{", "{{", "{{- "))
	body()
	g.out.WriteString(g.pick("}}", "}}", " -}}"))
}

// list writes a sequence of nodes.
func (g *tmplGen) list() {
	if g.depth > 4 {
		return
	}
	g.depth++
	defer func() { g.depth-- }()
	for g.next(4) != 0 {
		switch g.next(10) {
		case 0, 1:
			g.out.WriteString(g.pick(fuzzTexts...))
		case 2, 3:
			g.action(g.pipe)
		case 4:
			g.action(func() { g.out.WriteString("if "); g.pipe() })
			g.list()
			switch g.next(3) {
			case 1:
				g.action(func() { g.out.WriteString("else") })
				g.list()
			case 2:
				g.action(func() { g.out.WriteString("else if "); g.pipe() })
				g.list()
			}
			g.action(func() { g.out.WriteString("end") })
		case 5:
			g.action(func() { g.out.WriteString("with "); g.pipe() })
			g.list()
			switch g.next(3) {
			case 1:
				g.action(func() { g.out.WriteString("else") })
				g.list()
			case 2:
				g.action(func() { g.out.WriteString("else with "); g.pipe() })
				g.list()
			}
			g.action(func() { g.out.WriteString("end") })
		case 6:
			// Ranges over the data's slices and the like only: text/template
			// ranges over integers too, and .U64 can be huge.
			g.action(func() {
				g.out.WriteString(g.pick("range ", "range $i, $e := ", "range $e := "))
				g.out.WriteString(g.pick(fuzzRanges...))
			})
			g.list()
			if g.next(2) == 1 {
				g.action(func() { g.out.WriteString(g.pick("break", "continue", "$e")) })
			}
			if g.next(2) == 1 {
				g.action(func() { g.out.WriteString("else") })
				g.list()
			}
			g.action(func() { g.out.WriteString("end") })
		case 7:
			if g.hi > g.lo {
				g.action(func() { fmt.Fprintf(&g.out, "template \"t%d\" ", g.lo+g.next(g.hi-g.lo)); g.pipe() })
			}
		case 8:
			g.action(func() { g.out.WriteString("$v := "); g.pipe() })
			g.action(func() { g.out.WriteString("$v") })
		case 9:
			g.out.WriteString("{{/* note */}}")
		}
	}
}

// fuzzTemplates returns template text defining "main" and up to three
// templates "t0".."t2" it may call; each ti calls only tj with j > i, so
// nothing recurses.
func fuzzTemplates(code []byte) string {
	g := &tmplGen{b: code}
	n := g.next(4)
	var defs strings.Builder
	for i := -1; i < n; i++ { // main, then t0, t1, ...
		g.out.Reset()
		g.lo, g.hi = i+1, n
		g.list()
		name := "main"
		if i >= 0 {
			name = fmt.Sprintf("t%d", i)
		}
		fmt.Fprintf(&defs, "{{define %q}}%s{{end}}", name, g.out.String())
	}
	return defs.String()
}

// setFromText parses text as Load parses an override file (without the
// defaults, which the fuzzed templates do not call).
func setFromText(text string) (*Set, error) {
	funcs := Funcs()
	root := template.New("").Funcs(funcs).Option("missingkey=error")
	if _, err := root.New("fuzz.tmpl").Parse(text); err != nil {
		return nil, err
	}
	s := &Set{t: root, funcs: funcs}
	s.index()
	return s, nil
}

func FuzzRenderMatchesTextTemplate(f *testing.F) {
	f.Add([]byte{}, "000123457", "Les misérables", int64(2), uint16(0xffff), "000098765,000098766", int64(1772448120))
	f.Add([]byte{1, 2, 7, 3, 2, 9}, "", "", int64(0), uint16(0), "", int64(0))
	f.Add([]byte("\x03\x02\x03\x01\x04\x00\x09\x05\x02\x01\x06\x02\x03\x01"), "x", "{{.}}", int64(-1), uint16(0x0108), ",", int64(-62135596800))
	f.Add([]byte("\x02\x01\x03\x00\x05\x07\x11\x22\x33\x44\x55\x66\x77"), "\xff", "é", int64(13), uint16(8|32|64), "a", int64(1<<40))
	base := MustLoadDefaults()
	f.Fuzz(func(t *testing.T, code []byte, s1, s2 string, n int64, flags uint16, list string, unix int64) {
		d := fuzzValue(s1, s2, n, flags, list, unix)
		r := replyData{
			Number: int(n % 5), Count: int(n % 7), Outcome: s1, SystemNumber: s1, OCLCNumber: s2,
			Title: s2, Sharing: d.L, Target: s1, TargetPrefix: s2, PreviousSystemNumber: s2,
			PreviousTime: d.T, Policy: []string{"skip", "overlay", "mark-deleted", s1}[flags%4],
			Problem: s1, Uncertain: flags&4 != 0, Wait: d.D, Limit: s2,
		}
		for _, name := range base.Names() {
			if strings.HasPrefix(name, "reply.") {
				sameAsTextTemplate(t, base, name, r)
				sameAsTextTemplate(t, base, name, &r)
			}
		}
		if len(code) == 0 {
			return
		}
		text := fuzzTemplates(code)
		s, err := setFromText(text)
		if err != nil {
			return // not a template; Load reports that
		}
		for _, data := range []any{d, &d, (*fuzzData)(nil), r} {
			for _, name := range []string{"main", "t0", "t1", "t2"} {
				if s.blocks[name] != nil {
					sameAsTextTemplate(t, s, name, data)
				}
			}
		}
	})
}
