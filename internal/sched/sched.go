// Package sched is the scheduler that a ProcessPool and a cluster
// executor share: a queue of calls, workers with a number of slots, one
// state machine per call, and the counters that move with it. It knows
// workers only through a Link (send calls, cancels, revokes and byes;
// kill the worker) and the events a link reports (ready, started,
// revoked, answered, gone); how bytes move is the link's business.
//
// # A call's life
//
//	Queued ──dispatch──▶ Sent ──started──▶ Running ──answer──▶ Done
//	  │                   │  ╲revoked (back to Queued)           ▲
//	  └─cancel, ctx, shutdown, broken─────────────────────────────┘
//
// A call is Queued in the executor until a worker can take it. Sent means
// a worker holds it but has not started it: it was sent ahead of need,
// to keep a busy worker fed, and its futures are still Pending — Cancel,
// CancelPending and QueueLimit treat it as queued, and the scheduler
// takes it back (revokes it) when another worker could start it sooner.
// A call sent to a free slot of a worker that this executor owns
// (Config.Exclusive) starts at once: it is Running from the moment it is
// sent. Done is final: answered by the worker, cancelled, failed before
// it ran (its context ended, the executor shut down or broke, its
// arguments did not encode), or lost with its worker.
//
// Every transition happens under the scheduler's lock, which is also the
// only place futures of a call change state before their outcome is
// known; settling futures (closing their channels, running their hooks)
// and writing to links happen after the lock is released, in the
// goroutine that caused them.
package sched

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// Futures is the submitter's side of a call: the futures of its items
// (one, or the inputs of a chunk). Methods documented as locked run under
// the scheduler's lock and may only move futures between states; the
// others run outside it.
type Futures interface {
	// Len returns the number of items.
	Len() int
	// Cancel moves item i from Pending to Cancelled, without settling
	// it, and reports whether it did. Locked.
	Cancel(i int) bool
	// Freeze fixes which items travel with the call: those still
	// Pending. It returns how many. Locked.
	Freeze() int
	// Claim moves the frozen items from Pending to Running: their task
	// has started. Locked.
	Claim()
	// SettleCancelled settles the items that are Cancelled; settling
	// twice is harmless.
	SettleCancelled()
	// Fail finishes every frozen (or still Pending) item that is not
	// done with err.
	Fail(err error)
	// Encode encodes the frozen items' arguments on s, in at most max
	// bytes.
	Encode(s *wire.Streams, max int) (payload []byte, gen uint32, err error)
	// Deliver finishes the frozen items from the worker's answer m,
	// decoding its payload with s (always, so that the stream stays in
	// step), and returns how many items failed. An error means the
	// answer itself was malformed: the items failed with it.
	Deliver(s *wire.Streams, m *wire.Msg) (failed int, err error)
}

// State is where a call is in its life.
type State uint8

// The states of a call.
const (
	Queued  State = iota // in the executor's queue
	Sent                 // held by a worker, not started: revocable
	Running              // started in a worker
	Done                 // out of the scheduler for good
)

var stateNames = [...]string{"queued", "sent", "running", "done"}

func (s State) String() string { return stateNames[s] }

// Call is one call of a task (or a chunk of calls), as the scheduler sees
// it whatever its types. Fill in the exported fields and Submit it.
type Call struct {
	Task  string
	Ctx   context.Context
	Batch bool // the items travel as a batch (a chunk of a map), even one
	F     Futures
	// ItemMax bounds each item's encoded result, for a batch (0: only the
	// link's payload limit, all together); see wire.Msg.ItemMax.
	ItemMax int

	s *Scheduler // set by Submit

	// Under Scheduler.mu.
	id         uint64
	state      State
	n          int // items counted in the stats
	w          *Worker
	ahead      bool // sent ahead: the worker says when it starts it
	granted    bool // the worker may start it (see Config.GrantPerSlot)
	onSlot     bool // counted as running on its worker
	prev, next *Call
	queued     bool // in the queue list
	slot       bool // holds a QueueLimit slot
	unwatch    func() bool
	revoking   revokeReason
	waiters    []waiter // Cancel calls waiting on a revoke
	ctxEnded   bool     // its context ended; the worker was told
	grace      *time.Timer
	killed     bool
	claimed    bool // its futures are Running already: it is being retried
	attempts   int  // runs begun on workers that were lost
}

