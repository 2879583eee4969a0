package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// TestScheduling is the runtime's scheduling tests (runtime/schedule_test.go)
// on a cluster of two workers of one slot each. The subtests take turns:
// each holds the workers with gated tasks.
func TestScheduling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(2))

	t.Run("slow tasks run side by side, one per worker", func(t *testing.T) {
		ex := newDriver(t, l)
		g := newGate(t)
		a := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("a"))
		b := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("b"))
		wa, wb := g.worker("a"), g.worker("b")
		if wa == wb {
			t.Errorf("both tasks run on worker %d at once; it has one slot", wa)
		}
		// Running once the driver has the worker's word that it started.
		waitFor(t, "both futures are Running", func() bool { return a.State() == runtime.Running && b.State() == runtime.Running })
		g.open()
		for _, f := range []*runtime.Future[where]{a, b} {
			if _, err := f.Result(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("short tasks pass a long one", func(t *testing.T) {
		ex := newDriver(t, l)
		g := newGate(t)
		long := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("long"))
		g.worker("long")
		var short []*runtime.Future[int]
		for i := range 100 {
			short = append(short, futuresimpl.SubmitTask(ctx, ex, taskDouble, i))
		}
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
	})

	t.Run("a queued future cancels, and never runs", func(t *testing.T) {
		ex := newDriver(t, l, With(runtime.MaxWorkers(1)))
		g := newGate(t)
		first := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("first"))
		g.worker("first")
		second := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("second"))
		if st := second.State(); st != runtime.Pending {
			t.Errorf("a task beyond MaxWorkers(1) is %v; want Pending", st)
		}
		if !second.Cancel() {
			t.Fatalf("Cancel() of a queued future = false; state %v", second.State())
		}
		g.open()
		if _, err := first.Result(ctx); err != nil {
			t.Fatal(err)
		}
		if err := second.Err(ctx); !errors.Is(err, runtime.ErrCancelled) {
			t.Errorf("the cancelled future's error = %v; want ErrCancelled", err)
		}
		if _, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 1).Result(ctx); err != nil {
			t.Fatal(err)
		}
		if g.started("second") {
			t.Error("a future whose Cancel returned true ran its task")
		}
	})

	t.Run("CancelPending cancels what waits and ends what runs", func(t *testing.T) {
		ex, err := l.NewExecutor(With(runtime.MaxWorkers(1)))
		if err != nil {
			t.Fatal(err)
		}
		ex.WaitForWorkers(ctx, 2)
		g := newGate(t)
		running := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("running"))
		g.worker("running")
		var waiting []*runtime.Future[int]
		for i := range 6 {
			waiting = append(waiting, futuresimpl.SubmitTask(ctx, ex, taskDouble, i))
		}
		if err := ex.Shutdown(ctx, runtime.CancelPending()); err != nil {
			t.Fatal(err)
		}
		for i, f := range waiting {
			if err := f.Err(ctx); !errors.Is(err, runtime.ErrCancelled) {
				t.Errorf("task %d never started; after CancelPending its error is %v; want ErrCancelled", i, err)
			}
		}
		if err := running.Err(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("the running task's error = %v; want context.Canceled", err)
		}
		if s := ex.Stats(); s.Cancelled != 6 || s.Queued != 0 || s.Running != 0 {
			t.Errorf("Stats() = %+v; want 6 cancelled, none queued or running", s)
		}
	})

	t.Run("QueueLimit counts the tasks waiting to start", func(t *testing.T) {
		ex := newDriver(t, l, With(runtime.MaxWorkers(1), runtime.QueueLimit(2)))
		g := newGate(t)
		first := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("first"))
		g.worker("first")
		var through, early atomic.Int32
		var opened atomic.Bool
		var wg sync.WaitGroup
		fs := make([]*runtime.Future[int], 8)
		for i := range fs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fs[i] = futuresimpl.SubmitTask(ctx, ex, taskDouble, i)
				through.Add(1)
				if !opened.Load() {
					early.Add(1) // through while the first task held the only worker
				}
			}()
		}
		waitFor(t, "two submits went through", func() bool { return through.Load() >= 2 })
		opened.Store(true)
		g.open()
		wg.Wait()
		if n := early.Load(); n > 2 {
			t.Errorf("%d submits returned while one task ran and MaxWorkers is 1; QueueLimit(2) allows 2", n)
		}
		if _, err := first.Result(ctx); err != nil {
			t.Fatal(err)
		}
		for i, f := range fs {
			if v, err := f.Result(ctx); err != nil || v != 2*i {
				t.Errorf("task %d = %v, %v; want %d, nil", i, v, err, 2*i)
			}
		}
	})

	t.Run("two drivers share two workers without starving or overfilling them", func(t *testing.T) {
		a, b := newDriver(t, l), newDriver(t, l)
		dir := t.TempDir()
		var fa, fb []*runtime.Future[int]
		for range 12 {
			fa = append(fa, futuresimpl.SubmitTask(ctx, a, taskCount, dir))
			fb = append(fb, futuresimpl.SubmitTask(ctx, b, taskCount, dir))
		}
		for i := range fa {
			if _, err := fa[i].Result(ctx); err != nil {
				t.Fatalf("driver a, task %d: %v", i, err)
			}
			if _, err := fb[i].Result(ctx); err != nil {
				t.Fatalf("driver b, task %d: %v", i, err)
			}
		}
		if most := readInt(filepath.Join(dir, "max")); most < 1 || most > 2 {
			t.Errorf("%d tasks ran at once on two workers of one slot each", most)
		}
		for name, ex := range map[string]*Executor{"a": a, "b": b} {
			if s := ex.Stats(); s.Completed != 12 || s.Lost != 0 {
				t.Errorf("driver %s: Stats() = %+v; want 12 completed, no worker lost", name, s)
			}
		}
	})

	t.Run("Cancel frees a QueueLimit slot at once", func(t *testing.T) {
		ex := newDriver(t, l, With(runtime.MaxWorkers(1), runtime.QueueLimit(1)))
		g := newGate(t)
		first := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("first"))
		g.worker("first")
		queued := futuresimpl.SubmitTask(ctx, ex, taskDouble, 1)
		next := make(chan *runtime.Future[int], 1)
		go func() { next <- futuresimpl.SubmitTask(ctx, ex, taskDouble, 2) }()
		if !queued.Cancel() {
			t.Fatalf("Cancel() of a queued future = false; state %v", queued.State())
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
	})
}

