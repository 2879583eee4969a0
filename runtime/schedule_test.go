package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// gateArgs name a gate: a task that takes them marks that it started by
// creating Dir/started-Name, then waits until Dir/open exists. Files work
// across processes, so a test can see which tasks run at once in which
// workers without sleeping.
type gateArgs struct {
	Dir, Name string
}

var taskGate = futuresimpl.RegisterTask("test.gate", func(ctx context.Context, g gateArgs) (int, error) {
	if err := os.WriteFile(filepath.Join(g.Dir, "started-"+g.Name), nil, 0o644); err != nil {
		return 0, err
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(g.Dir, "open")); err == nil {
			return os.Getpid(), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
})

// gate is the test's side of a set of gated tasks.
type gate struct {
	t   *testing.T
	dir string
}

// newGate returns a closed gate, opened when the test ends so that no
// task outlives it (create it after the pool: cleanups run last first).
func newGate(t *testing.T) *gate {
	g := &gate{t: t, dir: t.TempDir()}
	t.Cleanup(func() { os.WriteFile(filepath.Join(g.dir, "open"), nil, 0o644) })
	return g
}

func (g *gate) args(name string) gateArgs { return gateArgs{Dir: g.dir, Name: name} }

// started reports whether the gated task called name has started.
func (g *gate) started(name string) bool {
	_, err := os.Stat(filepath.Join(g.dir, "started-"+name))
	return err == nil
}

// open lets every gated task return.
func (g *gate) open() {
	if err := os.WriteFile(filepath.Join(g.dir, "open"), nil, 0o644); err != nil {
		g.t.Fatal(err)
	}
}

func TestProcessPoolSlowTasksRunSideBySide(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 4
	p := processPool(t, runtime.MaxWorkers(n))
	g := newGate(t)
	names := []string{"a", "b", "c", "d"}
	var fs []*runtime.Future[int]
	for _, name := range names {
		fs = append(fs, futuresimpl.SubmitTask(ctx, p, taskGate, g.args(name)))
	}
	eventually(t, "all four tasks have started at once, one per worker", func() bool {
		for _, name := range names {
			if !g.started(name) {
				return false
			}
		}
		return true
	})
	for i, f := range fs {
		if st := f.State(); st != runtime.Running {
			t.Errorf("task %s is %v while it runs; want Running", names[i], st)
		}
	}
	g.open()
	pids := map[int]bool{}
	for _, f := range fs {
		pid, err := f.Result(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pids[pid] = true
	}
	if len(pids) != n {
		t.Errorf("the %d tasks ran in %d worker processes; want %d", n, len(pids), n)
	}
}

func TestProcessPoolShortTasksPassALongOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))
	g := newGate(t)
	long := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("long"))
	eventually(t, "the long task has started", func() bool { return g.started("long") })
	var short []*runtime.Future[int]
	for i := range 100 {
		short = append(short, futuresimpl.SubmitTask(ctx, p, taskDouble, i))
	}
	// Every short task finishes on the other worker while the long one
	// runs: none waits behind it.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for i, f := range short {
		if v, err := f.Result(wctx); err != nil || v != 2*i {
			t.Fatalf("short task %d = %v, %v while the long task runs; want %d, nil", i, v, err, 2*i)
		}
	}
	if st := long.State(); st != runtime.Running {
		t.Errorf("the long task is %v; want Running", st)
	}
	g.open()
	if _, err := long.Result(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestProcessPoolCancelPendingSpareCallsSentAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := runtime.NewProcessPool(runtime.MaxWorkers(1))
	g := newGate(t)
	running := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("running"))
	eventually(t, "the first task has started", func() bool { return g.started("running") })
	var waiting []*runtime.Future[int]
	for i := range 6 {
		waiting = append(waiting, futuresimpl.SubmitTask(ctx, p, taskDouble, i))
	}
	for i, f := range waiting {
		if st := f.State(); st != runtime.Pending {
			t.Errorf("task %d waits behind a running one but is %v; want Pending", i, st)
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx, runtime.CancelPending()) }()
	for i, f := range waiting {
		if err := f.Err(ctx); !errors.Is(err, runtime.ErrCancelled) {
			t.Errorf("task %d never started; after CancelPending its error is %v; want ErrCancelled", i, err)
		}
	}
	// The running task's context ends: it returns context.Canceled.
	if err := running.Err(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("the running task's error = %v; want context.Canceled", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Cancelled != 6 || s.Queued != 0 || s.Running != 0 {
		t.Errorf("Stats() = %+v; want 6 cancelled, none queued or running", s)
	}
}

func TestProcessPoolQueueLimitCountsCallsSentAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1), runtime.QueueLimit(2))
	g := newGate(t)
	first := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("first"))
	eventually(t, "the first task has started", func() bool { return g.started("first") })
	var through atomic.Int32
	var wg sync.WaitGroup
	fs := make([]*runtime.Future[int], 8)
	for i := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs[i] = futuresimpl.SubmitTask(ctx, p, taskDouble, i)
			through.Add(1)
		}()
	}
	eventually(t, "two submits went through", func() bool { return through.Load() >= 2 })
	// Give the other six every chance to get through wrongly: each
	// submit that returns is a call counted as waiting.
	for range 50 {
		time.Sleep(time.Millisecond)
		if n := through.Load(); n > 2 {
			t.Fatalf("%d submits returned while one task runs on the only worker; QueueLimit(2) allows 2", n)
		}
	}
	g.open()
	wg.Wait()
	if _, err := first.Result(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		if v, err := f.Result(ctx); err != nil || v != 2*i {
			t.Errorf("task %d = %v, %v; want %d, nil", i, v, err, 2*i)
		}
	}
}

