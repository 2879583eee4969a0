package wire

import (
	"encoding"
	"encoding/gob"
	"reflect"
	"sync"
)

// What encoding/gob does with a type, as the cycle check (acyclic.go) and
// the self-contained codec (selfcontained.go) need to know it. Both ask
// here, so that they never disagree with gob, or with each other.

var (
	gobEncoderType = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshal  = reflect.TypeFor[encoding.BinaryMarshaler]()
)

// maxIndirections is as far as gob follows pointers looking for a method
// (encoding/gob's "insane number of indirections").
const maxIndirections = 100

// encodesItself reports whether gob hands a value of t to the value's own
// method instead of walking it. gob's rule (encoding/gob's type.go,
// implementsInterface, called by validUserType for GobEncoder, then
// BinaryMarshaler):
//   - t, or any type reached from t by following pointers (*T → T, at
//     most 100 times), implements gob.GobEncoder or
//     encoding.BinaryMarshaler: gob dereferences the value that far and
//     calls the method (a value receiver, or a pointer receiver reached
//     through a pointer);
//   - t is not a pointer and *t implements one of them (a pointer
//     receiver): gob takes the value's address (and fails on a value it
//     cannot address).
//
// encoding.TextMarshaler does not count: gob has that case commented out
// (golang.org/issue/6760) and walks the fields of a type that only has a
// MarshalText. An interface type counts when its method set includes one
// of the methods: gob calls it on whatever the interface holds.
func encodesItself(t reflect.Type) bool {
	return implements(t, gobEncoderType) || implements(t, binaryMarshal)
}

// implements is encoding/gob's implementsInterface, yes or no.
func implements(t, iface reflect.Type) bool {
	rt := t
	for range maxIndirections + 1 {
		if rt.Implements(iface) {
			return true
		}
		if rt.Kind() != reflect.Pointer {
			break
		}
		rt = rt.Elem()
	}
	return t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface)
}

// gobField reports whether gob encodes the struct field f: it is exported
// and neither a chan nor a func, which gob leaves out as it does
// unexported fields.
func gobField(f reflect.StructField) bool {
	if !f.IsExported() {
		return false
	}
	k := f.Type.Kind()
	return k != reflect.Chan && k != reflect.Func
}

var holdsIface sync.Map // reflect.Type → bool

// holdsInterface reports whether gob, encoding a value of t, can meet an
// interface value: whether one is reachable from t through the fields gob
// encodes (gobField), elements, map keys and values, and pointers,
// without passing a type that encodes itself (encodesItself). gob
// describes the concrete type an interface holds where it meets it, in
// the middle of the value's bytes. The answer is cached per type.
func holdsInterface(t reflect.Type) bool {
	if b, ok := holdsIface.Load(t); ok {
		return b.(bool)
	}
	b := reachesInterface(t, map[reflect.Type]bool{})
	holdsIface.Store(t, b)
	return b
}

func reachesInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // the answer is the other paths'
	}
	seen[t] = true
	if encodesItself(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return reachesInterface(t.Elem(), seen)
	case reflect.Map:
		return reachesInterface(t.Key(), seen) || reachesInterface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); gobField(f) && reachesInterface(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// gobFieldsWhere returns the indexes of the fields of the struct type t
// that gob encodes (gobField) and whose type satisfies keep, cached in c:
// the fields a walk of a value of t has to look at.
func gobFieldsWhere(c *sync.Map, t reflect.Type, keep func(reflect.Type) bool) []int {
	if idx, ok := c.Load(t); ok {
		return idx.([]int)
	}
	var idx []int
	for i := range t.NumField() {
		if f := t.Field(i); gobField(f) && keep(f.Type) {
			idx = append(idx, i)
		}
	}
	c.Store(t, idx)
	return idx
}
