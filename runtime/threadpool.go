package runtime

import (
	"context"
	"fmt"

	"github.com/futuresgen/futuresgen/internal/engine"
	"github.com/futuresgen/futuresgen/internal/future"
	"github.com/futuresgen/futuresgen/internal/options"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// ThreadPool runs tasks on goroutines in this process: Python's
// ThreadPoolExecutor. Use it for I/O-bound work and for CPU-bound work
// alike (Go has no GIL); choose a ProcessPool when a task must be isolated
// from the program (it may crash, leak or ignore its deadline).
//
// Workers start lazily, one per submit that finds no idle worker, up to
// MaxWorkers; they live until Shutdown (or until MaxTasksPerWorker retires
// them). Tasks wait in a FIFO queue, unbounded unless QueueLimit is given.
// A submit costs one allocation (the future) beyond the task's own
// closure; submitting a trivial task and collecting it costs about
// 0.3–0.4µs on a 2-core machine, 1.1–1.3× a minimal hand-written pool
// (the bench/ comparison).
//
// # Waiting inside a task
//
// A task that waits on a future of its own pool never deadlocks the pool,
// even with one worker, provided it waits with the context the pool gave
// it (or a context derived from it) through Future.Result, Future.Err, Wait,
// AsCompleted or Map. If the awaited task has not started, the waiting
// worker runs it inline; otherwise the pool counts the worker as blocked
// and may start a compensating worker, so that MaxWorkers workers are
// running tasks while the blocked ones wait (Java ForkJoinPool's managed
// blocking). The pool shrinks back once the waits end. A wait the pool
// cannot see — a channel receive, a sync.WaitGroup, Result with another
// context — is not covered: it holds its worker as it would in Python.
//
// The zero ThreadPool is not usable; call NewThreadPool.
type ThreadPool struct {
	handle
	p *threadpool.Pool
}

// NewThreadPool returns a pool of goroutine workers configured by opts:
// MaxWorkers, QueueLimit, Initializer and MaxTasksPerWorker apply.
// Shut it down with Shutdown or Close when done, or its idle workers stay.
func NewThreadPool(opts ...Option) *ThreadPool {
	cfg := options.Apply(opts)
	p := threadpool.New(threadpool.Config{
		MaxWorkers:        cfg.MaxWorkers,
		QueueLimit:        cfg.QueueLimit,
		Initializer:       cfg.Initializer,
		MaxTasksPerWorker: cfg.MaxTasksPerWorker,
	})
	return &ThreadPool{handle: engine.NewHandle(engine.Engine{Local: p}), p: p}
}

// pool returns p's pool, or panics, naming op, unless p was made by
// NewThreadPool.
func (p *ThreadPool) pool(op string) *threadpool.Pool {
	if p == nil || p.p == nil {
		panic(fmt.Sprintf("futuresgen: %s on a nil or zero ThreadPool; create it with NewThreadPool", op))
	}
	return p.p
}

// Submit runs fn on p and returns its future at once. The context fn
// receives ends when ctx ends or when p is shut down with CancelPending; it
// also lets fn wait on other futures of p without deadlock. If ctx ends
// before fn starts, fn never runs and the future fails with ctx.Err(). After
// Shutdown, the future fails with ErrShutdown; on a broken pool, with
// ErrBrokenPool. With QueueLimit, Submit waits while the queue is full.
//
// Submit is for closures in this process; generated SubmitX wrappers submit
// named tasks to any executor.
func Submit[T any](ctx context.Context, p *ThreadPool, fn func(context.Context) (T, error)) *Future[T] {
	if fn == nil {
		panic("futuresgen: Submit: nil function")
	}
	pool := p.pool("Submit")
	f := future.NewTask(fn, nil, nil)
	pool.Submit(ctx, f)
	return (*Future[T])(f)
}

// Shutdown stops p taking new tasks and waits until every task already
// submitted has finished and every worker has exited, or until ctx ends.
// Submits after Shutdown began fail with ErrShutdown. With CancelPending,
// tasks that have not started are cancelled and the context of running
// tasks ends.
//
// Shutdown returns ctx.Err() if ctx ends first; the work goes on, and a
// later Shutdown or Close waits for it again. Otherwise it returns nil,
// also when called a second time.
func (p *ThreadPool) Shutdown(ctx context.Context, opts ...ShutdownOption) error {
	pool := p.pool("Shutdown")
	return pool.Shutdown(ctx, options.Apply(opts).CancelPending)
}

// Close shuts p down and waits for its tasks: Shutdown(context.Background()).
// It returns nil; it exists for defer and for io.Closer.
func (p *ThreadPool) Close() error { return p.Shutdown(context.Background()) }

// ThreadPoolStats is a snapshot of a ThreadPool's counters.
type ThreadPoolStats struct {
	Submitted int64 // futures handed to Submit or a generated SubmitX
	Queued    int64 // waiting for a worker now
	Running   int64 // running now
	Completed int64 // finished without error
	Failed    int64 // finished with an error: the task's, a panic, or a refusal
	Cancelled int64 // cancelled before they started
	Workers   int   // worker goroutines alive now
}

// Stats returns a snapshot of p's counters, taken at one instant.
func (p *ThreadPool) Stats() ThreadPoolStats {
	return ThreadPoolStats(p.pool("Stats").Stats())
}
