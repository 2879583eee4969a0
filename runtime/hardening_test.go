package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/internal/proc"
	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// Tasks a real program might have, each of which broke a ProcessPool once
// (issue 10): every test here failed before its fix.

type innerTimeoutArgs struct{ URL string }

type cyclic struct {
	Name string
	Next *cyclic
}

var (
	taskInnerTimeout = futuresimpl.RegisterTask("test.innerTimeout", func(ctx context.Context, a innerTimeoutArgs) (int, error) {
		inner, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		<-inner.Done()
		return 0, fmt.Errorf("GET %s: %w", a.URL, inner.Err())
	})
	taskNilPointers = futuresimpl.RegisterTask("test.nilPointers", func(_ context.Context, n int) ([]*int, error) { return make([]*int, n), nil })
	taskBigSquare   = futuresimpl.RegisterTask("test.bigSquare", func(_ context.Context, x big.Int) (big.Int, error) {
		var r big.Int
		r.Mul(&x, &x)
		return r, nil
	})
	taskSumPtrs = futuresimpl.RegisterTask("test.sumPtrs", func(_ context.Context, ps []*int) (int, error) {
		sum := 0
		for _, p := range ps {
			sum += *p
		}
		return sum, nil
	})
	taskShell = futuresimpl.RegisterTask("test.shell", func(_ context.Context, script string) (string, error) {
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		return string(out), err
	})
	taskSelf = futuresimpl.RegisterTask("test.self", func(_ context.Context, _ struct{}) (string, error) {
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		out, err := exec.Command(exe, "-test.run=^$").CombinedOutput()
		return string(out), err
	})
	taskGrandchild = futuresimpl.RegisterTask("test.grandchild", func(_ context.Context, pidFile string) (int, error) {
		cmd := exec.Command("sleep", "20")
		cmd.Stderr = os.Stderr // the grandchild holds the worker's stderr
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		os.Exit(5)
		return 0, nil
	})
	taskStderr = futuresimpl.RegisterTask("test.stderr", func(_ context.Context, n int) (int, error) {
		os.Stderr.Write(bytes.Repeat([]byte("x"), n)) // the pool's pipe: it does not fail
		return os.Getpid(), nil
	})
	taskLen    = futuresimpl.RegisterTask("test.len", func(_ context.Context, b []byte) (int, error) { return len(b), nil })
	taskCyclic = futuresimpl.RegisterTask("test.cyclic", func(_ context.Context, c *cyclic) (*cyclic, error) {
		if c == nil {
			c = &cyclic{Name: "made"}
			c.Next = c
		}
		return c, nil
	})
)

func TestProcessPoolKeepsTheMessageOfAWrappedContextError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	const want = "GET http://example.test/a: context deadline exceeded"
	check := func(how string, err error) {
		t.Helper()
		if err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v; want %q that Is context.DeadlineExceeded", how, err, want)
		}
	}
	check("submitted", futuresimpl.SubmitTask(ctx, p, taskInnerTimeout, innerTimeoutArgs{"http://example.test/a"}).Err(ctx))
	for _, err := range futuresimpl.MapTask(ctx, p, taskInnerTimeout, slices.Values([]innerTimeoutArgs{{"http://example.test/a"}, {"http://example.test/a"}}), runtime.ChunkSize(2)) {
		check("in a chunk", err)
	}
}

func TestProcessPoolAResultThatCannotBeEncodedFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	pid, err := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = futuresimpl.SubmitTask(ctx, p, taskNilPointers, 2).Err(ctx)
	if err == nil || errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), "test.nilPointers") || !strings.Contains(err.Error(), "[]*int") {
		t.Errorf("Err() = %v; want an error naming the task and the type, not a dead worker", err)
	}
	// In a chunk: that item fails, the others come back.
	i := 0
	for v, err := range futuresimpl.MapTask(ctx, p, taskNilPointers, slices.Values([]int{0, 1, 0}), runtime.ChunkSize(3)) {
		if (err != nil) != (i == 1) || (err == nil && len(v) != 0) {
			t.Errorf("item %d of a chunk = %v, %v", i, v, err)
		}
		i++
	}
	if again, err := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx); again != pid || err != nil {
		t.Errorf("the worker after the failed results: pid %d, %v; want the same worker, %d", again, err, pid)
	}
}

