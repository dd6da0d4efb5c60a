package templates

import (
	"reflect"
	"text/template/parse"
)

// The builtins of text/template the fast path compiles: and, or, not,
// len and the comparisons. Each behaves as text/template's own, whose
// code (text/template/funcs.go) these mirror for the argument types they
// accept; other argument types leave the block to text/template.

// boolExpr is a bool-valued builtin.
func boolExpr(f func(*state, reflect.Value) (bool, error)) expr {
	return expr{
		typ:  boolType,
		cond: f,
		val: func(st *state, dot reflect.Value) (reflect.Value, error) {
			b, err := f(st, dot)
			return reflect.ValueOf(b), err
		},
	}
}

// andOr compiles and/or: the arguments are evaluated from the left until
// one is false (and) or true (or), and the result is that argument, or
// the last. Its truth is all (and) or any (or) of the arguments'; its
// value is available only when every argument has the same type.
func (c *compiler) andOr(n parse.Node, or bool, args []parse.Node, sc scope) (expr, error) {
	if len(args) == 0 {
		return expr{}, unsupported(n, "and/or without arguments")
	}
	ops := make([]expr, len(args))
	same, addr := true, true
	for i, a := range args {
		var err error
		if ops[i], err = c.arg(a, sc); err != nil {
			return expr{}, err
		}
		switch t := ops[i].typ; {
		case t == nil || t != ops[0].typ:
			same = false
		case ops[i].addr != ops[0].addr && !addrIrrelevant(t):
			same = false
		}
		addr = addr && ops[i].addr
	}
	e := expr{cond: func(st *state, dot reflect.Value) (bool, error) {
		for _, a := range ops {
			t, err := a.cond(st, dot)
			if err != nil || t == or {
				return t, err
			}
		}
		return !or, nil
	}}
	if same {
		e.typ, e.addr = ops[0].typ, addr
		e.val = func(st *state, dot reflect.Value) (reflect.Value, error) {
			var v reflect.Value
			for _, a := range ops {
				var err error
				if v, err = a.val(st, dot); err != nil || isTrue(v) == or {
					return v, err
				}
			}
			return v, nil
		}
		if e.typ.Kind() == reflect.String {
			e.str = func(st *state, dot reflect.Value) (string, error) {
				v, err := e.val(st, dot)
				if err != nil {
					return "", err
				}
				return v.String(), nil
			}
		}
	}
	return e, nil
}

// addrIrrelevant reports whether values of type t behave the same in
// templates whether addressable or not: scalars whose pointer type has no
// methods of its own. and/or may then mix addressable and other values.
func addrIrrelevant(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array, reflect.Slice, reflect.Struct, reflect.Map, reflect.Pointer,
		reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return false
	}
	return reflect.PointerTo(t).NumMethod() == t.NumMethod()
}

// not compiles not: the negated truth of its one argument.
func (c *compiler) not(n parse.Node, args []parse.Node, sc scope) (expr, error) {
	if len(args) != 1 {
		return expr{}, unsupported(n, "not with %d arguments", len(args))
	}
	a, err := c.arg(args[0], sc)
	if err != nil {
		return expr{}, err
	}
	return boolExpr(func(st *state, dot reflect.Value) (bool, error) {
		t, err := a.cond(st, dot)
		return !t, err
	}), nil
}

// length compiles len of a string, slice, array, map or channel.
func (c *compiler) length(n parse.Node, args []parse.Node, sc scope) (expr, error) {
	if len(args) != 1 {
		return expr{}, unsupported(n, "len with %d arguments", len(args))
	}
	a, err := c.arg(args[0], sc)
	if err != nil {
		return expr{}, err
	}
	if a.typ == nil {
		return expr{}, unsupported(n, "len of and/or")
	}
	switch a.typ.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map, reflect.Chan:
	default:
		return expr{}, unsupported(n, "len of %s", a.typ)
	}
	return valueExpr(intType, false, func(st *state, dot reflect.Value) (reflect.Value, error) {
		v, err := a.val(st, dot)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(v.Len()), nil
	}), nil
}

// Kinds of comparable values, as text/template's comparison builtins
// class them.
const (
	noKind = iota
	boolKind
	complexKind
	intKind
	floatKind
	stringKind
	uintKind
)

func basicKind(t reflect.Type) int {
	switch t.Kind() {
	case reflect.Bool:
		return boolKind
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intKind
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintKind
	case reflect.Float32, reflect.Float64:
		return floatKind
	case reflect.Complex64, reflect.Complex128:
		return complexKind
	case reflect.String:
		return stringKind
	}
	return noKind
}

