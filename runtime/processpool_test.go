package runtime_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/internal/proc"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// Tasks for the ProcessPool tests, registered in the parent and in every
// worker (the same test binary) alike.
var (
	taskDouble = futuresimpl.RegisterTask("test.double", func(_ context.Context, x int) (int, error) { return 2 * x, nil })
	taskFail   = futuresimpl.RegisterTask("test.fail", func(_ context.Context, msg string) (struct{}, error) { return struct{}{}, errors.New(msg) })
	taskPanic  = futuresimpl.RegisterTask("test.panic", func(_ context.Context, v string) (int, error) { panic(v) })
	taskExit   = futuresimpl.RegisterTask("test.exit", func(_ context.Context, code int) (int, error) { os.Exit(code); return 0, nil })
	taskKill   = futuresimpl.RegisterTask("test.kill", func(_ context.Context, _ struct{}) (int, error) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	})
	taskFatal = futuresimpl.RegisterTask("test.fatal", func(_ context.Context, _ struct{}) (int, error) {
		var m map[string]int
		done := make(chan struct{})
		go func() { m["x"] = 1; close(done) }() // a panic in another goroutine kills the process
		<-done
		return 0, nil
	})
	taskPID   = futuresimpl.RegisterTask("test.pid", func(_ context.Context, _ struct{}) (int, error) { return os.Getpid(), nil })
	taskSleep = futuresimpl.RegisterTask("test.sleep", func(ctx context.Context, d time.Duration) (int, error) {
		select {
		case <-time.After(d):
			return os.Getpid(), nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	taskIgnore = futuresimpl.RegisterTask("test.ignore", func(_ context.Context, d time.Duration) (int, error) {
		time.Sleep(d) // ignores its context
		return os.Getpid(), nil
	})
	taskHash = futuresimpl.RegisterTask("test.hash", func(_ context.Context, b []byte) ([32]byte, error) { return sha256.Sum256(b), nil })
	taskPage = futuresimpl.RegisterTask("test.page", func(_ context.Context, p *page) (*page, error) {
		if p == nil {
			return nil, nil
		}
		p.Words = append(p.Words, "seen")
		p.At = p.At.Add(time.Hour)
		return p, nil
	})
	taskStack = futuresimpl.RegisterTask("test.stack", func(_ context.Context, depth int) (int, error) {
		debug.SetMaxStack(1 << 20) // overflow fast
		var down func(int) int
		down = func(n int) int { return down(n+1) + 1 }
		return down(depth), nil
	})
	taskGoexit = futuresimpl.RegisterTask("test.goexit", func(_ context.Context, _ struct{}) (int, error) { goruntime.Goexit(); return 0, nil })
	taskNone   = futuresimpl.RegisterTask("test.none", func(_ context.Context, _ struct{}) (struct{}, error) { return struct{}{}, nil })
	taskLocal  = futuresimpl.RegisterTask("test.local", func(_ context.Context, ch chan int) (struct{}, error) { return struct{}{}, nil }, futuresimpl.Local())
	taskEvens  = futuresimpl.RegisterTask("test.evens", func(_ context.Context, x int) (int, error) {
		switch {
		case x%10 == 3:
			panic(fmt.Sprintf("three-ish %d", x))
		case x%2 == 1:
			return 0, fmt.Errorf("odd %d", x)
		}
		return x, nil
	})
)

type page struct {
	URL   string
	Words []string
	At    time.Time
}

// processPool returns a pool of n workers closed at the end of the test.
func processPool(t *testing.T, opts ...runtime.Option) *runtime.ProcessPool {
	t.Helper()
	p := runtime.NewProcessPool(opts...)
	t.Cleanup(func() {
		pids := p.WorkerPIDs()
		if err := p.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				// A zombie is not reaped until waited for, which Close does:
				// a live pid here is a worker left behind.
				t.Errorf("worker pid %d is still alive after Close", pid)
			}
		}
	})
	return p
}

func TestProcessPoolRunsTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))

	if v, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 21).Result(ctx); v != 42 || err != nil {
		t.Errorf("double(21) = %v, %v; want 42, nil", v, err)
	}
	if _, err := futuresimpl.SubmitTask(ctx, p, taskNone, struct{}{}).Result(ctx); err != nil {
		t.Errorf("none: %v", err)
	}
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	got, err := futuresimpl.SubmitTask(ctx, p, taskPage, &page{URL: "u", Words: []string{"a"}, At: at}).Result(ctx)
	if err != nil || got.URL != "u" || !slices.Equal(got.Words, []string{"a", "seen"}) || !got.At.Equal(at.Add(time.Hour)) {
		t.Errorf("page = %+v, %v", got, err)
	}
	if got, err := futuresimpl.SubmitTask(ctx, p, taskPage, nil).Result(ctx); got != nil || err != nil {
		t.Errorf("page(nil) = %v, %v; want nil, nil", got, err)
	}
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	if sum, err := futuresimpl.SubmitTask(ctx, p, taskHash, big).Result(ctx); sum != sha256.Sum256(big) || err != nil {
		t.Errorf("hash of 64 KiB: %x, %v", sum, err)
	}
	pid, _ := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx)
	if pid == os.Getpid() || pid == 0 {
		t.Errorf("the task ran in pid %d; want a worker process", pid)
	}
}

func TestProcessPoolErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))

	err := futuresimpl.SubmitTask(ctx, p, taskFail, "disk full: /var/x").Err(ctx)
	var re *runtime.RemoteError
	if !errors.As(err, &re) || err.Error() != "disk full: /var/x" || re.Task != "test.fail" {
		t.Errorf("Err() = %v (%T); want a *RemoteError with the message intact", err, err)
	}
	_, err = futuresimpl.SubmitTask(ctx, p, taskPanic, "boom").Result(ctx)
	var pe *runtime.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(pe.Stack, "processpool_test.go") {
		t.Errorf("Result() error = %v; want a *PanicError with value boom and the worker's stack", err)
	}
	if err := futuresimpl.SubmitTask(ctx, p, taskGoexit, struct{}{}).Err(ctx); err == nil || !strings.Contains(err.Error(), "Goexit") {
		t.Errorf("a task calling runtime.Goexit: Err() = %v; want an error saying so", err)
	}
	if s := p.Stats(); s.WorkerDeaths != 0 {
		t.Errorf("Goexit killed the worker: %+v", s)
	}
	err = futuresimpl.SubmitTask(ctx, p, taskLocal, nil).Err(ctx)
	if err == nil || !strings.Contains(err.Error(), "test.local") || !strings.Contains(err.Error(), "local") {
		t.Errorf("a local task on a ProcessPool: Err() = %v; want an error naming the task", err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 2).Result(ctx); v != 4 || err != nil {
		t.Errorf("the pool did not go on: %v, %v", v, err)
	}
}

func TestProcessPoolMap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))
	for _, chunk := range []int{1, 7, 256} {
		t.Run(fmt.Sprintf("chunk size %d", chunk), func(t *testing.T) {
			var got []string
			for v, err := range futuresimpl.MapTask(ctx, p, taskEvens, count(40), runtime.ChunkSize(chunk)) {
				switch {
				case err == nil:
					got = append(got, fmt.Sprint(v))
				case errors.As(err, new(*runtime.PanicError)):
					got = append(got, "panic")
				default:
					got = append(got, err.Error())
				}
			}
			if len(got) != 40 {
				t.Fatalf("got %d results; want 40", len(got))
			}
			for i, g := range got {
				want := fmt.Sprint(i)
				switch {
				case i%10 == 3:
					want = "panic"
				case i%2 == 1:
					want = fmt.Sprintf("odd %d", i)
				}
				if g != want {
					t.Errorf("item %d = %q; want %q (a failure inside a chunk fails only its item)", i, g, want)
				}
			}
		})
	}
	t.Run("leaving early cancels the chunks not sent, and the counts add up", func(t *testing.T) {
		q := processPool(t, runtime.MaxWorkers(1))
		n := 0
		for range futuresimpl.MapTask(ctx, q, taskSleep, func(yield func(time.Duration) bool) {
			for yield(time.Millisecond) {
			}
		}, runtime.ChunkSize(4), runtime.Buffer(64)) {
			if n++; n == 10 {
				break
			}
		}
		q.Close()
		s := q.Stats()
		if s.Queued != 0 || s.Running != 0 || s.Submitted != s.Completed+s.Failed+s.Cancelled || s.Cancelled == 0 {
			t.Errorf("Stats() = %+v; want nothing queued or running, some cancelled, and the counts adding up", s)
		}
	})
	t.Run("unordered", func(t *testing.T) {
		var got []int
		for v, err := range futuresimpl.MapTask(ctx, p, taskDouble, count(100), runtime.ChunkSize(8), runtime.Unordered()) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		slices.Sort(got)
		for i, v := range got {
			if v != 2*i {
				t.Fatalf("got %v", got)
			}
		}
	})
}

