package runtime

import (
	"context"
	"fmt"
	"iter"
)

// Awaitable is what AsCompleted and Wait accept: every *Future[T] is one,
// whatever T, so futures of different types mix in one call:
//
//	for f, err := range runtime.AsCompleted[runtime.Awaitable](ctx, pageF, countF) { … }
//
// Only this module's futures implement it.
type Awaitable interface {
	// Done returns a channel closed once the future is done.
	Done() <-chan struct{}
	// State returns the future's state now.
	State() State
	base() *core
}

// dedupe returns the distinct futures of fs, first occurrence first. It
// panics, naming op, on a nil future.
func dedupe[F Awaitable](op string, fs []F) []F {
	for i, f := range fs {
		if any(f) == nil || f.base() == nil {
			panic(fmt.Sprintf("futuresgen: %s: future %d is a nil future", op, i))
		}
	}
	if len(fs) < 2 {
		return fs
	}
	seen := make(map[*core]struct{}, len(fs))
	out := make([]F, 0, len(fs))
	for _, f := range fs {
		c := f.base()
		if _, dup := seen[c]; dup {
			continue
		}
		seen[c] = struct{}{}
		out = append(out, f)
	}
	return out
}

// completions hooks every future of fs and returns a channel on which the
// index of each future arrives once it is done, and a function that removes
// the hooks still waiting. The channel has room for every future, so a hook
// never blocks the goroutine finishing a future.
func completions[F Awaitable](fs []F) (<-chan int, func()) {
	ch := make(chan int, len(fs))
	hooks := make([]*hook, len(fs))
	for i, f := range fs {
		hooks[i] = f.base().addHook(func() { ch <- i })
	}
	return ch, func() {
		for i, h := range hooks {
			fs[i].base().removeHook(h)
		}
	}
}

// AsCompleted yields each distinct future of fs once, as it completes:
// Python's as_completed. Futures already done come first, in the order
// given; then the others in the order they finish. A cancelled future counts
// as completed. Every future comes with a nil error: the task's own error is
// on the future (use f.Err or f.Result).
//
// If ctx ends before every future is done, AsCompleted yields the futures
// that are done, then one (zero, ctx.Err()), and stops; the futures not
// yielded go on. Breaking out of the loop early is fine. AsCompleted
// starts no goroutine and costs one hook per future not yet done.
func AsCompleted[F Awaitable](ctx context.Context, fs ...F) iter.Seq2[F, error] {
	return func(yield func(F, error) bool) {
		fs := dedupe("AsCompleted", fs)
		var pending []F
		for _, f := range fs {
			if f.State().done() {
				if !yield(f, nil) {
					return
				}
			} else {
				pending = append(pending, f)
			}
		}
		if len(pending) == 0 {
			return
		}
		ch, unhook := completions(pending)
		defer unhook()
		pool := poolOf(ctx)
		for range pending {
			i, ok := nextDone(ctx, ch, pool)
			if !ok {
				// Yield what completed meanwhile before giving up.
				for {
					select {
					case i := <-ch:
						if !yield(pending[i], nil) {
							return
						}
						continue
					default:
					}
					break
				}
				var zero F
				yield(zero, ctx.Err())
				return
			}
			if !yield(pending[i], nil) {
				return
			}
		}
	}
}

// nextDone returns the index of the next future to complete, from ch, or
// false if ctx ends first. A worker of pool counts as blocked only while
// it waits here, not while the caller's loop body runs.
func nextDone(ctx context.Context, ch <-chan int, pool *ThreadPool) (int, bool) {
	select {
	case i := <-ch:
		return i, true
	default:
	}
	if pool != nil {
		defer pool.blockBegin()()
	}
	select {
	case i := <-ch:
		return i, true
	case <-ctx.Done():
		return 0, false
	}
}

// WaitMode says when Wait returns.
type WaitMode int

// The modes of Wait, named as Python names them.
const (
	// AllCompleted: when every future is done.
	AllCompleted WaitMode = iota
	// FirstCompleted: when at least one future is done.
	FirstCompleted
	// FirstError: when a future fails, or when every future is done. A
	// cancelled future has not failed.
	FirstError
)

// String returns the mode's name, such as "AllCompleted".
func (m WaitMode) String() string {
	switch m {
	case AllCompleted:
		return "AllCompleted"
	case FirstCompleted:
		return "FirstCompleted"
	case FirstError:
		return "FirstError"
	}
	return fmt.Sprintf("WaitMode(%d)", int(m))
}

// Wait waits on fs until mode is satisfied or ctx ends, and returns the
// distinct futures split into those done and those still pending, each in
// the order given: Python's wait. A cancelled future counts as done. If ctx
// ends first, err is ctx.Err() and the split is as of that moment. Wait
// returns at once if mode is already satisfied, including for no futures.
// It panics for a WaitMode it does not know.
func Wait[F Awaitable](ctx context.Context, mode WaitMode, fs ...F) (done, pending []F, err error) {
	if mode < AllCompleted || mode > FirstError {
		panic(fmt.Sprintf("futuresgen: Wait: unknown %v", mode))
	}
	fs = dedupe("Wait", fs)
	satisfied := func() bool {
		n := 0
		for _, f := range fs {
			c := f.base()
			if !c.loadState().done() {
				continue
			}
			n++
			if mode == FirstCompleted || (mode == FirstError && c.failed()) {
				return true
			}
		}
		return n == len(fs)
	}
	if !satisfied() {
		err = waitUntil(ctx, fs, satisfied)
	}
	for _, f := range fs {
		if f.State().done() {
			done = append(done, f)
		} else {
			pending = append(pending, f)
		}
	}
	return done, pending, err
}

// waitUntil blocks until satisfied() holds, checking it each time one of fs
// completes, or until ctx ends.
func waitUntil[F Awaitable](ctx context.Context, fs []F, satisfied func() bool) error {
	ch, unhook := completions(fs)
	defer unhook()
	if p := poolOf(ctx); p != nil {
		defer p.blockBegin()()
	}
	for {
		select {
		case <-ch:
			if satisfied() {
				return nil
			}
		case <-ctx.Done():
			if satisfied() {
				return nil
			}
			return ctx.Err()
		}
	}
}
