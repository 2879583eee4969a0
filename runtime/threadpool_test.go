package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/runtime"
)

// eventually polls cond until it holds, failing the test after a generous
// bound. It waits for a state to be reached; it never measures speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func value[T any](v T) func(context.Context) (T, error) {
	return func(context.Context) (T, error) { return v, nil }
}

func TestThreadPoolDefaultWorkers(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool()
	defer p.Close()
	if want := min(32, goruntime.GOMAXPROCS(0)+4); runtime.MaxWorkersOf(p) != want {
		t.Errorf("default MaxWorkers = %d; want min(32, GOMAXPROCS+4) = %d", runtime.MaxWorkersOf(p), want)
	}
	if n := p.Stats().Workers; n != 0 {
		t.Errorf("a new pool has %d workers; want 0 (workers start lazily)", n)
	}
	runtime.Submit(context.Background(), p, value(1)).Result(context.Background())
	if n := p.Stats().Workers; n != 1 {
		t.Errorf("after one task the pool has %d workers; want 1", n)
	}
}

func TestThreadPoolMaxWorkers(t *testing.T) {
	t.Parallel()
	const max, tasks = 3, 20
	p := runtime.NewThreadPool(runtime.MaxWorkers(max))
	defer p.Close()
	var active, peak atomic.Int32
	gate := make(chan struct{})
	fs := make([]*runtime.Future[int], tasks)
	for i := range fs {
		fs[i] = runtime.Submit(context.Background(), p, func(context.Context) (int, error) {
			n := active.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			<-gate
			active.Add(-1)
			return i, nil
		})
	}
	eventually(t, "3 tasks run", func() bool { return p.Stats().Running == max })
	if s := p.Stats(); s.Queued != tasks-max || s.Workers != max {
		t.Errorf("Stats() = %+v; want %d queued on %d workers", s, tasks-max, max)
	}
	close(gate)
	for i, f := range fs {
		if v, err := f.Result(context.Background()); v != i || err != nil {
			t.Errorf("future %d: Result() = %v, %v", i, v, err)
		}
	}
	if got := peak.Load(); got != max {
		t.Errorf("peak concurrency = %d; want %d", got, max)
	}
}

