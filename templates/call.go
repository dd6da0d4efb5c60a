package templates

import (
	"reflect"
	"text/template/parse"
	"time"
)

// call compiles a call of the function name with args (not counting the
// name): one of Funcs, or the builtins and, or, not, len, eq, ne, lt, le,
// gt and ge. Other builtins (print, printf, index, slice, call, html, js,
// urlquery, ...) are outside the subset.
func (c *compiler) call(n parse.Node, name string, args []parse.Node, sc scope) (expr, error) {
	if fn, ok := c.funcs[name]; ok { // Funcs come first, as in text/template
		return c.funcCall(n, name, fn, args, sc)
	}
	switch name {
	case "and", "or":
		return c.andOr(n, name == "or", args, sc)
	case "not":
		return c.not(n, args, sc)
	case "len":
		return c.length(n, args, sc)
	case "eq", "ne", "lt", "le", "gt", "ge":
		return c.compare(n, name, args, sc)
	}
	return expr{}, unsupported(n, "function %s", name)
}

// arg compiles a constant or an operand with its own value (the ideal
// value of a number): a command of one word, or an argument passed to a
// builtin, whose parameters are reflect.Values.
func (c *compiler) arg(n parse.Node, sc scope) (expr, error) {
	switch n := n.(type) {
	case *parse.BoolNode:
		return constExpr(reflect.ValueOf(n.True)), nil
	case *parse.StringNode:
		return constExpr(reflect.ValueOf(n.Text)), nil
	case *parse.NumberNode:
		v, err := idealConstant(n)
		if err != nil {
			return expr{}, err
		}
		return constExpr(v), nil
	}
	return c.operand(n, sc)
}

// operand compiles an argument that is not a constant: ., $, a field
// chain, a niladic function or a parenthesized pipeline.
func (c *compiler) operand(n parse.Node, sc scope) (expr, error) {
	switch n := n.(type) {
	case *parse.DotNode:
		return dotExpr(n, sc)
	case *parse.FieldNode:
		return c.field(n, sc)
	case *parse.VariableNode:
		return c.variable(n, sc)
	case *parse.IdentifierNode:
		return c.call(n, n.Ident, nil, sc)
	case *parse.PipeNode:
		return c.pipe(n, sc)
	}
	return expr{}, unsupported(n, "argument")
}

// getter yields a typed argument of a function call.
type getter[T any] func(st *state, dot reflect.Value) (T, error)

// typedArg compiles an argument for a parameter of type T as
// text/template's evalArg does: a constant is converted to T; any other
// argument must be of type T exactly (arguments text/template would
// convert, dereference or reject are outside the subset).
func typedArg[T any](c *compiler, n parse.Node, sc scope) (getter[T], error) {
	typ := reflect.TypeFor[T]()
	switch n.(type) {
	case *parse.DotNode, *parse.FieldNode, *parse.VariableNode, *parse.IdentifierNode, *parse.PipeNode:
		e, err := c.operand(n, sc)
		if err != nil {
			return nil, err
		}
		if e.typ != typ {
			return nil, unsupported(n, "argument of type %v for a parameter of type %s", e.typ, typ)
		}
		if typ == stringType {
			return any(getter[string](e.str)).(getter[T]), nil
		}
		val := e.val
		return func(st *state, dot reflect.Value) (T, error) {
			v, err := val(st, dot)
			if err != nil {
				var zero T
				return zero, err
			}
			return as[T](v), nil
		}, nil
	}
	v, err := constArg(n, typ)
	if err != nil {
		return nil, err
	}
	x := v.Interface().(T)
	return func(*state, reflect.Value) (T, error) { return x, nil }, nil
}

// funcCall compiles a call of one of Funcs. The signatures Funcs uses are
// called directly; any other goes through reflect.Value.Call.
func (c *compiler) funcCall(n parse.Node, name string, fn any, args []parse.Node, sc scope) (expr, error) {
	ft := reflect.TypeOf(fn)
	if ft.IsVariadic() || ft.NumIn() != len(args) {
		return expr{}, unsupported(n, "call of %s with %d arguments", name, len(args))
	}
	switch f := fn.(type) {
	case func(string) string:
		return call1(c, f, args, sc)
	case func(time.Time) string:
		return call1(c, f, args, sc)
	case func(time.Duration) string:
		return call1(c, f, args, sc)
	case func(int, string) string:
		return call2(c, f, args, sc)
	case func(string, []string) string:
		return call2(c, f, args, sc)
	case func(int, string, string) string:
		return call3(c, f, args, sc)
	}
	return c.reflectCall(n, name, reflect.ValueOf(fn), args, sc)
}

