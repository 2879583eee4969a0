package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
)

// Future is the eventual result of a task submitted to an executor: Python's
// concurrent.futures.Future, typed. Get one from Submit, from a generated
// SubmitX wrapper, or from NewFuture for tests. All methods are safe for
// concurrent use.
//
// A Future is Pending until a worker starts it, Running while it runs, and
// then Finished or Cancelled for good. Its value and error are written once;
// every Result after that returns the same pair.
type Future[T any] struct {
	c   core
	val T

	// The task, for the executor that runs it.
	fn       func(context.Context) (T, error)
	stop     func() bool      // stops the watch on the submit context; may be nil
	labelCtx *context.Context // pprof labels while the task runs; nil: derive from fn (a pointer: a Future[int] fits in 128 bytes)
	tick     func()           // called as the future finishes, before anyone sees it done (Map's Progress)
}

// Result waits until the future is done and returns the task's value and
// error. If ctx ends first, Result returns the zero value and ctx.Err(),
// and the task goes on. A future that is already done answers even when ctx
// has ended. A cancelled future gives ErrCancelled; a task that panicked
// gives a *PanicError.
//
// A task that waits on another future of its own pool must pass the context
// the pool gave it: then the pool runs the awaited task inline or starts a
// compensating worker, and never deadlocks (see ThreadPool).
func (f *Future[T]) Result(ctx context.Context) (T, error) {
	if err := f.wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	if f.c.loadState() == Cancelled {
		var zero T
		return zero, ErrCancelled
	}
	return f.val, f.c.err
}

// Err waits like Result and returns only the error: nil when the task
// succeeded, its error, a *PanicError, ErrCancelled, or ctx.Err() if ctx
// ends first. It is Python's Future.exception.
func (f *Future[T]) Err(ctx context.Context) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	if f.c.loadState() == Cancelled {
		return ErrCancelled
	}
	return f.c.err
}

// Done returns a channel that is closed once the future is Finished or
// Cancelled. Use it in a select; use Result to get the value.
func (f *Future[T]) Done() <-chan struct{} {
	f.check()
	return f.c.doneChan()
}

// State returns the future's state at this moment.
func (f *Future[T]) State() State { return f.c.loadState() }

// Cancel cancels a Pending future and reports whether the future is
// cancelled. A future that is Running or Finished cannot be cancelled and
// Cancel returns false; calling Cancel on a cancelled future returns true
// again. A cancelled future never runs, and its Result and Err give
// ErrCancelled.
//
// To stop a running task, cancel the context passed to Submit: the task's
// context ends with it.
func (f *Future[T]) Cancel() bool {
	f.check()
	return f.c.cancel()
}

// OnDone arranges for fn to be called with f once f is done (Python's
// add_done_callback). Callbacks run once each, in the order they were
// added, in the goroutine that finishes the future; on a future that is
// already done, fn runs before OnDone returns, in the caller's goroutine.
// A panic in fn is recovered and logged with log/slog; the other callbacks
// still run. Keep callbacks short: they delay the worker that runs them.
func (f *Future[T]) OnDone(fn func(*Future[T])) {
	if fn == nil {
		panic("futuresgen: OnDone(nil): need a function")
	}
	f.check()
	f.c.addHook(func() { callSafely(fn, f) })
}

// check panics if f is a zero Future that nothing will ever complete:
// waiting on it would block for good.
func (f *Future[T]) check() {
	if f.c.parent == nil && !f.c.loadState().done() {
		panic("futuresgen: a zero Future is not usable: futures come from Submit, a generated SubmitX, or NewFuture")
	}
}

// String describes the future's state, as Python's repr of a future does.
func (f *Future[T]) String() string {
	st := f.c.loadState()
	if st == Finished {
		if f.c.err != nil {
			return fmt.Sprintf("Future[%T](Finished, error: %v)", f.val, f.c.err)
		}
		return fmt.Sprintf("Future[%T](Finished: %v)", f.val, f.val)
	}
	return fmt.Sprintf("Future[%T](%v)", f.val, st)
}

func (f *Future[T]) base() *core {
	if f == nil {
		return nil
	}
	return &f.c
}

