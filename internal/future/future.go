package future

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// Future is the eventual result of a task: runtime.Future, whose doc says
// what each method does. All methods are safe for concurrent use.
type Future[T any] struct {
	core
	val T

	// The task, for the thread pool that runs it.
	fn       func(context.Context) (T, error)
	stop     func() bool      // stops the watch on the submit context; may be nil
	labelCtx *context.Context // pprof labels while the task runs; nil: derive from fn (a pointer: a Future[int] fits in 128 bytes)
	tick     func()           // called as the future finishes, before anyone sees it done (Map's Progress)
}

// New returns a Pending future that no executor runs, with the function
// that completes it: runtime.NewFuture.
func New[T any]() (f *Future[T], complete func(T, error) bool) {
	f = &Future[T]{}
	f.parent = context.Background()
	return f, func(v T, err error) bool {
		if !f.claim() {
			return false
		}
		f.Finish(v, err)
		return true
	}
}

// Result waits until f is done and returns the task's value and error,
// or the zero value and ctx.Err() if ctx ends first.
func (f *Future[T]) Result(ctx context.Context) (T, error) {
	if err := f.wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	if f.loadState() == Cancelled {
		var zero T
		return zero, errs.Cancelled
	}
	return f.val, f.err
}

// Err waits like Result and returns only the error.
func (f *Future[T]) Err(ctx context.Context) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	if f.loadState() == Cancelled {
		return errs.Cancelled
	}
	return f.err
}

// Done returns a channel that is closed once f is Finished or Cancelled.
func (f *Future[T]) Done() <-chan struct{} {
	f.check()
	return f.doneChan()
}

// State returns f's state at this moment.
func (f *Future[T]) State() State { return f.loadState() }

// Cancel cancels a Pending future and reports whether f is cancelled.
func (f *Future[T]) Cancel() bool {
	f.check()
	return f.cancel()
}

// OnDone arranges for fn(arg) to be called once f is done (see
// runtime.Future.OnDone): in the goroutine that finishes f, or now, in
// the caller's, if f is done already. A panic in fn is recovered and
// logged.
func OnDone[T, A any](f *Future[T], fn func(A), arg A) {
	f.check()
	f.addHook(func() { callSafely(f, fn, arg) })
}

// callSafely calls fn(arg), recovering and logging a panic.
func callSafely[T, A any](f *Future[T], fn func(A), arg A) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("futuresgen: OnDone callback panicked", "future", f.String(), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn(arg)
}

// AddHook arranges for fn to run once f settles (see core.addHook) and
// returns the hook for RemoveHook, or nil if fn ran at once.
func (f *Future[T]) AddHook(fn func()) *Hook { return f.addHook(fn) }

// RemoveHook forgets h if it has not run yet.
func (f *Future[T]) RemoveHook(h *Hook) { f.removeHook(h) }

// check panics if f is a zero Future that nothing will ever complete:
// waiting on it would block for good.
func (f *Future[T]) check() {
	if f.parent == nil && !f.loadState().Done() {
		panic("futuresgen: a zero Future is not usable: futures come from Submit, a generated SubmitX, or NewFuture")
	}
}

// String describes f's state, as Python's repr of a future does.
func (f *Future[T]) String() string {
	st := f.loadState()
	if st == Finished {
		if f.err != nil {
			return fmt.Sprintf("Future[%T](Finished, error: %v)", f.val, f.err)
		}
		return fmt.Sprintf("Future[%T](Finished: %v)", f.val, f.val)
	}
	return fmt.Sprintf("Future[%T](%v)", f.val, st)
}

// String returns the state's name, as runtime.State's String does.
func (s State) String() string {
	switch s {
	case Pending:
		return "Pending"
	case Running:
		return "Running"
	case Finished:
		return "Finished"
	case Cancelled:
		return "Cancelled"
	}
	return fmt.Sprintf("State(%d)", uint32(s))
}

// wait blocks until f is done or ctx ends. A worker of a pool waiting on a
// future of the same pool runs it inline if it has not started; otherwise
// the pool is told that the worker blocks, so that it can start a
// compensating worker.
func (f *Future[T]) wait(ctx context.Context) error {
	if f.loadState().Done() {
		return nil
	}
	f.check()
	if f.rcall != nil && ctx.Done() == nil {
		// Read the answer here rather than wait to be woken.
		f.rcall.Help(func() bool { return f.loadState().Done() })
		if f.loadState().Done() {
			return nil
		}
	}
	if p := threadpool.Of(ctx); p != nil {
		if f.pool == p && p.RunInline(f) {
			return nil
		}
		defer p.BlockBegin()()
	}
	select {
	case <-f.doneChan():
		return nil
	case <-ctx.Done():
		if f.loadState().Done() {
			return nil
		}
		return ctx.Err()
	}
}

// Finish records the outcome of a claimed future and settles it.
func (f *Future[T]) Finish(v T, err error) {
	f.releaseContext()
	f.fn = nil // let the closure and what it holds go
	f.val = v
	f.err = err
	if f.tick != nil {
		f.tick()
	}
	f.settle(Finished)
}
