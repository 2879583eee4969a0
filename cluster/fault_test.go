package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// lostWithin is the bound API.md gives for a lost worker's started
// calls to fail.
const lostWithin = 10 * time.Second

func TestAWorkerKilledMidTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(3))

	t.Run("its task fails with ErrWorkerDied, and the cluster goes on", func(t *testing.T) {
		ex := newDriver(t, l)
		g := newGate(t)
		f := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("a"))
		pid := g.worker("a")
		syscall.Kill(pid, syscall.SIGKILL)
		killed := time.Now()
		wctx, cancel := context.WithTimeout(ctx, lostWithin)
		defer cancel()
		<-f.Done()
		if took := time.Since(killed); took > lostWithin || wctx.Err() != nil {
			t.Errorf("the task of a killed worker failed after %v; want within %v", took, lostWithin)
		}
		if err := f.Err(ctx); !errors.Is(err, runtime.ErrWorkerDied) {
			t.Errorf("Err() = %v; want ErrWorkerDied", err)
		}
		if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21).Result(ctx); v != 42 || err != nil {
			t.Errorf("after the death: %v, %v; want the cluster to go on", v, err)
		}
		if s := ex.Stats(); s.Lost != 1 || s.Workers < 2 {
			t.Errorf("Stats() = %+v; want 1 worker lost, 2 left (or 3 once StartLocal replaced it)", s)
		}
	})

	t.Run("with Retries it runs again on another worker", func(t *testing.T) {
		ex := newDriver(t, l, Retries(1))
		g := newGate(t)
		f := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("b"))
		pid := g.worker("b")
		os.Remove(filepath.Join(g.dir, "started-b"))
		syscall.Kill(pid, syscall.SIGKILL)
		again := g.worker("b")
		if again == pid {
			t.Fatalf("the task ran again on the worker that was killed, %d", pid)
		}
		if st := f.State(); st != runtime.Running {
			t.Errorf("the task being retried is %v; want Running", st)
		}
		g.open()
		w, err := f.Result(ctx)
		if err != nil || w.PPID != again {
			t.Errorf("Result() = %+v, %v; want a result from worker %d", w, err, again)
		}
	})
}

func TestLateWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs syncBuffer
	l := startLocal(t, Workers(0), Logger(slog.New(slog.NewTextHandler(&logs, nil))))
	ex := l.Executor()
	var fs []*runtime.Future[int]
	for i := range 5 {
		fs = append(fs, futuresimpl.SubmitTask(ctx, ex, taskDouble, i))
	}
	if s := ex.Stats(); s.Queued != 5 || s.Workers != 0 {
		t.Fatalf("Stats() = %+v with no worker; want 5 queued", s)
	}

	t.Run("a worker with a different dispatch table is refused, naming the difference", func(t *testing.T) {
		if _, err := l.startWorker("FUTURESGEN_TEST_EXTRA_TASK=1"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the driver refused the worker", func() bool { return ex.Stats().Refused == 1 })
		want := `this process has no task \"test.extra\"`
		if !strings.Contains(logs.String(), "worker refused") || !strings.Contains(logs.String(), want) {
			t.Errorf("the driver logged:\n%s\nwant a refusal saying %s", logs.String(), want)
		}
		if s := ex.Stats(); s.Queued != 5 || s.Workers != 0 {
			t.Errorf("Stats() = %+v; the refused worker must get no work", s)
		}
	})

	t.Run("a worker that joins late picks up the queued work", func(t *testing.T) {
		if _, err := l.startWorker(); err != nil {
			t.Fatal(err)
		}
		for i, f := range fs {
			if v, err := f.Result(ctx); v != 2*i || err != nil {
				t.Errorf("task %d = %v, %v; want %d, nil", i, v, err, 2*i)
			}
		}
		if !strings.Contains(logs.String(), "worker joined") {
			t.Errorf("the driver logged:\n%s\nwant the join", logs.String())
		}
	})
}

