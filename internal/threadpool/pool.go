// Package threadpool is the in-process pool behind runtime.ThreadPool:
// goroutine workers started lazily up to a maximum, a FIFO queue of jobs
// (bounded or not), and managed blocking, so that a task that waits on a
// job of its own pool never deadlocks it. Its jobs are futures of package
// future, which it knows only through Job; futures reach it back through
// the context their task receives (Of) to run an awaited job inline or to
// say that a worker blocks. Package runtime wraps it and documents it;
// internal/engine submits typed tasks to it.
package threadpool

import (
	"context"
	"runtime"
	"sync"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/labels"
	"github.com/futuresgen/futuresgen/internal/ring"
)

// Job is a task as the pool runs it: a future of package future.
type Job interface {
	// Claim moves the job from Pending to Running and reports whether it
	// did. Only the goroutine that claims a job may finish it.
	Claim() bool
	// Prepare binds the job to the pool that queues it and to its submit
	// context. It runs under the pool's lock, before the job is queued.
	Prepare(ctx context.Context, p *Pool)
	// Begin is called once the job is claimed; false means it must not
	// run (it has been failed).
	Begin() bool
	// Run runs a begun job, settles it and reports whether it failed.
	Run() (failed bool)
	// Fail settles a job that will never run with err, if it is Pending.
	Fail(err error)
	// Cancel cancels a Pending job and reports whether it is cancelled.
	Cancel() bool
	// Labels returns the pprof labels the job runs under.
	Labels(cache *labels.Cache) context.Context
}

// Config is what a pool is made with. Zero fields take their defaults.
type Config struct {
	MaxWorkers        int // 0: min(32, GOMAXPROCS+4), Python's default
	QueueLimit        int // 0: unbounded
	Initializer       func(context.Context) error
	MaxTasksPerWorker int // 0: unlimited
}

// Pool is a pool of goroutine workers. Make one with New.
type Pool struct {
	max          int
	init         func(context.Context) error
	tasksPerWkr  int
	slots        chan struct{} // QueueLimit semaphore: one token per pending job; nil when unbounded
	stopCtx      context.Context
	stop         context.CancelFunc
	closing      chan struct{} // closed when Shutdown begins
	allDone      chan struct{} // closed when shut down and every worker has exited
	closeOnce    sync.Once
	allDoneClose sync.Once

	mu       sync.Mutex
	cond     sync.Cond // idle workers wait here for work
	queue    ring.Ring[Job]
	workers  int // live worker goroutines
	idle     int // workers waiting on cond that no Signal has claimed
	blocked  int // workers blocked in a wait the pool can see
	shutdown bool
	broken   error
	stats    Stats // counted under mu: one lock per submit and per job
}

// Stats is a snapshot of a pool's counters: runtime.ThreadPoolStats.
type Stats struct {
	Submitted int64
	Queued    int64
	Running   int64
	Completed int64
	Failed    int64
	Cancelled int64
	Workers   int
}

// New returns a pool configured by cfg. Its workers start as jobs
// arrive; Shutdown stops them.
func New(cfg Config) *Pool {
	p := &Pool{
		max:         cfg.MaxWorkers,
		init:        cfg.Initializer,
		tasksPerWkr: cfg.MaxTasksPerWorker,
		closing:     make(chan struct{}),
		allDone:     make(chan struct{}),
	}
	if p.max == 0 {
		p.max = min(32, runtime.GOMAXPROCS(0)+4)
	}
	if cfg.QueueLimit > 0 {
		p.slots = make(chan struct{}, cfg.QueueLimit)
	}
	p.stopCtx, p.stop = context.WithCancel(context.Background())
	p.cond.L = &p.mu
	return p
}

// MaxWorkers returns how many workers p runs at most (not counting the
// compensating workers of managed blocking).
func (p *Pool) MaxWorkers() int { return p.max }

// Closing returns a channel closed once Shutdown has begun.
func (p *Pool) Closing() <-chan struct{} { return p.closing }

// DefaultBuffer is how many inputs a map reads ahead on p by default:
// twice its workers.
func (p *Pool) DefaultBuffer() int { return 2 * p.max }

// StopContext returns the context that ends when p is shut down with
// CancelPending: a task's context ends with it, and the Initializer
// receives it.
func (p *Pool) StopContext() context.Context { return p.stopCtx }

// Submit queues j, or fails it when p cannot take it: ctx has ended, p is
// shut down or broken. With a QueueLimit, Submit waits for room, or for
// ctx to end.
func (p *Pool) Submit(ctx context.Context, j Job) {
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
				p.reject(j, errs.Shutdown)
				return
			}
		}
	}
	p.mu.Lock()
	if p.shutdown || p.broken != nil {
		err := p.broken
		if err == nil {
			err = errs.Shutdown
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
	j.Prepare(ctx, p)
	p.queue.Push(j)
	p.wakeWorker()
	p.mu.Unlock()
}

// wakeWorker wakes an idle worker for a queued job, or starts one if there
// is room. p.mu is held.
func (p *Pool) wakeWorker() {
	if p.idle > 0 {
		p.idle--
		p.cond.Signal()
	} else if p.workers-p.blocked < p.max {
		p.workers++
		go p.worker()
	}
}

// reject fails a job that was never queued.
func (p *Pool) reject(j Job, err error) {
	j.Fail(err)
	p.mu.Lock()
	p.stats.Submitted++
	p.stats.Failed++
	p.mu.Unlock()
}

// LeftPending is called once for every queued job that leaves Pending
// without running: cancelled, or failed before it started (its submit
// context ended).
func (p *Pool) LeftPending(cancelled bool) {
	p.mu.Lock()
	p.stats.Queued--
	if cancelled {
		p.stats.Cancelled++
	} else {
		p.stats.Failed++
	}
	p.mu.Unlock()
	if p.slots != nil {
		<-p.slots
	}
}

// maybeAllDone closes allDone once the pool is shut down and no worker is
// left. p.mu is held.
func (p *Pool) maybeAllDone() {
	if p.shutdown && p.workers == 0 {
		p.allDoneClose.Do(func() { close(p.allDone) })
	}
}

// breakPool marks the pool broken by err and fails everything queued.
func (p *Pool) breakPool(err error) {
	p.mu.Lock()
	if p.broken != nil {
		p.mu.Unlock()
		return
	}
	p.broken = err
	queued := p.queue.Drain()
	p.idle = 0
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, j := range queued {
		j.Fail(err)
	}
}

// Shutdown stops p taking new jobs and waits until every job already
// submitted has finished and every worker has exited, or until ctx ends,
// and then returns ctx.Err(). With cancelPending, jobs that have not
// started are cancelled and the stop context ends. See
// runtime.ThreadPool.Shutdown.
func (p *Pool) Shutdown(ctx context.Context, cancelPending bool) error {
	p.mu.Lock()
	p.shutdown = true
	var cancelled []Job
	if cancelPending {
		cancelled = p.queue.Drain()
	}
	p.maybeAllDone()
	p.idle = 0
	p.cond.Broadcast()
	p.mu.Unlock()
	p.closeOnce.Do(func() { close(p.closing) })
	if cancelPending {
		for _, j := range cancelled {
			j.Cancel()
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

// Stats returns a snapshot of p's counters, taken at one instant.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Workers = p.workers
	return s
}
