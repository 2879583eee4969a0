package futuresimpl

import (
	"context"
	"fmt"
	"iter"
	goruntime "runtime"

	"github.com/futuresgen/futuresgen/internal/engine"
	"github.com/futuresgen/futuresgen/internal/future"
	"github.com/futuresgen/futuresgen/internal/options"
	"github.com/futuresgen/futuresgen/internal/task"
	"github.com/futuresgen/futuresgen/runtime"
)

// Task is a task registered by generated code: a function of one argument
// value (the task's single parameter, its XArgs struct, or struct{}) that
// returns one result value (the result, its XResult struct, or struct{})
// and an error. The generated dispatch table holds one per task.
type Task[A, R any] task.Task[A, R]

// impl is t as the executors see it.
func (t *Task[A, R]) impl() *task.Task[A, R] { return (*task.Task[A, R])(t) }

// TaskOption configures RegisterTask.
type TaskOption func(*taskConfig)

type taskConfig struct{ local bool }

// Local marks a task that may take values that cannot cross a process
// boundary: it runs only on in-process executors, and fails its future
// elsewhere. Generated code passes it for a //futures:task local
// directive.
func Local() TaskOption { return func(c *taskConfig) { c.local = true } }

// RegisterTask adds fn to the process's task registry under name and
// returns the Task that the generated wrappers submit. Generated code
// calls it while its package initializes, in the program and in every
// worker process (the same binary), so that a worker finds the task by
// name. RegisterTask panics if the name is empty or already registered,
// naming both registrations: two tasks would answer to one name in a
// worker process.
func RegisterTask[A, R any](name string, fn func(context.Context, A) (R, error), opts ...TaskOption) *Task[A, R] {
	var cfg taskConfig
	for _, o := range opts {
		o(&cfg)
	}
	site := "unknown"
	if _, file, line, ok := goruntime.Caller(1); ok {
		site = fmt.Sprintf("%s:%d", file, line)
	}
	return (*Task[A, R])(task.Register(name, fn, cfg.local, site))
}

// SubmitTask submits a registered task with its argument value to ex and
// returns its future: the SubmitX wrappers call it. On a ThreadPool the
// task's function is called directly, without encoding anything; on a
// ProcessPool or a cluster the argument is encoded and sent to a worker.
func SubmitTask[A, R any](ctx context.Context, ex runtime.Executor, t *Task[A, R], args A) *runtime.Future[R] {
	if t == nil {
		panic("futuresgen: a task was submitted before its package's init registered it; submit tasks from init functions or later, not from package-level variable initializers")
	}
	e := engine.Of(ex, "submit "+t.impl().Name())
	return (*runtime.Future[R])(engine.Submit(ctx, e, t.impl(), args))
}

// MapTask maps a registered task over inputs on ex, as runtime.Map does
// for closures: the MapX wrappers call it. On a ProcessPool or a cluster,
// runtime.ChunkSize(n) sends n inputs in one message.
func MapTask[A, R any](ctx context.Context, ex runtime.Executor, t *Task[A, R], inputs iter.Seq[A], opts ...runtime.MapOption) iter.Seq2[R, error] {
	if t == nil {
		panic("futuresgen: a task was mapped before its package's init registered it; map tasks from init functions or later, not from package-level variable initializers")
	}
	if inputs == nil {
		panic(fmt.Sprintf("futuresgen: map %s: nil input sequence", t.impl().Name()))
	}
	e := engine.Of(ex, "map "+t.impl().Name())
	return engine.Map(ctx, e, t.impl(), inputs, options.Apply(opts), result[R])
}

// result is a future's Result as users see it, with the runtime's errors.
func result[R any](ctx context.Context, f *future.Future[R]) (R, error) {
	return (*runtime.Future[R])(f).Result(ctx)
}
