package sched

import (
	"time"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// Worker is a worker as the scheduler sees it: its link, its slots and
// the calls it holds. Its fields are the scheduler's.
type Worker struct {
	s     *Scheduler
	link  Link
	name  string
	slots int

	// Under Scheduler.mu.
	ready     bool
	full      bool // refused a call for want of a free slot: none until it says it has one
	retiring  bool // takes no new calls; let go once it holds none
	byeSent   bool
	gone      bool
	calls     []*Call // sent or running, in the order sent
	running   int     // calls running
	ahead     int     // calls sent ahead, not started
	granted   int     // calls it may start or started, not done (see Config.GrantPerSlot)
	slow      bool    // it gave up grants behind slow calls: none until a call starts or ends
	assigned  int
	busySince time.Time // when its running calls last went from 0 to 1
	outbox    []Out
	spare     []Out // an outbox written and emptied, for reuse
	writing   bool
	held      bool // its receiver is handling a burst: write once it is done
	topping   bool // sendAhead is filling it up in this pump
}

// Name returns what the link called the worker once ready ("pid 1234").
func (w *Worker) Name() string { return w.name }

// Link returns the worker's link.
func (w *Worker) Link() Link { return w.link }

// Ready reports whether the worker said hello and was accepted.
func (w *Worker) Ready() bool { return w.ready }

// Full reports whether the worker refused a call for want of a slot and
// has not said since that it has room: it gets no call until it does.
// Call it under Scheduler.Workers.
func (w *Worker) Full() bool { return w.full }

// load is the calls the worker holds.
func (w *Worker) load() int { return w.running + w.ahead }

// free reports whether the worker can start a call now.
func (w *Worker) free() bool {
	return w.ready && !w.retiring && !w.gone && !w.full && w.load() < w.slots
}

// send queues a message for the worker. s.mu is held.
func (w *Worker) send(o Out) {
	if w.gone {
		return
	}
	if len(w.outbox) == 0 {
		w.s.dirty = append(w.s.dirty, w)
		if w.outbox == nil {
			w.outbox, w.spare = w.spare, nil
		}
	}
	w.outbox = append(w.outbox, o)
}

// forget removes c from the worker's calls. s.mu is held.
func (w *Worker) forget(c *Call) {
	for i, x := range w.calls {
		if x == c {
			w.calls = append(w.calls[:i], w.calls[i+1:]...)
			break
		}
	}
	if c.onSlot {
		w.running--
	} else {
		w.ahead--
	}
	if c.granted {
		w.granted--
	}
	w.s.held--
	if w.retiring && len(w.calls) == 0 {
		w.sayBye()
	}
}

// sayBye lets the worker go. s.mu is held.
func (w *Worker) sayBye() {
	if w.byeSent || w.gone {
		return
	}
	w.byeSent = true
	w.send(Out{Kind: wire.KindBye})
}

// pump hands queued calls to workers that can start them, starts workers
// while calls wait for one, sends calls ahead to busy workers when no
// worker will be free sooner, and takes calls sent ahead back for workers
// that are free. s.mu is held.
func (s *Scheduler) pump() {
	for s.head != nil && s.room() {
		w := s.freeWorker()
		if w == nil {
			break
		}
		c := s.head
		s.remove(c)
		s.dispatch(c, w, !s.cfg.Exclusive, false)
	}
	s.spawn()
	s.sendAhead()
	s.grant()
	s.steal()
	s.checkIdle()
}

// grant lets workers start calls sent ahead to them, oldest first, while
// they have fewer than GrantPerSlot granted calls per slot beyond their
// slots. s.mu is held.
func (s *Scheduler) grant() {
	if s.cfg.GrantPerSlot == 0 {
		return
	}
	for _, w := range s.workers {
		bound := w.slots * (1 + s.cfg.GrantPerSlot)
		if w.gone || w.slow || w.ahead == 0 || w.granted >= bound {
			continue
		}
		var upTo uint64
		for _, c := range w.calls {
			if w.granted >= bound {
				break
			}
			if c.state == Sent && !c.granted && c.revoking == notRevoking {
				c.granted = true
				w.granted++
				upTo = c.id
			}
		}
		if upTo != 0 {
			w.send(Out{Kind: wire.KindGrant, ID: upTo})
		}
	}
}

// room reports whether MaxCalls lets workers hold another call. s.mu is
// held.
func (s *Scheduler) room() bool { return s.cfg.MaxCalls == 0 || s.held < s.cfg.MaxCalls }

// freeWorker returns the free worker holding the fewest calls, or nil.
func (s *Scheduler) freeWorker() *Worker {
	var best *Worker
	for _, w := range s.workers {
		if w.free() && (best == nil || w.load() < best.load()) {
			best = w
		}
	}
	return best
}

// dispatch sends c to w. A call sent ahead stays Pending until the worker
// says it started; otherwise it is Running now. toBusy says it goes to a
// worker with no free slot, to wait there for one (Out.Ahead). s.mu is
// held.
func (s *Scheduler) dispatch(c *Call, w *Worker, ahead, toBusy bool) {
	if !c.claimed {
		if n := c.F.Freeze(); n != c.n {
			// Items cancelled since they were counted: cannot happen, as
			// cancels go through the scheduler; keep the counts honest.
			s.count(c.n-n, cQueued, cCancelled)
			c.n = n
		}
		if c.n == 0 {
			s.retire(c)
			return
		}
	}
	c.id = s.nextID
	s.nextID++
	s.held++
	c.w = w
	c.ahead = ahead
	c.onSlot, c.ctxEnded, c.killed, c.revoking = false, false, false, notRevoking
	c.granted = s.cfg.GrantPerSlot > 0 && !toBusy
	if c.granted {
		w.granted++
	}
	w.calls = append(w.calls, c)
	w.assigned++
	if s.cfg.MaxTasksPerWorker > 0 && w.assigned >= s.cfg.MaxTasksPerWorker {
		w.retiring = true
	}
	if ahead {
		c.state = Sent
		w.ahead++
	} else {
		s.start(c)
	}
	w.send(Out{Kind: wire.KindCall, Call: c, ID: c.id, Count: c.n, Ahead: toBusy, Granted: c.granted || s.cfg.GrantPerSlot == 0})
	if c.Ctx.Err() != nil {
		s.endContext(c)
	}
}

// start marks c, on its worker, Running. s.mu is held.
func (s *Scheduler) start(c *Call) {
	w := c.w
	if w.running == 0 {
		w.busySince = time.Now()
	}
	if c.state == Sent {
		w.ahead--
	}
	if !c.granted && s.cfg.GrantPerSlot > 0 {
		// Started without a grant: a worker that does not wait for them.
		c.granted = true
		w.granted++
	}
	w.running++
	c.onSlot = true
	c.state = Running
	if !c.claimed {
		c.F.Claim()
		c.claimed = true
		s.count(c.n, cQueued, cRunning)
	}
	s.releaseSlot(c)
	for _, wt := range c.waiters {
		wt.ch <- false
	}
	c.waiters = nil
	if c.revoking == revokeSteal {
		s.stealing--
	}
	c.revoking = notRevoking
	if c.ctxEnded || s.cancelPending {
		// The cancel was sent (the grace period starts now), or the
		// call started as a CancelPending shutdown revoked it: its
		// context ends as those of the calls running then did.
		s.endContext(c)
	}
}

// spawn starts workers while more calls wait than the starting workers
// will take. s.mu is held.
func (s *Scheduler) spawn() {
	// After Shutdown too: the calls queued still run, on new workers if
	// theirs retired (MaxTasksPerWorker) or died.
	if s.cfg.Spawn == nil || s.broken != nil {
		return
	}
	for need := s.queued - s.starting; need > 0 && len(s.workers) < s.cfg.MaxWorkers; need-- {
		w := &Worker{s: s, slots: 1}
		s.workers = append(s.workers, w)
		s.starting++
		s.stats.WorkerStarts++
		w.link = s.cfg.Spawn(w)
	}
}

// sendAhead sends calls to busy workers when no worker can take them
// sooner: none is free, none is starting for them, and no more may
// start. A worker running a call for longer than Config.SlowAfter gets
// none: it is busy with a slow task. A worker is topped up to its bound
// once it holds half of it or fewer, so that calls go out in bursts (one
// write for many) rather than one at a time as answers come. s.mu is
// held.
func (s *Scheduler) sendAhead() {
	if s.cfg.AheadPerSlot == 0 || s.head == nil {
		return
	}
	if s.cfg.Spawn != nil && len(s.workers) < s.cfg.MaxWorkers && s.broken == nil {
		return // another worker can start
	}
	var now time.Time // read once, when a busy worker needs it
	topped := false
	for s.queued > s.starting && s.room() {
		var best *Worker
		for _, w := range s.workers {
			bound := s.cfg.AheadPerSlot * w.slots
			if !w.ready || w.retiring || w.gone || w.full || w.ahead >= bound || (w.ahead > bound/2 && !w.topping) {
				continue
			}
			if w.running >= w.slots {
				if now.IsZero() {
					now = time.Now()
				}
				if now.Sub(w.busySince) > s.cfg.SlowAfter {
					continue
				}
			}
			if best == nil || w.load() < best.load() {
				best = w
			}
		}
		if best == nil {
			break
		}
		best.topping, topped = true, true
		c := s.head
		s.remove(c)
		s.dispatch(c, best, true, true)
	}
	if topped {
		for _, w := range s.workers {
			w.topping = false
		}
	}
}

// steal takes back calls sent ahead to busy workers while other workers
// are free and nothing is queued: a call never waits behind a busy worker
// while another could start it. s.mu is held.
func (s *Scheduler) steal() {
	if s.head != nil {
		return
	}
	free := 0
	for _, w := range s.workers {
		if w.free() {
			free += w.slots - w.load()
		}
	}
	for free > s.stealing {
		var victim *Call
		for _, w := range s.workers {
			// Only a worker whose slots are all busy makes calls wait.
			if w.gone || w.ahead == 0 || w.running < w.slots {
				continue
			}
			// The newest call sent ahead: the worker keeps the older ones.
			for i := len(w.calls) - 1; i >= 0; i-- {
				if c := w.calls[i]; c.state == Sent && c.revoking == notRevoking {
					if victim == nil || c.id > victim.id {
						victim = c
					}
					break
				}
			}
		}
		if victim == nil {
			return
		}
		victim.revoking = revokeSteal
		s.stealing++
		victim.w.send(Out{Kind: wire.KindRevoke, ID: victim.id})
	}
}

// checkIdle lets the workers go once the scheduler is shut down and holds
// no call, and closes done once they are all gone. s.mu is held.
func (s *Scheduler) checkIdle() {
	if !s.shutdown || s.head != nil {
		return
	}
	for _, w := range s.workers {
		if len(w.calls) > 0 {
			return
		}
	}
	for _, w := range s.workers {
		w.retiring = true
		if w.ready {
			w.sayBye()
		} else {
			w.link.Kill(errShuttingDown)
		}
	}
	if len(s.workers) == 0 && !s.doneOnce {
		s.doneOnce = true
		close(s.done)
	}
}

// The queue: a doubly linked list through the calls, so that a call
// leaves it in O(1) when cancelled.

func (s *Scheduler) push(c *Call) {
	c.prev, c.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = c
	} else {
		s.head = c
	}
	s.tail = c
	c.queued = true
	s.queued++
}

func (s *Scheduler) pushFront(c *Call) {
	c.prev, c.next = nil, s.head
	if s.head != nil {
		s.head.prev = c
	} else {
		s.tail = c
	}
	s.head = c
	c.queued = true
	s.queued++
}

func (s *Scheduler) remove(c *Call) {
	if !c.queued {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		s.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		s.tail = c.prev
	}
	c.prev, c.next, c.queued = nil, nil, false
	s.queued--
}