func TestProcessPoolValuesWithPointerReceiverEncoders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	var x big.Int
	x.SetString("123456789012345678901234567890", 10)
	got, err := futuresimpl.SubmitTask(ctx, p, taskBigSquare, x).Result(ctx)
	var want big.Int
	want.Mul(&x, &x)
	if err != nil || got.Cmp(&want) != 0 {
		t.Errorf("bigSquare(%v) = %v, %v; want %v", &x, &got, err, &want)
	}
}

func TestProcessPoolABadArgumentDoesNotPoisonTheNextCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	one := 1
	if err := futuresimpl.SubmitTask(ctx, p, taskSumPtrs, []*int{nil}).Err(ctx); err == nil || !strings.Contains(err.Error(), "test.sumPtrs") {
		t.Errorf("a nil pointer in a slice: %v; want an error naming the task", err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskSumPtrs, []*int{&one}).Result(ctx); v != 1 || err != nil {
		t.Errorf("the next good call = %v, %v; want 1, nil", v, err)
	}
	// Calls cancelled in flight, some after their arguments were encoded.
	for i := range 50 {
		c, cancel := context.WithCancel(ctx)
		f := futuresimpl.SubmitTask(c, p, taskSumPtrs, []*int{&one})
		if i%2 == 0 {
			cancel()
		}
		f.Err(ctx)
		cancel()
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskSumPtrs, []*int{&one, &one}).Result(ctx); v != 2 || err != nil {
		t.Errorf("a call after cancelled ones = %v, %v; want 2, nil", v, err)
	}
}

func TestProcessPoolTaskSubprocessesInheritNeitherPipesNorMarker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	out, err := futuresimpl.SubmitTask(ctx, p, taskShell, "ls /proc/$$/fd; env").Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if slices.Contains(lines, "3") || slices.Contains(lines, "4") {
		t.Errorf("a task's subprocess has fd 3 or 4 open:\n%s", out)
	}
	if strings.Contains(out, proc.Env) {
		t.Errorf("a task's subprocess sees %s:\n%s", proc.Env, out)
	}
	// This same binary, run by a task, is an ordinary program.
	if out, err := futuresimpl.SubmitTask(ctx, p, taskSelf, struct{}{}).Result(ctx); err != nil || !strings.Contains(out, "PASS") {
		t.Errorf("this binary run by a task: %q, %v; want it to run as a program", out, err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 2).Result(ctx); v != 4 || err != nil {
		t.Errorf("the worker after the subprocess: %v, %v", v, err)
	}
}

func TestProcessPoolWorkersAreInAProcessGroupOfTheirOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	pid, err := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid == syscall.Getpgrp() {
		t.Errorf("the worker is in the parent's process group %d: a terminal's Ctrl-C reaches it", pgid)
	}
}

// TestProcessPoolCtrlC runs a program (this test binary, in a process
// group of its own, as a shell would start it) that uses
// signal.NotifyContext and a pool, sends SIGINT to its process group, and
// checks the task ended with its context, not with a dead worker.
func TestProcessPoolCtrlC(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := helperProgram(t, "sigint", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the program's task has started", func() bool {
		_, err := os.Stat(filepath.Join(dir, "started-sigint"))
		return err == nil
	})
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // Ctrl-C: the whole foreground group
	cmd.Wait()
	if got := out.String(); !strings.Contains(got, "task error: context canceled") {
		t.Errorf("after Ctrl-C the program printed:\n%s\nwant the task to end with context.Canceled", got)
	}
}

// helperProgram returns a command running this test binary as the program
// named, with arg.
func helperProgram(t *testing.T, name, arg string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "FUTURESGEN_TEST_PROGRAM="+name, "FUTURESGEN_TEST_ARG="+arg)
	return cmd
}

