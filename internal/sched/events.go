package sched

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// errShuttingDown is what a worker still starting at shutdown is killed
// with.
var errShuttingDown = errors.New("the executor shut down before the worker was ready")

// Ready records that the spawned worker w said hello, as name, with
// slots slots: it takes calls from now on.
func (s *Scheduler) Ready(w *Worker, name string, slots int) {
	s.mu.Lock()
	if w.gone || w.ready {
		s.mu.Unlock()
		return
	}
	w.ready = true
	w.name = name
	w.slots = max(slots, 1)
	s.starting--
	s.startFailures = 0
	s.pump()
	s.unlock()
}

// AddWorker adds a worker that joined by itself (a cluster worker), ready
// now, and returns it.
func (s *Scheduler) AddWorker(link Link, name string, slots int) *Worker {
	return s.Join(name, slots, func(*Worker) Link { return link })
}

// Join is AddWorker for a link that needs to know its worker (to report
// NotSent or Started for it): newLink is given the worker before the
// scheduler writes to the link, which it may do before Join returns.
func (s *Scheduler) Join(name string, slots int, newLink func(*Worker) Link) *Worker {
	w := &Worker{s: s, name: name, slots: max(slots, 1), ready: true}
	w.link = newLink(w)
	s.mu.Lock()
	// After Shutdown too: calls still queued run on it (pump lets it go
	// once none is left).
	s.workers = append(s.workers, w)
	s.pump()
	s.unlock()
	return w
}

// Retire stops sending calls to w; once it holds none it is let go.
func (s *Scheduler) Retire(w *Worker) {
	s.mu.Lock()
	w.retiring = true
	if len(w.calls) == 0 {
		w.sayBye()
	}
	s.pump()
	s.unlock()
}

// find returns w's call with the given ID, or nil. s.mu is held.
func (w *Worker) find(id uint64) *Call {
	for _, c := range w.calls {
		if c.id == id {
			return c
		}
	}
	return nil
}

// ErrUnknownCall is wrapped by the error of an event about a call the
// worker does not hold. Over a pipe that is a broken protocol; over a
// network it may be a late or replayed answer, which a link drops.
var ErrUnknownCall = errors.New("a call the worker does not hold")

func protocolError(w *Worker, kind wire.Kind, id uint64) error {
	return fmt.Errorf("%w: worker %s sent a %v for call %d: %w", wire.ErrProtocol, w.name, kind, id, ErrUnknownCall)
}

// Started records that w started call id, which was sent ahead. An error
// means w broke the protocol: kill it.
func (s *Scheduler) Started(w *Worker, id uint64) error {
	s.mu.Lock()
	c := w.find(id)
	if c == nil || c.state != Sent {
		s.mu.Unlock()
		return protocolError(w, wire.KindStarted, id)
	}
	s.start(c)
	w.slow = false
	s.pump() // its place ahead is free
	s.unlock()
	return nil
}

// Ungranted records that w gave up its grant of call id, which it holds
// behind calls that run long: it starts it only if granted again, and if
// w is lost, the call runs elsewhere. w gets no grant until one of its
// calls starts or ends. An error means w broke the protocol.
func (s *Scheduler) Ungranted(w *Worker, id uint64) error {
	s.mu.Lock()
	c := w.find(id)
	if c == nil {
		s.mu.Unlock()
		return protocolError(w, wire.KindUngranted, id)
	}
	if c.state == Sent && c.granted {
		c.granted = false
		w.granted--
	}
	w.slow = true
	s.pump()
	s.unlock()
	return nil
}

// Ask records that w, which gave up grants, has a slot free again: it
// may be granted calls.
func (s *Scheduler) Ask(w *Worker) {
	s.mu.Lock()
	w.slow = false
	s.pump()
	s.unlock()
}

// Revoked records that w dropped call id before starting it, because it
// was asked to or of its own accord (it was full). An error means w broke
// the protocol.
func (s *Scheduler) Revoked(w *Worker, id uint64) error {
	s.mu.Lock()
	c := w.find(id)
	if c == nil {
		s.mu.Unlock()
		return protocolError(w, wire.KindRevoked, id)
	}
	w.forget(c)
	c.w = nil
	s.back(c)
	s.pump()
	s.unlock()
	return nil
}

// Refused records that w gave back call id because it had no free slot
// (another executor's calls took them): w gets no call until Available
// says it has room. An error means w broke the protocol.
func (s *Scheduler) Refused(w *Worker, id uint64) error {
	s.mu.Lock()
	w.full = true
	s.mu.Unlock()
	return s.Revoked(w, id)
}

// Available records that w says it has free slots free (a heartbeat).
func (s *Scheduler) Available(w *Worker, free int) {
	s.mu.Lock()
	w.full = free <= 0
	s.pump()
	s.unlock()
}

