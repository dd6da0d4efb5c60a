package templates

// The fast path. text/template evaluates a block by walking its parse tree
// and looking every field, method and function up by name, through
// reflection, on every execution. That costs the receiver a few
// microseconds and two dozen allocations per export. Here each block is
// compiled, once per concrete type of data it is rendered with, into a tree
// of closures in which every field index, method and function is already
// resolved (compile.go, expr.go, call.go); rendering then only follows
// those closures.
//
// The compiled program covers a subset of the template language, chosen so
// that it behaves exactly as text/template does: same output byte for
// byte, same values tested for truth, same functions called in the same
// order. A block that uses anything outside the subset, or is rendered with
// a type the subset cannot follow (interfaces, maps, ...), is never
// compiled for that type: text/template executes it. At run time the
// program gives up (errDecline) only where text/template would fail (a nil
// pointer on a field chain, a method or function that returns an error or
// panics), or past maxFastDepth nested template calls; Render then executes
// the block with text/template, which returns its own output or error. A
// render therefore never depends on which path produced it. (When the fast
// path gives up midway, the methods it has already called on the data are
// called again by text/template: templates must not call methods with side
// effects, which the data types they are given do not have.)

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"text/template"
)

// errDecline is returned by compiled programs that cannot finish a render
// the way text/template would; the caller then executes the block with
// text/template.
var errDecline = errors.New("fast path declined")

// maxFastDepth bounds nested {{template}} calls on the fast path. Deeper
// recursion is left to text/template, which has its own (much larger) limit
// and reports it.
const maxFastDepth = 1000

// maxPooledBuf is the largest output buffer kept for reuse; a rare huge
// render does not pin its memory.
const maxPooledBuf = 64 << 10

// step is a compiled piece of a template: it appends its output to st.buf
// given dot, the value {{.}} denotes there.
type step func(st *state, dot reflect.Value) error

// state is one fast render in progress.
type state struct {
	buf   []byte
	root  reflect.Value // $: the data of the template being executed
	depth int           // nested {{template}} calls
}

// Write appends p to the output; fmt prints through it.
func (st *state) Write(p []byte) (int, error) {
	st.buf = append(st.buf, p...)
	return len(p), nil
}

var statePool = sync.Pool{New: func() any { return &state{buf: make([]byte, 0, 1024)} }}

// block is one named template of a Set together with its compiled
// programs, one per concrete type of data it has been rendered with.
type block struct {
	tmpl   *template.Template
	last   atomic.Pointer[compiled] // the most recent type, checked first
	byType sync.Map                 // reflect.Type → *compiled
}

// compiled is a block's program for one type of data.
type compiled struct {
	typ    reflect.Type
	run    step  // nil when the block is outside the subset for typ
	dollar bool  // the block uses $
	why    error // why run is nil, for tests and debugging
}

// program returns the block's program for data of type typ, compiling it
// on first use.
func (b *block) program(s *Set, typ reflect.Type) *compiled {
	if p := b.last.Load(); p != nil && p.typ == typ {
		return p
	}
	if v, ok := b.byType.Load(typ); ok {
		p := v.(*compiled)
		b.last.Store(p)
		return p
	}
	p := &compiled{typ: typ}
	if tp, err := compileBlock(s, b.tmpl, typ); err != nil {
		p.why = err
	} else {
		p.run, p.dollar = tp.run, tp.dollar
	}
	v, _ := b.byType.LoadOrStore(typ, p)
	p = v.(*compiled)
	b.last.Store(p)
	return p
}

// renderFast renders the block with data on the fast path. ok is false
// when the fast path declined; the caller must then use text/template.
func (b *block) renderFast(s *Set, data any) (out string, ok bool) {
	if data == nil {
		return "", false
	}
	if _, isValue := data.(reflect.Value); isValue {
		// text/template renders the value a reflect.Value holds; leave
		// that to it.
		return "", false
	}
	p := b.program(s, reflect.TypeOf(data))
	if p.run == nil {
		return "", false
	}
	st := statePool.Get().(*state)
	if st.exec(p, reflect.ValueOf(data)) {
		out, ok = string(st.buf), true
	}
	if p.dollar {
		st.root = reflect.Value{}
	}
	if cap(st.buf) <= maxPooledBuf {
		statePool.Put(st)
	}
	return out, ok
}