// runHelperProgram is TestMain's: it runs the program named by
// FUTURESGEN_TEST_PROGRAM, if any, and reports whether it did.
func runHelperProgram() bool {
	arg := os.Getenv("FUTURESGEN_TEST_ARG")
	switch os.Getenv("FUTURESGEN_TEST_PROGRAM") {
	case "sigint":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		p := runtime.NewProcessPool(runtime.MaxWorkers(1))
		defer p.Close()
		err := futuresimpl.SubmitTask(ctx, p, taskGate, gateArgs{Dir: arg, Name: "sigint"}).Err(context.Background())
		fmt.Printf("task error: %v\n", err)
	case "fullstderr":
		p := runtime.NewProcessPool(runtime.MaxWorkers(1))
		defer p.Close()
		ctx := context.Background()
		pid1, err1 := futuresimpl.SubmitTask(ctx, p, taskStderr, 64<<10).Result(ctx)
		pid2, err2 := futuresimpl.SubmitTask(ctx, p, taskStderr, 64<<10).Result(ctx)
		fmt.Printf("pids %d %d, errors %v %v\n", pid1, pid2, err1, err2)
	default:
		return false
	}
	return true
}

func TestProcessPoolAGrandchildHoldingStderrDoesNotHideADeath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	pidFile := filepath.Join(t.TempDir(), "grandchild")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(string(b)); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	err := futuresimpl.SubmitTask(ctx, p, taskGrandchild, pidFile).Err(ctx)
	if !errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), "exited with status 5") {
		t.Errorf("Err() = %v; want ErrWorkerDied with the exit status", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the death was reported after %v: it waited for the grandchild", d)
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 3).Result(ctx); v != 6 || err != nil {
		t.Errorf("the pool after the death: %v, %v", v, err)
	}
}

func TestProcessPoolAFullStderrKillsNoWorker(t *testing.T) {
	t.Parallel()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	cmd := helperProgram(t, "fullstderr", "")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, full
	if err := cmd.Run(); err != nil {
		t.Fatalf("the program: %v\n%s", err, out.String())
	}
	var pid1, pid2 int
	var e1, e2 string
	if _, err := fmt.Sscanf(out.String(), "pids %d %d, errors %s %s", &pid1, &pid2, &e1, &e2); err != nil || pid1 == 0 || pid1 != pid2 || e1 != "<nil>" || e2 != "<nil>" {
		t.Errorf("with stderr on /dev/full the program printed %q; want both tasks done by one living worker", out.String())
	}
}

func TestProcessPoolAnOversizedValueFailsItsFutureOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	pid, err := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = futuresimpl.SubmitTask(ctx, p, taskLen, make([]byte, 300<<20)).Err(ctx)
	if err == nil || errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), "test.len") || !strings.Contains(err.Error(), "limit of 268435456 bytes") {
		t.Errorf("a 300 MB argument: %v; want an error naming the task and the limit", err)
	}
	if again, err := futuresimpl.SubmitTask(ctx, p, taskPID, struct{}{}).Result(ctx); again != pid || err != nil {
		t.Errorf("after the oversized argument: pid %d, %v; want the same worker %d", again, err, pid)
	}
}

func TestProcessPoolACyclicValueFailsItsFutureOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	loop := &cyclic{Name: "a"}
	loop.Next = loop
	if err := futuresimpl.SubmitTask(ctx, p, taskCyclic, loop).Err(ctx); err == nil || !strings.Contains(err.Error(), "refers to itself") {
		t.Errorf("a cyclic argument: %v; want an error saying it refers to itself", err)
	}
	if err := futuresimpl.SubmitTask(ctx, p, taskCyclic, nil).Err(ctx); err == nil || errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), "refers to itself") {
		t.Errorf("a cyclic result: %v; want an error saying it refers to itself, the worker alive", err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 5).Result(ctx); v != 10 || err != nil {
		t.Errorf("after the cyclic values: %v, %v", v, err)
	}
}

func TestProcessPoolChunksOfATaskWithoutArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	n := 0
	for v, err := range futuresimpl.MapTask(ctx, p, taskPID, slices.Values(make([]struct{}, 5)), runtime.ChunkSize(2)) {
		if err != nil || v == 0 {
			t.Errorf("item %d = %v, %v", n, v, err)
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d results for 5 inputs", n)
	}
}