// compare compiles eq (one value against one or more), ne, lt, le, gt
// and ge over basic kinds that text/template compares without error:
// equal kinds, or signed against unsigned integers. Every argument is
// evaluated before the comparison, as text/template does.
func (c *compiler) compare(n parse.Node, name string, args []parse.Node, sc scope) (expr, error) {
	switch {
	case name == "eq" && len(args) < 2, name != "eq" && len(args) != 2:
		return expr{}, unsupported(n, "%s with %d arguments", name, len(args))
	}
	ops := make([]expr, len(args))
	kinds := make([]int, len(args))
	for i, a := range args {
		var err error
		if ops[i], err = c.arg(a, sc); err != nil {
			return expr{}, err
		}
		if ops[i].typ == nil {
			return expr{}, unsupported(n, "%s of and/or", name)
		}
		kinds[i] = basicKind(ops[i].typ)
		k1, k2 := kinds[0], kinds[i]
		switch {
		case k2 == noKind:
			return expr{}, unsupported(n, "%s of %s", name, ops[i].typ)
		case k1 != k2 && !(k1 == intKind && k2 == uintKind) && !(k1 == uintKind && k2 == intKind):
			return expr{}, unsupported(n, "%s of %s and %s", name, ops[0].typ, ops[i].typ)
		case name != "eq" && name != "ne" && (k1 == boolKind || k1 == complexKind):
			return expr{}, unsupported(n, "%s of %s", name, ops[0].typ)
		}
	}
	if len(ops) == 2 {
		a, b := ops[0], ops[1]
		k1, k2 := kinds[0], kinds[1]
		var op func(x, y reflect.Value) bool
		switch {
		case name == "gt" && k1 == intKind && k2 == intKind: // {{if gt .Count 1}}
			op = func(x, y reflect.Value) bool { return x.Int() > y.Int() }
		case name == "eq" && k1 == stringKind && k2 == stringKind: // {{if eq .Policy "overlay"}}
			op = func(x, y reflect.Value) bool { return x.String() == y.String() }
		case name == "eq":
			op = func(x, y reflect.Value) bool { return equal(k1, k2, x, y) }
		case name == "ne":
			op = func(x, y reflect.Value) bool { return !equal(k1, k2, x, y) }
		case name == "lt":
			op = func(x, y reflect.Value) bool { return less(k1, k2, x, y) }
		case name == "le":
			op = func(x, y reflect.Value) bool { return less(k1, k2, x, y) || equal(k1, k2, x, y) }
		case name == "gt":
			op = func(x, y reflect.Value) bool { return !less(k1, k2, x, y) && !equal(k1, k2, x, y) }
		default: // ge
			op = func(x, y reflect.Value) bool { return !less(k1, k2, x, y) }
		}
		return boolExpr(func(st *state, dot reflect.Value) (bool, error) {
			x, err := a.val(st, dot)
			if err != nil {
				return false, err
			}
			y, err := b.val(st, dot)
			if err != nil {
				return false, err
			}
			return op(x, y), nil
		}), nil
	}
	return boolExpr(func(st *state, dot reflect.Value) (bool, error) {
		vs := make([]reflect.Value, len(ops))
		for i, a := range ops {
			var err error
			if vs[i], err = a.val(st, dot); err != nil {
				return false, err
			}
		}
		for i, v := range vs[1:] {
			if equal(kinds[0], kinds[i+1], vs[0], v) {
				return true, nil
			}
		}
		return false, nil
	}), nil
}

// equal is text/template's eq for values x and y of basic kinds k1 and k2
// that compare without error.
func equal(k1, k2 int, x, y reflect.Value) bool {
	switch {
	case k1 == intKind && k2 == uintKind:
		return x.Int() >= 0 && uint64(x.Int()) == y.Uint()
	case k1 == uintKind && k2 == intKind:
		return y.Int() >= 0 && x.Uint() == uint64(y.Int())
	}
	switch k1 {
	case boolKind:
		return x.Bool() == y.Bool()
	case complexKind:
		return x.Complex() == y.Complex()
	case floatKind:
		return x.Float() == y.Float()
	case intKind:
		return x.Int() == y.Int()
	case stringKind:
		return x.String() == y.String()
	}
	return x.Uint() == y.Uint()
}

// less is text/template's lt for values x and y of basic kinds k1 and k2
// that compare without error.
func less(k1, k2 int, x, y reflect.Value) bool {
	switch {
	case k1 == intKind && k2 == uintKind:
		return x.Int() < 0 || uint64(x.Int()) < y.Uint()
	case k1 == uintKind && k2 == intKind:
		return y.Int() >= 0 && x.Uint() < uint64(y.Int())
	}
	switch k1 {
	case floatKind:
		return x.Float() < y.Float()
	case intKind:
		return x.Int() < y.Int()
	case stringKind:
		return x.String() < y.String()
	}
	return x.Uint() < y.Uint()
}
