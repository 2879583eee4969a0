package future

import (
	"context"

	"github.com/futuresgen/futuresgen/internal/sched"
)

// This file is a future as a remote executor completes it: an item of a
// call that the scheduler (internal/sched) moves, and that
// internal/remote answers.

// BindCall makes f item i of call, submitted with ctx: its Cancel goes
// through the call's scheduler, and a wait without a deadline helps read
// the answer. f calls tick, if not nil, as it finishes. f is not yet
// shared.
func (f *Future[T]) BindCall(ctx context.Context, call *sched.Call, i int, tick func()) {
	f.parent = ctx
	f.rcall, f.ritem = call, int32(i)
	f.tick = tick
}

// Pending reports whether f is Pending now.
func (f *Future[T]) Pending() bool { return f.loadState() == Pending }

// MarkCancelled moves f from Pending to Cancelled without settling it,
// and reports whether it did: the scheduler's lock is held, and
// SettleCancelled settles it after.
func (f *Future[T]) MarkCancelled() bool { return f.move(Pending, Cancelled) }

// SettleCancelled settles f if it is Cancelled; settling twice is
// harmless.
func (f *Future[T]) SettleCancelled() {
	if f.loadState() == Cancelled {
		f.settle(Cancelled)
	}
}

// FailUnlessDone finishes f with err unless it is done: a Pending future
// is claimed first.
func (f *Future[T]) FailUnlessDone(err error) {
	if f.claim() || f.loadState() == Running {
		var zero T
		f.Finish(zero, err)
	}
}