// syncBuffer is a log destination for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestATaskCrashFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := sharedLocal(t)
	ex := newDriver(t, l)
	pids := l.pids()
	before := futuresimpl.SubmitTask(ctx, ex, taskSleep, 20*time.Millisecond)
	dying := futuresimpl.SubmitTask(ctx, ex, taskExit, 7)
	after := []*runtime.Future[int]{futuresimpl.SubmitTask(ctx, ex, taskDouble, 1), futuresimpl.SubmitTask(ctx, ex, taskDouble, 2)}
	err := dying.Err(ctx)
	if !errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), "exited with status 7") {
		t.Errorf("Err() = %v; want ErrWorkerDied saying the child exited with status 7", err)
	}
	if _, err := before.Result(ctx); err != nil {
		t.Errorf("the task before the crash: %v", err)
	}
	for i, f := range after {
		if v, err := f.Result(ctx); v != 2*(i+1) || err != nil {
			t.Errorf("task %d after the crash: %v, %v", i, v, err)
		}
	}
	if s := ex.Stats(); s.Lost != 0 || s.Workers != 2 || !slices.Equal(l.pids(), pids) {
		t.Errorf("Stats() = %+v, workers %v (before %v); want the same two workers, none lost", s, l.pids(), pids)
	}
}

func TestAHardDeadlineKillsATaskThatIgnoresIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex := newDriver(t, sharedLocal(t)) // its workers' grace period is 200ms
	t.Run("cancelled", func(t *testing.T) {
		g := newGate(t)
		c, cancel := context.WithCancel(ctx)
		f := futuresimpl.SubmitTask(c, ex, taskStubborn, g.args("s"))
		g.worker("s")
		cancel()
		err := f.Err(ctx)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Err() = %v; want context.Canceled saying the child was killed", err)
		}
	})
	t.Run("past its deadline", func(t *testing.T) {
		g := newGate(t)
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := futuresimpl.SubmitTask(c, ex, taskStubborn, g.args("d")).Err(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() = %v; want context.DeadlineExceeded", err)
		}
		if g.started("d") && !strings.Contains(err.Error(), "killed") {
			t.Errorf("Err() = %v; want it to say the child was killed", err)
		}
	})
	if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 2).Result(ctx); v != 4 || err != nil {
		t.Errorf("after the kills: %v, %v", v, err)
	}
}

func TestInProcessWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(1), InProcess(), Slots(2))
	ex := l.Executor()
	w, err := futuresimpl.SubmitTask(ctx, ex, taskWhere, struct{}{}).Result(ctx)
	if err != nil || !slices.Equal(l.pids(), []int{w.PID}) || w.PPID != os.Getpid() {
		t.Errorf("the task ran in %+v (%v); want the worker process %v itself", w, err, l.pids())
	}
	if s := ex.Stats(); s.Slots != 2 {
		t.Errorf("Stats() = %+v; want the worker's 2 slots", s)
	}
	var pe *runtime.PanicError
	if _, err := futuresimpl.SubmitTask(ctx, ex, taskPanic, "boom").Result(ctx); !errors.As(err, &pe) || pe.Value != "boom" {
		t.Errorf("a panic in an in-process worker: %v", err)
	}
}

// TestWorkersOutliveNoParent starts a parent process (this test binary)
// with a StartLocal cluster, kills it, and checks that its workers go
// too.
func TestWorkersOutliveNoParent(t *testing.T) {
	t.Parallel()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^TestLocalParentHelper$")
	cmd.Env = append(os.Environ(), "FUTURESGEN_TEST_PARENT=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids [2]int
	if _, err := fmt.Fscan(out, &pids[0], &pids[1]); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading the workers' pids: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, pid := range pids {
		waitFor(t, "worker "+strconv.Itoa(pid)+" exits after its parent was killed", func() bool {
			return syscall.Kill(pid, 0) != nil || isZombie(pid)
		})
	}
}

// TestLocalParentHelper is the parent of the test above: it prints its
// workers' pids and waits to be killed.
func TestLocalParentHelper(t *testing.T) {
	if os.Getenv("FUTURESGEN_TEST_PARENT") == "" {
		t.Skip("runs only as the parent of TestWorkersOutliveNoParent")
	}
	l, err := StartLocal(context.Background(), Workers(2))
	if err != nil {
		t.Fatal(err)
	}
	pids := l.pids()
	futuresimpl.SubmitTask(context.Background(), l.Executor(), taskSleep, time.Hour) // busy when the parent dies
	fmt.Println(pids[0], pids[1])
	time.Sleep(time.Hour)
}

// isZombie reports whether pid has exited but was not reaped yet.
func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(data))
	return len(fields) > 2 && fields[2] == "Z"
}
