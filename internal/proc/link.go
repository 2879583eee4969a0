// Package proc runs workers as processes of this same program (or of
// WorkerCommand's): it starts them with two pipes and their standard
// error through the parent, writes what a scheduler sends them, reads
// what they answer and reports it, and reports how each ended. A
// ProcessPool uses it for its workers, and a cluster worker for the
// child processes that run its tasks.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// Env marks a process that a pool started as its worker. Its value is the
// protocol version, then "/sc" when the worker encodes results
// self-contained (for a relay that forwards them as they are).
const Env = "FUTURESGEN_WORKER"

// Marker is Env's value for a worker of this protocol version.
func Marker(selfContained bool) string {
	m := strconv.Itoa(wire.Version)
	if selfContained {
		m += "/sc"
	}
	return m
}

// Config configures a Pool.
type Config struct {
	// Command runs workers as this program and arguments instead of this
	// program.
	Command []string
	// StartTimeout bounds how long a new worker may take to say hello.
	StartTimeout time.Duration
	// SelfContained makes workers encode results self-contained.
	SelfContained bool
	// MaxStartFailures is the scheduler's: a program that cannot be
	// started at all counts as that many failures, not one.
	MaxStartFailures int
}

// Pool is the worker processes of one scheduler.
type Pool struct {
	cfg Config
	s   *sched.Scheduler

	mu    sync.Mutex
	links map[*procLink]struct{} // the worker processes, starting ones included
}

// New returns a pool of worker processes configured by cfg, for
// NewScheduler.
func New(cfg Config) *Pool {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	return &Pool{cfg: cfg, links: map[*procLink]struct{}{}}
}

// NewScheduler returns a scheduler whose workers are processes of this
// program (or of cfg.Command), started as calls wait for them, and the
// pool of those processes. sc's Spawn and MaxStartFailures are set from
// cfg; sc.MaxWorkers bounds the processes.
func NewScheduler(cfg Config, sc sched.Config) (*sched.Scheduler, *Pool) {
	p := New(cfg)
	sc.Spawn = p.Spawn
	sc.MaxStartFailures = cfg.MaxStartFailures
	p.s = sched.New(sc)
	return p.s, p
}

// PIDs returns the process IDs of the workers alive now.
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for l := range p.links {
		if pid := l.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procLink is the link to one worker process: it starts the process,
// writes what the scheduler sends, reads the worker's messages and
// reports them, and reports the process's end. Scheduling is the
// scheduler's; this is process management and pipes.
type procLink struct {
	p    *Pool
	w    *sched.Worker
	enc  *wire.Streams // used by the goroutine writing (one at a time)
	dec  *wire.Streams // used by the receiver only
	tail tailBuffer    // the end of the worker's standard error

	mu       sync.Mutex
	cmd      *exec.Cmd
	conn     *wire.Conn
	toW      *os.File // our end of the pipe to the worker
	fromR    *os.File // our end of the pipe from the worker
	cause    error    // why the pool gave up on the worker, if it did
	kill     bool     // kill the process as soon as it exists
	ready    bool
	waited   bool // the process has ended: read errors from now on are ours
	procPID  int
	stderrOK chan struct{} // closed when the worker's stderr reached its end

	// The reader role (see Help).
	rmu      sync.Mutex
	rcond    sync.Cond
	reading  bool // a goroutine holds the role
	inflight int  // calls written and not answered or given back
	exited   bool // the process ended: read what is left
	rclosed  bool // the connection is over
	kick     *time.Timer
	msg      wire.Msg // the message being read, reused (the role's holder's)
	held     bool     // the scheduler holds writes to the worker (the role's holder's)
}

// Spawn starts a worker process for w in the background and returns its
// link: the scheduler's Spawn.
func (p *Pool) Spawn(w *sched.Worker) sched.Link {
	l := &procLink{p: p, w: w, enc: wire.NewStreams(), dec: wire.NewStreams(), stderrOK: make(chan struct{}), reading: true}
	l.rcond.L = &l.rmu
	l.kick = time.AfterFunc(time.Hour, l.wakeReceiver)
	l.kick.Stop()
	p.mu.Lock()
	p.links[l] = struct{}{}
	p.mu.Unlock()
	go l.run()
	return l
}

func (l *procLink) pid() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procPID
}

// Kill ends the worker process now (or as soon as it is started).
func (l *procLink) Kill(cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cause == nil {
		l.cause = cause
	}
	l.kill = true
	if l.cmd != nil && l.cmd.Process != nil && !l.waited {
		l.cmd.Process.Kill()
	}
}

