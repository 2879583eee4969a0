// Package worker is the worker's side of the protocol, over any
// connection: a ProcessPool's worker process serves its pipes with it, and
// a cluster worker serves a NATS session with it. It reads calls, runs
// them (up to a number of slots at once), and answers; it never exits the
// process (runtime.ServeWorker does).
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// Conn is a connection to an executor: messages in order, both ways.
type Conn interface {
	Read(m *wire.Msg) error
	Write(m *wire.Msg) error
	Flush() error
}

// Config configures Serve.
type Config struct {
	// Slots is how many calls run at once (default 1).
	Slots int
	// Setup runs before the worker says hello; its failure is reported
	// in the hello, and Serve returns it.
	Setup func(context.Context) error
	// MaxPayload bounds the results the worker sends (0: no limit of its
	// own; the connection may have one).
	MaxPayload int
	// In and Out decode the executor's payloads and encode the worker's
	// (default: new streams).
	In, Out *wire.Streams
	// Host names the worker's machine in its hello.
	Host string
	// Log receives the worker's diagnostics (default os.Stderr).
	Log io.Writer
}

// ErrSetup is wrapped by what Serve returns when Config.Setup failed.
var ErrSetup = errors.New("futuresgen worker: set-up failed")

// ErrBye is what Serve returns when the executor let the worker go and
// its work was done.
var ErrBye = errors.New("futuresgen worker: the executor said bye")

// lendAfter is how long a call runs before the goroutine running it
// lends the reader role to another one, so that cancels and revokes are
// read while it runs. Waking a goroutine costs tens of microseconds on a
// busy machine; a short call is read, run and answered, and the next one
// read, by one goroutine.
const lendAfter = 50 * time.Microsecond

// maxStack bounds the stack text a panic sends.
const maxStack = 64 << 10

