package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// Conn is a connection to one executor, as a pipe carries it: messages
// in order, both ways.
type Conn interface {
	Read(m *wire.Msg) error
	Write(m *wire.Msg) error
	Flush() error
}

// ServeConfig configures Serve.
type ServeConfig struct {
	// Slots is how many calls run at once (default 1).
	Slots int
	// ReportAfter is how long a call sent ahead runs before the worker
	// says it started (see Config.ReportAfter).
	ReportAfter time.Duration
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

// ErrSetup is wrapped by what Serve returns when ServeConfig.Setup
// failed.
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

// Serve says hello on conn, then serves its executor (a ProcessPool, or
// a cluster worker's relay) until the executor says bye and the work is
// done (ErrBye), the connection ends (io.EOF) or fails (another error).
// The tasks' contexts derive from ctx. When Serve returns, the contexts
// of the calls still running end; Serve does not wait for them.
//
// Calls run on the goroutine that read them while a slot is free: a
// short call is read, run and answered, and the next one read, without a
// goroutine switch. Whatever the worker wrote is flushed before a task
// starts, so that a task that kills the process takes no answer with it.
func Serve(ctx context.Context, conn Conn, cfg ServeConfig) error {
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
	p := &pipe{conn: conn, cfg: cfg, done: make(chan struct{}), inRun: make([]int, cfg.Slots+3)}
	p.w = New(ctx, Config{Slots: cfg.Slots, ReportAfter: cfg.ReportAfter})
	p.s = p.w.Open(SessionConfig{Writer: p, OnError: p.writeFailed})
	p.follow.L = &p.mu
	p.lenders = make([]*time.Timer, cfg.Slots+3)
	for g := range p.lenders {
		p.lenders[g] = time.AfterFunc(time.Hour, func() { p.lend(g) })
		p.lenders[g].Stop()
	}
	p.kick = time.AfterFunc(time.Hour, func() { p.s.Flushed() })
	p.kick.Stop()
	if r, ok := conn.(interface{ ReadReady() bool }); ok {
		p.ready = r.ReadReady
	}
	defer func() {
		for _, t := range p.lenders {
			t.Stop()
		}
		p.kick.Stop()
	}()
	// Goroutines that hold a slot (running a call, or flushing before
	// it runs one), one that writes answers after its call freed its
	// slot, and the reader: one more than that, so that a reader is
	// always there while others wait to write.
	for g := 1; g <= cfg.Slots+2; g++ {
		go p.serve(g)
	}
	select {
	case <-p.done:
	case <-p.s.Done():
		p.mu.Lock()
		p.finish(ErrBye)
		p.mu.Unlock()
	}
	// An answer held back for a message that ended Serve (a bye) goes
	// out.
	p.s.Flushed()
	p.w.Stop()
	return p.err
}

// pipe is a worker serving one executor over a Conn. Up to Slots+2
// goroutines share two roles: one reads messages; a goroutine that reads
// a call while a slot is free runs it itself, and others wait to read.
type pipe struct {
	conn  Conn
	cfg   ServeConfig
	w     *Worker
	s     *Session
	ready func() bool // conn's ReadReady, if it has one: the reader's only

	// An answer may be held back in the write buffer while the reader has
	// the next message at hand (frameReady): if that is a call, its
	// Started goes out in the same write. Whoever holds sets unflushed
	// first, then looks at frameReady; the reader sets frameReady first,
	// then looks at unflushed: one of them sees the other, so held bytes
	// are always flushed before the reader could wait for the executor.
	unflushed  atomic.Bool
	frameReady atomic.Bool
	kick       *time.Timer // flushes for the reader, which must not wait to write

	mu      sync.Mutex
	follow  sync.Cond     // goroutines wait here for the reader role
	reader  int           // the goroutine holding the reader role, 0: none
	inRun   []int         // by goroutine: running calls (not reading) when > 0
	lenders []*time.Timer // by goroutine: lends its reader role once it has run a call for lendAfter
	done    chan struct{}
	err     error
}

// Write writes m to the executor: the session's Writer.
func (p *pipe) Write(m *wire.Msg) error { return p.conn.Write(m) }

// Flush sends what was written, or holds it back while the reader has
// the next message at hand (unless hard).
func (p *pipe) Flush(hard bool) error {
	if !hard && p.ready != nil {
		p.unflushed.Store(true)
		if p.frameReady.Load() {
			return nil
		}
	}
	p.unflushed.Store(false)
	return p.conn.Flush()
}

// finish ends Serve with err, once. p.mu is held.
func (p *pipe) finish(err error) {
	select {
	case <-p.done:
		return
	default:
	}
	p.err = err
	close(p.done)
	p.follow.Broadcast()
}

func (p *pipe) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *pipe) logf(format string, args ...any) {
	fmt.Fprintf(p.cfg.Log, "futuresgen worker %d: %s\n", os.Getpid(), fmt.Sprintf(format, args...))
}

// writeFailed ends Serve with err, a write to the executor that failed.
func (p *pipe) writeFailed(err error) {
	p.mu.Lock()
	p.logf("writing to the executor: %v", err)
	p.finish(err)
	p.mu.Unlock()
}

