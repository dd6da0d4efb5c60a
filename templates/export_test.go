package templates

import "reflect"

// ExecuteTextTemplate renders block name with text/template alone, as
// Render did before the fast path existed; tests compare the two.
func (s *Set) ExecuteTextTemplate(name string, data any) (string, error) {
	return execute(name, s.blocks[name].tmpl, data)
}

// RendersFast reports whether Render renders block name with data on the
// fast path, and if not, why.
func (s *Set) RendersFast(name string, data any) (bool, error) {
	b := s.blocks[name]
	if _, ok := b.renderFast(s, data); ok {
		return true, nil
	}
	if p := b.program(s, reflect.TypeOf(data)); p.why != nil {
		return false, p.why
	}
	return false, nil
}
