package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/futuresgen/futuresgen/runtime/internal/wire"
)

// workerEnv marks a process that a ProcessPool started as its worker.
const workerEnv = "FUTURESGEN_WORKER"

// serving is set once ServeWorker took over this process.
var serving atomic.Bool

// guardDelay is how long a process started as a worker may run without
// calling ServeWorker before it gives up.
const guardDelay = 3 * time.Second

func init() {
	if os.Getenv(workerEnv) == "" {
		return
	}
	// This process was started as a worker. If main does not hand it to
	// ServeWorker soon, it must not go on as the program: it would run
	// the program a second time (and start pools of its own).
	time.AfterFunc(guardDelay, func() {
		if !serving.Load() {
			notAWorker()
		}
	})
}

// guardNotWorker stops a process started as a worker, whose main did not
// call ServeWorker, before it starts workers of its own: no fork bomb.
func guardNotWorker() {
	if os.Getenv(workerEnv) != "" && !serving.Load() {
		notAWorker()
	}
}

func notAWorker() {
	fmt.Fprintf(os.Stderr, "futuresgen: this process was started as a ProcessPool worker, but its main did not call runtime.ServeWorker() first; exiting\n")
	os.Exit(3)
}

// WorkerOption configures ServeWorker.
type WorkerOption func(*workerConfig)

type workerConfig struct {
	setup func(context.Context) error
}

// WorkerSetup runs fn once in each worker process before it takes any
// task: Python's initializer for a ProcessPool. If fn fails, the worker
// tells its pool, which becomes broken: every future fails with
// ErrBrokenPool carrying fn's error.
func WorkerSetup(fn func(context.Context) error) WorkerOption {
	if fn == nil {
		panic("futuresgen: WorkerSetup(nil): need a function")
	}
	return func(c *workerConfig) { c.setup = fn }
}

// ServeWorker must be the first statement of main, and of TestMain in
// tests that use a ProcessPool. In an ordinary run it returns at once. In
// a process that a ProcessPool started as its worker, it serves tasks
// until the pool lets it go or the parent process ends, and then exits
// the process: it never returns.
//
// A process started as a worker whose main does not call ServeWorker
// exits with status 3 after a few seconds, or as soon as it creates a
// ProcessPool, and its pool reports that main must call ServeWorker.
func ServeWorker(opts ...WorkerOption) {
	if os.Getenv(workerEnv) == "" {
		return
	}
	serving.Store(true)
	var cfg workerConfig
	for _, o := range opts {
		o(&cfg)
	}
	os.Exit(serve(cfg, os.NewFile(3, "futuresgen-from-parent"), os.NewFile(4, "futuresgen-to-parent")))
}

// workerCall is a call a worker received.
type workerCall struct {
	m      wire.Msg
	ctx    context.Context
	cancel context.CancelFunc
}

// serve runs the worker's side of the protocol on in and out and returns
// the exit status.
func serve(cfg workerConfig, in io.Reader, out io.Writer) int {
	conn := wire.NewConn(in, out, 0)
	hello := &wire.Hello{Version: wire.Version, PID: os.Getpid(), Tasks: taskSigs()}
	if cfg.setup != nil {
		if err := cfg.setup(context.Background()); err != nil {
			hello.SetupError = err.Error()
		}
	}
	if err := conn.Write(&wire.Msg{Kind: wire.KindHello, Hello: hello}); err != nil || conn.Flush() != nil {
		return 1
	}
	if hello.SetupError != "" {
		return 1
	}

	w := &workerLoop{conn: conn, byID: map[uint64]*workerCall{}}
	w.follow.L = &w.mu
	go w.loop(1)
	return w.loop(2)
}

// workerLoop runs the worker's side after the hello. Two goroutines share
// two roles, leader and follower style: one reads messages; a goroutine
// that reads a call while nothing runs runs it itself. Waking a goroutine
// costs tens of microseconds on a busy machine, so a short call is read,
// run and answered, and the next one read, by one goroutine; a call that
// runs longer than lendAfter lends the reader role to the other goroutine,
// which reads cancels meanwhile and queues calls for the runner.
type workerLoop struct {
	conn *wire.Conn

	mu     sync.Mutex
	follow sync.Cond // a goroutine waits here to become the reader
	reader int       // the goroutine (1 or 2, 0: none) holding the reader role
	runner int       // the goroutine running calls, 0: none
	queue  ring[*workerCall]
	byID   map[uint64]*workerCall
	bye    bool
}

// loop takes turns at reading and running until the worker should exit,
// and returns its exit status.
func (w *workerLoop) loop(me int) int {
	for {
		w.mu.Lock()
		for w.reader != 0 && w.reader != me {
			w.follow.Wait()
		}
		w.reader = me
		w.mu.Unlock()

		var m wire.Msg
		if err := w.conn.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				// The parent is gone, or let go of us: leave now,
				// whatever is running.
				os.Exit(0)
			}
			fmt.Fprintf(os.Stderr, "futuresgen worker %d: %v\n", os.Getpid(), err)
			os.Exit(2)
		}
		w.mu.Lock()
		switch m.Kind {
		case wire.KindCall, wire.KindBatch:
			c := &workerCall{m: m}
			c.ctx, c.cancel = context.WithCancel(context.Background())
			if m.Deadline != 0 {
				c.ctx, c.cancel = context.WithDeadline(c.ctx, time.Unix(0, m.Deadline))
			}
			w.byID[m.ID] = c
			if w.runner != 0 {
				w.queue.push(c) // the runner will take it
				break
			}
			// Run it here, keeping the reader role: a short task is
			// answered and the next call read by this goroutine alone.
			// A longer one lends the role to the other goroutine, which
			// then reads cancels (and queues calls) while it runs.
			w.runner = me
			w.mu.Unlock()
			lend := time.AfterFunc(lendAfter, func() { w.lendRole(me) })
			status, exit := w.run(c)
			lend.Stop()
			if exit {
				os.Exit(status)
			}
			continue
		case wire.KindCancel:
			if c := w.byID[m.ID]; c != nil {
				c.cancel()
			}
		case wire.KindBye:
			w.bye = true
			if w.runner == 0 && w.queue.len() == 0 {
				w.mu.Unlock()
				os.Exit(0)
			}
		default:
			w.mu.Unlock()
			fmt.Fprintf(os.Stderr, "futuresgen worker %d: unexpected %v message\n", os.Getpid(), m.Kind)
			os.Exit(2)
		}
		w.mu.Unlock()
	}
}