func TestProcessPoolCancelFreesQueueLimitAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1), runtime.QueueLimit(1))
	g := newGate(t)
	first := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("first"))
	eventually(t, "the first task has started", func() bool { return g.started("first") })
	queued := futuresimpl.SubmitTask(ctx, p, taskDouble, 1)
	next := make(chan *runtime.Future[int], 1)
	go func() { next <- futuresimpl.SubmitTask(ctx, p, taskDouble, 2) }()
	if !queued.Cancel() {
		t.Fatalf("Cancel() of a queued future = false; state %v", queued.State())
	}
	if s := p.Stats(); s.Cancelled != 1 {
		t.Errorf("Stats().Cancelled = %d right after Cancel; want 1", s.Cancelled)
	}
	var f *runtime.Future[int]
	select {
	case f = <-next:
	case <-time.After(20 * time.Second):
		t.Fatal("a submit still waits for a QueueLimit slot that a cancelled future holds")
	}
	g.open()
	if v, err := f.Result(ctx); err != nil || v != 4 {
		t.Errorf("the submit after the cancel = %v, %v; want 4, nil", v, err)
	}
	if _, err := first.Result(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestProcessPoolCancelOfACallSentAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	g := newGate(t)
	first := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("first"))
	eventually(t, "the first task has started", func() bool { return g.started("first") })
	second := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("second"))
	if !second.Cancel() {
		t.Fatalf("Cancel() of a task waiting behind a running one = false; state %v", second.State())
	}
	g.open()
	if _, err := first.Result(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Err(ctx); !errors.Is(err, runtime.ErrCancelled) {
		t.Errorf("the cancelled future's error = %v; want ErrCancelled", err)
	}
	// Let the worker finish anything it was sent, then check the
	// cancelled task never ran.
	if _, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Result(ctx); err != nil {
		t.Fatal(err)
	}
	if g.started("second") {
		t.Error("a future whose Cancel returned true ran its task")
	}
}

func TestThreadPoolAsCompletedBodyIsNotABlockedWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer p.Close()
	inBody := make(chan struct{})
	release := make(chan struct{})
	outer := runtime.Submit(ctx, p, func(ctx context.Context) (int, error) {
		f := runtime.Submit(ctx, p, value(1))
		for range runtime.AsCompleted(ctx, f) {
			close(inBody)
			<-release // the loop body runs: this worker is busy, not waiting
		}
		return 0, nil
	})
	<-inBody
	// The worker that ran the awaited task while outer waited is idle;
	// the submit wakes it. It may run other only if outer still counts
	// as blocked: then two tasks would run at once with MaxWorkers(1).
	other := runtime.Submit(ctx, p, value(2))
	eventually(t, "the spare worker left, or the other task started", func() bool {
		return p.Stats().Workers == 1 || other.State() != runtime.Pending
	})
	if st := other.State(); st != runtime.Pending {
		t.Errorf("another task is %v while one runs an AsCompleted loop body and MaxWorkers is 1; want Pending", st)
	}
	close(release)
	if _, err := outer.Result(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := other.Result(ctx); v != 2 || err != nil {
		t.Errorf("other = %v, %v", v, err)
	}
}

// TestProcessPoolEachFutureGetsItsOwnResult submits many short tasks at
// once, so that calls go ahead and answers overlap with new calls: every
// future must get the answer to its own call.
func TestProcessPoolEachFutureGetsItsOwnResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))
	fs := make([]*runtime.Future[int], 20000)
	for i := range fs {
		fs[i] = futuresimpl.SubmitTask(ctx, p, taskDouble, i)
	}
	for i, f := range fs {
		if v, err := f.Result(ctx); v != 2*i || err != nil {
			t.Fatalf("task %d = %d, %v; want %d", i, v, err, 2*i)
		}
	}
}
