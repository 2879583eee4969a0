// Package engine is how every executor of this module runs tasks, as the
// code that hands them work sees it: an Engine runs them in this process
// (a thread pool) or in workers (a scheduler), and an executor gives its
// Engine through the unexported method of Executor, which it gets by
// embedding a Handle. runtime.Executor embeds Executor, so that only
// this module's executors (runtime's pools, the cluster's executor)
// implement it, checked by the compiler. Submit and Map run a typed task
// on any Engine: runtime/futuresimpl calls them for generated code.
package engine

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/futuresgen/futuresgen/internal/remote"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// Engine is how an executor runs tasks: in this process (Local) or in
// workers (Remote). Exactly one is set.
type Engine struct {
	Local  *threadpool.Pool
	Remote *remote.Executor
}

// DefaultBuffer is how many inputs a map reads ahead by default.
func (e *Engine) DefaultBuffer() int {
	if e.Local != nil {
		return e.Local.DefaultBuffer()
	}
	return e.Remote.Buffer
}

// Executor is an executor of this module: runtime.Executor embeds it. A
// type implements it by embedding a Handle (under an unexported alias,
// so that the field is not part of its documentation), or an Executor.
type Executor interface {
	engine() *Engine
}

// Handle gives the executor that embeds it its Engine. It has no
// exported field or method: embedding it adds nothing to an executor's
// API but the unexported method of Executor. A zero Handle has no Engine:
// its executor was not made by its constructor.
type Handle struct {
	eng Engine
}

// NewHandle returns a Handle for e.
func NewHandle(e Engine) Handle { return Handle{eng: e} }

func (h *Handle) engine() *Engine { return &h.eng }

// Of returns ex's engine, or panics with a message naming what the
// caller tried (op) and what is wrong with ex: nil, a nil pointer, a
// zero value, or a type embedding a nil Executor.
func Of(ex Executor, op string) (e *Engine) {
	if ex == nil {
		panic(fmt.Sprintf("futuresgen: %s: nil Executor", op))
	}
	defer func() {
		if r := recover(); r != nil {
			if msg, ok := r.(string); ok && strings.HasPrefix(msg, "futuresgen: ") {
				panic(msg) // it said so
			}
			if v := reflect.ValueOf(ex); v.Kind() == reflect.Pointer && v.IsNil() {
				panic(fmt.Sprintf("futuresgen: %s: a nil *%s was used as an Executor; create executors with NewThreadPool, NewProcessPool or cluster.NewExecutor", op, v.Type().Elem().Name()))
			}
			// A type embedding an Executor that is nil.
			panic(fmt.Sprintf("futuresgen: %s: the %T holds a nil Executor (%v)", op, ex, r))
		}
	}()
	e = ex.engine()
	if e == nil || (e.Local == nil && e.Remote == nil) {
		panic(fmt.Sprintf("futuresgen: %s: the %T is not initialized; create executors with NewThreadPool, NewProcessPool or cluster.NewExecutor", op, ex))
	}
	return e
}
