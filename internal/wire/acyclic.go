package wire

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// ErrCyclic is wrapped by the error of a value that refers to itself: gob
// would recurse until the goroutine's stack is exhausted, which crashes
// the process instead of failing the call.
var ErrCyclic = errors.New("the value refers to itself (a cycle of pointers, slices or maps), which cannot be encoded")

// mayCycle caches, per type, whether a value of it can refer to itself.
var mayCycle sync.Map // reflect.Type → bool

// CheckAcyclic returns an error wrapping ErrCyclic if v refers to itself.
// Only values of types that can hold a cycle (a type that contains itself
// through pointers, slices or maps) are walked; for every other type the
// check is one map lookup.
func CheckAcyclic(v any) error {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if !typeMayCycle(rv.Type()) {
		return nil
	}
	w := walker{onPath: map[visit]bool{}}
	if path, ok := w.walk(rv, ""); !ok {
		return fmt.Errorf("%w: at %s", ErrCyclic, path)
	}
	return nil
}

// MayCycle reports whether a value of type t can refer to itself: whether
// t contains itself through pointers, slices, maps or interfaces.
func MayCycle(t reflect.Type) bool { return typeMayCycle(t) }

func typeMayCycle(t reflect.Type) bool {
	if v, ok := mayCycle.Load(t); ok {
		return v.(bool)
	}
	r := reachesItself(t, map[reflect.Type]bool{}, map[reflect.Type]bool{})
	mayCycle.Store(t, r)
	return r
}

// reachesItself reports whether the type graph under t has a cycle, that
// is whether some type in it contains itself.
func reachesItself(t reflect.Type, onPath, done map[reflect.Type]bool) bool {
	if onPath[t] {
		return true
	}
	if done[t] || encodesItself(t) {
		return false
	}
	onPath[t] = true
	defer func() { delete(onPath, t); done[t] = true }()
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return reachesItself(t.Elem(), onPath, done)
	case reflect.Map:
		return reachesItself(t.Key(), onPath, done) || reachesItself(t.Elem(), onPath, done)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); gobField(f) && reachesItself(f.Type, onPath, done) {
				return true
			}
		}
	case reflect.Interface:
		return true // whatever it holds may
	}
	return false
}

// visit is a reference on the current path of the walk: the address it
// refers to and its type (a struct and its first field share an address).
type visit struct {
	ptr uintptr
	typ reflect.Type
}

type walker struct {
	onPath map[visit]bool
	steps  int
}

// maxSteps bounds the walk; a value this large is not checked further
// (gob will be slow on it, not crash: only a cycle is unbounded).
const maxSteps = 1 << 22

// walk reports false, with the path to it, if v reaches a reference that
// is already on the path from the root.
func (w *walker) walk(v reflect.Value, path string) (string, bool) {
	w.steps++
	if w.steps > maxSteps {
		return "", true
	}
	t := v.Type()
	if encodesItself(t) {
		return "", true
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if v.IsNil() || (v.Kind() == reflect.Slice && v.Len() == 0) {
			return "", true
		}
		key := visit{v.Pointer(), t}
		if w.onPath[key] {
			if path == "" {
				path = "the value itself"
			}
			return path, false
		}
		w.onPath[key] = true
		defer delete(w.onPath, key)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", true
		}
		return w.walk(v.Elem(), path)
	case reflect.Slice, reflect.Array:
		if !typeMayCycle(t.Elem()) {
			return "", true
		}
		for i := range v.Len() {
			if p, ok := w.walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if p, ok := w.walk(it.Key(), path+"[key]"); !ok {
				return p, false
			}
			if p, ok := w.walk(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key())); !ok {
				return p, false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := t.Field(i)
			if !gobField(f) || !typeMayCycle(f.Type) {
				continue
			}
			if p, ok := w.walk(v.Field(i), path+"."+f.Name); !ok {
				return p, false
			}
		}
	}
	return "", true
}