// Serve says hello on conn, then reads calls and runs them until the
// executor says bye and the work is done (ErrBye), the connection ends
// (io.EOF) or fails (another error). The tasks' contexts derive from ctx.
// When Serve returns, the contexts of the calls still running end; Serve
// does not wait for them.
func Serve(ctx context.Context, conn Conn, cfg Config) error {
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	if cfg.In == nil {
		cfg.In = wire.NewStreams()
	}
	if cfg.Out == nil {
		cfg.Out = wire.NewStreams()
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	hello := &wire.Hello{Version: wire.Version, PID: os.Getpid(), Host: cfg.Host, Slots: cfg.Slots, Tasks: registry.Table()}
	var setupErr error
	if cfg.Setup != nil {
		if setupErr = cfg.Setup(ctx); setupErr != nil {
			hello.SetupError = setupErr.Error()
		}
	}
	if err := conn.Write(&wire.Msg{Kind: wire.KindHello, Hello: hello}); err != nil {
		return err
	}
	if err := conn.Flush(); err != nil {
		return err
	}
	if setupErr != nil {
		return fmt.Errorf("%w: %w", ErrSetup, setupErr)
	}
	l := &loop{ctx: ctx, conn: conn, cfg: cfg, byID: map[uint64]*call{}, done: make(chan struct{}), inRun: make([]int, cfg.Slots+2)}
	l.follow.L = &l.mu
	l.lenders = make([]*time.Timer, cfg.Slots+2)
	for g := range l.lenders {
		l.lenders[g] = time.AfterFunc(time.Hour, func() { l.lend(g) })
		l.lenders[g].Stop()
	}
	l.kick = time.AfterFunc(time.Hour, func() { l.flushUnflushed() })
	l.kick.Stop()
	if r, ok := conn.(interface{ ReadReady() bool }); ok {
		l.ready = r.ReadReady
	}
	defer func() {
		for _, t := range l.lenders {
			t.Stop()
		}
		l.kick.Stop()
	}()
	for g := 1; g <= cfg.Slots+1; g++ {
		go l.serve(g)
	}
	<-l.done
	// An answer held back for a message that ended Serve (a bye) goes
	// out.
	l.flushUnflushed()
	l.mu.Lock()
	for _, c := range l.byID {
		c.cancel()
	}
	l.mu.Unlock()
	return l.err
}

// loop is a worker at work. Up to Slots+1 goroutines share two roles:
// one reads messages; a goroutine that reads a call while a slot is free
// runs it itself, and others wait to read.
type loop struct {
	ctx  context.Context
	conn Conn
	cfg  Config

	wmu sync.Mutex // writes to conn and encodes on cfg.Out, in one order
	// unflushed: an answer was written and not flushed (see answer); set
	// under wmu, read by the reader without it. Whatever is written is
	// flushed before any task starts: a task that kills the process
	// must not take an answer or a Started with it.
	unflushed atomic.Bool
	kick      *time.Timer // flushes for the reader (see serve)
	ready     func() bool // conn's ReadReady, if it has one

	mu      sync.Mutex
	follow  sync.Cond     // goroutines wait here for the reader role
	reader  int           // the goroutine holding the reader role, 0: none
	inRun   []int         // by goroutine: running calls (not reading) when > 0
	lenders []*time.Timer // by goroutine: lends its reader role once it has run a call for lendAfter
	running int           // calls running
	queue   []*call       // calls received that wait for a slot, oldest first
	byID    map[uint64]*call
	bye     bool
	done    chan struct{}
	err     error
}

// call is a call the worker received.
type call struct {
	id      uint64
	ahead   bool
	task    string
	entry   *registry.Entry
	rc      registry.Call
	ctx     context.Context
	cancel  context.CancelFunc
	started bool
}

// finish ends Serve with err, once. l.mu is held.
func (l *loop) finish(err error) {
	select {
	case <-l.done:
		return
	default:
	}
	l.err = err
	close(l.done)
	l.follow.Broadcast()
}

func (l *loop) logf(format string, args ...any) {
	fmt.Fprintf(l.cfg.Log, "futuresgen worker %d: %s\n", os.Getpid(), fmt.Sprintf(format, args...))
}

// serve takes turns at reading and running until Serve ends.
func (l *loop) serve(me int) {
	for {
		l.mu.Lock()
		for l.reader != 0 && l.reader != me && !l.closed() {
			l.follow.Wait()
		}
		if l.closed() {
			l.mu.Unlock()
			return
		}
		l.reader = me
		l.mu.Unlock()

		if l.unflushed.Load() && (l.ready == nil || !l.ready()) {
			// The read may wait: the answer held back goes out now,
			// from another goroutine. The reader never waits to write
			// here: with both ends' buffers full, it must read.
			l.kick.Reset(0)
		}
		var m wire.Msg
		if err := l.conn.Read(&m); err != nil {
			l.mu.Lock()
			if !errors.Is(err, io.EOF) {
				l.logf("%v", err)
			}
			l.finish(err)
			l.mu.Unlock()
			return
		}
		if !l.handle(me, &m) {
			return
		}
	}
}

func (l *loop) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// handle acts on one message read by goroutine me, running a call itself
// when a slot is free. It returns false if the goroutine must stop (it
// called runtime.Goexit and another took over, or Serve ended).
func (l *loop) handle(me int, m *wire.Msg) bool {
	switch m.Kind {
	case wire.KindCall, wire.KindBatch:
		c, reply := l.receive(m)
		if reply != nil {
			return l.send(reply)
		}
		l.mu.Lock()
		if l.bye {
			l.mu.Unlock()
			return l.send(&wire.Msg{Kind: wire.KindRevoked, ID: c.id})
		}
		l.byID[c.id] = c
		if l.running < l.cfg.Slots && len(l.queue) == 0 {
			l.running++
			c.started = true // taken for a slot: a cancel from now on ends its context
			l.mu.Unlock()
			return l.run(me, c, false)
		}
		l.queue = append(l.queue, c)
		l.mu.Unlock()
	case wire.KindCancel, wire.KindRevoke:
		l.mu.Lock()
		c := l.byID[m.ID]
		switch {
		case c == nil:
			l.mu.Unlock()
		case c.started:
			if m.Kind == wire.KindCancel {
				if _, ok := c.ctx.Deadline(); ok && m.Timeout != 0 {
					time.AfterFunc(wire.DeadlineSlack, c.cancel) // the deadline itself ends it first
				} else {
					c.cancel()
				}
			}
			l.mu.Unlock()
		default:
			// Not started: drop it; it never runs here.
			l.dequeue(c)
			l.mu.Unlock()
			c.cancel()
			return l.send(&wire.Msg{Kind: wire.KindRevoked, ID: c.id})
		}
	case wire.KindBye:
		l.mu.Lock()
		l.bye = true
		// Calls still queued were sent ahead; give them back.
		var back []*call
		for _, c := range l.queue {
			if c.ahead {
				back = append(back, c)
			}
		}
		for _, c := range back {
			l.dequeue(c)
		}
		if l.running == 0 && len(l.queue) == 0 {
			l.finish(ErrBye)
		}
		l.mu.Unlock()
		for _, c := range back {
			c.cancel()
			if !l.send(&wire.Msg{Kind: wire.KindRevoked, ID: c.id}) {
				return false
			}
		}
	default:
		l.mu.Lock()
		l.logf("%v: unexpected %v message", wire.ErrProtocol, m.Kind)
		l.finish(fmt.Errorf("%w: unexpected %v message", wire.ErrProtocol, m.Kind))
		l.mu.Unlock()
		return false
	}
	return true
}

// dequeue forgets c, which has not started. l.mu is held.
func (l *loop) dequeue(c *call) {
	delete(l.byID, c.id)
	if i := slices.Index(l.queue, c); i >= 0 {
		l.queue = slices.Delete(l.queue, i, i+1)
	}
}

// receive decodes a call, in the reader, in message order. A call that
// cannot run here gets its answer now: reply is set.
func (l *loop) receive(m *wire.Msg) (c *call, reply *wire.Msg) {
	fail := func(format string, args ...any) (*call, *wire.Msg) {
		err := fmt.Errorf(format, args...)
		return nil, &wire.Msg{Kind: wire.KindError, ID: m.ID, Err: registry.EncodeError(err)}
	}
	e := registry.Lookup(m.Task)
	switch {
	case e == nil:
		return fail("futuresgen: the worker has no task named %q", m.Task)
	case e.Local:
		return fail("futuresgen: task %s is local (//futures:task local): it runs only on in-process executors, and this worker refuses it", m.Task)
	}
	rc, err := e.NewCall(l.cfg.In, m)
	if err != nil {
		return fail("futuresgen: the worker cannot decode the arguments of %s: %w", m.Task, err)
	}
	c = &call{id: m.ID, ahead: m.Ahead, task: m.Task, entry: e, rc: rc}
	if m.Timeout != 0 {
		c.ctx, c.cancel = context.WithTimeout(l.ctx, time.Duration(m.Timeout))
	} else {
		c.ctx, c.cancel = context.WithCancel(l.ctx)
	}
	return c, nil
}

// writeFailed ends Serve with err, a write to the executor that failed.
func (l *loop) writeFailed(err error) {
	l.mu.Lock()
	l.logf("writing to the executor: %v", err)
	l.finish(err)
	l.mu.Unlock()
}

// send writes one message and flushes it; false means the connection
// failed and Serve is ending.
func (l *loop) send(m *wire.Msg) bool {
	l.wmu.Lock()
	err := l.conn.Write(m)
	if err == nil {
		err = l.flush()
	}
	l.wmu.Unlock()
	if err != nil {
		l.writeFailed(err)
		return false
	}
	return true
}

// run runs c in goroutine me, which holds a slot for it (and perhaps the
// reader role, which it lends after lendAfter), then the calls queued for
// that slot. begun says c was announced already. It returns false if the
// goroutine must stop.
func (l *loop) run(me int, c *call, begun bool) bool {
	l.mu.Lock()
	l.inRun[me]++ // a counter: after a Goexit, the goroutine taking over begins before the old one's deferred calls end
	l.mu.Unlock()
	// The reader role is lent after lendAfter whether the task runs long
	// or its answer takes long to write: if the executor's end of the
	// connection is full too, someone must read it, or both ends wait
	// for each other.
	lend := l.lenders[me]
	lend.Reset(lendAfter)
	defer func() {
		lend.Stop()
		l.mu.Lock()
		l.inRun[me]--
		l.mu.Unlock()
	}()
	if !begun && !l.begin(c) {
		return false
	}
	for c != nil {
		if !l.runOne(me, c) {
			return false // Goexit: another goroutine answers and goes on
		}
		next, ok := l.answer(me, c)
		if !ok {
			return false
		}
		c = next
	}
	return true
}

// begin announces c, taken for a slot: a call sent ahead says it
// started, in the same write as an answer held back, if any. A call
// whose context ended before it started says nothing: runOne skips it
// and it is answered with its context's error.
func (l *loop) begin(c *call) bool {
	say := c.ctx.Err() == nil && c.ahead
	if !say && !l.unflushed.Load() {
		return true
	}
	l.wmu.Lock()
	var err error
	if say {
		err = l.conn.Write(&wire.Msg{Kind: wire.KindStarted, ID: c.id})
	}
	if err == nil && (say || l.unflushed.Load()) {
		err = l.flush()
	}
	l.wmu.Unlock()
	if err != nil {
		l.mu.Lock()
		l.finish(err)
		l.mu.Unlock()
		return false
	}
	return true
}

// flush sends what was written. l.wmu is held.
func (l *loop) flush() error {
	l.unflushed.Store(false)
	return l.conn.Flush()
}

// flushUnflushed sends an answer held back, if any.
func (l *loop) flushUnflushed() {
	l.wmu.Lock()
	var err error
	if l.unflushed.Load() {
		err = l.flush()
	}
	l.wmu.Unlock()
	if err != nil {
		l.writeFailed(err)
	}
}

// runOne runs c's task under its pprof labels. If the task calls
// runtime.Goexit, the goroutine ends after this function's deferred
// call, which hands the answer and the goroutine's role to a new one.
func (l *loop) runOne(me int, c *call) (returned bool) {
	defer func() {
		if !returned {
			l.lend(me)
			go func() {
				if next, ok := l.answer(me, c); ok && next != nil {
					if !l.run(me, next, true) {
						return
					}
				}
				l.serve(me)
			}()
		}
	}()
	if c.ctx.Err() == nil {
		if c.entry.Labels != nil {
			pprof.SetGoroutineLabels(c.entry.Labels)
		}
		c.rc.Run(c.ctx)
	}
	return true
}

// answer writes c's outcome and returns the next queued call for the
// slot c held, or nil once the slot is free. The outcome is encoded and
// written under one hold of the write lock, so the results stream is
// written in the order it is encoded; the next call, if one waits, is
// announced in the same write. The slot stays counted until the answer is
// out, so a call read meanwhile is queued, and taken here after.
func (l *loop) answer(me int, c *call) (next *call, ok bool) {
	l.mu.Lock()
	delete(l.byID, c.id)
	next = l.take()
	// With no call queued for the slot, and the next message at hand
	// for this goroutine to read, the answer waits in the buffer: if
	// that message is a call, the answer goes out with its Started, in
	// one write, before it runs (and otherwise before the next read
	// that may wait).
	hold := next == nil && l.reader == me && l.ready != nil && l.ready()
	l.mu.Unlock()

	l.wmu.Lock()
	reply := &wire.Msg{ID: c.id}
	if err := c.ctx.Err(); err != nil && !c.rc.Ran() {
		reply.Kind = wire.KindError
		reply.Err = registry.EncodeError(err)
	} else {
		c.rc.Answer(l.cfg.Out, l.cfg.MaxPayload, reply)
	}
	err := l.conn.Write(reply)
	if err == nil && next != nil && next.ahead && next.ctx.Err() == nil {
		err = l.conn.Write(&wire.Msg{Kind: wire.KindStarted, ID: next.id})
	}
	if err == nil {
		if hold {
			l.unflushed.Store(true)
		} else {
			err = l.flush()
		}
	}
	l.wmu.Unlock()
	c.cancel()
	if err == nil && hold {
		// The reader role may have been lent meanwhile, and the new
		// reader may have looked for an answer held back before this
		// one was: then it is for this goroutine to send it. A reader
		// that takes the role from now on sees it.
		l.mu.Lock()
		lent := l.reader != me
		l.mu.Unlock()
		if lent {
			l.flushUnflushed()
		}
	}
	if err != nil {
		l.writeFailed(err)
		return nil, false
	}
	if next != nil {
		return next, true
	}
	l.mu.Lock()
	if next = l.take(); next == nil {
		l.running--
		if l.bye && l.running == 0 && len(l.queue) == 0 {
			l.finish(ErrBye)
		}
	}
	l.mu.Unlock()
	if next != nil {
		return next, l.begin(next)
	}
	return nil, true
}

// take pops the next queued call for a slot that is free, or nil. l.mu is
// held.
func (l *loop) take() *call {
	if len(l.queue) == 0 || l.bye {
		return nil
	}
	next := l.queue[0]
	l.queue = l.queue[1:]
	next.started = true
	return next
}

func (l *loop) finishLocked(err error) {
	l.mu.Lock()
	l.finish(err)
	l.mu.Unlock()
}

// lend frees the reader role if goroutine me holds it while it runs
// calls, for another goroutine to take. A timer that fires late, once me
// is reading again, must not free a role in use.
func (l *loop) lend(me int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reader == me && l.inRun[me] > 0 {
		l.reader = 0
		l.follow.Broadcast()
	}
}
