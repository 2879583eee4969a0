// Package task is a typed task: a function of one argument value that
// returns one result value and an error, registered under a stable name
// (Register), and how its values cross a process boundary, on the
// executor's side (internal/remote encodes its arguments and decodes its
// answers with Wire's keys and wire.EncodeValue, wire.DecodeValue) and on the
// worker's (the registry's NewCall decodes a call, runs it and encodes
// its answer). runtime/futuresimpl registers tasks for generated code;
// internal/engine submits them to any executor.
package task

import (
	"context"
	"fmt"
	"reflect"

	"github.com/futuresgen/futuresgen/internal/labels"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// Task is a registered task: futuresimpl.Task, whose doc says what A and
// R are. Its fields are set once, by Register.
type Task[A, R any] struct {
	name   string
	fn     func(context.Context, A) (R, error)
	local  bool
	labels context.Context
	wire   Wire
}

// Wire is what a task's values need to cross a process boundary.
type Wire struct {
	// ArgsEmpty and ResultEmpty say that the values carry no data
	// (struct{}): they are not encoded at all.
	ArgsEmpty, ResultEmpty bool
	// ArgsCycle and ResultCycle say that the values may refer to
	// themselves: check before gob recurses.
	ArgsCycle, ResultCycle bool
	// The keys of the task's payload streams, one per kind and direction.
	Args, Result, BatchArgs, BatchResult string
}

// Register adds fn to the process's task registry under name and
// returns the Task. site is where the registration is (file:line), for
// the message of a duplicate. Register panics if name is empty or taken,
// or fn is nil.
func Register[A, R any](name string, fn func(context.Context, A) (R, error), local bool, site string) *Task[A, R] {
	if name == "" {
		panic("futuresgen: RegisterTask: empty task name")
	}
	if fn == nil {
		panic(fmt.Sprintf("futuresgen: RegisterTask %q: nil function", name))
	}
	t := &Task[A, R]{
		name:   name,
		fn:     fn,
		local:  local,
		labels: labels.Task(name),
		wire: Wire{
			ArgsEmpty:   empty[A](),
			ResultEmpty: empty[R](),
			ArgsCycle:   mayCycle[A](),
			ResultCycle: mayCycle[R](),
			Args:        "a " + name,
			Result:      "r " + name,
			BatchArgs:   "A " + name,
			BatchResult: "R " + name,
		},
	}
	at, rt := reflect.TypeFor[A](), reflect.TypeFor[R]()
	registry.Add(&registry.Entry{
		Name:      name,
		Signature: fmt.Sprintf("func(%s) %s", registry.TypeName(at), registry.TypeName(rt)),
		Site:      site,
		Local:     local,
		Args:      at,
		Result:    rt,
		Labels:    t.labels,
		NewCall:   t.newWorkerCall,
	})
	return t
}

// Name returns the task's stable name.
func (t *Task[A, R]) Name() string { return t.name }

// Local reports whether the task may run only in this process.
func (t *Task[A, R]) Local() bool { return t.local }

// Func returns the task's function.
func (t *Task[A, R]) Func() func(context.Context, A) (R, error) { return t.fn }

// Labels returns the pprof labels the task runs under.
func (t *Task[A, R]) Labels() *context.Context { return &t.labels }

// Wire returns what the task's values need to cross a process boundary.
func (t *Task[A, R]) Wire() *Wire { return &t.wire }

// empty reports whether T carries no data (struct{}): such payloads are
// not encoded at all (gob refuses types without exported fields).
func empty[T any]() bool {
	t := reflect.TypeFor[T]()
	return t.Kind() == reflect.Struct && t.NumField() == 0
}

// mayCycle reports whether a value of T can refer to itself (see
// wire.MayCycle).
func mayCycle[T any]() bool { return wire.MayCycle(reflect.TypeFor[T]()) }
