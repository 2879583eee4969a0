package worker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// Config configures a Worker.
type Config struct {
	// Slots is how many calls run at once (default 1).
	Slots int
	// HoldPerSlot bounds the calls sent ahead that the worker holds, per
	// slot, beyond those running; a call sent ahead past it is refused
	// (0: no bound of the worker's own: the executor bounds them).
	HoldPerSlot int
	// ReportAfter is how long a call that must be reported Started runs
	// before the worker says so (0: as it starts). A call that ends
	// sooner is not reported: its answer says it started.
	ReportAfter time.Duration
	// SlowAfter, if positive, is how long every slot's call may run
	// before the worker gives up the grants of the calls it holds
	// (Ungranted): they wait behind slow tasks, and its executor may
	// then run them elsewhere should it lose the worker.
	SlowAfter time.Duration
}

// Worker is the state of a worker that serves one or more executors
// (sessions): its slots, the calls it runs, and the calls it holds that
// were sent ahead. It does no I/O of its own: a transport feeds it the
// executors' messages through their Sessions, runs the calls it is told
// to start, and gives it the answers, which it writes back through each
// session's Writer, in order. Its methods are safe for concurrent use.
type Worker struct {
	cfg  Config
	base context.Context // the calls' contexts derive from it

	mu       sync.Mutex
	wrote    sync.Cond // broadcast when a session's writer stops writing
	running  int
	open     []*Session
	held     []*Call // calls waiting for a slot, oldest first
	draining bool
	idle     chan struct{} // closed when draining and no call runs; remade when a call starts
	// due are the running calls whose start is due to be reported, in
	// the order they started; report fires when the oldest is due.
	due    []*Call
	report *time.Timer
	// slow fires SlowAfter after the latest call started: if every slot's
	// call is older than that, the grants of held calls are given up.
	slow   *time.Timer
	latest time.Time  // when the latest call started
	dirty  []*Session // sessions with messages to write once mu is released
}

// New returns a worker with no session. The contexts of the calls it
// runs derive from base.
func New(base context.Context, cfg Config) *Worker {
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	w := &Worker{cfg: cfg, base: base, idle: make(chan struct{})}
	w.wrote.L = &w.mu
	w.report = time.AfterFunc(time.Hour, w.reportDue)
	w.report.Stop()
	w.slow = time.AfterFunc(time.Hour, w.slowDue)
	w.slow.Stop()
	return w
}

// Slots returns how many calls the worker runs at once.
func (w *Worker) Slots() int { return w.cfg.Slots }

// Room returns what the worker can take now: its free slots, and room to
// hold calls sent ahead; 0 once it drains.
func (w *Worker) Room() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.roomLocked()
}

func (w *Worker) roomLocked() int {
	if w.draining {
		return 0
	}
	r := w.cfg.Slots - w.running
	if w.cfg.HoldPerSlot > 0 {
		r += max(0, w.cfg.HoldPerSlot*w.cfg.Slots-len(w.held))
	}
	return r
}

// Drain stops the worker taking calls: every call it holds is given back
// to its executor, and calls that come from now on are refused. Idle is
// closed once no call runs.
func (w *Worker) Drain() {
	w.mu.Lock()
	w.draining = true
	for _, c := range slices.Clone(w.held) {
		w.giveBackLocked(c, false)
	}
	w.checkIdleLocked()
	w.unlock()
}

// Idle returns a channel closed once the worker drains and runs no call.
func (w *Worker) Idle() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idle
}

func (w *Worker) checkIdleLocked() {
	if w.draining && w.running == 0 {
		select {
		case <-w.idle:
		default:
			close(w.idle)
		}
	}
}

// Stop ends the contexts of every call, and stops the worker's timer. The
// answers of calls still running are dropped.
func (w *Worker) Stop() {
	w.mu.Lock()
	w.report.Stop()
	w.slow.Stop()
	for _, c := range w.held {
		c.cancel()
	}
	w.held = nil
	w.due = nil
	var calls []*Call
	for _, s := range w.open {
		for _, c := range s.calls {
			calls = append(calls, c)
		}
		s.closed = true
		s.outbox = nil
		s.checkDoneLocked()
	}
	w.open = nil
	w.mu.Unlock()
	for _, c := range calls {
		c.cancel()
	}
}

