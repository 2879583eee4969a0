package wire

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
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
	var room [shortPath]visit
	var w walker
	if w.walk(rv, room[:0]) {
		return nil
	}
	slices.Reverse(w.back)
	path := strings.Join(w.back, "")
	if path == "" {
		path = "the value itself"
	}
	return fmt.Errorf("%w: at %s", ErrCyclic, path)
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

// walker walks a value looking for a cycle.
type walker struct {
	// deep holds the references on the current path past its first
	// shortPath, which walk passes down in a slice: a walk that stays
	// shallower allocates nothing.
	deep  map[visit]bool
	steps int
	back  []string // after a cycle is found: the steps to it, the last first
}

const shortPath = 16

// maxSteps bounds the walk; a value this large is not checked further
// (gob will be slow on it, not crash: only a cycle is unbounded).
const maxSteps = 1 << 22

// walk reports false if v reaches a reference that is already on the path
// from the root (path holds its first shortPath references, w.deep the
// others); w.back then holds the steps from v to it. Only what a
// cycle can pass through is walked: values of types that may cycle, and
// of those only the parts gob encodes. The path is written only when a
// cycle is found.
func (w *walker) walk(v reflect.Value, path []visit) bool {
	w.steps++
	if w.steps > maxSteps {
		return true
	}
	t := v.Type()
	if !typeMayCycle(t) { // types that encode themselves included
		return true
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if v.IsNil() || (v.Kind() == reflect.Slice && v.Len() == 0) {
			return true
		}
		key := visit{v.Pointer(), t}
		if slices.Contains(path, key) || w.deep[key] {
			return false
		}
		if len(path) < shortPath {
			path = append(path, key)
		} else {
			if w.deep == nil {
				w.deep = map[visit]bool{}
			}
			w.deep[key] = true
			defer delete(w.deep, key)
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return true
		}
		return w.walk(v.Elem(), path)
	case reflect.Slice, reflect.Array:
		if !typeMayCycle(t.Elem()) {
			return true
		}
		for i := range v.Len() {
			if !w.walk(v.Index(i), path) {
				w.back = append(w.back, fmt.Sprintf("[%d]", i))
				return false
			}
		}
	case reflect.Map:
		keys, elems := typeMayCycle(t.Key()), typeMayCycle(t.Elem())
		it := v.MapRange()
		for it.Next() {
			if keys && !w.walk(it.Key(), path) {
				w.back = append(w.back, "[key]")
				return false
			}
			if elems && !w.walk(it.Value(), path) {
				w.back = append(w.back, fmt.Sprintf("[%v]", it.Key()))
				return false
			}
		}
	case reflect.Struct:
		for _, i := range gobFieldsWhere(&cycleFields, t, typeMayCycle) {
			if !w.walk(v.Field(i), path) {
				w.back = append(w.back, "."+t.Field(i).Name)
				return false
			}
		}
	}
	return true
}

// cycleFields caches, per struct type, the fields gob encodes whose type
// may cycle.
var cycleFields sync.Map // reflect.Type → []int