func TestThreadPoolQueueLimit(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool(runtime.MaxWorkers(1), runtime.QueueLimit(2))
	defer p.Close()
	blocker, release := runningFuture(t, p, 0)
	q1 := runtime.Submit(context.Background(), p, value(1))
	q2 := runtime.Submit(context.Background(), p, value(2))
	if s := p.Stats(); s.Queued != 2 {
		t.Fatalf("Queued = %d; want 2", s.Queued)
	}

	// A full queue makes submit wait; a submit whose context ends gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	late := runtime.Submit(ctx, p, value(3))
	if err := late.Err(context.Background()); err != context.DeadlineExceeded {
		t.Errorf("submit to a full queue: Err() = %v; want DeadlineExceeded", err)
	}

	// A submit that waits goes through once there is room.
	submitted := make(chan *runtime.Future[int])
	go func() { submitted <- runtime.Submit(context.Background(), p, value(4)) }()
	select {
	case <-submitted:
		t.Fatal("submit to a full queue returned before there was room")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	q3 := <-submitted
	for i, f := range []*runtime.Future[int]{blocker, q1, q2, q3} {
		if _, err := f.Result(context.Background()); err != nil {
			t.Errorf("future %d: %v", i, err)
		}
	}
	if s := p.Stats(); s.Queued != 0 {
		t.Errorf("Queued = %d after everything ran; want 0", s.Queued)
	}
}

func TestThreadPoolQueueLimitShutdownReleasesWaiters(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool(runtime.MaxWorkers(1), runtime.QueueLimit(1))
	_, release := runningFuture(t, p, 0)
	runtime.Submit(context.Background(), p, value(1))
	waiting := make(chan *runtime.Future[int])
	go func() { waiting <- runtime.Submit(context.Background(), p, value(2)) }()
	time.Sleep(10 * time.Millisecond) // let the submit start waiting; either way the result is the same
	go p.Shutdown(context.Background())
	f := <-waiting
	if err := f.Err(context.Background()); !errors.Is(err, runtime.ErrShutdown) {
		t.Errorf("submit waiting for room at shutdown: Err() = %v; want ErrShutdown", err)
	}
	release()
	p.Close()
}

func TestThreadPoolShutdown(t *testing.T) {
	t.Parallel()
	t.Run("queued tasks run before Shutdown returns", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(2))
		var ran atomic.Int32
		fs := make([]*runtime.Future[int], 10)
		for i := range fs {
			fs[i] = runtime.Submit(context.Background(), p, func(context.Context) (int, error) {
				time.Sleep(time.Millisecond)
				ran.Add(1)
				return i, nil
			})
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown() = %v", err)
		}
		if n := ran.Load(); n != 10 {
			t.Errorf("%d tasks ran before Shutdown returned; want 10", n)
		}
		if n := p.Stats().Workers; n != 0 {
			t.Errorf("%d workers left after Shutdown; want 0", n)
		}
	})
	t.Run("submit after shutdown fails with ErrShutdown", func(t *testing.T) {
		p := runtime.NewThreadPool()
		p.Close()
		f := runtime.Submit(context.Background(), p, value(1))
		if err := f.Err(context.Background()); !errors.Is(err, runtime.ErrShutdown) {
			t.Errorf("Err() = %v; want ErrShutdown", err)
		}
		if st := f.State(); st != runtime.Finished {
			t.Errorf("State() = %v; want Finished", st)
		}
	})
	t.Run("a second Shutdown and Close return nil", func(t *testing.T) {
		p := runtime.NewThreadPool()
		runtime.Submit(context.Background(), p, value(1))
		for i, err := range []error{p.Shutdown(context.Background()), p.Shutdown(context.Background()), p.Close()} {
			if err != nil {
				t.Errorf("call %d: %v; want nil", i, err)
			}
		}
	})
	t.Run("CancelPending cancels queued tasks and ends running ones' context", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		started := make(chan struct{})
		running := runtime.Submit(context.Background(), p, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		<-started
		queued := make([]*runtime.Future[int], 5)
		for i := range queued {
			queued[i] = runtime.Submit(context.Background(), p, value(i))
		}
		if err := p.Shutdown(context.Background(), runtime.CancelPending()); err != nil {
			t.Fatalf("Shutdown() = %v", err)
		}
		for i, f := range queued {
			if st := f.State(); st != runtime.Cancelled {
				t.Errorf("queued future %d: State() = %v; want Cancelled", i, st)
			}
		}
		if err := running.Err(context.Background()); err != context.Canceled {
			t.Errorf("running task: Err() = %v; want context.Canceled from its ended context", err)
		}
		if s := p.Stats(); s.Cancelled != 5 || s.Queued != 0 {
			t.Errorf("Stats() = %+v; want 5 cancelled, 0 queued", s)
		}
	})
	t.Run("Shutdown gives up when its context ends; the work goes on", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		f, release := runningFuture(t, p, 4)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := p.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Errorf("Shutdown() = %v; want DeadlineExceeded", err)
		}
		release()
		if err := p.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if v, err := f.Result(context.Background()); v != 4 || err != nil {
			t.Errorf("Result() = %v, %v; want 4, nil", v, err)
		}
	})
	t.Run("tasks submitted by tasks during shutdown fail cleanly", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		started, release := make(chan struct{}), make(chan struct{})
		outer := runtime.Submit(context.Background(), p, func(ctx context.Context) (int, error) {
			close(started)
			<-release
			return runtime.Submit(ctx, p, value(1)).Result(ctx)
		})
		<-started
		done := make(chan error)
		go func() { done <- p.Shutdown(context.Background()) }()
		eventually(t, "shutdown begins", func() bool {
			select {
			case <-runtime.ShutdownBegun(p):
				return true
			default:
				return false
			}
		})
		close(release)
		if err := outer.Err(context.Background()); !errors.Is(err, runtime.ErrShutdown) {
			t.Errorf("outer task: Err() = %v; want ErrShutdown from its inner submit", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
}

func TestThreadPoolInitializer(t *testing.T) {
	t.Parallel()
	t.Run("runs once as each worker starts", func(t *testing.T) {
		var inits atomic.Int32
		p := runtime.NewThreadPool(runtime.MaxWorkers(3), runtime.Initializer(func(context.Context) error {
			inits.Add(1)
			return nil
		}))
		gate := make(chan struct{})
		for range 3 {
			runtime.Submit(context.Background(), p, func(context.Context) (int, error) { <-gate; return 0, nil })
		}
		eventually(t, "3 workers run", func() bool { return p.Stats().Running == 3 })
		close(gate)
		p.Close()
		if n := inits.Load(); n != 3 {
			t.Errorf("initializer ran %d times; want 3", n)
		}
	})
	t.Run("a failure breaks the pool", func(t *testing.T) {
		initErr := errors.New("no database")
		p := runtime.NewThreadPool(runtime.MaxWorkers(1), runtime.Initializer(func(context.Context) error { return initErr }))
		defer p.Close()
		fs := make([]*runtime.Future[int], 5)
		for i := range fs {
			fs[i] = runtime.Submit(context.Background(), p, value(i))
		}
		for i, f := range fs {
			err := f.Err(context.Background())
			if !errors.Is(err, runtime.ErrBrokenPool) || !errors.Is(err, initErr) {
				t.Errorf("future %d: Err() = %v; want ErrBrokenPool wrapping the initializer's error", i, err)
			}
		}
		later := runtime.Submit(context.Background(), p, value(9))
		if err := later.Err(context.Background()); !errors.Is(err, runtime.ErrBrokenPool) {
			t.Errorf("submit to a broken pool: Err() = %v; want ErrBrokenPool", err)
		}
		if !strings.Contains(later.Err(context.Background()).Error(), "no database") {
			t.Errorf("error %q does not name the initializer's error", later.Err(context.Background()))
		}
	})
}

func TestThreadPoolMaxTasksPerWorker(t *testing.T) {
	t.Parallel()
	var inits atomic.Int32
	p := runtime.NewThreadPool(runtime.MaxWorkers(1), runtime.MaxTasksPerWorker(2), runtime.Initializer(func(context.Context) error {
		inits.Add(1)
		return nil
	}))
	for i := range 6 {
		if v, err := runtime.Submit(context.Background(), p, value(i)).Result(context.Background()); v != i || err != nil {
			t.Fatalf("task %d: %v, %v", i, v, err)
		}
	}
	p.Close()
	if n := inits.Load(); n != 3 {
		t.Errorf("initializer ran %d times for 6 tasks at 2 per worker; want 3", n)
	}
}

func TestThreadPoolContexts(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer p.Close()
	t.Run("an ended submit context means the task never runs", func(t *testing.T) {
		ran := false
		f := runtime.Submit(expired(), p, func(context.Context) (int, error) { ran = true; return 0, nil })
		if err := f.Err(context.Background()); err != context.Canceled {
			t.Errorf("Err() = %v; want context.Canceled", err)
		}
		if ran {
			t.Error("task ran although its context had ended")
		}
	})
	t.Run("a queued task whose context ends fails at once, without running", func(t *testing.T) {
		blocker, release := runningFuture(t, p, 0)
		ctx, cancel := context.WithCancel(context.Background())
		ran := false
		f := runtime.Submit(ctx, p, func(context.Context) (int, error) { ran = true; return 0, nil })
		cancel()
		if err := f.Err(context.Background()); err != context.Canceled {
			t.Errorf("Err() = %v; want context.Canceled", err)
		}
		if blocker.State() != runtime.Running {
			t.Error("the queued future failed only after the worker was free")
		}
		release()
		blocker.Result(context.Background())
		if ran {
			t.Error("task ran although its context had ended")
		}
	})
	t.Run("the task's context ends with the submit context and carries its values", func(t *testing.T) {
		type key struct{}
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "v"), time.Hour)
		started := make(chan struct{})
		f := runtime.Submit(ctx, p, func(ctx context.Context) (string, error) {
			close(started)
			<-ctx.Done()
			if _, ok := ctx.Deadline(); !ok {
				return "", errors.New("no deadline")
			}
			return ctx.Value(key{}).(string), ctx.Err()
		})
		<-started
		cancel()
		v, err := f.Result(context.Background())
		if v != "v" || err != context.Canceled {
			t.Errorf("Result() = %q, %v; want \"v\", context.Canceled", v, err)
		}
	})
}

