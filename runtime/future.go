package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// closedChan is the Done channel of every future that finished before
// anybody asked for its channel: most futures never allocate one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// hook is a function run once when a future settles. Hooks run in the order
// they were added. AsCompleted, Wait and Map add hooks to learn of
// completions without a goroutine per future; OnDone adds user callbacks.
type hook struct{ fn func() }

// core is the part of a future that does not depend on its value type: its
// state, its done channel, its hooks and its error. AsCompleted and Wait
// work on cores, so futures of different types mix.
type core struct {
	state atomic.Uint32 // a State; written by the goroutine that moves it

	mu      sync.Mutex
	done    chan struct{} // made on demand; closed (or closedChan) once settled
	settled bool          // done is closed and hooks have been taken
	hooks   []*hook

	err  error       // the task's error; written before state becomes final
	pool *ThreadPool // the pool whose queue holds this future, for helping
}

// State returns the future's current state.
func (c *core) loadState() State { return State(c.state.Load()) }

// claim moves a Pending future to Running and reports whether it did. Only
// the goroutine that claims a future may finish it (cancel takes the other
// way out of Pending).
func (c *core) claim() bool {
	return c.state.CompareAndSwap(uint32(Pending), uint32(Running))
}

// doneChan returns the channel closed when the future settles.
func (c *core) doneChan() <-chan struct{} {
	if c.loadState().done() {
		return closedChan
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// settle records the final state st, closes the done channel and runs the
// hooks, in the order they were added. The caller owns the future: it
// claimed it, or it moved it from Pending to Cancelled.
func (c *core) settle(st State) {
	c.mu.Lock()
	c.state.Store(uint32(st))
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	c.settled = true
	hooks := c.hooks
	c.hooks = nil
	c.mu.Unlock()
	for _, h := range hooks {
		h.fn()
	}
}

// addHook arranges for fn to run once the future settles. If it has
// settled already, fn runs now, in the caller's goroutine, and addHook
// returns nil; otherwise it returns the hook, for removeHook.
func (c *core) addHook(fn func()) *hook {
	c.mu.Lock()
	if c.settled {
		c.mu.Unlock()
		fn()
		return nil
	}
	h := &hook{fn: fn}
	c.hooks = append(c.hooks, h)
	c.mu.Unlock()
	return h
}

// removeHook forgets h if it has not run yet. Waits that give up remove
// their hooks, so a long-lived future does not collect them.
func (c *core) removeHook(h *hook) {
	if h == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.hooks {
		if x == h {
			c.hooks = append(c.hooks[:i], c.hooks[i+1:]...)
			return
		}
	}
}

// failed reports whether the future finished with an error. A cancelled
// future has not failed (FirstError ignores it, as Python does).
func (c *core) failed() bool {
	return c.loadState() == Finished && c.err != nil
}

// cancel moves a Pending future to Cancelled. It reports whether the future
// is cancelled now, which is also true when it was cancelled before.
func (c *core) cancel() bool {
	if c.state.CompareAndSwap(uint32(Pending), uint32(Cancelled)) {
		if c.pool != nil {
			c.pool.onCancel()
		}
		c.settle(Cancelled)
		return true
	}
	return c.loadState() == Cancelled
}

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
	tctx     taskContext     // the context the task receives
	stop     func() bool     // stops the watch on the submit context; may be nil
	labelCtx context.Context // pprof labels while the task runs; nil: derive from fn
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
func (f *Future[T]) Done() <-chan struct{} { return f.c.doneChan() }

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
func (f *Future[T]) Cancel() bool { return f.c.cancel() }

// OnDone arranges for fn to be called with f once f is done (Python's
// add_done_callback). Callbacks run once each, in the order they were
// added, in the goroutine that finishes the future; on a future that is
// already done, fn runs before OnDone returns, in the caller's goroutine.
// A panic in fn is recovered and logged with log/slog; the other callbacks
// still run. Keep callbacks short: they delay the worker that runs them.
func (f *Future[T]) OnDone(fn func(*Future[T])) {
	f.c.addHook(func() { callSafely(fn, f) })
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

func (f *Future[T]) base() *core { return &f.c }

// prepare binds f to the pool p that queues it and to its submit context.
// It runs under p.mu, before f is queued: nobody else can touch f yet.
func (f *Future[T]) prepare(ctx context.Context, p *ThreadPool) {
	f.c.pool = p
	f.tctx.parent = ctx
	f.tctx.pool = p
	if ctx.Done() != nil {
		// A submission whose context ends before it starts never runs.
		f.stop = context.AfterFunc(ctx, func() { f.expire(ctx.Err()) })
	}
}

// expire fails f with err if it has not started. It is the AfterFunc of
// the submit context, so it must not read f.stop (which may not be
// assigned yet when the context had already ended).
func (f *Future[T]) expire(err error) {
	if f.c.claim() {
		if f.c.pool != nil {
			f.c.pool.leftPending()
		}
		var zero T
		f.finish(zero, err)
	}
}

// labels returns the pprof labels the task runs under: the registered
// task's name, or the closure's function name.
func (f *Future[T]) labels() context.Context {
	if f.labelCtx != nil {
		return f.labelCtx
	}
	return closureLabels(f.fn)
}

// wait blocks until f is done or ctx ends. A worker of a pool waiting on a
// future of the same pool runs it inline if it has not started; otherwise
// the pool is told that the worker blocks, so that it can start a
// compensating worker.
func (f *Future[T]) wait(ctx context.Context) error {
	if f.c.loadState().done() {
		return nil
	}
	if p := poolOf(ctx); p != nil {
		if f.c.pool == p && f.start() {
			f.run()
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

// start claims a Pending future for running. It returns false when the
// future is no longer Pending, or when it must not run because its submit
// context ended (the future then fails with that context's error).
func (f *Future[T]) start() bool {
	if !f.c.claim() {
		return false
	}
	if f.c.pool != nil {
		f.c.pool.leftPending()
	}
	if f.stop != nil {
		f.stop()
	}
	if err := f.tctx.parent.Err(); err != nil {
		// The submit context ended before the task could start.
		var zero T
		f.finish(zero, err)
		return false
	}
	return true
}

// run runs a claimed task and finishes the future with what it returned.
// A panic becomes a *PanicError; a task that calls runtime.Goexit fails with
// an error saying so, and the goroutine then exits as Goexit demands.
func (f *Future[T]) run() {
	returned := false
	defer func() {
		if returned {
			return
		}
		var zero T
		if r := recover(); r != nil {
			f.finish(zero, &PanicError{Value: r, Stack: string(debug.Stack())})
		} else {
			f.finish(zero, errGoexit)
		}
	}()
	v, err := f.fn(&f.tctx)
	returned = true
	f.finish(v, err)
}

// fail finishes a future that never ran with err, if it is still Pending.
func (f *Future[T]) fail(err error) {
	if !f.c.claim() {
		return
	}
	if f.c.pool != nil {
		f.c.pool.leftPending()
	}
	if f.stop != nil {
		f.stop()
	}
	var zero T
	f.finish(zero, err)
}

// finish records the outcome of a claimed future and settles it.
func (f *Future[T]) finish(v T, err error) {
	f.tctx.release()
	f.fn = nil // let the closure and what it holds go
	f.val = v
	f.c.err = err
	if p := f.c.pool; p != nil {
		p.count(err)
	}
	f.c.settle(Finished)
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
	f.tctx.parent = context.Background()
	return f, func(v T, err error) bool {
		if !f.c.claim() {
			return false
		}
		f.finish(v, err)
		return true
	}
}
