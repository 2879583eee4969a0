package runtime

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
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
// closure; submitting a trivial task and awaiting it costs about 0.15µs
// on a 2-core machine, 1.1–1.3× a minimal hand-written pool.
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
	max          int
	init         func(context.Context) error
	tasksPerWkr  int
	slots        chan struct{} // QueueLimit semaphore: one token per pending task; nil when unbounded
	stopCtx      context.Context
	stop         context.CancelFunc
	closing      chan struct{} // closed when Shutdown begins
	allDone      chan struct{} // closed when shut down and every worker has exited
	closeOnce    sync.Once
	allDoneClose sync.Once

	eng engine // local: p itself, once made by NewThreadPool

	mu       sync.Mutex
	cond     sync.Cond // idle workers wait here for work
	queue    ring[job]
	workers  int // live worker goroutines
	idle     int // workers waiting on cond that no Signal has claimed
	blocked  int // workers blocked in a wait the pool can see
	shutdown bool
	broken   error
	stats    ThreadPoolStats // counted under mu: one lock per submit and per task
}

// NewThreadPool returns a pool of goroutine workers configured by opts:
// MaxWorkers, QueueLimit, Initializer and MaxTasksPerWorker apply.
// Shut it down with Shutdown or Close when done, or its idle workers stay.
func NewThreadPool(opts ...Option) *ThreadPool {
	cfg := newConfig(opts)
	p := &ThreadPool{
		max:         cfg.maxWorkers,
		init:        cfg.initializer,
		tasksPerWkr: cfg.maxTasksPerWkr,
		closing:     make(chan struct{}),
		allDone:     make(chan struct{}),
	}
	if p.max == 0 {
		p.max = defaultThreadWorkers()
	}
	if cfg.queueLimit > 0 {
		p.slots = make(chan struct{}, cfg.queueLimit)
	}
	p.stopCtx, p.stop = context.WithCancel(context.Background())
	p.cond.L = &p.mu
	p.eng.local = p
	return p
}

func (p *ThreadPool) engine() *engine {
	if p == nil {
		panic("futuresgen: a nil *ThreadPool was used as an Executor; create it with NewThreadPool")
	}
	return &p.eng
}

// check panics, naming op, unless p was made by NewThreadPool.
func (p *ThreadPool) check(op string) {
	if p == nil || p.eng.local == nil {
		panic(fmt.Sprintf("futuresgen: %s on a nil or zero ThreadPool; create it with NewThreadPool", op))
	}
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
	p.check("Submit")
	f := &Future[T]{fn: fn}
	p.submit(ctx, f)
	return f
}

func (p *ThreadPool) defaultBuffer() int { return 2 * p.max }

// submit queues j, or fails it when p cannot take it.
func (p *ThreadPool) submit(ctx context.Context, j job) {
	if err := ctx.Err(); err != nil {
		p.reject(j, err)
		return
	}
	if p.slots != nil {
		select {
		case p.slots <- struct{}{}:
		default:
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
				p.reject(j, ctx.Err())
				return
			case <-p.closing:
				p.reject(j, ErrShutdown)
				return
			}
		}
	}
	p.mu.Lock()
	if p.shutdown || p.broken != nil {
		err := p.broken
		if err == nil {
			err = ErrShutdown
		}
		p.mu.Unlock()
		if p.slots != nil {
			<-p.slots
		}
		p.reject(j, err)
		return
	}
	p.stats.Submitted++
	p.stats.Queued++
	j.prepare(ctx, p)
	p.queue.push(j)
	p.wakeWorker()
	p.mu.Unlock()
}

// wakeWorker wakes an idle worker for a queued job, or starts one if there
// is room. p.mu is held.
func (p *ThreadPool) wakeWorker() {
	if p.idle > 0 {
		p.idle--
		p.cond.Signal()
	} else if p.workers-p.blocked < p.max {
		p.workers++
		go p.worker()
	}
}

// reject fails a job that was never queued.
func (p *ThreadPool) reject(j job, err error) {
	j.fail(err)
	p.mu.Lock()
	p.stats.Submitted++
	p.stats.Failed++
	p.mu.Unlock()
}

// The ways a queued future leaves Pending other than by starting.
type outcome int

const (
	outcomeCancelled outcome = iota
	outcomeFailed
)

// leftPending is called once for every queued future that leaves Pending
// without running: cancelled, or failed before it started.
func (p *ThreadPool) leftPending(o outcome) {
	p.mu.Lock()
	p.stats.Queued--
	if o == outcomeCancelled {
		p.stats.Cancelled++
	} else {
		p.stats.Failed++
	}
	p.mu.Unlock()
	if p.slots != nil {
		<-p.slots
	}
}