// ID returns the call's ID on the worker it was sent to.
func (c *Call) ID() uint64 { return c.id }

// Cancel cancels item i of c if its task will never run, and reports
// whether it did (see Scheduler.Cancel). A call never submitted cannot be.
func (c *Call) Cancel(i int) bool {
	if c.s == nil {
		return false
	}
	return c.s.Cancel(c, i)
}

type revokeReason uint8

const (
	notRevoking    revokeReason = iota
	revokeSteal                 // another worker is free
	revokeCancel                // a Cancel waits
	revokeShutdown              // CancelPending
)

type waiter struct {
	item int
	ch   chan bool
}

// Helper is a link that lets a goroutine waiting on one of its calls read
// the worker's messages itself, when nobody else is: the answer then
// needs no other goroutine to wake.
type Helper interface {
	// Help reads and reports messages until done says true, or returns
	// at once if another goroutine is reading.
	Help(done func() bool)
}

// Help lets the calling goroutine, which waits for c, read c's worker's
// messages until done says true or c leaves that worker, if its link is
// a Helper and nobody else reads it.
func (c *Call) Help(done func() bool) {
	s := c.s
	if s == nil {
		return
	}
	s.mu.Lock()
	w := c.w
	var h Helper
	if w != nil {
		h, _ = w.link.(Helper)
	}
	s.mu.Unlock()
	if h == nil {
		return
	}
	h.Help(func() bool {
		if done() {
			return true
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return c.w != w
	})
}

// Link is the scheduler's view of one worker's connection.
type Link interface {
	// Write sends out, in order. One goroutine at a time writes to a
	// link, outside the scheduler's lock. out is the scheduler's again
	// once Write returns (it is reused): keep no reference to it. A call that cannot be sent (its
	// arguments do not encode, or are too large) is reported with
	// Scheduler.NotSent; a broken connection is the link's to handle (it
	// kills the worker and reports it Gone).
	Write(out []Out)
	// Kill ends the worker now; the link then reports it Gone. Kill must
	// not block.
	Kill(cause error)
}

// Out is one message for a worker.
type Out struct {
	Kind  wire.Kind // KindCall (a Batch when Call.Batch), KindCancel, KindRevoke or KindBye
	Call  *Call     // KindCall
	ID    uint64    // KindCall, KindCancel, KindRevoke
	Count int       // KindCall: items frozen
	Ahead bool      // KindCall: sent ahead of need, to a worker with no free slot
	// Granted marks a KindCall the worker may start as soon as it has a
	// slot (see Config.GrantPerSlot); a KindGrant grants every call of
	// the link up to ID.
	Granted bool
	// Deadline marks a KindCancel for a call whose deadline passed: the
	// worker's own copy of the deadline ends the task, which then sees
	// context.DeadlineExceeded as it would in-process.
	Deadline bool
}

// Config configures a Scheduler.
type Config struct {
	// MaxWorkers bounds the workers Spawn starts (0: Spawn is not used).
	MaxWorkers int
	// Spawn starts a worker in the background and returns its link; the
	// link reports it Ready or Gone. nil: workers join with AddWorker.
	Spawn func(w *Worker) Link
	// QueueLimit bounds the calls not yet started (0: no bound).
	QueueLimit int
	// Grace is how long a call may run after its context ended before
	// its worker is killed (0: never killed).
	Grace time.Duration
	// MaxTasksPerWorker retires a worker after that many calls (0: never).
	MaxTasksPerWorker int
	// Exclusive says this scheduler owns its workers' slots: a call sent
	// to a free slot starts at once, so it counts as Running when sent.
	// Otherwise every call is sent ahead and Running only once the
	// worker says it started.
	Exclusive bool
	// AheadPerSlot bounds the calls sent ahead to a busy worker, per slot
	// (0: none).
	AheadPerSlot int
	// GrantPerSlot, when positive, makes a call sent ahead to a busy
	// worker wait there for a grant (a KindGrant) before it may start; a
	// call sent to a free slot is granted as it is sent. A worker has at
	// most GrantPerSlot granted calls per slot beyond its running ones,
	// and grants follow the order calls were sent. When a worker is lost,
	// a granted call it did not say it started counts as started (it
	// fails, or runs again under Retries), and only the others run
	// elsewhere: a call never runs twice, however late the lost worker's
	// messages are, or whether they come at all. Zero grants every call
	// as it is sent: for links that report a worker gone only once
	// everything it said was read, and whose worker says Started before
	// it starts a call sent ahead (a pipe to a process that exited).
	GrantPerSlot int
	// SlowAfter is how long a worker runs a call before it is taken for a
	// slow one, which gets nothing sent ahead (default 1ms).
	SlowAfter time.Duration
	// Retries reruns a call whose worker was lost after it started, up to
	// that many times, instead of failing it.
	Retries int
	// RevokeWait bounds how long Cancel waits for a worker to give back a
	// call sent ahead (default 1s); past it, Cancel says false.
	RevokeWait time.Duration
	// MaxCalls bounds the calls this scheduler's workers hold at once,
	// sent or running (0: no bound): a cluster executor's MaxWorkers.
	MaxCalls int
	// MaxStartFailures breaks the scheduler once that many spawned
	// workers in a row were gone before they were ready (0: never), with
	// the error StartFailed returns.
	MaxStartFailures int
	StartFailed      func(n int, last error) error
}

// Scheduler schedules calls on workers.
type Scheduler struct {
	cfg   Config
	slots chan struct{} // QueueLimit semaphore
	done  chan struct{} // closed when shut down and every worker is gone
	shut  chan struct{} // closed when Shutdown begins

	mu            sync.Mutex
	head, tail    *Call
	queued        int       // calls in the queue
	workers       []*Worker // in the order they came
	starting      int       // workers spawned that are not ready
	stealing      int       // revokes asked for free workers, not answered
	held          int       // calls on workers: sent or running
	nextID        uint64
	shutdown      bool
	cancelPending bool
	broken        error
	startFailures int
	stats         Stats
	later         []func() // run once the lock is released
	dirty         []*Worker
	doneOnce      bool
	shutOnce      sync.Once
}

// Stats are a scheduler's counters. Items of a chunk count one each.
type Stats struct {
	Submitted    int64 // futures submitted
	Queued       int64 // not started: in the queue, or sent ahead to a worker
	Running      int64 // started and not done
	Completed    int64 // done without error
	Failed       int64 // done with an error, a panic, a refusal or a lost worker
	Cancelled    int64 // cancelled before they started
	Workers      int   // workers now, starting ones included
	Slots        int   // slots of the ready workers
	WorkerStarts int64 // workers spawned
	WorkerDeaths int64 // workers lost without being let go
}

// New returns a scheduler configured by cfg.
func New(cfg Config) *Scheduler {
	if cfg.RevokeWait == 0 {
		cfg.RevokeWait = time.Second
	}
	if cfg.SlowAfter == 0 {
		cfg.SlowAfter = time.Millisecond
	}
	s := &Scheduler{
		cfg:  cfg,
		done: make(chan struct{}),
		shut: make(chan struct{}),
	}
	if cfg.QueueLimit > 0 {
		s.slots = make(chan struct{}, cfg.QueueLimit)
	}
	return s
}

// Submit queues c, waiting for a QueueLimit slot if need be, or fails it
// with refuse (the executor's ErrShutdown) once the scheduler is shut
// down, with the broken error once it is broken, or with c.Ctx's error
// if that ends first.
func (s *Scheduler) Submit(c *Call, refuse error) {
	if err := c.Ctx.Err(); err != nil {
		s.Reject(c, err)
		return
	}
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		default:
			select {
			case s.slots <- struct{}{}:
			case <-c.Ctx.Done():
				s.Reject(c, c.Ctx.Err())
				return
			case <-s.shut:
				s.Reject(c, s.refusal(refuse))
				return
			}
		}
		c.slot = true
	}
	s.mu.Lock()
	if s.shutdown || s.broken != nil {
		s.releaseSlot(c)
		s.mu.Unlock()
		s.Reject(c, s.refusal(refuse))
		return
	}
	c.s = s
	c.n = c.F.Len()
	s.stats.Submitted += int64(c.n)
	s.count(c.n, cNone, cQueued)
	c.state = Queued
	s.push(c)
	if c.Ctx.Done() != nil {
		ctx := c.Ctx
		c.unwatch = context.AfterFunc(ctx, func() { s.ctxEnded(c) })
	}
	s.pump()
	s.unlock()
}