// exec runs a program on data. It reports false when the program declined
// or panicked (a method or function that panics, which text/template
// reports as an error); nothing has been returned to anyone at that point.
func (st *state) exec(p *compiled, data reflect.Value) (ok bool) {
	defer func() {
		if recover() != nil {
			st.root, ok = reflect.Value{}, false
		}
	}()
	st.buf, st.depth = st.buf[:0], 0
	if p.dollar {
		st.root = data
	}
	return p.run(st, data) == nil
}

var (
	errorType     = reflect.TypeFor[error]()
	stringerType  = reflect.TypeFor[fmt.Stringer]()
	formatterType = reflect.TypeFor[fmt.Formatter]()
	valueType     = reflect.TypeFor[reflect.Value]()
	stringType    = reflect.TypeFor[string]()
	boolType      = reflect.TypeFor[bool]()
	intType       = reflect.TypeFor[int]()
)

// hasPrintMethod reports whether fmt would print a t by a method of its
// own rather than by its kind.
func hasPrintMethod(t reflect.Type) bool {
	return t.Implements(errorType) || t.Implements(stringerType) || t.Implements(formatterType)
}

// plainPrintable reports whether a value of type t (addressable or not)
// prints under text/template exactly as its kind's strconv form: a string,
// bool or integer without String, Error or Format methods on t or, when
// addressable, on *t.
func plainPrintable(t reflect.Type, addr bool) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
	default:
		return false
	}
	return !hasPrintMethod(t) && !(addr && hasPrintMethod(reflect.PointerTo(t)))
}

// appendPlain appends v, of a kind plainPrintable accepts, as fmt.Fprint
// prints it.
func appendPlain(buf []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.String:
		return append(buf, v.String()...)
	case reflect.Bool:
		return strconv.AppendBool(buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(buf, v.Int(), 10)
	default:
		return strconv.AppendUint(buf, v.Uint(), 10)
	}
}

// printValue prints v as text/template's printValue does: through
// printableValue and fmt.Fprint. It declines where text/template fails
// (values of chan or func type).
func printValue(st *state, v reflect.Value) error {
	iface, ok := printableValue(v)
	if !ok {
		return errDecline
	}
	fmt.Fprint(st, iface)
	return nil
}

// printableValue is text/template's: the (possibly indirected) interface
// value inside v that fmt should print, preferring *T's String or Error
// method when v is addressable.
func printableValue(v reflect.Value) (any, bool) {
	if v.Kind() == reflect.Pointer {
		v, _ = indirect(v) // fmt.Fprint handles nil.
	}
	if !v.IsValid() {
		return "<no value>", true
	}
	if !v.Type().Implements(errorType) && !v.Type().Implements(stringerType) {
		if v.CanAddr() && (reflect.PointerTo(v.Type()).Implements(errorType) || reflect.PointerTo(v.Type()).Implements(stringerType)) {
			v = v.Addr()
		} else {
			switch v.Kind() {
			case reflect.Chan, reflect.Func:
				return nil, false
			}
		}
	}
	return v.Interface(), true
}

// indirect is text/template's: it follows pointers and interfaces to the
// value at the end, stopping at a nil one (and reporting it).
func indirect(v reflect.Value) (rv reflect.Value, isNil bool) {
	for ; v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface; v = v.Elem() {
		if v.IsNil() {
			return v, true
		}
	}
	return v, false
}

// isTrue is text/template's truth: false for the zero value of numbers
// and bools, for empty strings, slices, arrays and maps, for nil pointers,
// interfaces, funcs and channels; structs are always true.
func isTrue(val reflect.Value) bool {
	if !val.IsValid() {
		return false
	}
	switch val.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return val.Len() > 0
	case reflect.Bool:
		return val.Bool()
	case reflect.Complex64, reflect.Complex128:
		return val.Complex() != 0
	case reflect.Chan, reflect.Func, reflect.Pointer, reflect.UnsafePointer, reflect.Interface:
		return !val.IsNil()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return val.Int() != 0
	case reflect.Float32, reflect.Float64:
		return val.Float() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return val.Uint() != 0
	}
	return true // reflect.Struct
}

// as returns the Go value v holds; v's type must be exactly T. It does
// not allocate: an addressable v is read through its address, any other
// shares its memory with the interface Interface returns.
func as[T any](v reflect.Value) T {
	if v.CanAddr() {
		return *v.Addr().Interface().(*T)
	}
	return v.Interface().(T)
}
