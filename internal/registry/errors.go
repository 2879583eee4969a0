package registry

import (
	"fmt"
	"reflect"
	"sync"
	"unicode/utf8"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// The errors that keep their identity across a boundary. A sentinel
// crosses as its registered name and arrives as the same variable of the
// other process; a value of a registered error type crosses gob-encoded
// and arrives as a value of that type. Everything else crosses as its
// text, with what it wraps.
var errs = struct {
	sync.RWMutex
	sentinels map[string]error
	names     map[error]string // sentinel → name; only comparable errors
	types     map[string]*errType
	typeNames map[reflect.Type]*errType
}{
	sentinels: map[string]error{},
	names:     map[error]string{},
	types:     map[string]*errType{},
	typeNames: map[reflect.Type]*errType{},
}

// errType is a registered error type.
type errType struct {
	name string
	t    reflect.Type // the dynamic type of the error values: T or *T
	// wrapField is the index of the struct's one exported field of type
	// error, or -1. Such a field (a wrapped cause) crosses as the node's
	// child and is put back on arrival, so the value round-trips.
	wrapField int
	mayCycle  bool // a value can refer to itself (wire.MayCycle): look before encoding it
}

var errorType = reflect.TypeFor[error]()

// RegisterSentinel records err under name. Registering the same error
// under the same name again does nothing; another error under a taken
// name panics, naming it. err must be comparable (errors.New values are).
func RegisterSentinel(name string, err error) {
	if err == nil {
		panic(fmt.Sprintf("futuresgen: sentinel %q is nil; register it after it is initialized", name))
	}
	if !reflect.ValueOf(err).Comparable() {
		panic(fmt.Sprintf("futuresgen: sentinel %q (%T) is not comparable: errors.Is could not find it", name, err))
	}
	errs.Lock()
	defer errs.Unlock()
	if old, ok := errs.sentinels[name]; ok {
		if old == err {
			return
		}
		panic(fmt.Sprintf("futuresgen: two different errors registered as sentinel %q", name))
	}
	errs.sentinels[name] = err
	if _, ok := errs.names[err]; !ok {
		errs.names[err] = name
	}
}

// SentinelKey returns the name RegisterError gives a sentinel of another
// package: its type and message, and the registration order among
// sentinels that share both.
func SentinelKey(err error) string {
	base := fmt.Sprintf("%T %s", err, err.Error())
	errs.RLock()
	defer errs.RUnlock()
	if old, ok := errs.names[err]; ok {
		return old
	}
	key := base
	for i := 2; errs.sentinels[key] != nil; i++ {
		key = fmt.Sprintf("%s #%d", base, i)
	}
	return key
}

// RegisterErrorType records the error type t (T or *T) under name, so
// that its values cross a boundary as values. Registering it again under
// the same name does nothing.
func RegisterErrorType(name string, t reflect.Type) {
	if !t.Implements(errorType) {
		panic(fmt.Sprintf("futuresgen: error type %q: %v does not implement error", name, t))
	}
	et := &errType{name: name, t: t, wrapField: -1}
	if st := t; st.Kind() == reflect.Struct || (st.Kind() == reflect.Pointer && st.Elem().Kind() == reflect.Struct) {
		if st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		for i := range st.NumField() {
			if f := st.Field(i); f.IsExported() && f.Type == errorType {
				if et.wrapField >= 0 {
					et.wrapField = -2 // two causes: the value cannot be rebuilt; it crosses as text
					break
				}
				et.wrapField = i
			}
		}
	}
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	et.mayCycle = wire.MayCycle(reflect.PointerTo(st))
	errs.Lock()
	defer errs.Unlock()
	if old, ok := errs.types[name]; ok {
		if old.t == t {
			return
		}
		panic(fmt.Sprintf("futuresgen: two different types registered as error type %q: %v and %v", name, old.t, t))
	}
	errs.types[name] = et
	if _, ok := errs.typeNames[t]; !ok {
		errs.typeNames[t] = et
	}
}

// Sentinel returns the sentinel registered as name, or nil.
func Sentinel(name string) error {
	errs.RLock()
	defer errs.RUnlock()
	return errs.sentinels[name]
}

// sentinelName returns the name err is registered under as a sentinel.
// An error that cannot be a map key is none: one whose type is not
// comparable, or whose value holds, in an interface, one that is not (a
// comparable struct with a slice in a field of type any). Only a struct
// or an array can be such a value; the look at the value is kept for
// them (it allocates).
func sentinelName(err error) (string, bool) {
	t := reflect.TypeOf(err)
	if !t.Comparable() {
		return "", false
	}
	if k := t.Kind(); (k == reflect.Struct || k == reflect.Array) && !reflect.ValueOf(err).Comparable() {
		return "", false
	}
	errs.RLock()
	defer errs.RUnlock()
	name, ok := errs.names[err]
	return name, ok
}

func typeOf(err error) *errType {
	errs.RLock()
	defer errs.RUnlock()
	return errs.typeNames[reflect.TypeOf(err)]
}

// Limits on an encoded error: a tree that big is cut (its message, the
// top node's text, is always kept whole up to maxText).
const (
	maxNodes = 64
	maxText  = 64 << 10
)

// EncodeError turns err into its wire form: its message, and each error
// it wraps (through Unwrap() error and Unwrap() []error), named when it is
// a registered sentinel and carried as a value when its type is
// registered and its value encodes.
func EncodeError(err error) *wire.Error {
	if err == nil {
		return nil
	}
	e := &wire.Error{}
	type item struct {
		err    error
		parent int
	}
	queue := []item{{err, 0}}
	for len(queue) > 0 && len(e.Nodes) < maxNodes {
		it := queue[0]
		queue = queue[1:]
		n := wire.ErrNode{Text: truncate(ErrorText(it.err)), Parent: it.parent}
		if name, ok := sentinelName(it.err); ok {
			n.Sentinel = name
			e.Nodes = append(e.Nodes, n)
			continue // a sentinel is whole: what it wraps is its own
		}
		var children []error
		if et := typeOf(it.err); et != nil && et.wrapField >= -1 {
			if value, cause, ok := et.encode(it.err); ok {
				n.Type, n.Value = et.name, value
				if cause != nil {
					children = []error{cause}
				}
				idx := len(e.Nodes)
				e.Nodes = append(e.Nodes, n)
				for _, c := range children {
					queue = append(queue, item{c, idx})
				}
				continue
			}
		}
		children, n.Joined = unwrap(it.err)
		idx := len(e.Nodes)
		e.Nodes = append(e.Nodes, n)
		for _, c := range children {
			queue = append(queue, item{c, idx})
		}
	}
	return e
}

// ErrorText returns err.Error(). If Error panics (a nil *T whose method
// dereferences it, say), it returns what fmt prints for err instead, as a
// caller printing the error in-process would see: "<nil>", or
// "%!v(PANIC=Error method: …)". The worker goes on.
func ErrorText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprint(err) // fmt calls Error again and catches the panic
		}
	}()
	return err.Error()
}

