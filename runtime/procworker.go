package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"sync"
	"syscall"
	"time"

	"github.com/futuresgen/futuresgen/runtime/internal/wire"
)

// procWorker is the parent's side of one worker process.
type procWorker struct {
	p      *ProcessPool
	cmd    *exec.Cmd
	pid    int
	conn   *wire.Conn
	enc    *wire.Streams // used by the goroutine writing (see ProcessPool.unlock)
	dec    *wire.Streams // used by the receiver only
	tail   tailBuffer    // the end of the worker's standard error
	pipes  [2]*os.File   // our ends: to the worker, from the worker
	cause  error         // why the connection was given up on, if it was; under p.mu
	waited bool          // the process has been waited for; under p.mu

	// Under p.mu.
	ready    bool
	retiring bool // takes no new calls
	byeSent  bool
	dead     bool
	inflight []*pcall // handed to the worker, oldest (running) first
	assigned int
	outbox   []outItem
	sending  bool // a goroutine is writing to the worker
}

// outItem is a message waiting to be written to the worker.
type outItem struct {
	call   *pcall
	cancel uint64
	bye    bool
}

func defaultProcessWorkers() int { return goruntime.GOMAXPROCS(0) }

// startWorker starts a worker process in the background. p.mu is held.
func (p *ProcessPool) startWorker() {
	w := &procWorker{p: p, enc: wire.NewStreams(), dec: wire.NewStreams()}
	p.workers[w] = struct{}{}
	p.starting++
	p.stats.WorkerStarts++
	go w.run()
}

// send queues a message for the worker. p.mu is held.
func (w *procWorker) send(it outItem) {
	if w.dead {
		return
	}
	w.outbox = append(w.outbox, it) // written by p.unlock
}

// sayBye asks the worker to exit once its calls are done, and kills it if
// it has not within twice the grace period. p.mu is held.
func (w *procWorker) sayBye() {
	if w.byeSent || w.dead {
		return
	}
	w.byeSent = true
	w.send(outItem{bye: true})
	time.AfterFunc(2*w.p.grace, func() {
		w.p.mu.Lock()
		defer w.p.unlock()
		w.kill()
	})
}

// kill ends the worker process. p.mu is held.
func (w *procWorker) kill() {
	if w.cmd != nil && w.cmd.Process != nil && !w.dead {
		w.cmd.Process.Kill()
	}
}

// run starts the process and serves it until it ends.
func (w *procWorker) run() {
	p := w.p
	if err := w.start(); err != nil {
		p.mu.Lock()
		w.dead = true
		p.startFailures = maxStartFailures - 1 // one more failure breaks the pool: starting cannot work
		p.workerGone(w, fmt.Errorf("%w: starting a worker process: %w", ErrBrokenPool, err))
		p.unlock()
		return
	}
	received := make(chan struct{})
	go func() {
		defer close(received)
		w.receiver()
	}()
	startTimer := time.AfterFunc(p.startTimeout, func() {
		p.mu.Lock()
		defer p.unlock()
		if !w.ready && !w.dead {
			w.cause = fmt.Errorf("the worker process did not become ready within %v: does main (or TestMain) call runtime.ServeWorker() first?", p.startTimeout)
			w.kill()
		}
	})
	waitErr := w.cmd.Wait()
	startTimer.Stop()
	p.mu.Lock()
	w.waited = true // errors reading from now on are ours: we close the pipes
	p.mu.Unlock()
	// Close our ends of the pipes, so that the receiver sees the end of
	// its stream even if a process the worker started kept them open.
	for _, f := range w.pipes {
		f.Close()
	}
	<-received
	p.mu.Lock()
	w.dead = true
	cause := workerDied(w.pid, w.cmd.ProcessState, waitErr, w.tail.String())
	switch {
	case w.cause != nil:
		cause = fmt.Errorf("%w: %w", cause, w.cause)
	case !w.ready:
		cause = fmt.Errorf("%w (it ended before it was ready: does main call runtime.ServeWorker() first?)", cause)
	}
	p.workerGone(w, cause)
	p.unlock()
}

// start starts the worker process with its two pipes.
func (w *procWorker) start() error {
	argv := w.p.command
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
	growPipe(toW)
	growPipe(fromR)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), workerEnv+"="+fmt.Sprint(wire.Version))
	cmd.ExtraFiles = []*os.File{toR, fromW} // fd 3 and fd 4 in the worker
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, &w.tail)
	setProcAttr(cmd)
	err = cmd.Start()
	toR.Close()
	fromW.Close()
	if err != nil {
		toW.Close()
		fromR.Close()
		return err
	}
	w.p.mu.Lock()
	w.cmd = cmd
	w.pid = cmd.Process.Pid
	w.conn = wire.NewConn(fromR, toW, 0)
	w.pipes = [2]*os.File{toW, fromR}
	w.p.unlock()
	return nil
}

// unlock releases p.mu, then writes what the pool queued for its workers,
// in the goroutine that queued it: a submit writes its own call, without
// waking another goroutine. One goroutine at a time writes to a worker;
// what others queue meanwhile, it writes too.
func (p *ProcessPool) unlock() {
	for {
		type batch struct {
			w     *procWorker
			items []outItem
		}
		var todo []batch
		for w := range p.workers {
			if len(w.outbox) > 0 && !w.sending && !w.dead && w.conn != nil {
				w.sending = true
				todo = append(todo, batch{w, w.outbox})
				w.outbox = nil
			}
		}
		p.mu.Unlock()
		if len(todo) == 0 {
			return
		}
		for _, b := range todo {
			b.w.write(b.items)
		}
		p.mu.Lock()
		for _, b := range todo {
			b.w.sending = false
		}
	}
}