// run starts the process and serves it until it ends, then reports it
// gone.
func (l *procLink) run() {
	p := l.p
	// The process is forgotten before it is reported gone: once the
	// scheduler hears of its end, Shutdown may return, and PIDs must not
	// list it.
	forget := func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}
	if err := l.start(); err != nil {
		forget()
		// The program cannot be started at all: retrying will not help.
		p.s.FailStarts(p.cfg.MaxStartFailures - 1)
		p.s.Gone(l.w, fmt.Errorf("%w: starting a worker process: %w", errs.BrokenPool, err))
		return
	}
	received := make(chan struct{})
	go func() {
		defer close(received)
		l.receive()
	}()
	startTimer := time.AfterFunc(p.cfg.StartTimeout, func() {
		l.mu.Lock()
		ready := l.ready
		l.mu.Unlock()
		if !ready {
			l.Kill(fmt.Errorf("the worker process did not become ready within %v: does main (or TestMain) call runtime.ServeWorker() first?", p.cfg.StartTimeout))
		}
	})
	waitErr := l.cmd.Wait()
	startTimer.Stop()
	l.mu.Lock()
	l.waited = true
	l.mu.Unlock()
	l.kick.Stop()
	l.rmu.Lock()
	l.exited = true
	l.rcond.Broadcast()
	l.rmu.Unlock()
	l.toW.Close()
	// What the worker wrote before it ended is still in the pipe: a
	// Started or an answer must be read before the worker is reported
	// gone. Its end of the pipe closed with it (the worker marks it
	// close-on-exec, so its own children do not hold it); give the
	// receiver a moment, then cut the pipe for it.
	select {
	case <-received:
	case <-time.After(time.Second):
		l.fromR.Close()
		l.closeReading() // a reader blocked on the pipe sees it closed
		<-received
	}
	l.fromR.Close()
	// Its standard error too, for the crash report: unless a process it
	// started holds it open.
	select {
	case <-l.stderrOK:
	case <-time.After(100 * time.Millisecond):
	}
	l.mu.Lock()
	cause := workerDied(l.procPID, l.cmd.ProcessState, waitErr, l.tail.String())
	switch {
	case l.cause != nil:
		cause = fmt.Errorf("%w: %w", cause, l.cause)
	case !l.ready:
		cause = fmt.Errorf("%w (it ended before it was ready: does main call runtime.ServeWorker() first?)", cause)
	}
	l.mu.Unlock()
	forget()
	p.s.Gone(l.w, cause)
}

// start starts the worker process with its pipes: fd 3 from the parent,
// fd 4 to it, and its standard error through the pool, which keeps its
// end and passes the rest on.
func (l *procLink) start() error {
	argv := l.p.cfg.Command
	if argv == nil {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this program to run as a worker: %w", err)
		}
		argv = []string{exe}
	}
	toR, toW, err := os.Pipe() // parent → worker
	if err != nil {
		return err
	}
	fromR, fromW, err := os.Pipe() // worker → parent
	if err != nil {
		toR.Close()
		toW.Close()
		return err
	}
	errR, errW, err := os.Pipe() // the worker's standard error
	if err != nil {
		toR.Close()
		toW.Close()
		fromR.Close()
		fromW.Close()
		return err
	}
	growPipe(toW)
	growPipe(fromR)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), Env+"="+Marker(l.p.cfg.SelfContained))
	cmd.ExtraFiles = []*os.File{toR, fromW} // fd 3 and fd 4 in the worker
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = errW
	setProcAttr(cmd)
	l.mu.Lock()
	err = cmd.Start()
	toR.Close()
	fromW.Close()
	errW.Close()
	if err != nil {
		l.mu.Unlock()
		toW.Close()
		fromR.Close()
		errR.Close()
		return err
	}
	l.cmd = cmd
	l.procPID = cmd.Process.Pid
	l.conn = wire.NewConn(fromR, toW, wire.DefaultMaxPayload)
	l.toW, l.fromR = toW, fromR
	if l.kill {
		cmd.Process.Kill()
	}
	l.mu.Unlock()
	go l.copyStderr(errR)
	return nil
}