func TestThreadPoolNestedWaits(t *testing.T) {
	t.Parallel()
	t.Run("a task waiting on a task it submitted to a one-worker pool", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		defer p.Close()
		a := runtime.Submit(context.Background(), p, func(ctx context.Context) (int, error) {
			b := runtime.Submit(ctx, p, value(21))
			v, err := b.Result(ctx)
			return 2 * v, err
		})
		if v, err := a.Result(context.Background()); v != 42 || err != nil {
			t.Errorf("Result() = %v, %v; want 42, nil", v, err)
		}
	})
	t.Run("recursive fork-join on one worker", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		defer p.Close()
		var fib func(ctx context.Context, n int) (int, error)
		fib = func(ctx context.Context, n int) (int, error) {
			if n < 2 {
				return n, nil
			}
			a := runtime.Submit(ctx, p, func(ctx context.Context) (int, error) { return fib(ctx, n-1) })
			b := runtime.Submit(ctx, p, func(ctx context.Context) (int, error) { return fib(ctx, n-2) })
			x, err := a.Result(ctx)
			if err != nil {
				return 0, err
			}
			y, err := b.Result(ctx)
			return x + y, err
		}
		if v, err := runtime.Submit(context.Background(), p, func(ctx context.Context) (int, error) { return fib(ctx, 15) }).Result(context.Background()); v != 610 || err != nil {
			t.Errorf("fib(15) = %v, %v; want 610", v, err)
		}
	})
	t.Run("Wait, AsCompleted and Map inside a task on one worker", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		defer p.Close()
		outer := runtime.Submit(context.Background(), p, func(ctx context.Context) (int, error) {
			fs := []*runtime.Future[int]{runtime.Submit(ctx, p, value(1)), runtime.Submit(ctx, p, value(2))}
			if _, pending, err := runtime.Wait(ctx, runtime.AllCompleted, fs...); err != nil || len(pending) != 0 {
				return 0, fmt.Errorf("Wait: %v pending, %v", pending, err)
			}
			sum := 0
			gs := []*runtime.Future[int]{runtime.Submit(ctx, p, value(3)), runtime.Submit(ctx, p, value(4))}
			for f := range runtime.AsCompleted(ctx, gs...) {
				v, _ := f.Result(ctx)
				sum += v
			}
			for v, err := range runtime.Map(ctx, p, func(_ context.Context, x int) (int, error) { return x, nil }, count(5)) {
				if err != nil {
					return 0, err
				}
				sum += v
			}
			return sum, nil
		})
		if v, err := outer.Result(context.Background()); v != 3+4+10 || err != nil {
			t.Errorf("Result() = %v, %v; want 17, nil", v, err)
		}
	})
	t.Run("the pool shrinks back after compensating", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		defer p.Close()
		outer := runtime.Submit(context.Background(), p, func(ctx context.Context) (int, error) {
			fs := []*runtime.Future[int]{runtime.Submit(ctx, p, value(1)), runtime.Submit(ctx, p, value(2))}
			_, _, err := runtime.Wait(ctx, runtime.AllCompleted, fs...)
			return 0, err
		})
		outer.Result(context.Background())
		// More tasks, so an excess worker wakes and sees it is not needed.
		for range 4 {
			runtime.Submit(context.Background(), p, value(0)).Result(context.Background())
		}
		eventually(t, "one worker is left", func() bool { return p.Stats().Workers == 1 })
	})
}