// worker runs queued jobs until the pool shuts down, breaks, or has more
// workers than it needs.
func (p *ThreadPool) worker() {
	running := false // a task of this worker is counted as running
	defer func() {
		p.mu.Lock()
		if running {
			// The task called runtime.Goexit and took this goroutine
			// with it; the future has failed.
			p.stats.Running--
			p.stats.Failed++
		}
		p.workers--
		if p.queue.len() > 0 && p.broken == nil {
			// Work is waiting: this worker may have taken the wake-up
			// meant for it (an excess worker retiring), or it is dying
			// of Goexit. Hand the work on.
			p.wakeWorker()
		}
		p.maybeAllDone()
		p.mu.Unlock()
	}()
	if p.init != nil {
		if err := p.init(p.stopCtx); err != nil {
			p.breakPool(fmt.Errorf("%w: initializer failed: %w", ErrBrokenPool, err))
			return
		}
	}
	background := context.Background()
	defer pprof.SetGoroutineLabels(background)
	var cache labelCache
	current := background // the labels this goroutine carries
	ran := 0
	p.mu.Lock()
	for p.workers-p.blocked <= p.max {
		if p.queue.len() == 0 && current != background {
			pprof.SetGoroutineLabels(background) // idle workers carry no task's name
			current = background
		}
		for p.queue.len() == 0 && !p.shutdown && p.broken == nil {
			p.idle++
			p.cond.Wait()
		}
		if p.queue.len() == 0 || p.workers-p.blocked > p.max {
			break
		}
		j := p.queue.pop()
		if !j.base().claim() {
			continue // cancelled or failed while it waited, or run inline
		}
		p.stats.Queued--
		p.stats.Running++
		running = true
		p.mu.Unlock()
		if p.slots != nil {
			<-p.slots
		}
		failed := true
		if j.begin() {
			if l := j.labels(&cache); l != current {
				pprof.SetGoroutineLabels(l)
				current = l
			}
			failed = j.run()
		}
		ran++
		p.mu.Lock()
		running = false
		p.stats.Running--
		if failed {
			p.stats.Failed++
		} else {
			p.stats.Completed++
		}
		if p.tasksPerWkr > 0 && ran >= p.tasksPerWkr {
			break // retire; the deferred exit starts a replacement if work waits
		}
	}
	p.mu.Unlock()
}

// runInline runs j, a future of p, in the calling goroutine (a worker of p
// that waits on it) if j has not started, and reports whether it did.
func (p *ThreadPool) runInline(j job) bool {
	if !j.base().claim() {
		return false
	}
	p.mu.Lock()
	p.stats.Queued--
	p.stats.Running++
	p.mu.Unlock()
	if p.slots != nil {
		<-p.slots
	}
	failed := true
	if j.begin() {
		failed = j.run()
	}
	p.mu.Lock()
	p.stats.Running--
	if failed {
		p.stats.Failed++
	} else {
		p.stats.Completed++
	}
	p.mu.Unlock()
	return true
}

// maybeAllDone closes allDone once the pool is shut down and no worker is
// left. p.mu is held.
func (p *ThreadPool) maybeAllDone() {
	if p.shutdown && p.workers == 0 {
		p.allDoneClose.Do(func() { close(p.allDone) })
	}
}

// breakPool marks the pool broken by err and fails everything queued.
func (p *ThreadPool) breakPool(err error) {
	p.mu.Lock()
	if p.broken != nil {
		p.mu.Unlock()
		return
	}
	p.broken = err
	queued := p.queue.drain()
	p.idle = 0
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, j := range queued {
		j.fail(err)
	}
}

// blockBegin records that a worker of p is about to block on a future,
// starting a compensating worker if tasks are waiting and every other
// worker is busy. Call the function it returns when the wait ends.
func (p *ThreadPool) blockBegin() (blockEnd func()) {
	p.mu.Lock()
	p.blocked++
	if p.queue.len() > 0 && !p.shutdownDone() {
		p.wakeWorker()
	}
	p.mu.Unlock()
	return p.blockEnd
}

func (p *ThreadPool) blockEnd() {
	p.mu.Lock()
	p.blocked--
	p.mu.Unlock()
}

// shutdownDone reports whether the pool can start no more workers. p.mu is
// held.
func (p *ThreadPool) shutdownDone() bool {
	return p.broken != nil || (p.shutdown && p.workers == 0)
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
	p.check("Shutdown")
	var sc shutdownConfig
	for _, o := range opts {
		o(&sc)
	}
	p.mu.Lock()
	p.shutdown = true
	var cancelled []job
	if sc.cancelPending {
		cancelled = p.queue.drain()
	}
	p.maybeAllDone()
	p.idle = 0
	p.cond.Broadcast()
	p.mu.Unlock()
	p.closeOnce.Do(func() { close(p.closing) })
	if sc.cancelPending {
		for _, j := range cancelled {
			j.base().cancel()
		}
		p.stop()
	}
	select {
	case <-p.allDone:
		return nil
	case <-ctx.Done():
		select {
		case <-p.allDone: // both: done wins, so a second Shutdown returns nil
			return nil
		default:
			return ctx.Err()
		}
	}
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
	p.check("Stats")
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Workers = p.workers
	return s
}