// startLocked gives c a slot. w.mu is held.
func (w *Worker) startLocked(c *Call) {
	w.running++
	c.state = running
	select {
	case <-w.idle:
		if w.draining {
			break
		}
		w.idle = make(chan struct{})
	default:
	}
	if w.cfg.SlowAfter > 0 {
		w.latest = time.Now()
		w.slow.Reset(w.cfg.SlowAfter)
	}
	if !c.s.reports(c) {
		return
	}
	if w.cfg.ReportAfter <= 0 {
		c.reported = true
		c.s.sendLocked(item{kind: wire.KindStarted, id: c.ID})
		return
	}
	c.startedAt = time.Now()
	w.due = append(w.due, c)
	if len(w.due) == 1 {
		w.report.Reset(w.cfg.ReportAfter)
	}
}

// reportDue reports Started for the calls that have run for ReportAfter,
// and sets the timer for the next one.
func (w *Worker) reportDue() {
	w.mu.Lock()
	now := time.Now()
	k := 0
	for _, c := range w.due {
		switch {
		case c.state != running || c.reported:
		case now.Sub(c.startedAt) >= w.cfg.ReportAfter:
			c.reported = true
			if !c.s.closed {
				c.s.sendLocked(item{kind: wire.KindStarted, id: c.ID})
			}
		default:
			w.due[k] = c
			k++
		}
	}
	clear(w.due[k:])
	w.due = w.due[:k]
	if len(w.due) > 0 {
		w.report.Reset(w.cfg.ReportAfter - now.Sub(w.due[0].startedAt))
	}
	w.unlock()
}

// slowLocked reports whether every slot runs a call that started
// SlowAfter ago or more: none of the calls held may start soon. w.mu is
// held.
func (w *Worker) slowLocked() bool {
	return w.cfg.SlowAfter > 0 && w.running >= w.cfg.Slots && time.Since(w.latest) >= w.cfg.SlowAfter
}

// slowDue gives up the grants of the calls held, if the worker is slow.
func (w *Worker) slowDue() {
	w.mu.Lock()
	if w.slowLocked() {
		for _, c := range w.held {
			c.s.ungrantLocked(c)
		}
	}
	w.unlock()
}

// askLocked asks the sessions whose grants were given up for grants
// again: a slot freed. w.mu is held.
func (w *Worker) askLocked() {
	for _, s := range w.open {
		if s.asking && !s.closed {
			s.asking = false
			s.sendLocked(item{kind: wire.KindAsk})
		}
	}
}

// takeLocked starts the oldest held call that may start, and returns it,
// or nil. w.mu is held.
func (w *Worker) takeLocked() *Call {
	if w.running >= w.cfg.Slots || w.draining {
		return nil
	}
	for i, c := range w.held {
		if c.s.mayStart(c) {
			w.held = slices.Delete(w.held, i, i+1)
			w.startLocked(c)
			return c
		}
	}
	return nil
}

// giveBackLocked drops c, held and not started, and tells its executor
// (unless its session is closed). w.mu is held.
func (w *Worker) giveBackLocked(c *Call, full bool) {
	if i := slices.Index(w.held, c); i >= 0 {
		w.held = slices.Delete(w.held, i, i+1)
	}
	c.state = done
	c.s.forgetLocked(c)
	c.cancel()
	if !c.s.closed {
		c.s.sendLocked(item{kind: wire.KindRevoked, id: c.ID, full: full})
	}
}

// unlock releases w.mu, then writes what was queued for sessions: each
// session's messages in the order queued, by one goroutine at a time.
func (w *Worker) unlock() {
	dirty := w.dirty
	w.dirty = nil
	w.mu.Unlock()
	for _, s := range dirty {
		s.flush()
	}
}
