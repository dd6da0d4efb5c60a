package templates

import (
	"fmt"
	"reflect"
	"strings"
	"text/template/parse"
	"time"
)

// expr is a compiled expression (a pipeline, a command or an argument)
// with its static type: the type of every value it yields, known when the
// block is compiled for a type of data.
type expr struct {
	// typ is the type of the values; never an interface type. It is nil
	// for and/or over arguments of different types, whose result can only
	// be tested for truth (cond).
	typ reflect.Type
	// addr is whether the values are addressable, which decides, as in
	// text/template, whether methods of *typ apply and how they print.
	addr bool
	// val yields the value (nil when typ is nil).
	val func(st *state, dot reflect.Value) (reflect.Value, error)
	// str yields the value of a string-kinded expression without going
	// through reflect.Value (nil for other kinds).
	str func(st *state, dot reflect.Value) (string, error)
	// cond yields the value's truth, as {{if}} tests it.
	cond func(st *state, dot reflect.Value) (bool, error)
}

// unsupported reports a construct or type outside the fast path's subset:
// the block is then always executed by text/template for that type of
// data. Errors text/template would report are unsupported too: only
// text/template words them.
func unsupported(n parse.Node, format string, args ...any) error {
	where := ""
	if n != nil {
		where = fmt.Sprintf("%s: ", n)
	}
	return fmt.Errorf("%s%s", where, fmt.Sprintf(format, args...))
}

// valueExpr makes an expression of type typ from the function yielding
// its value, deriving str and cond.
func valueExpr(typ reflect.Type, addr bool, val func(*state, reflect.Value) (reflect.Value, error)) expr {
	e := expr{typ: typ, addr: addr, val: val}
	switch typ.Kind() {
	case reflect.String:
		e.str = func(st *state, dot reflect.Value) (string, error) {
			v, err := val(st, dot)
			if err != nil {
				return "", err
			}
			return v.String(), nil
		}
		e.cond = func(st *state, dot reflect.Value) (bool, error) {
			v, err := val(st, dot)
			return err == nil && v.Len() > 0, err
		}
	default:
		e.cond = func(st *state, dot reflect.Value) (bool, error) {
			v, err := val(st, dot)
			return err == nil && isTrue(v), err
		}
	}
	return e
}

// checkType rejects the types the fast path does not follow: interfaces
// (their dynamic type decides everything) and reflect.Value (which
// text/template unwraps).
func checkType(n parse.Node, typ reflect.Type) error {
	switch {
	case typ.Kind() == reflect.Interface:
		return unsupported(n, "value of interface type %s", typ)
	case typ == valueType:
		return unsupported(n, "value of type reflect.Value")
	}
	return nil
}

// dotExpr is {{.}}.
func dotExpr(n parse.Node, sc scope) (expr, error) {
	if err := checkType(n, sc.dot); err != nil {
		return expr{}, err
	}
	e := valueExpr(sc.dot, sc.dotAddr, func(_ *state, dot reflect.Value) (reflect.Value, error) { return dot, nil })
	if sc.dot.Kind() == reflect.String {
		e.str = func(_ *state, dot reflect.Value) (string, error) { return dot.String(), nil }
	}
	return e, nil
}

// rootExpr is {{$}}.
func rootExpr(n parse.Node, sc scope) (expr, error) {
	if err := checkType(n, sc.root); err != nil {
		return expr{}, err
	}
	sc.prog.dollar = true
	return valueExpr(sc.root, sc.rootAddr, func(st *state, _ reflect.Value) (reflect.Value, error) { return st.root, nil }), nil
}

// constExpr is a constant whose value is v (never invalid).
func constExpr(v reflect.Value) expr {
	e := valueExpr(v.Type(), false, func(*state, reflect.Value) (reflect.Value, error) { return v, nil })
	t := isTrue(v)
	e.cond = func(*state, reflect.Value) (bool, error) { return t, nil }
	if v.Kind() == reflect.String {
		s := v.String()
		e.str = func(*state, reflect.Value) (string, error) { return s, nil }
	}
	return e
}

