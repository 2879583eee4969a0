package runtime

import (
	"context"
	"fmt"

	"github.com/futuresgen/futuresgen/internal/options"
)

// Option configures an executor; pass options to NewThreadPool or
// NewProcessPool. Options that do not apply to an executor are ignored by
// it, as each option's doc says. An option given a value that makes no
// sense panics at once, naming the option, as Python raises ValueError.
type Option func(*options.Executor)

// MaxWorkers sets how many workers an executor runs at most. Workers start
// lazily, as work arrives. The default is min(32, GOMAXPROCS+4) for a
// ThreadPool (Python's formula, on Go's cgroup-aware CPU count) and
// GOMAXPROCS for a ProcessPool. MaxWorkers panics if n < 1.
func MaxWorkers(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("futuresgen: MaxWorkers(%d): need at least 1 worker", n))
	}
	return func(c *options.Executor) { c.MaxWorkers = n }
}

// QueueLimit bounds how many submitted tasks may wait for a worker. Tasks
// that are running do not count. When the queue is full, a submit waits for
// room; if its context ends first, the future it returns fails with
// ctx.Err(). Without QueueLimit the queue is unbounded, as in Python.
// QueueLimit panics if n < 1.
func QueueLimit(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("futuresgen: QueueLimit(%d): need room for at least 1 task", n))
	}
	return func(c *options.Executor) { c.QueueLimit = n }
}

// Initializer sets a function that runs as each worker starts, before it
// takes any task (Python's initializer). The context it receives ends when
// the pool is shut down with CancelPending. If it returns an error, the
// pool is broken: every queued future and every later submit fails with
// ErrBrokenPool wrapping that error. Tasks already running finish.
func Initializer(fn func(context.Context) error) Option {
	if fn == nil {
		panic("futuresgen: Initializer(nil): need a function")
	}
	return func(c *options.Executor) { c.Initializer = fn }
}

// MaxTasksPerWorker replaces a worker after it has run n tasks (Python's
// max_tasks_per_child). On a ProcessPool the worker process exits and a new
// one starts, which returns whatever memory the tasks leaked. On a
// ThreadPool the worker goroutine ends and a new one starts, running the
// Initializer again. MaxTasksPerWorker panics if n < 1.
func MaxTasksPerWorker(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("futuresgen: MaxTasksPerWorker(%d): need at least 1 task", n))
	}
	return func(c *options.Executor) { c.MaxTasksPerWorker = n }
}

// ShutdownOption changes what Shutdown does.
type ShutdownOption func(*options.Shutdown)

// CancelPending makes Shutdown cancel every task that has not started
// (their futures become Cancelled) and end the context of the tasks that
// are running, instead of letting them all run. It is Python's
// shutdown(cancel_futures=True).
func CancelPending() ShutdownOption {
	return func(c *options.Shutdown) { c.CancelPending = true }
}

// MapOption configures a Map.
type MapOption func(*options.Map)

// ChunkSize makes a ProcessPool send n inputs of a Map to a worker in one
// message, which cuts the cost per item for small tasks. A failure of one
// item fails only that item. In-process executors accept and ignore it.
// ChunkSize panics if n < 1.
func ChunkSize(n int) MapOption {
	if n < 1 {
		panic(fmt.Sprintf("futuresgen: ChunkSize(%d): need at least 1 input per chunk", n))
	}
	return func(c *options.Map) { c.ChunkSize = n }
}

// Buffer bounds how many inputs a Map reads from its sequence ahead of the
// caller: at most n inputs are read but not yet yielded. Map never reads the
// whole input at once, so an endless sequence works. The default is twice
// the executor's maximum number of workers, times ChunkSize on a
// ProcessPool; a chunk never holds more than n inputs. Buffer panics if
// n < 1.
func Buffer(n int) MapOption {
	if n < 1 {
		panic(fmt.Sprintf("futuresgen: Buffer(%d): need room for at least 1 input", n))
	}
	return func(c *options.Map) { c.Buffer = n }
}

// Unordered makes a Map yield results in the order the tasks complete
// instead of the order of the inputs, so one slow task does not hold back
// the others (mpi4py's unordered map).
func Unordered() MapOption {
	return func(c *options.Map) { c.Unordered = true }
}

// Progress calls fn each time an input of the Map completes, with the
// number completed so far: 1, 2, 3, …, counted per input even when inputs
// travel in chunks (ChunkSize), and failures included. Calls are
// serialized and each happens before its input's result is yielded, but
// they come from the goroutines that finish the tasks, in completion
// order, so fn must be quick; it suits a progress bar. Inputs cancelled
// because the loop ended early are not counted. Progress panics if fn is
// nil.
func Progress(fn func(done int)) MapOption {
	if fn == nil {
		panic("futuresgen: Progress(nil): need a function")
	}
	return func(c *options.Map) { c.Progress = fn }
}
