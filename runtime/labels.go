package runtime

import (
	"context"
	"reflect"
	goruntime "runtime"
	"runtime/pprof"
	"sync"
)

// LabelTask is the pprof label key under which a running task's name
// appears in CPU and goroutine profiles: the registered name of a generated
// task, or the function name of a closure given to Submit.
const LabelTask = "futures.task"

// closureLabelCache maps a closure's code pointer to its labels context, so
// a task's labels are computed once per function, not once per task.
var closureLabelCache sync.Map // uintptr -> context.Context

func closureLabels(fn any) context.Context {
	if fn == nil {
		return context.Background()
	}
	return labelsForPC(reflect.ValueOf(fn).Pointer())
}

// labelsForPC returns the labels of the function whose code is at pc.
func labelsForPC(pc uintptr) context.Context {
	if c, ok := closureLabelCache.Load(pc); ok {
		return c.(context.Context)
	}
	name := "func"
	if f := goruntime.FuncForPC(pc); f != nil {
		name = f.Name()
	}
	c, _ := closureLabelCache.LoadOrStore(pc, taskLabels(name))
	return c.(context.Context)
}

// taskLabels returns a context carrying the pprof labels of a task named
// name.
func taskLabels(name string) context.Context {
	return pprof.WithLabels(context.Background(), pprof.Labels(LabelTask, name))
}

// labelCache remembers, for one worker, the labels of the last function it
// ran: a pool running the same closure again and again looks nothing up.
type labelCache struct {
	pc     uintptr
	labels context.Context
}

// lookup returns the labels of the function at pc.
func (c *labelCache) lookup(pc uintptr) context.Context {
	if c.labels == nil || c.pc != pc {
		c.pc, c.labels = pc, labelsForPC(pc)
	}
	return c.labels
}