// copyStderr passes the worker's standard error on to this process's and
// keeps its end. A write error here (stderr on a full disk, or closed)
// loses the text, never the worker: it keeps writing to its pipe.
func (l *procLink) copyStderr(r *os.File) {
	defer close(l.stderrOK)
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.tail.Write(buf[:n])
			os.Stderr.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// Write writes out to the worker: calls with their arguments encoded on
// the link's streams, in the order the scheduler sent them.
func (l *procLink) Write(out []sched.Out) {
	l.mu.Lock()
	conn := l.conn
	l.mu.Unlock()
	var m wire.Msg
	for _, o := range out {
		m = wire.Msg{Kind: o.Kind, ID: o.ID}
		if o.Kind == wire.KindCancel && o.Deadline {
			m.Timeout = 1
		}
		if o.Kind == wire.KindCall {
			c := o.Call
			payload, gen, err := c.F.Encode(l.enc, conn.MaxPayload())
			if err != nil {
				l.p.s.NotSent(l.w, c, err)
				continue
			}
			m.Task, m.Count, m.Ahead, m.Gen, m.Payload = c.Task, o.Count, o.Ahead, gen, payload
			if c.Batch {
				m.Kind, m.ItemMax = wire.KindBatch, c.ItemMax
			}
			if d, ok := c.Ctx.Deadline(); ok {
				m.Timeout = int64(max(time.Until(d), 1))
			}
		}
		if o.Kind == wire.KindCall {
			l.sent()
		}
		if err := conn.Write(&m); err != nil {
			if errors.Is(err, wire.ErrTooLarge) && o.Kind == wire.KindCall {
				l.answered()
				l.p.s.NotSent(l.w, o.Call, fmt.Errorf("futuresgen: the arguments of task %s cannot cross the process boundary: %w", o.Call.Task, err))
				continue
			}
			l.fault(fmt.Errorf("writing to the worker: %w", err))
			return
		}
	}
	if err := conn.Flush(); err != nil {
		l.fault(fmt.Errorf("writing to the worker: %w", err))
	}
}

// fault records why the connection failed and kills the worker; its end
// then fails the call it was running.
func (l *procLink) fault(err error) {
	l.mu.Lock()
	waited := l.waited
	l.mu.Unlock()
	if !waited { // once the process has ended, its exit says why
		l.Kill(err)
	}
}

// receive reads the worker's hello, then its messages, and reports them
// to the scheduler.
func (l *procLink) receive() {
	p := l.p
	var m wire.Msg
	if err := l.conn.Read(&m); err != nil {
		if !errors.Is(err, io.EOF) {
			l.fault(err)
		}
		return
	}
	if m.Kind != wire.KindHello || m.Hello == nil {
		l.fault(fmt.Errorf("%w: the worker's first message is a %v, not a hello", wire.ErrProtocol, m.Kind))
		return
	}
	if err := CheckHello(m.Hello); err != nil {
		err = fmt.Errorf("%w: worker pid %d: %w", errs.BrokenPool, m.Hello.PID, err)
		p.s.Break(err)
		l.Kill(err)
		return
	}
	l.mu.Lock()
	l.ready = true
	l.mu.Unlock()
	p.s.Ready(l.w, "pid "+strconv.Itoa(m.Hello.PID), 1)
	l.release()
	for {
		l.rmu.Lock()
		for (l.reading || (l.inflight == 0 && !l.exited)) && !l.rclosed {
			l.rcond.Wait()
		}
		if l.rclosed {
			l.rmu.Unlock()
			return
		}
		l.reading = true
		l.rmu.Unlock()
		ok := l.readOne()
		l.release()
		if !ok {
			return
		}
	}
}

// The reader role: one goroutine at a time reads the worker's messages.
// The link's own receiver reads while calls are in flight; but a
// goroutine waiting on a future of this worker, when nobody reads, takes
// the role and reads its answer itself (Help), so the answer needs no
// second goroutine to wake: one switch per round trip, as on a raw pipe.
// The receiver waits helpWindow after a call is written before it reads,
// leaving the role to a waiter that comes at once.
const helpWindow = 50 * time.Microsecond

// release gives up the reader role, waking the receiver only if there is
// something to read: waking it for nothing costs a goroutine switch per
// round trip, which Help is there to save.
func (l *procLink) release() {
	l.rmu.Lock()
	l.reading = false
	if l.inflight > 0 || l.exited || l.rclosed {
		l.rcond.Broadcast()
	}
	l.rmu.Unlock()
}

// wakeReceiver lets the receiver take the role if nobody did.
func (l *procLink) wakeReceiver() {
	l.rmu.Lock()
	l.rcond.Broadcast()
	l.rmu.Unlock()
}

// sent counts a call written to the worker; the first in flight arms the
// receiver's wake-up.
func (l *procLink) sent() {
	l.rmu.Lock()
	l.inflight++
	if l.inflight == 1 {
		l.kick.Reset(helpWindow)
	}
	l.rmu.Unlock()
}

// Help reads the worker's messages in the calling goroutine, if nobody
// else is reading, until done reports true, the worker holds no call, or
// the connection ends. It is sched.Helper's.
func (l *procLink) Help(done func() bool) {
	l.rmu.Lock()
	if l.reading || l.rclosed || l.inflight == 0 {
		l.rmu.Unlock()
		return
	}
	l.reading = true
	l.kick.Stop() // this goroutine reads: the receiver need not wake
	l.rmu.Unlock()
	defer l.release()
	for !done() {
		if !l.readOne() {
			return
		}
		l.rmu.Lock()
		stop := l.inflight == 0 || l.rclosed
		l.rmu.Unlock()
		if stop {
			return
		}
	}
}

// readOne reads one message and reports it; false means the connection
// ended (for good: the role's holder marks it closed).
func (l *procLink) readOne() bool {
	p := l.p
	m := &l.msg
	if err := l.conn.Read(m); err != nil {
		if !errors.Is(err, io.EOF) {
			l.fault(err)
		}
		l.closeReading()
		return false
	}
	// A burst of answers frees a burst of calls: send them in one write.
	burst := l.conn.ReadBuffered()
	if burst && !l.held {
		l.held = true
		p.s.HoldWrites(l.w)
	}
	defer func() {
		if l.held && !l.conn.ReadBuffered() {
			l.held = false
			p.s.ReleaseWrites(l.w)
		}
	}()
	var err error
	switch m.Kind {
	case wire.KindStarted:
		err = p.s.Started(l.w, m.ID)
	case wire.KindRevoked:
		l.answered()
		err = p.s.Revoked(l.w, m.ID)
	case wire.KindResult, wire.KindError, wire.KindPanic, wire.KindBatchResult:
		l.answered()
		err = p.s.Answer(l.w, m, l.dec)
	default:
		err = fmt.Errorf("%w: the worker sent a %v message", wire.ErrProtocol, m.Kind)
	}
	if err != nil {
		l.fault(err)
		l.closeReading()
		return false
	}
	return true
}

// closeReading marks the connection over for every would-be reader.
func (l *procLink) closeReading() {
	l.rmu.Lock()
	l.rclosed = true
	l.rcond.Broadcast()
	l.rmu.Unlock()
}

// answered counts a call the worker answered or gave back.
func (l *procLink) answered() {
	l.rmu.Lock()
	l.inflight--
	l.rmu.Unlock()
}

// CheckHello compares a worker's hello with this process: its protocol
// version, its set-up, its dispatch table.
func CheckHello(h *wire.Hello) error {
	if h.Version != wire.Version {
		return fmt.Errorf("the worker speaks protocol version %d, this process %d: build both from the same futuresgen", h.Version, wire.Version)
	}
	if h.SetupError != "" {
		return fmt.Errorf("the worker's set-up failed: %s", h.SetupError)
	}
	return registry.CompareTables(registry.Table(), h.Tasks)
}

// tailBuffer keeps the last few KiB written to it, and the last line that
// heads a Go crash report ("fatal error: …", "panic: …"), which a long
// stack dump would push out of the tail.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte
	crash     string
	capturing bool // crash is a line still being written
}