func TestMisuseSaysWhatWentWrong(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := runtime.NewThreadPool()
	defer pool.Close()
	f := runtime.Submit(ctx, pool, value(1))
	var nilPool *runtime.ThreadPool
	var nilProcs *runtime.ProcessPool
	tests := []struct {
		name string
		do   func()
		want string
	}{
		{"a nil *ThreadPool as an Executor", func() { futuresimpl.SubmitTask(ctx, nilPool, taskDouble, 1) }, "nil *ThreadPool"},
		{"a nil *ProcessPool as an Executor", func() { futuresimpl.SubmitTask(ctx, nilProcs, taskDouble, 1) }, "nil *ProcessPool"},
		{"a nil Executor", func() { futuresimpl.SubmitTask(ctx, nil, taskDouble, 1) }, "nil Executor"},
		{"a zero ThreadPool", func() { futuresimpl.SubmitTask(ctx, &runtime.ThreadPool{}, taskDouble, 1) }, "NewThreadPool"},
		{"a zero ProcessPool", func() { futuresimpl.SubmitTask(ctx, &runtime.ProcessPool{}, taskDouble, 1) }, "NewProcessPool"},
		{"Submit to a nil pool", func() { runtime.Submit(ctx, nil, value(1)) }, "NewThreadPool"},
		{"Submit to a zero pool", func() { runtime.Submit(ctx, &runtime.ThreadPool{}, value(1)) }, "NewThreadPool"},
		{"a nil future in AsCompleted", func() {
			for range runtime.AsCompleted(ctx, f, nil) {
			}
		}, "nil future"},
		{"a nil future in Wait", func() { runtime.Wait(ctx, runtime.AllCompleted, nil, f) }, "nil future"},
		{"a nil sequence to MapTask", func() { futuresimpl.MapTask(ctx, pool, taskDouble, nil) }, "nil input sequence"},
		{"a nil sequence to Map", func() {
			runtime.Map[int, int](ctx, pool, func(context.Context, int) (int, error) { return 0, nil }, nil)
		}, "nil input sequence"},
		{"OnDone(nil)", func() { f.OnDone(nil) }, "OnDone(nil)"},
		{"Result of a zero Future", func() { new(runtime.Future[int]).Result(ctx) }, "zero Future"},
		{"Cancel of a zero Future", func() { new(runtime.Future[int]).Cancel() }, "zero Future"},
		{"Shutdown of a zero ProcessPool", func() { (&runtime.ProcessPool{}).Close() }, "NewProcessPool"},
		{"Shutdown of a zero ThreadPool", func() { (&runtime.ThreadPool{}).Close() }, "NewThreadPool"},
		{"Stats of a zero ThreadPool", func() { (&runtime.ThreadPool{}).Stats() }, "NewThreadPool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := fmt.Sprint(recover()); !strings.Contains(r, tt.want) || !strings.HasPrefix(r, "futuresgen: ") {
					t.Errorf("panic %q; want one saying %q", r, tt.want)
				}
			}()
			tt.do()
		})
	}
}

func TestAMarkerSetByHandIsIgnoredWithAWord(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), proc.Env+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ignoring "+proc.Env+"=1") || !strings.Contains(string(out), "PASS") {
		t.Errorf("this binary run with %s=1 by hand: %v\n%s\nwant a word on stderr, then an ordinary run", proc.Env, err, out)
	}
}

// taskWaitWrapped waits for the end of its context and returns its error,
// wrapped, as a task calling a library would.
var taskWaitWrapped = futuresimpl.RegisterTask("test.waitWrapped", func(ctx context.Context, _ struct{}) (int, error) {
	<-ctx.Done()
	return 0, fmt.Errorf("stopped: %w", ctx.Err())
})

// TestProcessPoolADeadlineReachesTheTaskAsDeadlineExceeded: the worker
// holds a copy of the call's deadline, and the pool tells it when the
// deadline passed; either way the task must see DeadlineExceeded, as it
// would in-process. Once a defect: the pool's cancel often came first,
// and the task saw context.Canceled.
func TestProcessPoolADeadlineReachesTheTaskAsDeadlineExceeded(t *testing.T) {
	t.Parallel()
	p := processPool(t, runtime.MaxWorkers(1))
	// A started worker: the task must start before its deadline passes
	// (one that never started fails with the bare context error).
	if _, err := futuresimpl.SubmitTask(context.Background(), p, taskPID, struct{}{}).Result(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := futuresimpl.SubmitTask(ctx, p, taskWaitWrapped, struct{}{}).Err(context.Background())
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "stopped: ") {
			t.Fatalf("round %d: Err() = %v; want the task's own error, wrapping context.DeadlineExceeded", i, err)
		}
	}
}
