package worker

import (
	"context"
	"slices"
	"time"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// Writer is how a session's messages leave: written in order, then
// flushed. One goroutine at a time writes to a session's Writer.
type Writer interface {
	Write(m *wire.Msg) error
	// Flush sends what was written. Unless hard, it may hold it back a
	// little (a pipe does while its reader has the next message at hand,
	// which then flushes it hard before it could wait).
	Flush(hard bool) error
}

// SessionConfig configures a Session.
type SessionConfig struct {
	// Writer carries the session's messages to its executor.
	Writer Writer
	// ReportAll reports every call Started once it has run for
	// Config.ReportAfter (a cluster driver counts a call Running only when
	// told). Otherwise only calls sent ahead (Call.Ahead) are: a
	// ProcessPool counts a call sent to a free slot Running as it sends
	// it.
	ReportAll bool
	// Grants makes calls wait for their executor's grant before they
	// start (see the package doc: at most once). Otherwise a call starts
	// as soon as a slot is free.
	Grants bool
	// OnRoom, if set, is written once a slot frees after the session was
	// refused a call for want of one.
	OnRoom func(Writer) error
	// OnError is told when a write fails; the session is closed then.
	OnError func(error)
}

// Session is one executor the worker serves: the calls it sent, and the
// messages the worker owes it. Its methods are safe for concurrent use.
type Session struct {
	w   *Worker
	cfg SessionConfig

	// Under w.mu.
	calls   map[uint64]*Call // received, not answered or given back
	granted uint64           // with Grants: the grants came up to this call
	closed  bool
	bye     bool
	refused bool          // refused a call for want of a slot: OnRoom is owed
	asking  bool          // gave up a grant: an Ask is owed when a slot frees
	done    chan struct{} // closed once it said bye and holds no call, or closed
	outbox  []item
	spare   []item
	writing bool
}

// item is a message owed to a session.
type item struct {
	kind wire.Kind // KindStarted or KindRevoked; 0: fn writes it
	id   uint64
	full bool // KindRevoked: for want of a slot
	fn   func(Writer) error
}

// Open returns a new session of w.
func (w *Worker) Open(cfg SessionConfig) *Session {
	s := &Session{w: w, cfg: cfg, calls: map[uint64]*Call{}, done: make(chan struct{})}
	w.mu.Lock()
	w.open = append(w.open, s)
	w.mu.Unlock()
	return s
}

// callState is where a call is in the worker.
type callState uint8

const (
	received callState = iota
	held               // waiting for a slot (or a grant)
	running            // holding a slot
	done               // answered or given back
)

// Call is a call a session received. Fill in the exported fields, then
// Receive it.
type Call struct {
	ID      uint64
	Task    string
	Ahead   bool          // sent ahead of need: it may wait for a slot
	Granted bool          // with SessionConfig.Grants: its executor granted it as it sent it
	Timeout time.Duration // the time its context had left when it was sent (0: no deadline)
	Value   any           // the transport's: what it needs to run the call

	s         *Session
	ctx       context.Context
	cancel    context.CancelFunc
	state     callState
	reported  bool
	startedAt time.Time
}

// Context returns the context the call's task runs with: it ends when
// the call's deadline passes, its executor cancels it or goes away, or
// the worker stops.
func (c *Call) Context() context.Context { return c.ctx }

// Session returns the session that received c.
func (c *Call) Session() *Session { return c.s }

// reports reports whether c's start is reported.
func (s *Session) reports(c *Call) bool { return s.cfg.ReportAll || c.Ahead }

// mayStart reports whether c may take a free slot. w.mu is held.
func (s *Session) mayStart(c *Call) bool {
	return !s.cfg.Grants || c.Granted
}

// Receive takes call c from the session's executor. If c can start now it
// holds a slot and Receive returns true: the caller runs it (in its own
// goroutine or another) and then calls Finish. Otherwise the worker holds
// it until a slot (and, with grants, its grant) comes, or refuses it for
// want of a slot: Revoked, with full set.
func (s *Session) Receive(c *Call) (start bool) {
	w := s.w
	c.s = s
	if c.Timeout > 0 {
		c.ctx, c.cancel = context.WithTimeout(w.base, c.Timeout)
	} else {
		c.ctx, c.cancel = context.WithCancel(w.base)
	}
	w.mu.Lock()
	if c.ID <= s.granted {
		c.Granted = true // its grant overtook it
	}
	switch {
	case s.closed:
		w.mu.Unlock()
		c.cancel()
		return false
	case s.bye || w.draining:
		s.refuseLocked(c)
	case w.running < w.cfg.Slots && s.mayStart(c):
		s.calls[c.ID] = c
		w.startLocked(c)
		start = true
	case w.cfg.HoldPerSlot == 0 || c.Ahead && len(w.held) < w.cfg.HoldPerSlot*w.cfg.Slots:
		s.calls[c.ID] = c
		c.state = held
		w.held = append(w.held, c)
		if w.slowLocked() {
			s.ungrantLocked(c)
		}
	default:
		s.refuseLocked(c)
	}
	w.unlock()
	return start
}

// refuseLocked refuses c for want of a slot. w.mu is held.
func (s *Session) refuseLocked(c *Call) {
	c.state = done
	c.cancel()
	s.refused = true
	s.sendLocked(item{kind: wire.KindRevoked, id: c.ID, full: true})
}

// Finish records that c, which held a slot, is done: answer writes its
// answer, after anything owed before it. Finish returns the next call to
// run on the slot c freed (it holds the slot already), or nil.
func (s *Session) Finish(c *Call, answer func(Writer) error) (next *Call) {
	w := s.w
	w.mu.Lock()
	if c.state != running {
		w.mu.Unlock()
		return nil
	}
	c.state = done
	s.forgetLocked(c)
	if !s.closed {
		s.sendLocked(item{fn: answer})
	}
	w.running--
	next = w.takeLocked()
	if next == nil && w.running < w.cfg.Slots && !w.draining {
		w.tellRoomLocked()
	}
	w.askLocked()
	w.checkIdleLocked()
	w.unlock()
	c.cancel()
	return next
}

// tellRoomLocked writes OnRoom to the sessions refused a call for want of
// a slot. w.mu is held.
func (w *Worker) tellRoomLocked() {
	for _, s := range w.open {
		if s.refused && !s.closed && !s.bye && s.cfg.OnRoom != nil {
			s.refused = false
			s.sendLocked(item{fn: s.cfg.OnRoom})
		}
	}
}

// Cancel ends call id's context, as its executor asked: a call not
// started is given back (Revoked) and never runs here. With deadline
// (the call's deadline passed), the call's own copy of the deadline ends
// it, so that the task sees context.DeadlineExceeded as it would
// in-process; should that be more than wire.DeadlineSlack away, a cancel
// does.
func (s *Session) Cancel(id uint64, deadline bool) {
	w := s.w
	w.mu.Lock()
	c := s.calls[id]
	switch {
	case c == nil:
	case c.state == held:
		w.giveBackLocked(c, false)
		w.unlock()
		return
	case deadline && c.Timeout > 0:
		time.AfterFunc(wire.DeadlineSlack, c.cancel)
	default:
		c.cancel()
	}
	w.mu.Unlock()
}

// Revoke gives call id back to its executor if it has not started; one
// that started goes on (its executor learns that from Started or its
// answer).
func (s *Session) Revoke(id uint64) {
	w := s.w
	w.mu.Lock()
	if c := s.calls[id]; c != nil && c.state == held {
		w.giveBackLocked(c, false)
	}
	w.unlock()
}

// Grant lets the session's calls with IDs up to upTo start (with
// SessionConfig.Grants), and returns those that start now: each holds a
// slot, for the caller to run and Finish.
func (s *Session) Grant(upTo uint64) []*Call {
	w := s.w
	w.mu.Lock()
	var start []*Call
	if !s.closed {
		s.granted = max(s.granted, upTo)
		for _, c := range w.held {
			if c.s == s && c.ID <= upTo {
				c.Granted = true
			}
		}
		for c := w.takeLocked(); c != nil; c = w.takeLocked() {
			start = append(start, c)
		}
		if w.slowLocked() {
			for _, c := range w.held {
				if c.s == s {
					s.ungrantLocked(c)
				}
			}
		}
	}
	w.unlock()
	return start
}

// ungrantLocked gives up c's grant, if it has one: c is held behind
// calls that run long. c starts only once granted again; its executor
// is asked for grants when a slot frees. w.mu is held.
func (s *Session) ungrantLocked(c *Call) {
	if c.Granted && s.cfg.Grants && !s.closed {
		c.Granted = false
		s.asking = true
		s.sendLocked(item{kind: wire.KindUngranted, id: c.ID})
	}
}

// Bye records that the executor lets the worker go: the calls it holds
// for it are given back, and Done is closed once those running are
// answered.
func (s *Session) Bye() {
	w := s.w
	w.mu.Lock()
	s.bye = true
	for _, c := range slices.Clone(w.held) {
		if c.s == s {
			w.giveBackLocked(c, false)
		}
	}
	s.checkDoneLocked()
	w.unlock()
}

// Close forgets the session: its executor is gone, or will take nothing
// more on it. The calls it holds are dropped, the contexts of those
// running end, and their answers are dropped when they come.
func (s *Session) Close() {
	w := s.w
	w.mu.Lock()
	if s.closed {
		w.mu.Unlock()
		return
	}
	s.closed = true
	var running []*Call
	for _, c := range s.calls {
		if c.state == held {
			if i := slices.Index(w.held, c); i >= 0 {
				w.held = slices.Delete(w.held, i, i+1)
			}
			c.state = done
			c.cancel()
			delete(s.calls, c.ID)
		} else {
			running = append(running, c)
		}
	}
	s.outbox = nil
	if i := slices.Index(w.open, s); i >= 0 {
		w.open = slices.Delete(w.open, i, i+1)
	}
	s.checkDoneLocked()
	w.mu.Unlock()
	for _, c := range running {
		c.cancel()
	}
}

// Done is closed once the session said bye and its calls are answered,
// or once it is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Calls returns the IDs of the calls the session holds, started or not,
// sorted.
func (s *Session) Calls() []uint64 {
	w := s.w
	w.mu.Lock()
	ids := make([]uint64, 0, len(s.calls))
	for id := range s.calls {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Send writes fn's message to the session's executor after the messages
// owed before it, unless the session is closed.
func (s *Session) Send(fn func(Writer) error) {
	w := s.w
	w.mu.Lock()
	if !s.closed {
		s.sendLocked(item{fn: fn})
	}
	w.unlock()
}

func (s *Session) checkDoneLocked() {
	if (s.bye && len(s.calls) == 0) || s.closed {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
}

// forgetLocked removes c from the session's calls. w.mu is held.
func (s *Session) forgetLocked(c *Call) {
	if s.calls[c.ID] == c {
		delete(s.calls, c.ID)
	}
	s.checkDoneLocked()
}

// sendLocked queues it for the session. w.mu is held.
func (s *Session) sendLocked(it item) {
	if len(s.outbox) == 0 && !s.writing {
		s.w.dirty = append(s.w.dirty, s)
	}
	if s.outbox == nil {
		s.outbox, s.spare = s.spare, nil
	}
	s.outbox = append(s.outbox, it)
}

// flush writes the session's messages, unless another goroutine is
// writing them: that one writes what was queued meanwhile too.
func (s *Session) flush() {
	w := s.w
	w.mu.Lock()
	if s.writing || len(s.outbox) == 0 {
		w.mu.Unlock()
		return
	}
	s.writing = true
	for {
		out := s.outbox
		s.outbox = nil
		w.mu.Unlock()
		err := s.write(out)
		w.mu.Lock()
		if err == nil && len(s.outbox) == 0 {
			// Flush while still the writer: a message queued meanwhile
			// is written after it, by this goroutine.
			w.mu.Unlock()
			err = s.cfg.Writer.Flush(false)
			w.mu.Lock()
		}
		if s.spare == nil && cap(out) <= 256 {
			clear(out)
			s.spare = out[:0]
		}
		if err != nil {
			s.writing = false
			w.wrote.Broadcast()
			w.mu.Unlock()
			if s.cfg.OnError != nil {
				s.cfg.OnError(err)
			}
			s.Close()
			return
		}
		if len(s.outbox) == 0 {
			s.writing = false
			w.wrote.Broadcast()
			w.mu.Unlock()
			return
		}
	}
}

// write writes out, in order, stopping at the first error. The caller
// is the session's writer.
func (s *Session) write(out []item) error {
	var m wire.Msg
	for _, it := range out {
		var err error
		if it.kind == 0 {
			err = it.fn(s.cfg.Writer)
		} else {
			m = wire.Msg{Kind: it.kind, ID: it.id, Full: it.full}
			err = s.cfg.Writer.Write(&m)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Flushed writes and flushes, hard, everything owed to the session so
// far, waiting for a goroutine that is writing to finish first.
func (s *Session) Flushed() {
	w := s.w
	w.mu.Lock()
	for s.writing {
		w.wrote.Wait()
	}
	if s.closed {
		w.mu.Unlock()
		return
	}
	s.writing = true
	out := s.outbox
	s.outbox = nil
	w.mu.Unlock()
	err := s.write(out)
	if err == nil {
		err = s.cfg.Writer.Flush(true)
	}
	w.mu.Lock()
	s.writing = false
	w.wrote.Broadcast()
	more := len(s.outbox) > 0
	w.mu.Unlock()
	if err != nil {
		if s.cfg.OnError != nil {
			s.cfg.OnError(err)
		}
		s.Close()
		return
	}
	if more {
		s.flush()
	}
}
