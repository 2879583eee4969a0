package runtime

import (
	"context"
	"sync"
	"time"
)

// poolKey is the context key under which a task's context names the pool
// running it. Waits use it to recognise a worker that blocks on its own
// pool.
type poolKey struct{}

// poolOf returns the pool whose worker is running the task that ctx was
// given to (or a context derived from it), or nil.
func poolOf(ctx context.Context) *ThreadPool {
	if ctx == nil {
		return nil
	}
	p, _ := ctx.Value(poolKey{}).(*ThreadPool)
	return p
}

// taskContext is the context a task receives. It ends when the submit
// context ends or when the pool is shut down with CancelPending, carries
// the submit context's values and deadline, and names the pool running the
// task. It lives inside the future, so it costs no allocation; its merged
// Done channel is made only if the task asks for it.
type taskContext struct {
	parent context.Context // the submit context
	pool   *ThreadPool     // nil for futures no pool runs

	mu    sync.Mutex
	done  chan struct{}
	stops [2]func() bool
}

func (c *taskContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

func (c *taskContext) Value(key any) any {
	if _, ok := key.(poolKey); ok && c.pool != nil {
		return c.pool
	}
	return c.parent.Value(key)
}

func (c *taskContext) Done() <-chan struct{} {
	pd := c.parent.Done()
	if c.pool == nil {
		return pd
	}
	if pd == nil {
		return c.pool.stopCtx.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		var once sync.Once
		end := func() { once.Do(func() { close(c.done) }) }
		c.stops[0] = context.AfterFunc(c.parent, end)
		c.stops[1] = context.AfterFunc(c.pool.stopCtx, end)
	}
	return c.done
}

func (c *taskContext) Err() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if c.pool != nil {
		return c.pool.stopCtx.Err()
	}
	return nil
}

func (c *taskContext) String() string { return "futuresgen task context" }

// release stops watching the parent and pool contexts once the task is
// done, so that a long-lived parent does not keep the future alive.
func (c *taskContext) release() {
	if c.pool == nil || c.parent.Done() == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, stop := range c.stops {
		if stop != nil {
			stop()
		}
	}
}
