package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// The worker processes of a Local: started, watched, and restarted when
// they exit before Close.

// localProc is one worker process.
type localProc struct {
	name  string // "local-3": how drivers know it, with its host and pid
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{} // closed once it ended and was waited for
	err   error
}

// Restarting worker processes: the pause before a restart starts at
// restartPause and doubles (up to restartPauseMax) while they keep
// exiting; after maxLocalStartFailures in a row that exited before they
// joined, the worker is given up on.
const (
	restartPause          = 100 * time.Millisecond
	restartPauseMax       = 5 * time.Second
	maxLocalStartFailures = 3
)

// startWorker starts a worker process, with extra environment variables
// if given (tests).
func (l *Local) startWorker(extra ...string) (*localProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to run as a worker: %w", err)
	}
	l.mu.Lock()
	l.seq++
	w := l.worker
	w.Name = fmt.Sprintf("local-%d", l.seq)
	extra = append(extra, l.extraEnv...)
	l.mu.Unlock()
	raw, _ := json.Marshal(w)
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), localEnv+"="+string(raw)), extra...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group (a terminal's Ctrl-C is the driver's to act
	// on), killed if this process dies; it drains and exits when its
	// standard input closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a worker process: %w", err)
	}
	p := &localProc{name: w.Name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		l.mu.Lock()
		close(l.exited)
		l.exited = make(chan struct{})
		l.mu.Unlock()
	}()
	return p, nil
}

// watch restarts p when it exits before Close, and its successors in
// turn, pausing longer each time they exit quickly.
func (l *Local) watch(p *localProc) {
	defer l.watchers.Done()
	pause, failures := restartPause, 0
	for {
		select {
		case <-p.done:
		case <-l.closing:
			return
		}
		l.forget(p)
		if l.ex.d.joinedAs(p.name) {
			pause, failures = restartPause, 0
		} else if failures++; failures >= maxLocalStartFailures {
			l.log.Error("futuresgen cluster: gave up restarting a local worker process: it exited before it joined the cluster, again and again (does main call runtime.ServeWorker() first?)",
				"worker", p.name, "tries", failures, "err", describeExit(p))
			return
		}
		l.log.Warn("futuresgen cluster: a local worker process exited; starting another", "worker", p.name, "err", describeExit(p), "after", pause)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-l.closing:
			t.Stop()
			return
		}
		pause = min(2*pause, restartPauseMax)
		next, err := l.startWorker()
		if err != nil {
			l.log.Error("futuresgen cluster: gave up restarting a local worker process", "worker", p.name, "err", err)
			return
		}
		p = next
	}
}

// describeExit says how p ended.
func describeExit(p *localProc) string {
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// forget removes p, which has ended, from the processes.
func (l *Local) forget(p *localProc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, q := range l.procs {
		if q == p {
			l.procs = append(l.procs[:i], l.procs[i+1:]...)
			return
		}
	}
}

// waitWorkers waits until n workers joined the driver, failing as soon as
// a worker process ends before then.
func (l *Local) waitWorkers(ctx context.Context, n int) error {
	for {
		l.ex.d.mu.Lock()
		joined := l.ex.d.joined
		l.ex.d.mu.Unlock()
		l.mu.Lock()
		exited := l.exited
		var dead *localProc
		for _, p := range l.procs {
			select {
			case <-p.done:
				dead = p
			default:
			}
		}
		l.mu.Unlock()
		if l.ex.Stats().Workers >= n {
			return nil
		}
		if dead != nil {
			return fmt.Errorf("worker process %d ended before it joined (%v): does main call runtime.ServeWorker() first?", dead.cmd.Process.Pid, dead.err)
		}
		select {
		case <-joined:
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pids returns the process IDs of the worker processes alive now.
func (l *Local) pids() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pids []int
	for _, p := range l.procs {
		select {
		case <-p.done:
		default:
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// joinedAs reports whether a worker named name (StartLocal's name for a
// worker process, before its host and pid) ever joined the driver.
func (d *driver) joinedAs(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range d.known {
		if strings.HasPrefix(k.name, name+" (") {
			return true
		}
	}
	return false
}
