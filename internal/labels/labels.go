// Package labels names running tasks in pprof profiles: the label a task
// runs under, computed once per task or function. The thread pool
// (internal/threadpool) sets them on its workers; futures
// (internal/future) and typed tasks (internal/task) carry them. Package
// runtime exports the key as LabelTask.
package labels

import (
	"context"
	"reflect"
	"runtime"
	"runtime/pprof"
	"sync"
)

// Key is the pprof label key under which a running task's name appears:
// runtime.LabelTask.
const Key = "futures.task"

// Task returns a context carrying the pprof labels of a task named name.
func Task(name string) context.Context {
	return pprof.WithLabels(context.Background(), pprof.Labels(Key, name))
}

// funcCache maps a function's code pointer to its labels context, so that
// a closure's labels are computed once per function, not once per task.
var funcCache sync.Map // uintptr -> context.Context

// Func returns the labels of the function fn: its name, as the runtime
// reports it.
func Func(fn any) context.Context {
	if fn == nil {
		return context.Background()
	}
	return forPC(reflect.ValueOf(fn).Pointer())
}

// forPC returns the labels of the function whose code is at pc.
func forPC(pc uintptr) context.Context {
	if c, ok := funcCache.Load(pc); ok {
		return c.(context.Context)
	}
	name := "func"
	if f := runtime.FuncForPC(pc); f != nil {
		name = f.Name()
	}
	c, _ := funcCache.LoadOrStore(pc, Task(name))
	return c.(context.Context)
}

// Cache remembers, for one worker, the labels of the last function it
// ran: a pool running the same closure again and again looks nothing up.
// The zero Cache is ready to use; it is not safe for concurrent use.
type Cache struct {
	pc     uintptr
	labels context.Context
}

// Lookup returns the labels of the function whose code is at pc.
func (c *Cache) Lookup(pc uintptr) context.Context {
	if c.labels == nil || c.pc != pc {
		c.pc, c.labels = pc, forPC(pc)
	}
	return c.labels
}