// refusal is the error of a submit the scheduler does not take: the
// error that broke it, or refuse (the executor's ErrShutdown).
func (s *Scheduler) refusal(refuse error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	return refuse
}

// Reject fails c, which was never queued, with err.
func (s *Scheduler) Reject(c *Call, err error) {
	n := c.F.Len()
	s.mu.Lock()
	s.stats.Submitted += int64(n)
	s.stats.Failed += int64(n)
	s.mu.Unlock()
	c.F.Fail(err)
}

// Cancel cancels item i of c if its task will never run, and reports
// whether it did. A call sent ahead is revoked from its worker first;
// Cancel waits for the worker's answer, at most Config.RevokeWait.
func (s *Scheduler) Cancel(c *Call, i int) bool {
	s.mu.Lock()
	switch {
	case c.state == Queued && !c.claimed:
		ok := c.F.Cancel(i)
		if ok {
			s.count(1, cQueued, cCancelled)
			c.n--
			if c.n == 0 {
				s.remove(c)
				s.retire(c)
			}
		}
		s.unlock()
		if ok {
			c.F.SettleCancelled()
		}
		return ok
	case c.state == Sent:
		ch := make(chan bool, 1)
		c.waiters = append(c.waiters, waiter{item: i, ch: ch})
		if c.revoking == notRevoking {
			c.revoking = revokeCancel
			c.w.send(Out{Kind: wire.KindRevoke, ID: c.id})
		}
		s.unlock()
		t := time.NewTimer(s.cfg.RevokeWait)
		defer t.Stop()
		select {
		case ok := <-ch:
			return ok
		case <-t.C:
		}
		s.mu.Lock()
		for k, wt := range c.waiters {
			if wt.ch == ch {
				c.waiters = append(c.waiters[:k], c.waiters[k+1:]...)
				break
			}
		}
		s.mu.Unlock()
		select {
		case ok := <-ch: // answered as it timed out
			return ok
		default:
			return false
		}
	}
	s.mu.Unlock()
	return false
}

