package templates

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sameAsTextTemplate renders block name with data three ways: with
// text/template alone, on the fast path alone and with Render. It fails t
// unless the fast path, when it does not decline, produces text/template's
// output (and declines wherever text/template fails), and Render returns
// text/template's output and error. It reports whether the fast path
// rendered the block.
func sameAsTextTemplate(t testing.TB, s *Set, name string, data any) (fast bool) {
	t.Helper()
	b := s.blocks[name]
	if b == nil {
		t.Fatalf("no block %q", name)
	}
	want, wantErr := execute(name, b.tmpl, data)
	got, ok := b.renderFast(s, data)
	switch {
	case ok && wantErr != nil:
		t.Errorf("%s with %T: the fast path rendered %q where text/template fails: %v", name, data, got, wantErr)
	case ok && got != want:
		t.Errorf("%s with %T %+v:\nfast path     %q\ntext/template %q", name, data, data, got, want)
	}
	rendered, err := s.Render(name, data)
	if rendered != want || errText(err) != errText(wantErr) {
		t.Errorf("%s with %T: Render gave %q, %v; text/template %q, %v", name, data, rendered, err, want, wantErr)
	}
	return ok
}

// replyVariants returns receiver.ReplyData-shaped values covering what
// the reply blocks branch on (every duplicate policy, Uncertain, a zero
// or set PreviousTime, Count above 1 or not, empty or set optional
// fields) with ordinary, empty, long, Unicode and template-like strings.
func replyVariants() []replyData {
	strs := []string{
		"000123457",
		"",
		"Les misérables — 東京 🎉",
		strings.Repeat("long title ", 500),
		"{{.Title}} %v %!s(MISSING) <b>&amp;</b>\n\t  two  spaces \r\n",
		"\xff\xfe not UTF-8",
	}
	est := time.FixedZone("EST", -5*3600)
	times := []time.Time{
		{},
		time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, est),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)),
	}
	sharings := [][]string{nil, {}, {"000098765"}, {"000098765", "000098766", "000098767"}, {"", ""}}
	counts := [][2]int{{0, 0}, {1, 1}, {2, 3}, {1, 2}, {-1, 5}, {7, -7}}
	policies := []string{"skip", "overlay", "mark-deleted", "", "MARK-DELETED"}
	waits := []time.Duration{0, 42 * time.Second, 2*time.Hour + 5*time.Minute, -3 * time.Minute, 72*time.Hour + 30*time.Minute, 1<<63 - 1}
	var out []replyData
	i := 0
	for _, policy := range policies {
		for _, uncertain := range []bool{false, true} {
			for _, prev := range times {
				for _, sharing := range sharings {
					s := func(k int) string { return strs[(i+k)%len(strs)] }
					c := counts[i%len(counts)]
					out = append(out, replyData{
						Number: c[0], Count: c[1], Outcome: s(0), Cause: s(1),
						SystemNumber: s(2), OCLCNumber: s(3), Title: s(4), Sharing: sharing,
						Target: s(5), TargetPrefix: s(1),
						PreviousSystemNumber: s(3), PreviousTime: prev, Policy: policy,
						Problem: s(4), Uncertain: uncertain, Wait: waits[i%len(waits)], Limit: s(2),
					})
					i++
				}
			}
		}
	}
	out = append(out, replyData{}, benchReply())
	return out
}

func TestFastPathMatchesTextTemplateOnReplies(t *testing.T) {
	s := MustLoadDefaults()
	variants := replyVariants()
	for _, name := range s.Names() {
		reply := strings.HasPrefix(name, "reply.")
		for i, d := range variants {
			if !reply && i%25 != 0 {
				continue // other blocks fail on reply data; a few samples show they fail alike
			}
			for _, data := range []any{d, &d} {
				if fast := sameAsTextTemplate(t, s, name, data); reply && !fast {
					t.Fatalf("%s with %T %+v did not take the fast path: %v", name, data, data, s.blocks[name].program(s, reflect.TypeOf(data)).why)
				}
			}
		}
	}
}