var crashHeads = [][]byte{[]byte("fatal error: "), []byte("panic: "), []byte("runtime: goroutine stack exceeds")}

const tailSize = 4 << 10

// Write keeps the end of what it is given; it never fails.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := p
	if t.capturing {
		// The crash line goes on in this write (the runtime prints it
		// in pieces).
		line, _, found := bytes.Cut(rest, []byte("\n"))
		t.crash += string(line[:min(len(line), 300-len(t.crash))])
		t.capturing = !found && len(t.crash) < 300
	}
	at := -1 // the last crash head in this write
	for _, head := range crashHeads {
		if i := bytes.LastIndex(rest, head); i > at && (i == 0 || rest[i-1] == '\n') {
			at = i
		}
	}
	if at >= 0 {
		line, _, found := bytes.Cut(rest[at:], []byte("\n"))
		t.crash = string(line[:min(len(line), 300)])
		t.capturing = !found && len(t.crash) < 300
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// String returns the tail, led by the crash line when the tail lost it.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if i := bytes.IndexByte(b, '\n'); len(b) == tailSize && i >= 0 {
		b = b[i+1:] // drop the partial first line
	}
	if t.crash != "" && !bytes.Contains(b, []byte(t.crash)) {
		return t.crash + "\n…\n" + string(b)
	}
	return string(b)
}

// describeExit says how a process ended: its exit status or signal.
func describeExit(st *os.ProcessState) string {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("was killed by signal %v", ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", st.ExitCode())
}

// workerDied builds the ErrWorkerDied error for a worker that ended with
// state.
func workerDied(pid int, state *os.ProcessState, waitErr error, tail string) error {
	how := "ended"
	switch {
	case state != nil:
		how = describeExit(state)
	case waitErr != nil:
		how = waitErr.Error()
	}
	msg := fmt.Sprintf("%v: pid %d %s", errs.WorkerDied, pid, how)
	if tail = strings.TrimSpace(tail); tail != "" {
		msg += "; the end of its standard error:\n" + tail
	}
	return &errs.WorkerLost{Msg: msg}
}
