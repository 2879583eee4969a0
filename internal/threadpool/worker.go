package threadpool

import (
	"context"
	"fmt"
	"runtime/pprof"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/labels"
)

// Key is the context key under which a task's context names the pool
// running it (see Of). The task's context (package future) answers it.
type Key struct{}

// Of returns the pool whose worker is running the task that ctx was
// given to (or a context derived from it), or nil. Waits use it to
// recognise a worker that blocks on its own pool.
func Of(ctx context.Context) *Pool {
	if ctx == nil {
		return nil
	}
	p, _ := ctx.Value(Key{}).(*Pool)
	return p
}

// worker runs queued jobs until the pool shuts down, breaks, or has more
// workers than it needs.
func (p *Pool) worker() {
	running := false // a job of this worker is counted as running
	defer func() {
		p.mu.Lock()
		if running {
			// The task called runtime.Goexit and took this goroutine
			// with it; the future has failed.
			p.stats.Running--
			p.stats.Failed++
		}
		p.workers--
		if p.queue.Len() > 0 && p.broken == nil {
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
			p.breakPool(fmt.Errorf("%w: initializer failed: %w", errs.BrokenPool, err))
			return
		}
	}
	background := context.Background()
	defer pprof.SetGoroutineLabels(background)
	var cache labels.Cache
	current := background // the labels this goroutine carries
	ran := 0
	p.mu.Lock()
	for p.workers-p.blocked <= p.max {
		if p.queue.Len() == 0 && current != background {
			pprof.SetGoroutineLabels(background) // idle workers carry no task's name
			current = background
		}
		for p.queue.Len() == 0 && !p.shutdown && p.broken == nil {
			p.idle++
			p.cond.Wait()
		}
		if p.queue.Len() == 0 || p.workers-p.blocked > p.max {
			break
		}
		j := p.queue.Pop()
		if !j.Claim() {
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
		if j.Begin() {
			if l := j.Labels(&cache); l != current {
				pprof.SetGoroutineLabels(l)
				current = l
			}
			failed = j.Run()
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

// RunInline runs j, a job of p, in the calling goroutine (a worker of p
// that waits on it) if j has not started, and reports whether it did.
func (p *Pool) RunInline(j Job) bool {
	if !j.Claim() {
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
	if j.Begin() {
		failed = j.Run()
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

// BlockBegin records that a worker of p is about to block on a future,
// starting a compensating worker if jobs are waiting and every other
// worker is busy. Call the function it returns when the wait ends.
func (p *Pool) BlockBegin() (blockEnd func()) {
	p.mu.Lock()
	p.blocked++
	if p.queue.Len() > 0 && !p.shutdownDone() {
		p.wakeWorker()
	}
	p.mu.Unlock()
	return p.blockEnd
}

func (p *Pool) blockEnd() {
	p.mu.Lock()
	p.blocked--
	p.mu.Unlock()
}

// shutdownDone reports whether the pool can start no more workers. p.mu is
// held.
func (p *Pool) shutdownDone() bool {
	return p.broken != nil || (p.shutdown && p.workers == 0)
}