// Shutdown stops the scheduler taking calls. With cancelPending it
// cancels every call not started (revoking those sent ahead) and tells
// workers that the running ones' contexts ended. Once no call is left,
// workers are let go; Done is closed when every worker is gone.
func (s *Scheduler) Shutdown(cancelPending bool) {
	s.mu.Lock()
	s.shutdown = true
	if cancelPending && !s.cancelPending {
		s.cancelPending = true
		for c := s.head; c != nil; {
			next := c.next
			s.remove(c)
			if c.claimed {
				s.fail(c, context.Canceled)
			} else {
				s.cancelAll(c)
			}
			c = next
		}
		for _, w := range s.workers {
			// Revokes first: a worker reads them before the cancels that
			// end its running calls, so it starts none of the calls
			// queued behind them.
			for _, c := range w.calls {
				if c.state == Sent && c.revoking != revokeCancel && c.revoking != revokeShutdown {
					if c.revoking == revokeSteal {
						s.stealing--
					}
					c.revoking = revokeShutdown
					w.send(Out{Kind: wire.KindRevoke, ID: c.id})
				}
			}
			for _, c := range w.calls {
				if c.state == Running {
					s.endContext(c)
				}
			}
		}
	}
	s.pump()
	s.unlock()
	s.shutOnce.Do(func() { close(s.shut) })
}

