package future

import (
	"context"
	"fmt"
	"iter"
	"reflect"

	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// Awaitable is what AsCompleted and Wait accept: a *Future[T], or a
// pointer to a defined type over one (a *runtime.Future[T]), which has
// the method of the core it embeds. runtime.Awaitable embeds it, so that
// only this module's futures implement that.
type Awaitable interface {
	base() *core
}

// dedupe returns the distinct futures of fs, first occurrence first. It
// panics, naming op, on a nil future.
func dedupe[F Awaitable](op string, fs []F) []F {
	for i, f := range fs {
		// A nil pointer has no core to take the address of: base would
		// fault.
		if v := reflect.ValueOf(f); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
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
	hooks := make([]*Hook, len(fs))
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
// runtime.AsCompleted, whose doc says how.
func AsCompleted[F Awaitable](ctx context.Context, fs ...F) iter.Seq2[F, error] {
	return func(yield func(F, error) bool) {
		fs := dedupe("AsCompleted", fs)
		var pending []F
		for _, f := range fs {
			if f.base().loadState().Done() {
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
		pool := threadpool.Of(ctx)
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
func nextDone(ctx context.Context, ch <-chan int, pool *threadpool.Pool) (int, bool) {
	select {
	case i := <-ch:
		return i, true
	default:
	}
	if pool != nil {
		defer pool.BlockBegin()()
	}
	select {
	case i := <-ch:
		return i, true
	case <-ctx.Done():
		return 0, false
	}
}

// WaitMode says when Wait returns: runtime.WaitMode, with the same
// values.
type WaitMode int

// The modes of Wait.
const (
	AllCompleted WaitMode = iota
	FirstCompleted
	FirstError
)

// Wait waits on fs until mode is satisfied or ctx ends, and returns the
// distinct futures split into those done and those still pending:
// runtime.Wait, whose doc says how. mode must be one of the three.
func Wait[F Awaitable](ctx context.Context, mode WaitMode, fs ...F) (done, pending []F, err error) {
	fs = dedupe("Wait", fs)
	satisfied := func() bool {
		n := 0
		for _, f := range fs {
			c := f.base()
			if !c.loadState().Done() {
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
		if f.base().loadState().Done() {
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
	if p := threadpool.Of(ctx); p != nil {
		defer p.BlockBegin()()
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
