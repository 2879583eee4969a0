package runtime

import (
	"context"
	"fmt"
	"strings"
)

// Executor runs tasks: a ThreadPool in this process, a ProcessPool in
// worker processes, a cluster executor (package cluster) on other
// machines. Generated SubmitX and MapX wrappers take any Executor, so the
// same call runs a task on each. Only this module's executors implement
// Executor: its unexported method is how generated code hands them work.
// A type that embeds an Executor is one too, and hands work to it.
type Executor interface {
	// Shutdown stops the executor taking new work and waits until the work
	// it has is done, or until ctx ends. With CancelPending it cancels the
	// tasks that have not started and ends the context of those running.
	// It returns ctx.Err() if ctx ends first (the work goes on); a second
	// Shutdown waits the same way.
	Shutdown(ctx context.Context, opts ...ShutdownOption) error

	// Close is Shutdown(context.Background()), for defer.
	Close() error

	// engine returns how the executor runs tasks.
	engine() *engine
}

// engine is how an executor runs tasks: in this process (local) or in
// workers (remote). Exactly one is set.
type engine struct {
	local  *ThreadPool
	remote *remote
}

func (e *engine) defaultBuffer() int {
	if e.local != nil {
		return e.local.defaultBuffer()
	}
	return e.remote.buffer
}

// engineOf returns ex's engine, or panics with a message naming what the
// caller tried (op) and what is wrong with ex.
func engineOf(ex Executor, op string) (e *engine) {
	if ex == nil {
		panic(fmt.Sprintf("futuresgen: %s: nil Executor", op))
	}
	defer func() {
		if r := recover(); r != nil {
			if msg, ok := r.(string); ok && strings.HasPrefix(msg, "futuresgen: ") {
				panic(msg) // a nil pool: it said so
			}
			// A type embedding an Executor that is nil.
			panic(fmt.Sprintf("futuresgen: %s: the %T holds a nil Executor (%v)", op, ex, r))
		}
	}()
	e = ex.engine()
	if e == nil || (e.local == nil && e.remote == nil) {
		panic(fmt.Sprintf("futuresgen: %s: the %T is not initialized; create executors with NewThreadPool, NewProcessPool or cluster.NewExecutor", op, ex))
	}
	return e
}

// job is a submitted future as a ThreadPool sees it, whatever its value
// type.
type job interface {
	base() *core
	// prepare binds the future to the pool that will run it and to its
	// submit context.
	prepare(ctx context.Context, p *ThreadPool)
	// begin is called once the job is claimed; false means it must not
	// run (it has been failed).
	begin() bool
	// run runs a begun job, settles its future and reports whether it
	// failed.
	run() (failed bool)
	// fail settles a job that will never run with err.
	fail(err error)
	// labels returns the pprof labels the task runs under.
	labels(cache *labelCache) context.Context
}