// TestServeDrains runs a worker in this process (InProcess) and ends its
// context while a task runs: the task finishes and its result arrives,
// Serve returns nil, the driver sees the worker leave, not die, and a
// task submitted meanwhile is not lost.
func TestServeDrains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(0))
	ex := l.Executor()
	nc, err := Connect(l.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	serve := func(ctx context.Context) chan error {
		served := make(chan error, 1)
		go func() { served <- Serve(ctx, nc, InProcess(), Slots(1)) }()
		return served
	}
	sctx, stop := context.WithCancel(ctx)
	served := serve(sctx)
	if err := ex.WaitForWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	g := newGate(t)
	f := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("a"))
	waitFor(t, "the task has started", func() bool { return g.started("a") })
	stop()
	later := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21)
	g.open()
	if _, err := f.Result(ctx); err != nil {
		t.Errorf("the task running while its worker drained: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v after its context ended; want nil", err)
	}
	waitFor(t, "the driver let the worker go", func() bool { return ex.Stats().Workers == 0 })
	// later ran on the worker before it heard of the leave, or waits for
	// the next one: either way it is not lost.
	next, stopNext := context.WithCancel(ctx)
	defer stopNext()
	served = serve(next)
	if v, err := later.Result(ctx); v != 42 || err != nil {
		t.Errorf("the task that waited for a worker: %v, %v; want 42, nil", v, err)
	}
	if s := ex.Stats(); s.Lost != 0 || s.Completed != 2 {
		t.Errorf("Stats() = %+v; want 2 completed and no worker lost", s)
	}
	stopNext()
	if err := <-served; err != nil {
		t.Errorf("the second Serve() = %v; want nil", err)
	}
}