// Done is closed once the scheduler is shut down, has no calls left and
// every worker is gone.
func (s *Scheduler) Done() <-chan struct{} { return s.done }

// WaitDone waits until Done is closed, and returns nil, or until ctx
// ends, and returns its error. When both have happened it returns nil: a
// second Shutdown of a finished executor succeeds whatever its context.
func (s *Scheduler) WaitDone(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		select {
		case <-s.done:
			return nil
		default:
			return ctx.Err()
		}
	}
}

// Stats returns the counters at one instant.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Workers = len(s.workers)
	for _, w := range s.workers {
		if w.ready {
			st.Slots += w.slots
		}
	}
	return st
}

// Workers calls fn for each worker, under the scheduler's lock: fn must
// not call back into the scheduler.
func (s *Scheduler) Workers(fn func(w *Worker)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
		fn(w)
	}
}

// Broken returns the error that broke the scheduler, or nil.
func (s *Scheduler) Broken() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// Break marks the scheduler broken by err: every call queued, and every
// later Submit, fails with it.
func (s *Scheduler) Break(err error) {
	s.mu.Lock()
	s.breakLocked(err)
	s.unlock()
}

func (s *Scheduler) breakLocked(err error) {
	if s.broken != nil {
		return
	}
	s.broken = err
	for c := s.head; c != nil; {
		next := c.next
		s.remove(c)
		s.fail(c, err)
		c = next
	}
	s.shutOnce.Do(func() { close(s.shut) })
}

// The counters a transition moves items between.
type counter uint8

const (
	cNone counter = iota
	cQueued
	cRunning
	cCompleted
	cFailed
	cCancelled
)

// count moves n items from one counter to another: the one place the
// counters change after a submit. s.mu is held.
func (s *Scheduler) count(n int, from, to counter) {
	s.add(from, -int64(n))
	s.add(to, int64(n))
}

func (s *Scheduler) add(c counter, n int64) {
	switch c {
	case cQueued:
		s.stats.Queued += n
	case cRunning:
		s.stats.Running += n
	case cCompleted:
		s.stats.Completed += n
	case cFailed:
		s.stats.Failed += n
	case cCancelled:
		s.stats.Cancelled += n
	}
}

// from is the counter c's items are in now.
func (c *Call) from() counter {
	if c.state == Running || c.claimed {
		return cRunning
	}
	return cQueued
}

// retire ends c's life in the scheduler: its slot and its watch go, it
// leaves its worker. s.mu is held.
func (s *Scheduler) retire(c *Call) {
	c.state = Done
	if c.revoking == revokeSteal {
		// Answered before the revoke was: a worker that answers a call
		// sent ahead need not say Started first.
		s.stealing--
	}
	c.revoking = notRevoking
	s.releaseSlot(c)
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
	for _, wt := range c.waiters {
		wt.ch <- false
	}
	c.waiters = nil
	if w := c.w; w != nil {
		w.forget(c)
		c.w = nil
	}
}

func (s *Scheduler) releaseSlot(c *Call) {
	if c.slot {
		c.slot = false
		<-s.slots
	}
}

// fail ends c with err: its items not done fail. s.mu is held.
func (s *Scheduler) fail(c *Call, err error) {
	s.count(c.n, c.from(), cFailed)
	s.retire(c)
	s.later = append(s.later, func() { c.F.Fail(err) })
}