// namedFields is a struct with field names the default templates use, of
// other kinds than the receiver's: the blocks must fall back or compile
// to the same output, never differ.
type namedFields struct {
	Count        uint8
	Number       int64
	SystemNumber fmt.Stringer
	OCLCNumber   *string
	Sharing      []fmt.Stringer
	Policy       policy
	PreviousTime *time.Time
	Uncertain    int
	Problem      error
	Wait         int64
	Limit        []string
}

type policy string

func (p policy) String() string { return "policy " + string(p) }

func TestFastPathMatchesTextTemplateOnOtherTypes(t *testing.T) {
	s := MustLoadDefaults()
	oclc := "123"
	now := time.Date(2026, 3, 2, 10, 42, 0, 0, time.UTC)
	for _, d := range []namedFields{
		{},
		{Count: 2, Number: 1, SystemNumber: policy("x"), OCLCNumber: &oclc, Sharing: []fmt.Stringer{policy("a")},
			Policy: "overlay", PreviousTime: &now, Uncertain: 1, Problem: errors.New("boom"), Wait: 5, Limit: []string{"a"}},
		{Count: 255, Policy: "mark-deleted", PreviousTime: &time.Time{}},
	} {
		for _, name := range s.Names() {
			if strings.HasPrefix(name, "reply.") {
				sameAsTextTemplate(t, s, name, d)
				sameAsTextTemplate(t, s, name, &d)
			}
		}
	}
	for _, data := range []any{nil, 42, "text", map[string]any{"Count": 2}, (*replyData)(nil)} {
		for _, name := range []string{"reply.added", "reply.duplicate", "reply.auth"} {
			sameAsTextTemplate(t, s, name, data)
		}
	}
}

