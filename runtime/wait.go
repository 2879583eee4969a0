package runtime

import (
	"context"
	"fmt"
	"iter"

	"github.com/futuresgen/futuresgen/internal/future"
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

	// The unexported method through which AsCompleted and Wait reach the
	// future's state.
	future.Awaitable
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
	return future.AsCompleted(ctx, fs...)
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
	return future.Wait(ctx, future.WaitMode(mode), fs...)
}