func TestProcessPoolWorkerDeath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(p *runtime.ProcessPool) *runtime.Future[int]
		want string
	}{
		{"os.Exit", func(p *runtime.ProcessPool) *runtime.Future[int] { return futuresimpl.SubmitTask(ctx, p, taskExit, 7) }, "exited with status 7"},
		{"SIGKILL", func(p *runtime.ProcessPool) *runtime.Future[int] {
			return futuresimpl.SubmitTask(ctx, p, taskKill, struct{}{})
		}, "killed by signal killed"},
		{"a fatal panic in a goroutine", func(p *runtime.ProcessPool) *runtime.Future[int] {
			return futuresimpl.SubmitTask(ctx, p, taskFatal, struct{}{})
		}, "assignment to entry in nil map"},
		{"stack exhaustion", func(p *runtime.ProcessPool) *runtime.Future[int] { return futuresimpl.SubmitTask(ctx, p, taskStack, 0) }, "fatal error: stack overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := processPool(t, runtime.MaxWorkers(1))
			before := futuresimpl.SubmitTask(ctx, p, taskSleep, 20*time.Millisecond)
			dying := tt.run(p)
			after := []*runtime.Future[int]{futuresimpl.SubmitTask(ctx, p, taskDouble, 1), futuresimpl.SubmitTask(ctx, p, taskDouble, 2)}
			err := dying.Err(ctx)
			if !errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Err() = %v; want ErrWorkerDied saying %q", err, tt.want)
			}
			if _, err := before.Result(ctx); err != nil {
				t.Errorf("the task before the death: %v", err)
			}
			for i, f := range after {
				if v, err := f.Result(ctx); v != 2*(i+1) || err != nil {
					t.Errorf("task %d after the death: %v, %v; want the pool to go on", i, v, err)
				}
			}
			if s := p.Stats(); s.WorkerDeaths != 1 || s.WorkerStarts != 2 {
				t.Errorf("Stats() = %+v; want 1 death and 2 starts", s)
			}
		})
	}
}

func TestProcessPoolCancellationCrossesTheBoundary(t *testing.T) {
	t.Parallel()
	p := processPool(t, runtime.MaxWorkers(1), runtime.GracePeriod(200*time.Millisecond))
	t.Run("a task that honours its context ends with it", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		f := futuresimpl.SubmitTask(ctx, p, taskSleep, time.Minute)
		if err := f.Err(context.Background()); err != context.DeadlineExceeded {
			t.Errorf("Err() = %v; want context.DeadlineExceeded", err)
		}
		if s := p.Stats(); s.WorkerDeaths != 0 {
			t.Errorf("a worker died: %+v", s)
		}
	})
	t.Run("a task that ignores its context has its worker killed after the grace period", func(t *testing.T) {
		pid, _ := futuresimpl.SubmitTask(context.Background(), p, taskPID, struct{}{}).Result(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		f := futuresimpl.SubmitTask(ctx, p, taskIgnore, time.Hour)
		err := f.Err(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Err() = %v; want DeadlineExceeded saying the worker was killed", err)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("the hard deadline took %v", d)
		}
		pid2, err := futuresimpl.SubmitTask(context.Background(), p, taskPID, struct{}{}).Result(context.Background())
		if err != nil || pid2 == pid {
			t.Errorf("after the kill: pid %d (before %d), %v; want a new worker", pid2, pid, err)
		}
	})
}

func TestProcessPoolMaxTasksPerWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1), runtime.MaxTasksPerWorker(2))
	pids := map[int]int{}
	for range 6 {
		pid, err := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pids[pid]++
	}
	if len(pids) != 3 {
		t.Errorf("6 tasks ran in %d processes (%v); want 3 at 2 tasks each", len(pids), pids)
	}
	if s := p.Stats(); s.WorkerDeaths != 0 {
		t.Errorf("retired workers counted as deaths: %+v", s)
	}
}

func TestProcessPoolShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("Close waits for the work and leaves no worker", func(t *testing.T) {
		p := runtime.NewProcessPool(runtime.MaxWorkers(2))
		fs := make([]*runtime.Future[int], 20)
		for i := range fs {
			fs[i] = futuresimpl.SubmitTask(ctx, p, taskDouble, i)
		}
		pids := p.WorkerPIDs()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		for i, f := range fs {
			if st := f.State(); st != runtime.Finished {
				t.Errorf("future %d is %v after Close", i, st)
			}
		}
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("worker %d still alive", pid)
			}
		}
		if err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx); !errors.Is(err, runtime.ErrShutdown) {
			t.Errorf("submit after Close: %v; want ErrShutdown", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close() = %v", err)
		}
	})
	t.Run("CancelPending cancels what waits and ends what runs", func(t *testing.T) {
		p := runtime.NewProcessPool(runtime.MaxWorkers(1))
		running := futuresimpl.SubmitTask(ctx, p, taskSleep, time.Hour)
		for running.State() != runtime.Running {
			time.Sleep(time.Millisecond)
		}
		var queued []*runtime.Future[int]
		for i := range 10 {
			queued = append(queued, futuresimpl.SubmitTask(ctx, p, taskDouble, i))
		}
		// The first few may already be in flight to the worker.
		if err := p.Shutdown(ctx, runtime.CancelPending()); err != nil {
			t.Fatal(err)
		}
		if err := running.Err(ctx); err != context.Canceled {
			t.Errorf("the running task: %v; want context.Canceled", err)
		}
		cancelled := 0
		for _, f := range queued {
			if f.State() == runtime.Cancelled {
				cancelled++
			}
		}
		if cancelled != 10 {
			t.Errorf("%d of 10 tasks that never started were cancelled; want all", cancelled)
		}
	})
}

func TestProcessPoolBrokenStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("a worker that never says hello", func(t *testing.T) {
		p := processPool(t, runtime.MaxWorkers(1), runtime.WorkerCommand("/bin/sleep", "60"), runtime.StartTimeout(100*time.Millisecond))
		err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx)
		if !errors.Is(err, runtime.ErrBrokenPool) || !strings.Contains(err.Error(), "ServeWorker") {
			t.Errorf("Err() = %v; want ErrBrokenPool saying to call ServeWorker", err)
		}
		if err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx); !errors.Is(err, runtime.ErrBrokenPool) {
			t.Errorf("a later submit: %v; want ErrBrokenPool", err)
		}
	})
	t.Run("a program that cannot start", func(t *testing.T) {
		p := processPool(t, runtime.WorkerCommand("/nonexistent/worker"))
		if err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx); !errors.Is(err, runtime.ErrBrokenPool) || !strings.Contains(err.Error(), "/nonexistent/worker") {
			t.Errorf("Err() = %v; want ErrBrokenPool naming the program", err)
		}
	})
	t.Run("a worker whose main does not call ServeWorker exits rather than start pools", func(t *testing.T) {
		exe, _ := os.Executable()
		p := processPool(t, runtime.MaxWorkers(1), runtime.WorkerCommand(exe, "-test.run=^TestProcessPoolForkBombGuard$"))
		err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx)
		if !errors.Is(err, runtime.ErrBrokenPool) || !strings.Contains(err.Error(), "did not call runtime.ServeWorker()") {
			t.Errorf("Err() = %v; want ErrBrokenPool quoting the worker's complaint", err)
		}
	})
}

// TestProcessPoolForkBombGuard is run by TestProcessPoolBrokenStart as a
// worker that skips ServeWorker: creating a pool must stop the process.
func TestProcessPoolForkBombGuard(t *testing.T) {
	if os.Getenv(proc.Env) == "" {
		t.Skip("runs only as a misconfigured worker")
	}
	runtime.NewProcessPool()
	t.Fatal("NewProcessPool returned in a process started as a worker")
}

func TestCompareTables(t *testing.T) {
	t.Parallel()
	mine := registry.Table()
	if err := registry.CompareTables(mine, mine); err != nil {
		t.Errorf("equal tables: %v", err)
	}
	changed := slices.Clone(mine)
	changed[0].Signature = "func(no.such.Type) int"
	if err := registry.CompareTables(mine, changed); err == nil || !strings.Contains(err.Error(), mine[0].Name) {
		t.Errorf("a changed signature: %v; want an error naming %s", err, mine[0].Name)
	}
	if err := registry.CompareTables(mine, mine[1:]); err == nil || !strings.Contains(err.Error(), "the worker has no task "+fmt.Sprintf("%q", mine[0].Name)) {
		t.Errorf("a missing task: %v", err)
	}
}