// wait blocks until f is done or ctx ends. A worker of a pool waiting on a
// future of the same pool runs it inline if it has not started; otherwise
// the pool is told that the worker blocks, so that it can start a
// compensating worker.
func (f *Future[T]) wait(ctx context.Context) error {
	if f.c.loadState().done() {
		return nil
	}
	f.check()
	if f.c.rcall != nil && ctx.Done() == nil {
		// Read the answer here rather than wait to be woken.
		f.c.rcall.Help(func() bool { return f.c.loadState().done() })
		if f.c.loadState().done() {
			return nil
		}
	}
	if p := poolOf(ctx); p != nil {
		if f.c.pool == p && p.runInline(f) {
			return nil
		}
		defer p.blockBegin()()
	}
	select {
	case <-f.c.doneChan():
		return nil
	case <-ctx.Done():
		if f.c.loadState().done() {
			return nil
		}
		return ctx.Err()
	}
}

// prepare binds f to the pool p that queues it and to its submit context.
// It runs under p.mu, before f is queued: nobody else can touch f yet.
func (f *Future[T]) prepare(ctx context.Context, p *ThreadPool) {
	f.c.pool = p
	f.c.parent = ctx
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
	if !f.c.claim() {
		return false
	}
	if f.c.pool != nil {
		f.c.pool.leftPending(outcomeFailed)
	}
	var zero T
	f.finish(zero, err)
	return true
}

// begin is called once f is claimed for running. It returns false, having
// failed f, if f must not run because its submit context ended.
func (f *Future[T]) begin() bool {
	if f.stop != nil {
		f.stop()
	}
	if err := f.c.parent.Err(); err != nil {
		// The submit context ended before the task could start.
		var zero T
		f.finish(zero, err)
		return false
	}
	return true
}

// run runs a begun task, finishes the future with what it returned and
// reports whether it failed. A panic becomes a *PanicError; a task that
// calls runtime.Goexit fails with an error saying so, and the goroutine
// then exits as Goexit demands.
func (f *Future[T]) run() (failed bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		failed = true
		var zero T
		if r := recover(); r != nil {
			f.finish(zero, &PanicError{Value: r, Stack: string(debug.Stack())})
		} else {
			f.finish(zero, errGoexit)
		}
	}()
	v, err := f.fn((*taskContext)(&f.c))
	returned = true
	f.finish(v, err)
	return err != nil
}

// fail finishes a queued future that will never run with err, if it is
// still Pending.
func (f *Future[T]) fail(err error) {
	if f.abandon(err) && f.stop != nil {
		f.stop()
	}
}

// finish records the outcome of a claimed future and settles it.
func (f *Future[T]) finish(v T, err error) {
	f.c.releaseContext()
	f.fn = nil // let the closure and what it holds go
	f.val = v
	f.c.err = err
	if f.tick != nil {
		f.tick()
	}
	f.c.settle(Finished)
}

// labels returns the pprof labels the task runs under: the registered
// task's name, or the closure's function name.
func (f *Future[T]) labels(cache *labelCache) context.Context {
	if f.labelCtx != nil {
		return *f.labelCtx
	}
	return cache.lookup(reflect.ValueOf(f.fn).Pointer())
}

var errGoexit = fmt.Errorf("futuresgen: task called runtime.Goexit")

// callSafely calls fn(f), recovering and logging a panic.
func callSafely[T any](fn func(*Future[T]), f *Future[T]) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("futuresgen: OnDone callback panicked", "future", f.String(), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn(f)
}

// NewFuture returns a Pending future that no executor runs, with the
// function that completes it. Call complete once with the outcome; later
// calls, and a call after the future was cancelled, do nothing and return
// false. It is meant for tests and for adapting other asynchronous APIs
// (Python's Future() constructor with set_result and set_exception).
func NewFuture[T any]() (f *Future[T], complete func(T, error) bool) {
	f = &Future[T]{}
	f.c.parent = context.Background()
	return f, func(v T, err error) bool {
		if !f.c.claim() {
			return false
		}
		f.finish(v, err)
		return true
	}
}
