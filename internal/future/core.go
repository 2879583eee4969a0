// Package future is the futures of package runtime as the executors make
// and complete them: Future[T], its states and callbacks, the context its
// task receives, and waits on several futures at once (AsCompleted,
// Wait). Package runtime declares runtime.Future[T] as a defined type
// over Future[T] and documents it; the thread pool (internal/threadpool)
// runs futures as its jobs, and internal/remote completes them from a
// scheduler's answers.
//
// Only unexported methods come from the core that Future embeds: a
// defined type over Future keeps them (so that every runtime.Future is an
// Awaitable) and nothing else, and the exported methods of Future are for
// the packages of this module alone.
package future

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// State is where a future is in its life: runtime.State, with the same
// values.
type State uint32

// The states of a future.
const (
	Pending State = iota
	Running
	Finished
	Cancelled
)

// Done reports whether s is final.
func (s State) Done() bool { return s >= Finished }

// closedChan is the Done channel of every future that finished before
// anybody asked for its channel: most futures never allocate one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Hook is a function run once when a future settles. Hooks run in the
// order they were added. AsCompleted, Wait and Map add hooks to learn of
// completions without a goroutine per future; OnDone adds user callbacks.
type Hook struct {
	fn   func()
	next *Hook
}

// The word of a core holds the State in its low bits and watchedBit once
// somebody made a done channel or added a hook. Settling swaps the word to
// the final state; only a core that was watched takes its mutex to close
// the channel and run the hooks, so a future nobody waits on settles with
// one atomic operation.
const (
	stateMask  = 0x3
	watchedBit = 0x4
)

// core is the part of a future that does not depend on its value type: its
// state, its done channel, its hooks, its error, and the context its task
// receives. AsCompleted and Wait work on cores, so futures of different
// types mix.
type core struct {
	word  atomic.Uint32
	ritem int32 // on a remote executor: which item of rcall this future is (beside word: no padding)

	mu    sync.Mutex
	done  chan struct{} // made on demand, under mu; closed once settled
	hooks *Hook         // a list, oldest first; under mu

	err  error            // the task's error; written before the word becomes final
	pool *threadpool.Pool // the pool whose queue holds this future; nil if none

	// On a remote executor: the call carrying this future (ritem, above,
	// says which of its items it is). Cancel goes through its scheduler.
	rcall *sched.Call

	// The task's context: see taskContext.
	parent context.Context // the submit context
	merged *mergedDone     // made on demand, under mu
}

// base returns c: every future, and every defined type over one, has it
// (see Awaitable).
func (c *core) base() *core { return c }

func (c *core) loadState() State { return State(c.word.Load() & stateMask) }

// move changes the state from `from` to `to`, keeping the watched bit, and
// reports whether it did.
func (c *core) move(from, to State) bool {
	for {
		old := c.word.Load()
		if State(old&stateMask) != from {
			return false
		}
		if c.word.CompareAndSwap(old, old&^stateMask|uint32(to)) {
			return true
		}
	}
}

// claim moves a Pending future to Running and reports whether it did. Only
// the goroutine that claims a future may finish it (cancel is the other
// way out of Pending).
func (c *core) claim() bool { return c.move(Pending, Running) }

// watch sets the watched bit unless the future is done, and reports
// whether it did. c.mu is held.
func (c *core) watch() bool {
	for {
		old := c.word.Load()
		if State(old & stateMask).Done() {
			return false
		}
		if old&watchedBit != 0 || c.word.CompareAndSwap(old, old|watchedBit) {
			return true
		}
	}
}

// doneChan returns the channel closed when the future settles.
func (c *core) doneChan() <-chan struct{} {
	if c.loadState().Done() {
		return closedChan
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.watch() {
		return closedChan
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// settle records the final state st, then closes the done channel and runs
// the hooks, in the order they were added, if anybody watches. The caller
// owns the future: it claimed it, or moved it from Pending to Cancelled.
func (c *core) settle(st State) {
	if c.word.Swap(uint32(st))&watchedBit == 0 {
		return
	}
	c.mu.Lock()
	if c.done != nil {
		close(c.done)
	}
	hooks := c.hooks
	c.hooks = nil
	c.mu.Unlock()
	for h := hooks; h != nil; h = h.next {
		h.fn()
	}
}

// addHook arranges for fn to run once the future settles. If it has
// settled already, fn runs now, in the caller's goroutine, and addHook
// returns nil; otherwise it returns the hook, for removeHook.
func (c *core) addHook(fn func()) *Hook {
	c.mu.Lock()
	if !c.watch() {
		c.mu.Unlock()
		fn()
		return nil
	}
	h := &Hook{fn: fn}
	at := &c.hooks
	for *at != nil {
		at = &(*at).next
	}
	*at = h
	c.mu.Unlock()
	return h
}

// removeHook forgets h if it has not run yet. Waits that give up remove
// their hooks, so a long-lived future does not collect them.
func (c *core) removeHook(h *Hook) {
	if h == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for at := &c.hooks; *at != nil; at = &(*at).next {
		if *at == h {
			*at = h.next
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
	if c.rcall != nil {
		if c.loadState() == Pending && c.rcall.Cancel(int(c.ritem)) {
			return true
		}
		return c.loadState() == Cancelled
	}
	if c.move(Pending, Cancelled) {
		if c.pool != nil {
			c.pool.LeftPending(true)
		}
		c.releaseContext()
		c.settle(Cancelled)
		return true
	}
	return c.loadState() == Cancelled
}
