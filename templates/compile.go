package templates

import (
	"reflect"
	"text/template"
	"text/template/parse"
)

// The subset the compiler accepts (everything else leaves the block to
// text/template for that type of data):
//
//   - text, and comments;
//   - {{pipeline}} printing a value, with text/template's printing rules;
//   - {{if}}, {{else if}}, {{with}}, {{else with}}, {{else}}, and {{range}}
//     over a slice or an array (with {{else}}), without variable
//     declarations, {{break}} or {{continue}};
//   - {{template "name" pipeline}} for a template of the set;
//   - pipelines of one command (no "|"), possibly parenthesized;
//   - ., $, field chains on both (.A.B, $.A.B) through struct values and
//     single pointers to them, including methods without arguments that
//     return a value (and maybe an error);
//   - bool, string and number constants;
//   - the functions of Funcs, and the builtins and, or, not, len, eq, ne,
//     lt, le, gt and ge, with arguments text/template accepts unconverted.
//
// Values of interface types, keys of maps (.Map.key), ranges over maps,
// channels, integers and iterators, and printing channels or funcs are
// outside it.

// scope is the static context of a node: the types of dot and of $.
type scope struct {
	dot      reflect.Type
	dotAddr  bool
	root     reflect.Type
	rootAddr bool
	prog     *tmplProgram // the template being compiled
}

// tmplKey names a template compiled for one type of dot.
type tmplKey struct {
	name string
	typ  reflect.Type
	addr bool
}

// tmplProgram is a compiled template; run is set once its body is
// compiled (a recursive template calls itself through it).
type tmplProgram struct {
	run    step
	dollar bool // its body uses $, which a call must then set
}

// compiler compiles one block, with the templates it calls, for one type
// of data.
type compiler struct {
	set   *Set
	funcs template.FuncMap
	progs map[tmplKey]*tmplProgram
}

// compileBlock compiles t for data of type typ. It returns an error
// naming the first construct outside the subset.
func compileBlock(s *Set, t *template.Template, typ reflect.Type) (*tmplProgram, error) {
	c := &compiler{set: s, funcs: s.funcs, progs: make(map[tmplKey]*tmplProgram)}
	return c.template(nil, t, typ, false)
}

// template compiles t for a dot of type typ.
func (c *compiler) template(n parse.Node, t *template.Template, typ reflect.Type, addr bool) (*tmplProgram, error) {
	key := tmplKey{t.Name(), typ, addr}
	if p, ok := c.progs[key]; ok {
		return p, nil
	}
	if t.Tree == nil || t.Root == nil {
		return nil, unsupported(n, "template %q is empty or incomplete", t.Name())
	}
	p := &tmplProgram{}
	c.progs[key] = p
	run, err := c.list(t.Root, scope{dot: typ, dotAddr: addr, root: typ, rootAddr: addr, prog: p})
	if err != nil {
		return nil, err
	}
	p.run = run
	return p, nil
}

// nop is an empty list.
func nop(*state, reflect.Value) error { return nil }

