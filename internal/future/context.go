package future

import (
	"context"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// taskContext is the context a task receives: its future's core seen as a
// context.Context, so it costs no allocation. It ends when the submit
// context ends or when the pool is shut down with CancelPending, carries
// the submit context's values and deadline, and names the pool running the
// task (threadpool.Of). Its merged Done channel is made only if the task
// asks for it.
type taskContext core

// mergedDone is the Done channel of a task context whose submit context can
// end, with the AfterFuncs that close it.
type mergedDone struct {
	done  chan struct{}
	once  sync.Once
	stops [2]func() bool
}

// Deadline is the submit context's.
func (c *taskContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Value names the pool running the task, and otherwise asks the submit
// context.
func (c *taskContext) Value(key any) any {
	if _, ok := key.(threadpool.Key); ok && c.pool != nil {
		return c.pool
	}
	return c.parent.Value(key)
}

// Done is closed when the submit context ends or the pool is shut down
// with CancelPending.
func (c *taskContext) Done() <-chan struct{} {
	pd := c.parent.Done()
	if c.pool == nil {
		return pd
	}
	stop := c.pool.StopContext()
	if pd == nil {
		return stop.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.merged == nil {
		m := &mergedDone{done: make(chan struct{})}
		end := func() { m.once.Do(func() { close(m.done) }) }
		m.stops[0] = context.AfterFunc(c.parent, end)
		m.stops[1] = context.AfterFunc(stop, end)
		c.merged = m
	}
	return c.merged.done
}

// Err says why Done is closed: the submit context's error, or
// context.Canceled for a CancelPending shutdown.
func (c *taskContext) Err() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if c.pool != nil {
		return c.pool.StopContext().Err()
	}
	return nil
}

// String names the context, as fmt shows it.
func (c *taskContext) String() string { return "futuresgen task context" }

// releaseContext stops watching the submit and pool contexts once the task
// is done, so that a long-lived submit context does not keep the future
// alive.
func (c *core) releaseContext() {
	if c.pool == nil || c.parent.Done() == nil {
		return
	}
	c.mu.Lock()
	m := c.merged
	c.mu.Unlock()
	if m != nil {
		for _, stop := range m.stops {
			stop()
		}
	}
}