// unwrap returns what err wraps, and whether it came from Unwrap() []error.
// An Unwrap that panics wraps nothing.
func unwrap(err error) (children []error, joined bool) {
	defer func() {
		if recover() != nil {
			children = nil
		}
	}()
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if c := u.Unwrap(); c != nil {
			children = []error{c}
		}
	case interface{ Unwrap() []error }:
		joined = true
		for _, c := range u.Unwrap() {
			if c != nil {
				children = append(children, c)
			}
		}
	}
	return children, joined
}

// truncate cuts a text longer than maxText, at a rune boundary.
func truncate(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " …(cut)"
}

// encode gob-encodes a value of the type, without its cause (returned
// apart), and reports whether it could. The value is a self-contained
// payload (wire.EncodeSelfContained): it decodes alone, in any process
// built from the same source, and the type's description is written
// once per process and read once per prefix, not once per value. A nil
// pointer (a nil *T returned as an error) is an empty value: gob never
// writes an empty encoding. A GobEncode or MarshalBinary that panics
// does not encode.
func (et *errType) encode(err error) (value []byte, cause error, ok bool) {
	defer func() {
		if recover() != nil {
			value, cause, ok = nil, nil, false
		}
	}()
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil, true
		}
		v = v.Elem()
	}
	if et.wrapField >= 0 {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		f := c.Field(et.wrapField)
		if !f.IsNil() {
			cause = f.Interface().(error)
		}
		f.SetZero()
		v = c
	}
	if !v.CanAddr() { // gob needs the address to call a method with a pointer receiver
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	p := v.Addr().Interface()
	if et.mayCycle {
		if err := wire.CheckAcyclic(p); err != nil {
			return nil, nil, false
		}
	}
	if value, err = wire.EncodeSelfContained(p, 0); err != nil {
		return nil, nil, false
	}
	return value, cause, true
}

// DecodeErrorValue decodes the value of a node of the registered error
// type name, putting cause back as its wrapped error, and reports
// whether it could.
func DecodeErrorValue(name string, data []byte, cause error) (v error, ok bool) {
	defer func() {
		if recover() != nil { // a GobDecode or UnmarshalBinary that panics
			v, ok = nil, false
		}
	}()
	errs.RLock()
	et := errs.types[name]
	errs.RUnlock()
	if et == nil || et.wrapField < -1 {
		return nil, false
	}
	if len(data) == 0 {
		if et.t.Kind() != reflect.Pointer {
			return nil, false
		}
		nilPtr, ok := reflect.Zero(et.t).Interface().(error)
		return nilPtr, ok
	}
	st := et.t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	p := reflect.New(st)
	if err := wire.DecodeSelfContained(data, p.Interface()); err != nil {
		return nil, false
	}
	if et.wrapField >= 0 && cause != nil {
		p.Elem().Field(et.wrapField).Set(reflect.ValueOf(cause))
	}
	if et.t.Kind() != reflect.Pointer {
		p = p.Elem()
	}
	v, ok = p.Interface().(error)
	return v, ok
}
