package runtime

import (
	"context"

	"github.com/futuresgen/futuresgen/internal/future"
)

// Future is the eventual result of a task submitted to an executor: Python's
// concurrent.futures.Future, typed. Get one from Submit, from a generated
// SubmitX wrapper, or from NewFuture for tests. All methods are safe for
// concurrent use.
//
// A Future is Pending until a worker starts it, Running while it runs, and
// then Finished or Cancelled for good. Its value and error are written once;
// every Result after that returns the same pair.
type Future[T any] future.Future[T]

// impl is f as the executors see it.
func (f *Future[T]) impl() *future.Future[T] { return (*future.Future[T])(f) }

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
	v, err := f.impl().Result(ctx)
	if err != nil {
		err = public(err)
	}
	return v, err
}

// Err waits like Result and returns only the error: nil when the task
// succeeded, its error, a *PanicError, ErrCancelled, or ctx.Err() if ctx
// ends first. It is Python's Future.exception.
func (f *Future[T]) Err(ctx context.Context) error {
	err := f.impl().Err(ctx)
	if err != nil {
		err = public(err)
	}
	return err
}

// Done returns a channel that is closed once the future is Finished or
// Cancelled. Use it in a select; use Result to get the value.
func (f *Future[T]) Done() <-chan struct{} { return f.impl().Done() }

// State returns the future's state at this moment.
func (f *Future[T]) State() State { return State(f.impl().State()) }

// Cancel cancels a Pending future and reports whether the future is
// cancelled. A future that is Running or Finished cannot be cancelled and
// Cancel returns false; calling Cancel on a cancelled future returns true
// again. A cancelled future never runs, and its Result and Err give
// ErrCancelled.
//
// To stop a running task, cancel the context passed to Submit: the task's
// context ends with it.
func (f *Future[T]) Cancel() bool { return f.impl().Cancel() }

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
	future.OnDone(f.impl(), fn, f)
}

// String describes the future's state, as Python's repr of a future does.
func (f *Future[T]) String() string { return f.impl().String() }

// NewFuture returns a Pending future that no executor runs, with the
// function that completes it. Call complete once with the outcome; later
// calls, and a call after the future was cancelled, do nothing and return
// false. It is meant for tests and for adapting other asynchronous APIs
// (Python's Future() constructor with set_result and set_exception).
func NewFuture[T any]() (f *Future[T], complete func(T, error) bool) {
	i, complete := future.New[T]()
	return (*Future[T])(i), complete
}

// result is a future's Result as users see it, for the Map loop.
func result[T any](ctx context.Context, f *future.Future[T]) (T, error) {
	return (*Future[T])(f).Result(ctx)
}
