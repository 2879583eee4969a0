package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/futuresgen/futuresgen/internal/proc"
	"github.com/futuresgen/futuresgen/internal/wire"
	"github.com/futuresgen/futuresgen/internal/worker"
)

func init() {
	// A process that a ProcessPool started serves its pipes: fds 3 and 4,
	// marked with the protocol version.
	worker.RegisterMode(worker.Mode{
		Name: "ProcessPool",
		Env:  proc.Env,
		Check: func(string) error {
			if !proc.IsPipe(3) || !proc.IsPipe(4) {
				return errors.New("this process was not started by a ProcessPool (file descriptors 3 and 4 are not its pipes)")
			}
			return nil
		},
		Serve: serveProcess,
	})
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
// tests that use a ProcessPool or a cluster. In an ordinary run it returns
// at once. In a process that a ProcessPool started as its worker (or, in
// a program that links package cluster, one that a cluster started), it
// serves tasks until it is let go or its parent process ends, and then
// exits the process: it never returns.
//
// A process started as a worker whose main does not call ServeWorker
// exits with status 3 after a few seconds, or as soon as it creates a
// ProcessPool, and its pool reports that main must call ServeWorker. A
// process that merely has the marker in its environment (set by hand) is
// told so on standard error and runs as an ordinary program.
func ServeWorker(opts ...WorkerOption) {
	var cfg workerConfig
	for _, o := range opts {
		o(&cfg)
	}
	worker.ServeProcess(cfg.setup)
}

// serveProcess serves the pool's pipes and returns the exit status.
func serveProcess(marker string, setup func(context.Context) error) int {
	out := wire.NewStreams()
	switch marker {
	case proc.Marker(false):
	case proc.Marker(true):
		out = wire.NewSelfContainedStreams() // a relay forwards the results as they are
	default:
		fmt.Fprintf(os.Stderr, "futuresgen: this worker speaks protocol version %d, but its pool marked it %s=%s: build the worker and the pool from the same futuresgen\n", wire.Version, proc.Env, marker)
		return 2
	}
	// The pipes are this process's alone: not a task's subprocesses'.
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	// Signals from a terminal are the parent's to act on: it ends the
	// tasks' contexts. Caught, not ignored, so that subprocesses of tasks
	// start with the default action.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	conn := wire.NewConn(os.NewFile(3, "futuresgen-from-parent"), os.NewFile(4, "futuresgen-to-parent"), wire.DefaultMaxPayload)
	err := worker.Serve(context.Background(), conn, worker.ServeConfig{Slots: 1, Setup: setup, MaxPayload: wire.DefaultMaxPayload, Out: out})
	switch {
	case errors.Is(err, worker.ErrBye), errors.Is(err, io.EOF):
		return 0 // let go, or the parent is gone: leave, whatever runs
	case errors.Is(err, worker.ErrSetup):
		return 1
	}
	return 2
}