func TestThreadPoolGoexit(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer p.Close()
	f := runtime.Submit(context.Background(), p, func(context.Context) (int, error) { goruntime.Goexit(); return 0, nil })
	if err := f.Err(context.Background()); err != errs.Goexit {
		t.Errorf("Err() = %v; want the Goexit error", err)
	}
	if v, err := runtime.Submit(context.Background(), p, value(5)).Result(context.Background()); v != 5 || err != nil {
		t.Errorf("the pool did not go on after a Goexit: %v, %v", v, err)
	}
}

func TestThreadPoolStats(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool(runtime.MaxWorkers(2))
	runtime.Submit(context.Background(), p, value(1))
	runtime.Submit(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("x") })
	runtime.Submit(context.Background(), p, func(context.Context) (int, error) { panic("p") })
	p.Close()
	runtime.Submit(context.Background(), p, value(1))
	s := p.Stats()
	want := runtime.ThreadPoolStats{Submitted: 4, Completed: 1, Failed: 3}
	if s != want {
		t.Errorf("Stats() = %+v; want %+v", s, want)
	}
}

func TestThreadPoolPprofLabels(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool()
	defer p.Close()
	var buf bytes.Buffer
	runtime.Submit(context.Background(), p, func(context.Context) (int, error) {
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		return 0, nil
	}).Result(context.Background())
	if want := fmt.Sprintf("%q:%q", runtime.LabelTask, "github.com/futuresgen/futuresgen/runtime_test.TestThreadPoolPprofLabels.func1"); !strings.Contains(buf.String(), want) {
		t.Errorf("goroutine profile has no label %s", want)
	}
}

func TestOptionsPanicOnNonsense(t *testing.T) {
	t.Parallel()
	for name, fn := range map[string]func(){
		"MaxWorkers":        func() { runtime.MaxWorkers(0) },
		"QueueLimit":        func() { runtime.QueueLimit(-1) },
		"MaxTasksPerWorker": func() { runtime.MaxTasksPerWorker(0) },
		"ChunkSize":         func() { runtime.ChunkSize(-1) },
		"Buffer":            func() { runtime.Buffer(0) },
		"Initializer":       func() { runtime.Initializer(nil) },
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), name) {
					t.Errorf("%s: panic %v; want a panic naming the option", name, r)
				}
			}()
			fn()
		}()
	}
}

func TestThreadPoolConcurrentUse(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool(runtime.MaxWorkers(4))
	var wg sync.WaitGroup
	var sum atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fs []*runtime.Future[int]
			for i := range 200 {
				fs = append(fs, runtime.Submit(context.Background(), p, value(g*1000+i)))
				if i%7 == 0 {
					fs[len(fs)-1].Cancel()
				}
			}
			for _, f := range fs {
				if v, err := f.Result(context.Background()); err == nil {
					sum.Add(int64(v))
				}
			}
		}()
	}
	wg.Wait()
	p.Close()
	s := p.Stats()
	if s.Completed+s.Cancelled != 1600 || s.Queued != 0 || s.Running != 0 {
		t.Errorf("Stats() = %+v; want 1600 completed or cancelled, none queued or running", s)
	}
}
