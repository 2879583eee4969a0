package future

import (
	"context"
	"reflect"
	"runtime/debug"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/labels"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// This file is a future as the thread pool runs it: a threadpool.Job.

var _ threadpool.Job = (*Future[int])(nil)

// NewTask returns a Pending future of fn, for a thread pool to run. The
// task runs under labels (nil: its function's name) and calls tick, if
// not nil, as it finishes.
func NewTask[T any](fn func(context.Context) (T, error), labels *context.Context, tick func()) *Future[T] {
	return &Future[T]{fn: fn, labelCtx: labels, tick: tick}
}

// Claim moves a Pending future to Running and reports whether it did.
// Only the goroutine that claims a future may finish it.
func (f *Future[T]) Claim() bool { return f.claim() }

// Prepare binds f to the pool p that queues it and to its submit context.
// It runs under p's lock, before f is queued: nobody else can touch f yet.
func (f *Future[T]) Prepare(ctx context.Context, p *threadpool.Pool) {
	f.pool = p
	f.parent = ctx
	if ctx.Done() != nil {
		// A submission whose context ends before it starts never runs.
		f.stop = context.AfterFunc(ctx, func() { f.expire(ctx.Err()) })
	}
}

// expire fails f with err if it has not started. It is the AfterFunc of
// the submit context, so it must not read f.stop (which may not be
// assigned yet when the context had already ended).
func (f *Future[T]) expire(err error) { f.abandon(err) }

// abandon finishes f with err if it is still Pending, and reports whether
// it did.
func (f *Future[T]) abandon(err error) bool {
	if !f.claim() {
		return false
	}
	if f.pool != nil {
		f.pool.LeftPending(false)
	}
	var zero T
	f.Finish(zero, err)
	return true
}

// Begin is called once f is claimed for running. It returns false, having
// failed f, if f must not run because its submit context ended.
func (f *Future[T]) Begin() bool {
	if f.stop != nil {
		f.stop()
	}
	if err := f.parent.Err(); err != nil {
		// The submit context ended before the task could start.
		var zero T
		f.Finish(zero, err)
		return false
	}
	return true
}

// Run runs a begun task, finishes the future with what it returned and
// reports whether it failed. A panic becomes an *errs.Panic; a task that
// calls runtime.Goexit fails with errs.Goexit, and the goroutine then
// exits as Goexit demands.
func (f *Future[T]) Run() (failed bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		failed = true
		var zero T
		if r := recover(); r != nil {
			f.Finish(zero, &errs.Panic{Value: r, Stack: string(debug.Stack())})
		} else {
			f.Finish(zero, errs.Goexit)
		}
	}()
	v, err := f.fn((*taskContext)(&f.core))
	returned = true
	f.Finish(v, err)
	return err != nil
}

// Fail finishes a queued future that will never run with err, if it is
// still Pending.
func (f *Future[T]) Fail(err error) {
	if f.abandon(err) && f.stop != nil {
		f.stop()
	}
}

// Labels returns the pprof labels the task runs under: the registered
// task's name, or the closure's function name.
func (f *Future[T]) Labels(cache *labels.Cache) context.Context {
	if f.labelCtx != nil {
		return *f.labelCtx
	}
	return cache.Lookup(reflect.ValueOf(f.fn).Pointer())
}
