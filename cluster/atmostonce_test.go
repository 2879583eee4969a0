package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// runs returns the pids of the worker processes on which the recorded
// task name ran, one per run.
func runs(t *testing.T, dir, name string) []int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "run-"+name+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		pid, _ := strconv.Atoi(string(b))
		pids = append(pids, pid)
	}
	return pids
}

// TestAStoppedWorkerRunsNothingTwice stops a worker process (SIGSTOP: what
// a driver sees of a host that hangs) while it holds calls sent ahead,
// until the driver declares it lost and runs what it held elsewhere; then
// resumes it. No task may run twice (nothing allows a retry), and every
// task whose future succeeded ran exactly once. The window in which a
// resumed worker could start a call it held is milliseconds wide, so the
// scenario is repeated.
func TestAStoppedWorkerRunsNothingTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tries := 4
	if testing.Short() {
		tries = 1
	}
	for try := range tries {
		t.Run(fmt.Sprint("try ", try), func(t *testing.T) {
			l := startLocal(t, Workers(2))
			// Calls go ahead to busy workers whatever their tasks' age, and
			// a silent worker is lost after 2s.
			ex := newDriver(t, l, option{exec: func(c *executorConfig) { c.slowAfter, c.lostAfter = time.Hour, 2*time.Second }})
			g := newGate(t)
			fa := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("a"))
			fb := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("b"))
			stopped, other := g.worker("a"), g.worker("b")
			if stopped == other {
				t.Fatalf("both gates run on worker %d; want one on each", stopped)
			}
			dir := t.TempDir()
			var qs []*runtime.Future[int]
			for i := range 4 {
				qs = append(qs, futuresimpl.SubmitTask(ctx, ex, taskRecord, gateArgs{Dir: dir, Name: fmt.Sprint("q", i)}))
			}
			syscall.Kill(stopped, syscall.SIGSTOP)
			resumed := false
			resume := func() {
				if !resumed {
					resumed = true
					syscall.Kill(stopped, syscall.SIGCONT)
				}
			}
			t.Cleanup(resume)
			if err := fa.Err(ctx); !errors.Is(err, runtime.ErrWorkerDied) {
				t.Errorf("the gate on the stopped worker: %v; want ErrWorkerDied", err)
			}
			// The other worker runs what it held, and what the stopped one
			// held, once its gate opens.
			os.WriteFile(filepath.Join(g.dir, "open"), nil, 0o644)
			if _, err := fb.Result(ctx); err != nil {
				t.Errorf("the gate on the other worker: %v", err)
			}
			for _, q := range qs {
				<-q.Done()
			}
			resume()
			// A barrier: once the resumed worker has rejoined and started a
			// new task, it has decided what became of the calls it held (it
			// frees its slot for nothing else first).
			waitFor(t, "the resumed worker rejoins", func() bool { return ex.Stats().Workers == 2 })
			g2 := newGate(t)
			fc := futuresimpl.SubmitTask(ctx, ex, taskGate, g2.args("c"))
			fd := futuresimpl.SubmitTask(ctx, ex, taskGate, g2.args("d"))
			if pc, pd := g2.worker("c"), g2.worker("d"); pc != stopped && pd != stopped {
				t.Fatalf("the barrier tasks ran on %d and %d; want one on the resumed worker %d", pc, pd, stopped)
			}
			g2.open()
			fc.Err(ctx)
			fd.Err(ctx)
			for i, q := range qs {
				name := fmt.Sprint("q", i)
				ran := runs(t, dir, name)
				_, err := q.Result(ctx)
				switch {
				case len(ran) > 1:
					t.Errorf("%s ran %d times, on workers %v (the stopped one is %d); want at most once without Retries", name, len(ran), ran, stopped)
				case err == nil && len(ran) != 1:
					t.Errorf("%s succeeded but ran %d times", name, len(ran))
				case err != nil && !errors.Is(err, runtime.ErrWorkerDied):
					t.Errorf("%s failed with %v; want success, or ErrWorkerDied", name, err)
				}
			}
		})
	}
}

// TestShutdownAtOnceRunsWhatWasSubmitted shuts a new driver down right
// after it submitted, before its workers have joined it: Shutdown runs
// what was submitted, as Python's shutdown(wait=True) does, and returns
// once every future is done.
func TestShutdownAtOnceRunsWhatWasSubmitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(2))
	for try := range 3 {
		ex, err := l.NewExecutor()
		if err != nil {
			t.Fatal(err)
		}
		var fs []*runtime.Future[int]
		for range 3 + 5*try {
			fs = append(fs, futuresimpl.SubmitTask(ctx, ex, taskSleep, 50*time.Millisecond))
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = ex.Shutdown(sctx)
		cancel()
		if err != nil {
			t.Fatalf("try %d: Shutdown() = %v, Stats() = %+v; want nil", try, err, ex.Stats())
		}
		for i, f := range fs {
			if st := f.State(); st != runtime.Finished {
				t.Errorf("try %d: future %d is %v after Shutdown; want Finished", try, i, st)
			} else if _, err := f.Result(ctx); err != nil {
				t.Errorf("try %d: future %d: %v", try, i, err)
			}
		}
	}
}