// idealConstant is the value text/template gives a number where no type
// is expected (a command, or an argument of and, eq, len, ...): complex128,
// float64 or int by its syntax.
func idealConstant(n *parse.NumberNode) (reflect.Value, error) {
	switch {
	case n.IsComplex:
		return reflect.ValueOf(n.Complex128), nil
	case n.IsFloat && !isHexInt(n.Text) && !isRuneInt(n.Text) && strings.ContainsAny(n.Text, ".eEpP"):
		return reflect.ValueOf(n.Float64), nil
	case n.IsInt:
		i := int(n.Int64)
		if int64(i) != n.Int64 {
			return reflect.Value{}, unsupported(n, "overflows int")
		}
		return reflect.ValueOf(i), nil
	}
	return reflect.Value{}, unsupported(n, "number without an int, float or complex value")
}

func isRuneInt(s string) bool { return len(s) > 0 && s[0] == '\'' }

func isHexInt(s string) bool {
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !strings.ContainsAny(s, "pP")
}

// constArg is the value text/template gives a constant argument n passed
// to a parameter of type typ (evalArg): nil for types that can be nil, a
// bool, string or number literal of the matching kind, converted to typ.
func constArg(n parse.Node, typ reflect.Type) (reflect.Value, error) {
	if _, ok := n.(*parse.NilNode); ok {
		switch typ.Kind() {
		case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
			return reflect.Zero(typ), nil
		}
		return reflect.Value{}, unsupported(n, "nil for %s", typ)
	}
	v := reflect.New(typ).Elem()
	num, _ := n.(*parse.NumberNode)
	switch typ.Kind() {
	case reflect.Bool:
		if b, ok := n.(*parse.BoolNode); ok {
			v.SetBool(b.True)
			return v, nil
		}
	case reflect.String:
		if s, ok := n.(*parse.StringNode); ok {
			v.SetString(s.Text)
			return v, nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if num != nil && num.IsInt {
			v.SetInt(num.Int64)
			return v, nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if num != nil && num.IsUint {
			v.SetUint(num.Uint64)
			return v, nil
		}
	case reflect.Float32, reflect.Float64:
		if num != nil && num.IsFloat {
			v.SetFloat(num.Float64)
			return v, nil
		}
	case reflect.Complex64, reflect.Complex128:
		if num != nil && num.IsComplex {
			v.SetComplex(num.Complex128)
			return v, nil
		}
	}
	return reflect.Value{}, unsupported(n, "constant for a parameter of type %s", typ)
}

// link is one step of a field chain: from the receiver to the field's
// value or the method's result.
type link func(v reflect.Value) (reflect.Value, error)

// fieldChain compiles .A.B.C applied to base (dot, $ or nothing else).
// Each name is resolved as text/template's evalField does: a method of
// the receiver (of *T when the receiver is addressable) first, else a
// field of the struct, through one pointer.
func fieldChain(n parse.Node, base expr, fromRoot bool, names []string) (expr, error) {
	typ, addr := base.typ, base.addr
	var links []link
	var path []int // while every link is a plain field of a struct value
	plain := true
	for _, name := range names {
		l, index, t, a, err := resolve(n, typ, addr, name)
		if err != nil {
			return expr{}, err
		}
		links = append(links, l)
		if index < 0 {
			plain = false
		}
		path = append(path, index)
		typ, addr = t, a
	}
	if err := checkType(n, typ); err != nil {
		return expr{}, err
	}
	if plain && !fromRoot {
		return plainFields(typ, addr, path), nil
	}
	return valueExpr(typ, addr, func(st *state, dot reflect.Value) (reflect.Value, error) {
		v := dot
		if fromRoot {
			v = st.root
		}
		for _, l := range links {
			var err error
			if v, err = l(v); err != nil {
				return reflect.Value{}, err
			}
		}
		return v, nil
	}), nil
}

// plainFields is a chain of fields of struct values of dot (no pointers,
// no methods): the common {{.SystemNumber}}.
func plainFields(typ reflect.Type, addr bool, path []int) expr {
	var e expr
	if len(path) == 1 {
		i := path[0]
		e = valueExpr(typ, addr, func(_ *state, dot reflect.Value) (reflect.Value, error) { return dot.Field(i), nil })
		if typ.Kind() == reflect.String {
			e.str = func(_ *state, dot reflect.Value) (string, error) { return dot.Field(i).String(), nil }
			e.cond = func(_ *state, dot reflect.Value) (bool, error) { return dot.Field(i).Len() > 0, nil }
		}
		return e
	}
	return valueExpr(typ, addr, func(_ *state, dot reflect.Value) (reflect.Value, error) {
		for _, i := range path {
			dot = dot.Field(i)
		}
		return dot, nil
	})
}

// resolve compiles one name of a field chain on a receiver of type typ.
// index is the field's index when the link is a plain field of a struct
// value (no pointer to follow, no embedding), else -1.
func resolve(n parse.Node, typ reflect.Type, addr bool, name string) (l link, index int, t reflect.Type, a bool, err error) {
	if err := checkType(n, typ); err != nil {
		return nil, -1, nil, false, err
	}
	// The type whose methods apply: text/template looks methods up on
	// *T when it can take the receiver's address.
	mtyp, viaAddr := typ, false
	st := typ // the struct, for fields
	isPtr := typ.Kind() == reflect.Pointer
	if isPtr {
		st = typ.Elem()
		if k := st.Kind(); k == reflect.Pointer || k == reflect.Interface {
			return nil, -1, nil, false, unsupported(n, "field %s of %s", name, typ)
		}
	} else if addr {
		mtyp, viaAddr = reflect.PointerTo(typ), true
	}
	if m, ok := mtyp.MethodByName(name); ok {
		l, t, err := methodLink(n, mtyp, m, viaAddr)
		return l, -1, t, false, err
	}
	if st.Kind() != reflect.Struct {
		return nil, -1, nil, false, unsupported(n, "field %s of %s", name, typ)
	}
	f, ok := st.FieldByName(name)
	if !ok || !f.IsExported() {
		return nil, -1, nil, false, unsupported(n, "no exported field or method %s in %s", name, typ)
	}
	// The field's address is known when the struct's is: through the
	// pointer, or through a pointer embedded on the way.
	a = addr || isPtr
	ft := st
	for _, i := range f.Index[:len(f.Index)-1] {
		ft = ft.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft, a = ft.Elem(), true
		}
	}
	fi := f.Index
	switch {
	case isPtr:
		l = func(v reflect.Value) (reflect.Value, error) {
			if v.IsNil() {
				return reflect.Value{}, errDecline // "nil pointer evaluating"
			}
			v, err := v.Elem().FieldByIndexErr(fi)
			if err != nil {
				return reflect.Value{}, errDecline
			}
			return v, nil
		}
		index = -1
	case len(fi) == 1:
		i := fi[0]
		l = func(v reflect.Value) (reflect.Value, error) { return v.Field(i), nil }
		index = i
	default:
		l = func(v reflect.Value) (reflect.Value, error) {
			v, err := v.FieldByIndexErr(fi)
			if err != nil {
				return reflect.Value{}, errDecline
			}
			return v, nil
		}
		index = -1
	}
	return l, index, f.Type, a, nil
}

var timeType = reflect.TypeFor[time.Time]()

// methodLink calls method m of mtyp without arguments, as text/template
// calls a method named in a field chain. viaAddr: the receiver is an
// addressable T and m belongs to *T's method set.
func methodLink(n parse.Node, mtyp reflect.Type, m reflect.Method, viaAddr bool) (link, reflect.Type, error) {
	ft := m.Type // with the receiver as first parameter
	if ft.NumIn() != 1 || ft.IsVariadic() {
		return nil, nil, unsupported(n, "method %s takes arguments", m.Name)
	}
	switch {
	case ft.NumOut() == 1, ft.NumOut() == 2 && ft.Out(1) == errorType:
	default:
		return nil, nil, unsupported(n, "method %s does not return a value and maybe an error", m.Name)
	}
	rt := ft.Out(0)
	if err := checkType(n, rt); err != nil {
		return nil, nil, err
	}
	// time.Time's IsZero, which the default templates test, without
	// reflect.Value.Call and its allocations.
	if m.Name == "IsZero" && (mtyp == timeType || mtyp == reflect.PointerTo(timeType)) {
		isPtr := mtyp.Kind() == reflect.Pointer && !viaAddr
		return func(v reflect.Value) (reflect.Value, error) {
			if isPtr {
				if v.IsNil() {
					return reflect.Value{}, errDecline // the call would panic
				}
				v = v.Elem()
			}
			return reflect.ValueOf(as[time.Time](v).IsZero()), nil
		}, rt, nil
	}
	idx, two := m.Index, ft.NumOut() == 2
	return func(v reflect.Value) (reflect.Value, error) {
		if viaAddr {
			v = v.Addr()
		}
		out := v.Method(idx).Call(nil) // a panic declines (state.exec)
		if two && !out[1].IsNil() {
			return reflect.Value{}, errDecline
		}
		return out[0], nil
	}, rt, nil
}