// back handles a call that a worker gave back or lost before starting it
// (or, for a call counted as running from its sending, before it could
// run): it is cancelled or failed if it should be, and queued again, first,
// otherwise. c has left its worker. s.mu is held.
func (s *Scheduler) back(c *Call) {
	if c.revoking == revokeSteal {
		s.stealing--
	}
	c.revoking = notRevoking
	if c.state == Sent {
		for _, wt := range c.waiters {
			ok := c.F.Cancel(wt.item)
			if ok {
				s.count(1, cQueued, cCancelled)
				c.n--
			}
			wt.ch <- ok
		}
		c.waiters = nil
		s.later = append(s.later, c.F.SettleCancelled)
	}
	switch {
	case c.Ctx.Err() != nil:
		s.fail(c, c.Ctx.Err())
	case s.broken != nil:
		s.fail(c, s.broken)
	case s.cancelPending && !c.claimed && c.state == Sent:
		s.cancelAll(c)
	case s.cancelPending:
		s.fail(c, errCancelledRunning)
	case c.n == 0:
		s.retire(c)
	default:
		c.state = Queued
		s.pushFront(c)
	}
}

// errCancelledRunning fails a call that was running (or counted so) when
// its worker gave it back during a CancelPending shutdown.
var errCancelledRunning = fmt.Errorf("the executor was shut down with CancelPending: %w", context.Canceled)

// expectFailed is how many of a call's n items an answer fails, as its
// envelope says.
func expectFailed(m *wire.Msg, n int) int {
	switch m.Kind {
	case wire.KindResult:
		return 0
	case wire.KindBatchResult:
		return min(len(m.Failures), n)
	}
	return n
}

// Answer records w's answer m to one of its calls, then delivers it to
// the call's futures, decoding its payload with dec. It runs in the
// link's receiving goroutine. An error means the answer broke the
// protocol: kill the worker.
func (s *Scheduler) Answer(w *Worker, m *wire.Msg, dec *wire.Streams) error {
	s.mu.Lock()
	c := w.find(m.ID)
	if c == nil {
		s.mu.Unlock()
		return protocolError(w, m.Kind, m.ID)
	}
	w.slow = false
	failed := expectFailed(m, c.n)
	from := c.from()
	s.count(failed, from, cFailed)
	s.count(c.n-failed, from, cCompleted)
	s.retire(c)
	s.pump()
	s.unlock()
	got, err := c.F.Deliver(dec, m)
	if got > failed {
		s.mu.Lock()
		s.count(got-failed, cCompleted, cFailed)
		s.mu.Unlock()
	}
	return err
}

// NotSent records that w's link could not send c (its arguments did not
// encode, or are too large): c fails with err, and w is free of it.
func (s *Scheduler) NotSent(w *Worker, c *Call, err error) {
	s.mu.Lock()
	if c.w != w || c.state == Done {
		s.mu.Unlock()
		return
	}
	s.fail(c, err)
	s.pump()
	s.unlock()
}

// Gone records that w ended, for cause. Its calls that had not started
// are queued again; those running fail with cause (or with
// their context's error if their worker was killed for ignoring it), or
// run again under Config.Retries.
func (s *Scheduler) Gone(w *Worker, cause error) {
	s.mu.Lock()
	if w.gone {
		s.mu.Unlock()
		return
	}
	w.gone = true
	w.outbox = nil
	s.workers = slices.DeleteFunc(s.workers, func(x *Worker) bool { return x == w })
	if !w.ready {
		s.starting--
		if !w.retiring { // not let go at an idle shutdown: it failed to start
			s.startFailures++
		}
	}
	if !(w.byeSent && len(w.calls) == 0) && !(w.retiring && !w.ready) {
		s.stats.WorkerDeaths++
	}
	calls := w.calls
	w.calls = nil
	// Back to the queue in their order: the last first, each to the front.
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		c.w = nil
		s.held--
		switch {
		case c.state == Sent && !c.granted:
			s.back(c)
		case c.killed:
			s.fail(c, fmt.Errorf("%w (its worker, %s, was killed after the task ignored the end of its context for %v)", ctxErr(c), w.name, s.cfg.Grace))
		case c.attempts < s.cfg.Retries && s.broken == nil && !s.cancelPending:
			c.attempts++
			c.state = Queued
			s.pushFront(c)
		default:
			s.fail(c, cause)
		}
	}
	if s.cfg.MaxStartFailures > 0 && s.startFailures >= s.cfg.MaxStartFailures && s.broken == nil {
		s.breakLocked(s.cfg.StartFailed(s.startFailures, cause))
	}
	s.pump()
	s.unlock()
}

// FailStarts counts n more failures to start a worker, as if n workers
// had died before they were ready (a worker program that cannot start at
// all counts as many).
func (s *Scheduler) FailStarts(n int) {
	s.mu.Lock()
	s.startFailures += n
	s.mu.Unlock()
}

// ctxErr is why c's context ended: its own error, or context.Canceled
// when a CancelPending shutdown ended it.
func ctxErr(c *Call) error {
	if err := c.Ctx.Err(); err != nil {
		return err
	}
	return context.Canceled
}