// TestProcessPoolWorkerSetupFailure is not parallel: the workers it starts
// inherit the environment variable that makes their set-up fail.
func TestProcessPoolWorkerSetupFailure(t *testing.T) {
	t.Setenv("FUTURESGEN_TEST_SETUP", "no license key")
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx)
	if !errors.Is(err, runtime.ErrBrokenPool) || !strings.Contains(err.Error(), "setup: no license key") {
		t.Errorf("Err() = %v; want ErrBrokenPool carrying the set-up's error", err)
	}
}

// extraTask exists only in processes started with FUTURESGEN_TEST_EXTRA_TASK
// set: a worker whose dispatch table differs from its parent's.
var _ = func() bool {
	if os.Getenv("FUTURESGEN_TEST_EXTRA_TASK") != "" {
		futuresimpl.RegisterTask("test.extra", func(_ context.Context, x int) (int, error) { return x, nil })
	}
	return true
}()

// TestProcessPoolHandshakeMismatch is not parallel: its workers inherit the
// variable that gives them an extra task.
func TestProcessPoolHandshakeMismatch(t *testing.T) {
	t.Setenv("FUTURESGEN_TEST_EXTRA_TASK", "1")
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Err(ctx)
	if !errors.Is(err, runtime.ErrBrokenPool) || !strings.Contains(err.Error(), `this process has no task "test.extra"`) {
		t.Errorf("Err() = %v; want ErrBrokenPool naming the task that differs", err)
	}
}

func TestProcessPoolQueueLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1), runtime.QueueLimit(1))
	// The worker takes a few calls in flight; past those, one may wait.
	var fs []*runtime.Future[int]
	for p.Stats().Queued < 1 {
		fs = append(fs, futuresimpl.SubmitTask(ctx, p, taskSleep, 100*time.Millisecond))
		if len(fs) > 20 {
			t.Fatal("no call ever waited in the queue")
		}
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := futuresimpl.SubmitTask(c, p, taskDouble, 1).Err(ctx); err != context.DeadlineExceeded {
		t.Errorf("a submit to a full queue: Err() = %v; want DeadlineExceeded", err)
	}
	for i, f := range fs {
		if err := f.Err(ctx); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if s := p.Stats(); s.Queued != 0 || s.Completed != int64(len(fs)) {
		t.Errorf("Stats() = %+v; want %d completed, none queued", s, len(fs))
	}
}

// TestProcessPoolWorkersOutliveNoParent starts a parent process (this test
// binary) that starts a worker, kills the parent, and checks that the
// worker goes too.
func TestProcessPoolWorkersOutliveNoParent(t *testing.T) {
	t.Parallel()
	if os.Getenv("FUTURESGEN_TEST_PARENT") != "" {
		return
	}
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^TestProcessPoolParentHelper$")
	cmd.Env = append(os.Environ(), "FUTURESGEN_TEST_PARENT=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatalf("reading the worker's pid: %v", err)
	}
	if pid == cmd.Process.Pid || syscall.Kill(pid, 0) != nil {
		t.Fatalf("pid %d is not a live worker of pid %d", pid, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	eventually(t, "worker "+strconv.Itoa(pid)+" exits after its parent was killed", func() bool {
		return syscall.Kill(pid, 0) != nil || isZombie(pid)
	})
}

// TestProcessPoolParentHelper is the parent of the test above: it prints
// its worker's pid and waits to be killed.
func TestProcessPoolParentHelper(t *testing.T) {
	if os.Getenv("FUTURESGEN_TEST_PARENT") == "" {
		t.Skip("runs only as the parent of TestProcessPoolWorkersOutliveNoParent")
	}
	p := runtime.NewProcessPool(runtime.MaxWorkers(1))
	pid, err := futuresimpl.SubmitTask(context.Background(), p, taskPID, struct{}{}).Result(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	futuresimpl.SubmitTask(context.Background(), p, taskSleep, time.Hour) // busy when the parent dies
	fmt.Println(pid)
	time.Sleep(time.Hour)
}

// isZombie reports whether pid has exited but was not reaped (its parent
// died first; init reaps it soon).
func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(data))
	return len(fields) > 2 && fields[2] == "Z"
}