// strExpr is a string-valued function call.
func strExpr(f func(*state, reflect.Value) (string, error)) expr {
	return expr{
		typ: stringType,
		str: f,
		val: func(st *state, dot reflect.Value) (reflect.Value, error) {
			s, err := f(st, dot)
			return reflect.ValueOf(s), err
		},
		cond: func(st *state, dot reflect.Value) (bool, error) {
			s, err := f(st, dot)
			return s != "", err
		},
	}
}

func call1[A any](c *compiler, f func(A) string, args []parse.Node, sc scope) (expr, error) {
	a, err := typedArg[A](c, args[0], sc)
	if err != nil {
		return expr{}, err
	}
	return strExpr(func(st *state, dot reflect.Value) (string, error) {
		x, err := a(st, dot)
		if err != nil {
			return "", err
		}
		return f(x), nil
	}), nil
}

func call2[A, B any](c *compiler, f func(A, B) string, args []parse.Node, sc scope) (expr, error) {
	a, err := typedArg[A](c, args[0], sc)
	if err != nil {
		return expr{}, err
	}
	b, err := typedArg[B](c, args[1], sc)
	if err != nil {
		return expr{}, err
	}
	return strExpr(func(st *state, dot reflect.Value) (string, error) {
		x, err := a(st, dot)
		if err != nil {
			return "", err
		}
		y, err := b(st, dot)
		if err != nil {
			return "", err
		}
		return f(x, y), nil
	}), nil
}

func call3[A, B, C any](c *compiler, f func(A, B, C) string, args []parse.Node, sc scope) (expr, error) {
	a, err := typedArg[A](c, args[0], sc)
	if err != nil {
		return expr{}, err
	}
	b, err := typedArg[B](c, args[1], sc)
	if err != nil {
		return expr{}, err
	}
	cc, err := typedArg[C](c, args[2], sc)
	if err != nil {
		return expr{}, err
	}
	return strExpr(func(st *state, dot reflect.Value) (string, error) {
		x, err := a(st, dot)
		if err != nil {
			return "", err
		}
		y, err := b(st, dot)
		if err != nil {
			return "", err
		}
		z, err := cc(st, dot)
		if err != nil {
			return "", err
		}
		return f(x, y, z), nil
	}), nil
}

// reflectCall calls a function of any other signature through reflection.
// Its parameters and result must be of concrete, non-interface types.
func (c *compiler) reflectCall(n parse.Node, name string, fv reflect.Value, args []parse.Node, sc scope) (expr, error) {
	ft := fv.Type()
	switch {
	case ft.NumOut() == 1, ft.NumOut() == 2 && ft.Out(1) == errorType:
	default:
		return expr{}, unsupported(n, "function %s does not return a value and maybe an error", name)
	}
	if err := checkType(n, ft.Out(0)); err != nil {
		return expr{}, err
	}
	getters := make([]func(*state, reflect.Value) (reflect.Value, error), len(args))
	for i, a := range args {
		pt := ft.In(i)
		if err := checkType(a, pt); err != nil {
			return expr{}, err
		}
		switch a.(type) {
		case *parse.DotNode, *parse.FieldNode, *parse.VariableNode, *parse.IdentifierNode, *parse.PipeNode:
			e, err := c.operand(a, sc)
			if err != nil {
				return expr{}, err
			}
			if e.typ != pt {
				return expr{}, unsupported(a, "argument of type %v for a parameter of type %s", e.typ, pt)
			}
			getters[i] = e.val
		default:
			v, err := constArg(a, pt)
			if err != nil {
				return expr{}, err
			}
			getters[i] = func(*state, reflect.Value) (reflect.Value, error) { return v, nil }
		}
	}
	two := ft.NumOut() == 2
	return valueExpr(ft.Out(0), false, func(st *state, dot reflect.Value) (reflect.Value, error) {
		argv := make([]reflect.Value, len(getters))
		for i, g := range getters {
			var err error
			if argv[i], err = g(st, dot); err != nil {
				return reflect.Value{}, err
			}
		}
		out := fv.Call(argv) // a panic declines (state.exec)
		if two && !out[1].IsNil() {
			return reflect.Value{}, errDecline
		}
		return out[0], nil
	}), nil
}
