package worker

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is one way this program can be started as a worker process: by a
// ProcessPool (package runtime registers it), or by a cluster's
// StartLocal (package cluster does, when a program links it). Each is
// registered once, at init, with RegisterMode; runtime.ServeWorker then
// serves the process in the mode it was started in, if any.
type Mode struct {
	// Name says who starts such workers, for messages: "ProcessPool".
	Name string
	// Env is the environment variable that marks a process started in
	// this mode; its value is the mode's own.
	Env string
	// Check, if set, says why a marked process is not such a worker
	// after all (the marker was set by hand, say): it then runs as an
	// ordinary program, told so on standard error.
	Check func(marker string) error
	// Serve serves the process, which was started with marker, with the
	// program's set-up (nil if none), and returns its exit status.
	Serve func(marker string, setup func(context.Context) error) int
}

// guardDelay is how long a process started as a worker may run without
// calling ServeWorker before it gives up.
const guardDelay = 3 * time.Second

var modes struct {
	sync.Mutex
	started *Mode  // the mode this process was started in, or nil
	marker  string // its marker
}

// serving is set once ServeProcess took this process over.
var serving atomic.Bool

// RegisterMode adds m. If this process was started in mode m, it becomes
// a worker of that mode: ServeProcess serves it, and if main does not
// call ServeProcess (through runtime.ServeWorker) within a few seconds,
// or starts a pool or a cluster first (Guard), the process exits: it
// would run the program a second time, and start workers of its own.
func RegisterMode(m Mode) {
	marker, ok := os.LookupEnv(m.Env)
	if !ok {
		return
	}
	if m.Check != nil {
		if err := m.Check(marker); err != nil {
			fmt.Fprintf(os.Stderr, "futuresgen: ignoring %s=%s: %v; this process runs as an ordinary program\n", m.Env, marker, err)
			os.Unsetenv(m.Env)
			return
		}
	}
	modes.Lock()
	defer modes.Unlock()
	if modes.started != nil {
		return // the first mode registered wins
	}
	modes.started, modes.marker = &m, marker
	time.AfterFunc(guardDelay, func() {
		if !serving.Load() {
			notAWorker(&m)
		}
	})
}

// ServeProcess serves this process as the worker it was started as, with
// the program's set-up (nil if none), and exits with the mode's status.
// In a process not started as a worker it returns at once.
func ServeProcess(setup func(context.Context) error) {
	modes.Lock()
	m, marker := modes.started, modes.marker
	modes.Unlock()
	if m == nil {
		return
	}
	serving.Store(true)
	os.Unsetenv(m.Env) // a task's own subprocesses are not workers
	os.Exit(m.Serve(marker, setup))
}

// Guard stops a process that was started as a worker, and whose main
// did not call runtime.ServeWorker, before it starts workers of its own:
// no fork bomb. Executors that start worker processes call it first.
func Guard() {
	modes.Lock()
	m := modes.started
	modes.Unlock()
	if m != nil && !serving.Load() {
		notAWorker(m)
	}
}

func notAWorker(m *Mode) {
	fmt.Fprintf(os.Stderr, "futuresgen: this process was started as a %s worker, but its main did not call runtime.ServeWorker() first; exiting\n", m.Name)
	os.Exit(3)
}
