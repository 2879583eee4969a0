package futuresimpl

import (
	"reflect"

	"github.com/futuresgen/futuresgen/internal/registry"
)

// RegisterSentinel registers err under name, the "<import path>.<Var>" of
// an exported error variable: a sentinel of a task's package, or of
// another package that its code names, so that errors.Is finds it in a
// task's error that crossed from a worker. Generated code calls it at
// init for every such variable. A variable that holds nil or an error
// that is not comparable (which errors.Is could not find by identity
// anyway) is left out.
func RegisterSentinel(name string, err error) {
	if err == nil || !reflect.TypeOf(err).Comparable() {
		return
	}
	registry.RegisterSentinel(name, err)
}

// RegisterErrorType registers E, an exported error type of a task's
// package (T or *T), under name, so that its values cross a process
// boundary as values and errors.As finds them. A struct's one exported
// field of type error, its wrapped cause, crosses with it. Generated code
// calls it at init.
func RegisterErrorType[E error](name string) {
	registry.RegisterErrorType(name, reflect.TypeFor[E]())
}