// list compiles a list of nodes; adjacent text is written at once.
func (c *compiler) list(l *parse.ListNode, sc scope) (step, error) {
	if l == nil {
		return nop, nil
	}
	var steps []step
	var text []byte
	flush := func() {
		if len(text) > 0 {
			t := text
			steps = append(steps, func(st *state, _ reflect.Value) error {
				st.buf = append(st.buf, t...)
				return nil
			})
			text = nil
		}
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			text = append(text, n.Text...)
			continue
		case *parse.CommentNode:
			continue
		}
		flush()
		s, err := c.node(n, sc)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	flush()
	switch len(steps) {
	case 0:
		return nop, nil
	case 1:
		return steps[0], nil
	case 2:
		a, b := steps[0], steps[1]
		return func(st *state, dot reflect.Value) error {
			if err := a(st, dot); err != nil {
				return err
			}
			return b(st, dot)
		}, nil
	}
	return func(st *state, dot reflect.Value) error {
		for _, s := range steps {
			if err := s(st, dot); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// node compiles an action, a control structure or a template call.
func (c *compiler) node(n parse.Node, sc scope) (step, error) {
	switch n := n.(type) {
	case *parse.ActionNode:
		e, err := c.pipe(n.Pipe, sc)
		if err != nil {
			return nil, err
		}
		return printer(n, e)
	case *parse.IfNode:
		return c.ifNode(n, sc)
	case *parse.WithNode:
		return c.withNode(n, sc)
	case *parse.RangeNode:
		return c.rangeNode(n, sc)
	case *parse.TemplateNode:
		return c.templateNode(n, sc)
	}
	return nil, unsupported(n, "node")
}

// printer prints the values of e as text/template does: strings, bools
// and integers without methods of their own directly, anything else
// through fmt.Fprint.
func printer(n parse.Node, e expr) (step, error) {
	if e.typ == nil {
		return nil, unsupported(n, "printing and/or of different types")
	}
	switch e.typ.Kind() {
	case reflect.Chan, reflect.Func:
		return nil, unsupported(n, "printing a %s", e.typ)
	}
	if !plainPrintable(e.typ, e.addr) {
		val := e.val
		return func(st *state, dot reflect.Value) error {
			v, err := val(st, dot)
			if err != nil {
				return err
			}
			return printValue(st, v)
		}, nil
	}
	if e.str != nil {
		str := e.str
		return func(st *state, dot reflect.Value) error {
			s, err := str(st, dot)
			st.buf = append(st.buf, s...)
			return err
		}, nil
	}
	val := e.val
	return func(st *state, dot reflect.Value) error {
		v, err := val(st, dot)
		if err != nil {
			return err
		}
		st.buf = appendPlain(st.buf, v)
		return nil
	}, nil
}

func (c *compiler) ifNode(n *parse.IfNode, sc scope) (step, error) {
	e, err := c.pipe(n.Pipe, sc)
	if err != nil {
		return nil, err
	}
	then, err := c.list(n.List, sc)
	if err != nil {
		return nil, err
	}
	els, err := c.list(n.ElseList, sc)
	if err != nil {
		return nil, err
	}
	cond := e.cond
	return func(st *state, dot reflect.Value) error {
		t, err := cond(st, dot)
		switch {
		case err != nil:
			return err
		case t:
			return then(st, dot)
		}
		return els(st, dot)
	}, nil
}

func (c *compiler) withNode(n *parse.WithNode, sc scope) (step, error) {
	e, err := c.pipe(n.Pipe, sc)
	if err != nil {
		return nil, err
	}
	if e.typ == nil {
		return nil, unsupported(n, "with and/or of different types")
	}
	inner := sc
	inner.dot, inner.dotAddr = e.typ, e.addr
	then, err := c.list(n.List, inner)
	if err != nil {
		return nil, err
	}
	els, err := c.list(n.ElseList, sc)
	if err != nil {
		return nil, err
	}
	val := e.val
	return func(st *state, dot reflect.Value) error {
		v, err := val(st, dot)
		switch {
		case err != nil:
			return err
		case isTrue(v):
			return then(st, v)
		}
		return els(st, dot)
	}, nil
}

func (c *compiler) rangeNode(n *parse.RangeNode, sc scope) (step, error) {
	e, err := c.pipe(n.Pipe, sc)
	if err != nil {
		return nil, err
	}
	if e.typ == nil {
		return nil, unsupported(n, "range over and/or of different types")
	}
	inner := sc
	switch e.typ.Kind() {
	case reflect.Slice:
		inner.dot, inner.dotAddr = e.typ.Elem(), true
	case reflect.Array:
		inner.dot, inner.dotAddr = e.typ.Elem(), e.addr
	default:
		return nil, unsupported(n, "range over %s", e.typ)
	}
	body, err := c.list(n.List, inner)
	if err != nil {
		return nil, err
	}
	els, err := c.list(n.ElseList, sc)
	if err != nil {
		return nil, err
	}
	val := e.val
	return func(st *state, dot reflect.Value) error {
		v, err := val(st, dot)
		if err != nil {
			return err
		}
		if v.Len() == 0 {
			return els(st, dot)
		}
		for i := 0; i < v.Len(); i++ {
			if err := body(st, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (c *compiler) templateNode(n *parse.TemplateNode, sc scope) (step, error) {
	if n.Pipe == nil {
		return nil, unsupported(n, "template call without data")
	}
	t := c.set.t.Lookup(n.Name)
	if t == nil {
		return nil, unsupported(n, "template %q is not defined", n.Name)
	}
	e, err := c.pipe(n.Pipe, sc)
	if err != nil {
		return nil, err
	}
	if e.typ == nil {
		return nil, unsupported(n, "template call with and/or of different types")
	}
	p, err := c.template(n, t, e.typ, e.addr)
	if err != nil {
		return nil, err
	}
	val := e.val
	return func(st *state, dot reflect.Value) error {
		v, err := val(st, dot)
		if err != nil {
			return err
		}
		if st.depth >= maxFastDepth {
			return errDecline
		}
		st.depth++
		if !p.dollar {
			// Not touching st.root spares write barriers.
			err = p.run(st, v)
		} else {
			root := st.root
			st.root = v
			err = p.run(st, v)
			st.root = root
		}
		st.depth--
		return err
	}, nil
}

// pipe compiles a pipeline of one command without declarations.
func (c *compiler) pipe(p *parse.PipeNode, sc scope) (expr, error) {
	if len(p.Decl) > 0 {
		return expr{}, unsupported(p, "variable declaration")
	}
	if len(p.Cmds) != 1 {
		return expr{}, unsupported(p, "pipeline of %d commands", len(p.Cmds))
	}
	cmd := p.Cmds[0]
	first := cmd.Args[0]
	if id, ok := first.(*parse.IdentifierNode); ok {
		return c.call(id, id.Ident, cmd.Args[1:], sc)
	}
	if len(cmd.Args) > 1 {
		return expr{}, unsupported(cmd, "arguments to a non-function")
	}
	return c.arg(first, sc)
}

// field compiles .A.B.
func (c *compiler) field(n *parse.FieldNode, sc scope) (expr, error) {
	dot, err := dotExpr(n, sc)
	if err != nil {
		return expr{}, err
	}
	return fieldChain(n, dot, false, n.Ident)
}

// variable compiles $ and $.A.B; other variables are outside the subset.
func (c *compiler) variable(n *parse.VariableNode, sc scope) (expr, error) {
	if n.Ident[0] != "$" {
		return expr{}, unsupported(n, "variable %s", n.Ident[0])
	}
	root, err := rootExpr(n, sc)
	if err != nil {
		return expr{}, err
	}
	if len(n.Ident) == 1 {
		return root, nil
	}
	return fieldChain(n, root, true, n.Ident[1:])
}