// write writes items to the worker, encoding call payloads in the order
// the calls were assigned.
func (w *procWorker) write(items []outItem) {
	p := w.p
	var m wire.Msg
	for _, it := range items {
		switch {
		case it.bye:
			m = wire.Msg{Kind: wire.KindBye}
		case it.call == nil:
			m = wire.Msg{Kind: wire.KindCancel, ID: it.cancel}
		default:
			c := it.call
			payload, err := c.encode(w)
			if err != nil {
				p.mu.Lock()
				p.finished(w, c, c.count)
				p.unlock()
				c.fail(fmt.Errorf("futuresgen: encoding the arguments of %s: %w", c.task, err))
				continue
			}
			m = wire.Msg{Kind: wire.KindCall, ID: c.id, Count: c.count, Task: c.task, Payload: payload}
			if c.batch {
				m.Kind = wire.KindBatch
			}
			if d, ok := c.ctx.Deadline(); ok {
				m.Deadline = d.UnixNano()
			}
		}
		if err := w.conn.Write(&m); err != nil {
			w.fault(fmt.Errorf("writing to the worker: %w", err))
			return
		}
	}
	if err := w.conn.Flush(); err != nil {
		w.fault(fmt.Errorf("writing to the worker: %w", err))
	}
}

// fault records why the connection failed and kills the worker; its death
// then fails the call it was running.
func (w *procWorker) fault(err error) {
	w.p.mu.Lock()
	defer w.p.unlock()
	if w.waited {
		return // the process has ended; its exit says why
	}
	if w.cause == nil {
		w.cause = err
	}
	w.kill()
}

// receiver reads the worker's hello, then its answers.
func (w *procWorker) receiver() {
	p := w.p
	var m wire.Msg
	if err := w.conn.Read(&m); err != nil {
		if !errors.Is(err, io.EOF) {
			w.fault(err)
		}
		return
	}
	if m.Kind != wire.KindHello || m.Hello == nil {
		w.fault(fmt.Errorf("%w: the worker's first message is a %v, not a hello", wire.ErrProtocol, m.Kind))
		return
	}
	if err := checkHello(m.Hello); err != nil {
		p.mu.Lock()
		p.breakPool(fmt.Errorf("%w: worker pid %d: %w", ErrBrokenPool, m.Hello.PID, err))
		p.startFailures = maxStartFailures
		w.retiring = true
		w.cause = err
		w.kill()
		p.unlock()
		return
	}
	p.mu.Lock()
	w.ready = true
	p.starting--
	p.startFailures = 0
	p.pump()
	p.unlock()

	for {
		if err := w.conn.Read(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				w.fault(err)
			}
			return
		}
		p.mu.Lock()
		var c *pcall
		for _, x := range w.inflight {
			if x.id == m.ID {
				c = x
				break
			}
		}
		p.unlock()
		if c == nil {
			w.fault(fmt.Errorf("%w: a %v for call %d, which the worker was not given", wire.ErrProtocol, m.Kind, m.ID))
			return
		}
		failed, err := c.deliver(w, &m)
		p.mu.Lock()
		p.finished(w, c, failed)
		p.unlock()
		if err != nil {
			w.fault(err)
			return
		}
	}
}

// checkHello compares a worker's hello with this process.
func checkHello(h *wire.Hello) error {
	if h.Version != wire.Version {
		return fmt.Errorf("the worker speaks protocol version %d, this process %d: build both from the same futuresgen", h.Version, wire.Version)
	}
	if h.SetupError != "" {
		return fmt.Errorf("the worker's set-up failed: %s", h.SetupError)
	}
	return compareTables(taskSigs(), h.Tasks)
}

// compareTables names the first task whose registration differs between
// this process (mine) and a worker (theirs).
func compareTables(mine, theirs []wire.TaskSig) error {
	i, j := 0, 0
	for i < len(mine) || j < len(theirs) {
		switch {
		case j == len(theirs) || i < len(mine) && mine[i].Name < theirs[j].Name:
			return fmt.Errorf("the worker's dispatch table differs from this process's: the worker has no task %q (%s); rebuild the worker binary", mine[i].Name, mine[i].Signature)
		case i == len(mine) || mine[i].Name > theirs[j].Name:
			return fmt.Errorf("the worker's dispatch table differs from this process's: this process has no task %q (%s); rebuild the worker binary", theirs[j].Name, theirs[j].Signature)
		case mine[i].Signature != theirs[j].Signature:
			return fmt.Errorf("the worker's dispatch table differs from this process's: task %q is %s here and %s in the worker; rebuild the worker binary", mine[i].Name, mine[i].Signature, theirs[j].Signature)
		}
		i++
		j++
	}
	return nil
}

// taskSigs returns this process's dispatch table.
func taskSigs() []wire.TaskSig {
	tasks := Tasks()
	sigs := make([]wire.TaskSig, len(tasks))
	for i, t := range tasks {
		sigs[i] = wire.TaskSig{Name: t.Name, Signature: t.Signature}
	}
	return sigs
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