// lendAfter is how long a call runs before the goroutine running it lends
// the reader role to the other one, so that cancels are read.
const lendAfter = 50 * time.Microsecond

// lendRole frees the reader role if goroutine me holds it while running
// calls (not while reading: a late timer must not free a role in use), for
// the other goroutine to take.
func (w *workerLoop) lendRole(me int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reader == me && w.runner == me {
		w.reader = 0
		w.follow.Broadcast()
	}
}

// run runs c and then every call queued meanwhile, writing each answer.
// It reports whether the worker should exit, and with which status.
//
// A task that calls runtime.Goexit takes this goroutine with it; the
// deferred function answers for the call and hands the rest of the work
// to a new goroutine, so the worker goes on.
func (w *workerLoop) run(c *workerCall) (status int, exit bool) {
	me := w.runnerID()
	var reply *wire.Msg
	goexit := true
	defer func() {
		if goexit {
			w.lendRole(me) // this goroutine is ending: whoever is left reads
			reply := &wire.Msg{Kind: wire.KindError, ID: c.m.ID, Text: errGoexit.Error()}
			go func() {
				if status, exit := w.answer(c, reply); exit {
					os.Exit(status)
				}
				os.Exit(w.loop(me))
			}()
		}
	}()
	for {
		reply = runWorkerCall(c)
		next, status, exit := w.answerNext(c, reply)
		if next == nil {
			goexit = false
			return status, exit
		}
		c = next
	}
}

// runnerID returns the goroutine running calls.
func (w *workerLoop) runnerID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runner
}

// answer writes reply for c and runs what is queued, as run does.
func (w *workerLoop) answer(c *workerCall, reply *wire.Msg) (status int, exit bool) {
	next, status, exit := w.answerNext(c, reply)
	if next == nil {
		return status, exit
	}
	return w.run(next)
}

// answerNext writes reply for c and returns the next queued call, or nil
// with whether the worker should exit.
func (w *workerLoop) answerNext(c *workerCall, reply *wire.Msg) (next *workerCall, status int, exit bool) {
	c.cancel()
	if err := w.conn.Write(reply); err != nil {
		fmt.Fprintf(os.Stderr, "futuresgen worker %d: %v\n", os.Getpid(), err)
		return nil, 2, true
	}
	if err := w.conn.Flush(); err != nil {
		return nil, 2, true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.byID, c.m.ID)
	if w.queue.len() == 0 {
		w.runner = 0
		return nil, 0, w.bye
	}
	return w.queue.pop(), 0, false
}

// workerStreams are the worker's payload streams: one connection, one
// goroutine running tasks.
var workerStreams = wire.NewStreams()

// runWorkerCall runs one call or batch and returns the answer.
func runWorkerCall(c *workerCall) *wire.Msg {
	m := &c.m
	entry := lookupTask(m.Task)
	if entry == nil {
		return &wire.Msg{Kind: wire.KindError, ID: m.ID, Text: fmt.Sprintf("futuresgen: the worker has no task named %q", m.Task)}
	}
	if m.Kind == wire.KindBatch {
		out, failures, err := entry.batch(c.ctx, workerStreams, m.Payload)
		if err != nil {
			fmt.Fprintf(os.Stderr, "futuresgen worker %d: %v\n", os.Getpid(), err)
			os.Exit(2)
		}
		return &wire.Msg{Kind: wire.KindBatchResult, ID: m.ID, Count: m.Count, Payload: out, Failures: failures}
	}
	if err := c.ctx.Err(); err != nil {
		return &wire.Msg{Kind: wire.KindError, ID: m.ID, Text: err.Error(), CtxErr: ctxErrCode(err)}
	}
	var (
		out       []byte
		taskErr   error
		err       error
		panicked  any
		stackText string
		returned  bool
	)
	func() {
		defer func() {
			if !returned {
				panicked = recover()
				stackText = stack()
			}
		}()
		out, taskErr, err = entry.call(c.ctx, workerStreams, m.Payload)
		returned = true
	}()
	switch {
	case !returned:
		return &wire.Msg{Kind: wire.KindPanic, ID: m.ID, Text: fmt.Sprint(panicked), Stack: stackText}
	case err != nil:
		fmt.Fprintf(os.Stderr, "futuresgen worker %d: %v\n", os.Getpid(), err)
		os.Exit(2)
	case taskErr != nil:
		return &wire.Msg{Kind: wire.KindError, ID: m.ID, Text: taskErr.Error(), CtxErr: ctxErrCode(taskErr)}
	}
	return &wire.Msg{Kind: wire.KindResult, ID: m.ID, Payload: out}
}

// stack returns the stack of the calling goroutine, for a recovered panic.
func stack() string { return string(debug.Stack()) }