// serve takes turns at reading and running until Serve ends.
func (p *pipe) serve(me int) {
	for {
		p.mu.Lock()
		for p.reader != 0 && p.reader != me && !p.closed() {
			p.follow.Wait()
		}
		if p.closed() {
			p.mu.Unlock()
			return
		}
		p.reader = me
		p.mu.Unlock()

		if p.ready != nil {
			r := p.ready()
			p.frameReady.Store(r)
			if !r && p.unflushed.Load() {
				// The read may wait: what is held back goes out now,
				// from another goroutine. The reader never waits to
				// write here: with both ends' buffers full, it must
				// read.
				p.kick.Reset(0)
			}
		}
		var m wire.Msg
		if err := p.conn.Read(&m); err != nil {
			p.mu.Lock()
			if !errors.Is(err, io.EOF) {
				p.logf("%v", err)
			}
			p.finish(err)
			p.mu.Unlock()
			return
		}
		if !p.handle(me, &m) {
			return
		}
	}
}

// handle acts on one message read by goroutine me, running a call itself
// when a slot is free. It returns false if the goroutine must stop (it
// called runtime.Goexit and another took over, or Serve ended).
func (p *pipe) handle(me int, m *wire.Msg) bool {
	switch m.Kind {
	case wire.KindCall, wire.KindBatch:
		c, reply := p.receive(m)
		if reply != nil {
			p.s.Send(func(w Writer) error { return w.Write(reply) })
			return !p.closed()
		}
		if p.s.Receive(c) {
			return p.run(me, c)
		}
	case wire.KindCancel:
		p.s.Cancel(m.ID, m.Timeout != 0)
	case wire.KindRevoke:
		p.s.Revoke(m.ID)
	case wire.KindBye:
		p.s.Bye()
	default:
		p.mu.Lock()
		p.logf("%v: unexpected %v message", wire.ErrProtocol, m.Kind)
		p.finish(fmt.Errorf("%w: unexpected %v message", wire.ErrProtocol, m.Kind))
		p.mu.Unlock()
		return false
	}
	return !p.closed()
}

// pipeCall is what the pipe keeps of a call: its task, decoded.
type pipeCall struct {
	entry *registry.Entry
	rc    registry.Call
}

// receive decodes a call, in the reader, in message order: payload
// streams must be decoded in order, even those of calls later dropped. A
// call that cannot run here gets its answer now: reply is set.
func (p *pipe) receive(m *wire.Msg) (c *Call, reply *wire.Msg) {
	fail := func(format string, args ...any) (*Call, *wire.Msg) {
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
	rc, err := e.NewCall(p.cfg.In, m)
	if err != nil {
		return fail("futuresgen: the worker cannot decode the arguments of %s: %w", m.Task, err)
	}
	return &Call{ID: m.ID, Task: m.Task, Ahead: m.Ahead, Timeout: time.Duration(m.Timeout), Value: &pipeCall{entry: e, rc: rc}}, nil
}

// run runs c in goroutine me, which holds a slot for it (and perhaps the
// reader role, which it lends after lendAfter), then the calls that take
// that slot after it. It returns false if the goroutine must stop.
func (p *pipe) run(me int, c *Call) bool {
	p.mu.Lock()
	p.inRun[me]++ // a counter: after a Goexit, the goroutine taking over begins before the old one's deferred calls end
	p.mu.Unlock()
	// The reader role is lent after lendAfter whether the task runs long
	// or its answer takes long to write: if the executor's end of the
	// connection is full too, someone must read it, or both ends wait
	// for each other.
	lend := p.lenders[me]
	lend.Reset(lendAfter)
	defer func() {
		lend.Stop()
		p.mu.Lock()
		p.inRun[me]--
		p.mu.Unlock()
	}()
	for c != nil {
		if !p.runOne(me, c) {
			return false // Goexit: another goroutine answers and goes on
		}
		c = p.answer(c)
	}
	return !p.closed()
}

// runOne runs c's task under its pprof labels, once everything written
// is flushed: a task that kills the process must not take an answer or a
// Started with it. If the task calls runtime.Goexit, the goroutine ends
// after this function's deferred call, which hands the answer and the
// goroutine's role to a new one.
func (p *pipe) runOne(me int, c *Call) (returned bool) {
	pc := c.Value.(*pipeCall)
	defer func() {
		if !returned {
			p.lend(me)
			go func() {
				if next := p.answer(c); next != nil {
					if !p.run(me, next) {
						return
					}
				}
				p.serve(me)
			}()
		}
	}()
	p.s.Flushed()
	if c.Context().Err() == nil {
		if pc.entry.Labels != nil {
			pprof.SetGoroutineLabels(pc.entry.Labels)
		}
		pc.rc.Run(c.Context())
	}
	return true
}

// answer finishes c and returns the next call to run on its slot. The
// answer is encoded when it is written, in the order of the writes, so
// the results stream is written in the order it is encoded.
func (p *pipe) answer(c *Call) *Call {
	pc := c.Value.(*pipeCall)
	ctxErr := c.Context().Err() // before Finish ends the context
	return p.s.Finish(c, func(w Writer) error {
		reply := &wire.Msg{ID: c.ID}
		if ctxErr != nil && !pc.rc.Ran() {
			reply.Kind = wire.KindError
			reply.Err = registry.EncodeError(ctxErr)
		} else {
			pc.rc.Answer(p.cfg.Out, p.cfg.MaxPayload, reply)
		}
		return w.Write(reply)
	})
}

// lend frees the reader role if goroutine me holds it while it runs
// calls, for another goroutine to take. A timer that fires late, once me
// is reading again, must not free a role in use.
func (p *pipe) lend(me int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reader == me && p.inRun[me] > 0 {
		p.reader = 0
		p.follow.Broadcast()
	}
}
