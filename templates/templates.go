// Package templates holds every piece of text oclcbot shows people: the
// replies catalogers see in Connexion's status window, the listserv posts,
// the Slack messages and the OIS incident report.
//
// The defaults are embedded in the binary (default/*.tmpl). Each file
// defines named blocks, one per channel and part: "reply.added",
// "email.alert.subject", "slack.alert", "report.body" and so on. An
// override directory, when configured, is parsed on top: a block defined
// there replaces the default of the same name, everything else keeps the
// default. Load renders nothing; Check renders every block against sample
// data so that a broken override stops the start-up with a message naming
// its file and line, not the first real alert.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
)

//go:embed default/*.tmpl
var defaultFS embed.FS

// ErrUnknown is returned (wrapped) by Render for a block that no template
// defines.
var ErrUnknown = errors.New("no such template")

// Set is a parsed set of templates. It is safe for concurrent use once
// loaded.
type Set struct {
	t         *template.Template
	overrides []string         // files parsed from the override directory
	funcs     template.FuncMap // the functions t was parsed with (Funcs)
	// blocks holds every template of t that has a body, by name, with
	// its compiled programs (fast.go). It is built by Load and read-only
	// afterwards.
	blocks map[string]*block
}

// Load parses the embedded defaults and then, when dir is not empty, every
// *.tmpl file in dir on top of them. A parse error names the file and line.
func Load(dir string) (*Set, error) {
	funcs := Funcs()
	root := template.New("").Funcs(funcs).Option("missingkey=error")
	if _, err := root.ParseFS(defaultFS, "default/*.tmpl"); err != nil {
		return nil, fmt.Errorf("parse default templates: %w", err)
	}
	s := &Set{t: root, funcs: funcs}
	if dir == "" {
		s.index()
		return s, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.tmpl"))
	if err != nil {
		return nil, fmt.Errorf("template directory %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("template directory: %w", err)
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read template: %w", err)
		}
		// Naming the template after its path makes parse and execution
		// errors say "template: /etc/oclcbot/templates/email.tmpl:12:3: ...".
		if _, err := root.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("parse template %s: %w", f, err)
		}
		s.overrides = append(s.overrides, f)
	}
	s.index()
	return s, nil
}

// index builds s.blocks once every file is parsed.
func (s *Set) index() {
	s.blocks = make(map[string]*block)
	for _, t := range s.t.Templates() {
		if t.Tree != nil && t.Root != nil {
			s.blocks[t.Name()] = &block{tmpl: t}
		}
	}
}

// MustLoadDefaults returns the embedded defaults; it panics if they do not
// parse, which the package's tests rule out.
func MustLoadDefaults() *Set {
	s, err := Load("")
	if err != nil {
		panic(err)
	}
	return s
}

// Overrides lists the override files that were parsed, in parse order.
func (s *Set) Overrides() []string { return slices.Clone(s.overrides) }

// Names lists the named blocks in the set, sorted. File-level templates
// (the files themselves) are not listed.
func (s *Set) Names() []string {
	var names []string
	for _, t := range s.t.Templates() {
		n := t.Name()
		if n == "" || strings.HasSuffix(n, ".tmpl") || t.Tree == nil {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Has reports whether the set defines the block name.
func (s *Set) Has(name string) bool {
	t := s.t.Lookup(name)
	return t != nil && t.Tree != nil
}

// Render executes the block name against data. Output is returned only when
// the whole block executed without error. Output and errors are exactly
// text/template's; most blocks run on a compiled fast path (see fast.go)
// that produces the same bytes without text/template's reflective
// evaluation.
func (s *Set) Render(name string, data any) (string, error) {
	if b := s.blocks[name]; b != nil {
		if out, ok := b.renderFast(s, data); ok {
			return out, nil
		}
		return execute(name, b.tmpl, data)
	}
	t := s.t.Lookup(name)
	if t == nil || t.Tree == nil {
		return "", fmt.Errorf("render %q: %w", name, ErrUnknown)
	}
	return execute(name, t, data)
}

// execute renders t, named name, with text/template.
func execute(name string, t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %q: %w", name, err)
	}
	return b.String(), nil
}

// Check renders every block whose name starts with one of the keys of
// samples against that key's sample data (the longest matching key wins)
// and reports every failure, each naming the block and, through
// text/template, the file and line. A block matching no key is an error
// too: a misspelt block name in an override would otherwise be ignored
// silently.
func (s *Set) Check(samples map[string]any) error {
	var errs []error
	for _, name := range s.Names() {
		key := ""
		for k := range samples {
			if strings.HasPrefix(name, k) && len(k) > len(key) {
				key = k
			}
		}
		if key == "" {
			errs = append(errs, fmt.Errorf("template %q: no part of oclcbot uses a block of that name (check the spelling)", name))
			continue
		}
		if _, err := s.Render(name, samples[key]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Defaults returns the embedded default template files, for `oclcbot
// templates export` style tooling and for documentation.
func Defaults() fs.FS {
	sub, err := fs.Sub(defaultFS, "default")
	if err != nil {
		panic(err)
	}
	return sub
}