// cancelAll cancels every Pending item of c, which has not started, and
// fails none. s.mu is held.
func (s *Scheduler) cancelAll(c *Call) {
	for i := range c.F.Len() {
		if c.F.Cancel(i) {
			s.count(1, cQueued, cCancelled)
			c.n--
		}
	}
	if c.n > 0 { // items that could not be cancelled: not Pending any more
		s.count(c.n, cQueued, cFailed)
	}
	s.retire(c)
	s.later = append(s.later, c.F.SettleCancelled)
}

// ctxEnded handles the end of c's context.
func (s *Scheduler) ctxEnded(c *Call) {
	s.mu.Lock()
	defer s.unlock()
	switch c.state {
	case Queued:
		s.remove(c)
		s.fail(c, c.Ctx.Err())
		s.pump() // a shut-down scheduler may be idle now
	case Sent, Running:
		s.endContext(c)
	}
}

// endContext tells c's worker that its context ended: a call not started
// is dropped (the worker says Revoked), a running one has its context end
// and Grace to return before its worker is killed. s.mu is held.
func (s *Scheduler) endContext(c *Call) {
	w := c.w
	if w == nil || w.gone {
		return
	}
	if !c.ctxEnded {
		c.ctxEnded = true
		w.send(Out{Kind: wire.KindCancel, ID: c.id, Deadline: c.Ctx.Err() == context.DeadlineExceeded})
	}
	if c.state == Running && c.grace == nil && s.cfg.Grace > 0 {
		c.grace = time.AfterFunc(s.cfg.Grace, func() {
			s.mu.Lock()
			defer s.unlock()
			if c.state == Running && c.w == w && !w.gone {
				c.killed = true
				w.link.Kill(fmt.Errorf("the task %s ignored the end of its context for %v", c.Task, s.cfg.Grace))
			}
		})
	}
}

// HoldWrites defers writing to w until ReleaseWrites: w's receiver, with
// a burst of answers to handle, sends the calls they free in one write.
func (s *Scheduler) HoldWrites(w *Worker) {
	s.mu.Lock()
	w.held = true
	s.mu.Unlock()
}

// ReleaseWrites writes what was sent to w while its writes were held.
func (s *Scheduler) ReleaseWrites(w *Worker) {
	s.mu.Lock()
	w.held = false
	if len(w.outbox) > 0 {
		s.dirty = append(s.dirty, w)
	}
	s.unlock()
}

// unlock releases s.mu, then settles what was decided under it and
// writes what was queued for workers, in the calling goroutine: a submit
// writes its own call, without waking another goroutine. One goroutine
// at a time writes to a worker; what others queue meanwhile, it writes.
func (s *Scheduler) unlock() {
	for {
		later := s.later
		s.later = nil
		type batch struct {
			w   *Worker
			out []Out
		}
		var todo []batch
		keep := s.dirty[:0]
		for _, w := range s.dirty {
			switch {
			case w.held && len(w.outbox) > 0:
				keep = append(keep, w) // written at ReleaseWrites
			case len(w.outbox) > 0 && !w.writing && !w.gone:
				w.writing = true
				todo = append(todo, batch{w, w.outbox})
				w.outbox = nil
			}
		}
		s.dirty = keep
		s.mu.Unlock()
		if len(todo) == 0 && len(later) == 0 {
			return
		}
		for _, fn := range later {
			fn()
		}
		for _, b := range todo {
			b.w.link.Write(b.out)
		}
		s.mu.Lock()
		for _, b := range todo {
			b.w.writing = false
			if b.w.spare == nil && cap(b.out) <= 1024 {
				clear(b.out)
				b.w.spare = b.out[:0]
			}
			if len(b.w.outbox) > 0 {
				s.dirty = append(s.dirty, b.w)
			}
		}
	}
}