// loadOverride loads the defaults with one override file holding text.
func loadOverride(t *testing.T, text string) *Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "override.tmpl"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOverridesOutsideTheSubsetFallBack(t *testing.T) {
	for _, tc := range []struct{ name, text, defs string }{
		{"printf", `{{printf "%s (%d of %d)" .SystemNumber .Number .Count}}`, ""},
		{"print", `{{print .Number .Count .Sharing}}`, ""},
		{"variable", `{{$n := .SystemNumber}}{{with .OCLCNumber}}{{$n}}/{{.}}{{end}}`, ""},
		{"range with index", `{{range $i, $s := .Sharing}}{{$i}}={{$s}};{{end}}`, ""},
		{"range over int", `{{range .Count}}{{.}},{{end}}`, ""},
		{"break", `{{range .Sharing}}{{.}}{{break}}{{end}}`, ""},
		{"continue", `{{range .Sharing}}{{continue}}{{.}}{{end}}`, ""},
		{"index", `{{index .Sharing 0}}`, ""},
		{"slice", `{{slice .SystemNumber 1 3}}`, ""},
		{"pipe", `{{.SystemNumber | upper}} {{.Title | printf "%q"}}`, ""},
		{"html", `{{html .Title}} {{js .Title}} {{urlquery .Title}}`, ""},
		{"chain", `{{(.PreviousTime).Year}}`, ""},
		{"method with argument", `{{.PreviousTime.Format "2006"}}`, ""},
		{"missing field", `{{.NoSuchField}}`, ""},
		{"missing field in branch", `{{if .Uncertain}}{{.NoSuchField}}{{else}}sure{{end}}`, ""},
		{"unexported field", `{{.unexported}}`, ""},
		{"wrong argument type", `{{plural .Count "one" "many"}} {{upper .Wait}}`, ""},
		{"negative indent", `{{indent .Number "x"}}`, ""},
		{"eq of different kinds", `{{eq .Count "2"}}`, ""},
		{"lt of bools", `{{lt .Uncertain true}}`, ""},
		{"len of int", `{{len .Count}}`, ""},
		{"nil", `{{if eq .Sharing nil}}none{{end}}`, ""},
		{"template without data", `{{template "noDot"}}`, `{{define "noDot"}}{{.}}{{end}}`},
		{"undefined template", `{{template "nowhere" .}}`, ""},
		{"data of interface type", `{{template "any" .}}`, `{{define "any"}}{{template "reply.prefix" .}}{{end}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadOverride(t, `{{define "reply.added"}}`+tc.text+`{{end}}`+tc.defs)
			for _, d := range replyVariants()[:40] {
				sameAsTextTemplate(t, s, "reply.added", d)
				sameAsTextTemplate(t, s, "reply.added", &d)
			}
		})
	}
}

func TestOverridesInsideTheSubsetTakeTheFastPath(t *testing.T) {
	for _, tc := range []struct{ name, text, defs string }{
		{"fields", `{{.SystemNumber}} {{.Number}} {{.Count}} {{.Uncertain}} {{.Wait}} {{.PreviousTime}} {{.Sharing}}`, ""},
		{"root", `{{with .Sharing}}{{range .}}{{$.SystemNumber}}:{{.}} {{end}}{{end}}{{$}}`, ""},
		{"methods", `{{.PreviousTime.IsZero}} {{.PreviousTime.Year}} {{.PreviousTime.UTC.Unix}} {{.Wait.Minutes}}`, ""},
		{"conditions", `{{if and .Sharing (or .Uncertain (not .Title))}}a{{else if eq .Policy "skip" "overlay"}}b{{else}}c{{end}}`, ""},
		{"comparisons", `{{lt .Number .Count}}{{le .Number 2}}{{gt .Count 1}}{{ge 3 .Count}}{{ne .Policy "skip"}}{{eq .Wait 0}}`, ""},
		{"and or values", `{{and .Title .SystemNumber}}|{{or .Title .SystemNumber "none"}}|{{with or .OCLCNumber .Target}}{{.}}{{end}}`, ""},
		{"len", `{{len .Sharing}} {{len .Title}} {{plural (len .Sharing) "record" "records"}}`, ""},
		{"funcs", `{{time .PreviousTime}} {{date .PreviousTime}} {{duration .Wait}} {{upper .Title}} {{lower (trim .Problem)}} {{indent 2 .Title}} {{join "; " .Sharing}}`, ""},
		{"constants", `{{1}} {{-2}} {{1.5}} {{1e3}} {{0x1F}} {{'a'}} {{2i}} {{true}} {{"s"}} {{duration 90000000000}} {{plural 1 "a" "b"}}`, ""},
		{"with else with", `{{with .OCLCNumber}}#{{.}}{{else with .Target}}@{{.}}{{else}}-{{end}}`, ""},
		{"range else", `{{range .Sharing}}[{{.}}]{{else}}(none){{end}}`, ""},
		{"calls", `{{template "one" .Title}}{{template "num" .Count}}{{template "reply.prefix" .}}{{template "one" $}}`,
			`{{define "one"}}<{{.}}>{{end}}{{define "num"}}{{.}}{{template "one" .}}{{end}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadOverride(t, `{{define "reply.added"}}`+tc.text+`{{end}}`+tc.defs)
			for _, d := range replyVariants() {
				for _, data := range []any{d, &d} {
					if !sameAsTextTemplate(t, s, "reply.added", data) {
						t.Fatalf("%T %+v did not take the fast path: %v", data, data, s.blocks["reply.added"].program(s, reflect.TypeOf(data)).why)
					}
				}
			}
		})
	}
}

// chain is a recursive type for recursive templates.
type chain struct {
	Name string
	Next *chain
}

func TestRecursiveTemplates(t *testing.T) {
	s := loadOverride(t, `{{define "reply.added"}}{{.Name}}{{with .Next}} > {{template "reply.added" .}}{{end}}{{end}}`)
	var c *chain
	for i := range 3 * maxFastDepth {
		c = &chain{Name: fmt.Sprint(i), Next: c}
		switch i {
		case 0, 1, 5, maxFastDepth - 2, maxFastDepth - 1, maxFastDepth, 2 * maxFastDepth:
			// Within maxFastDepth the fast path renders; beyond it
			// text/template does.
			if fast := sameAsTextTemplate(t, s, "reply.added", c); fast != (i <= maxFastDepth) {
				t.Errorf("depth %d: fast path %v", i, fast)
			}
			sameAsTextTemplate(t, s, "reply.added", *c)
		}
	}
}

func TestConcurrentRenders(t *testing.T) {
	s := MustLoadDefaults()
	variants := replyVariants()
	want := make([]string, len(variants))
	for i, d := range variants {
		want[i], _ = execute("reply.duplicate", s.blocks["reply.duplicate"].tmpl, d)
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := g; i < len(variants); i += 4 {
				var data any = variants[i]
				if g%2 == 1 {
					data = &variants[i] // two types race to compile
				}
				if got, err := s.Render("reply.duplicate", data); err != nil || got != want[i] {
					t.Errorf("variant %d: %q, %v; want %q", i, got, err, want[i])
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestFastPathMatchesTextTemplateOnEdgeCases(t *testing.T) {
	var data []any
	for _, n := range []int64{0, 1, -1, 13, 255, -129, 1<<63 - 1, -1 << 63} {
		for _, flags := range []uint16{0, 0xffff, 2 | 8 | 32, 1 | 16 | 64 | 128} {
			d := fuzzValue("s1", "Tōkyō", n, flags, "a,b", 1772448120)
			data = append(data, d, &d)
		}
	}
	for _, tc := range []struct{ name, text string }{
		{"signed against unsigned", `{{eq .N .U64}} {{eq .U64 .N}} {{eq .N .U .U64}} {{ne .N .U64}} {{lt .N .U64}} {{lt .U64 .N}} {{le .I8 .U}} {{gt .U .I8}} {{ge .U64 -1}}`},
		{"floats and complex", `{{.F}} {{.C}} {{eq .F 1.5}} {{lt .F .F}} {{eq .C 2i}} {{if .F}}f{{end}} {{if .C}}c{{end}}`},
		{"print methods", `{{.K}} {{.K2}} {{.PS}} {{.In.PS}} {{.Fm}} {{.D}} {{.T}} {{.In}} {{.Arr}} {{.L}} {{.E}}`},
		{"pointer methods", `{{.In.PtrMethod}}`},
		{"value methods through pointers", `{{.P.Method}} {{.P.PtrMethod}} {{with .P}}{{.Method}}{{.Next.PtrMethod}}{{end}}`},
		{"nil pointers", `{{with .P}}{{.S}}{{else}}no P{{end}} {{.P}} {{.P.S}}`},
		{"nil pointer in range", `{{range .Ptrs}}{{.S}};{{end}}`},
		{"method error", `{{.In.Err}} {{range .Items}}{{.Err}}{{end}}`},
		{"method panic", `{{.In.Panics}} {{with .P}}{{.Panics}}{{end}}`},
		{"embedded", `{{.X}} {{.Promoted}} {{.Embedded.X}}`},
		{"embedded nil pointer", `{{.Y}}`},
		{"ranges", `{{range .Items}}{{.S}}/{{.N}}/{{.Method}}/{{len .L}} {{else}}none{{end}}{{range .Arr}}[{{.}}]{{end}}{{range .E}}x{{else}}empty{{end}}`},
		{"truth", `{{if .Ch}}ch{{end}}{{if .Fn}}fn{{end}}{{if .M}}m{{end}}{{if .Items}}i{{end}}{{if .In}}in{{end}}{{if .P}}p{{end}}{{if .U64}}u{{end}}{{if .I8}}i8{{end}}`},
		{"root in calls", `{{range .Items}}{{$.S}}:{{template "inner" .}}{{end}}`},
		{"interfaces", `{{.Any}} {{.Err}} {{.M.k}}`},
		{"unexported", `{{.unseen}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := setFromText(`{{define "main"}}` + tc.text + `{{end}}{{define "inner"}}{{.S}}{{$.N}}{{end}}`)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range data {
				sameAsTextTemplate(t, s, "main", d)
			}
		})
	}
}
