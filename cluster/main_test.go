package cluster

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// TestMain makes this test binary every process the tests need: a
// cluster worker (StartLocal's, or one a test starts), a worker's child
// process, a NATS server in a network namespace. In the test process it
// closes the shared cluster after the tests and fails them if any
// goroutine outlives them.
func TestMain(m *testing.M) {
	// A data race in a worker must fail the test, not scroll by.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "halt_on_error=1")
	}
	// Joins and leaves are news in a program, not in a test's output.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if os.Getenv("FUTURESGEN_TEST_DIE_AT_START") != "" {
		os.Exit(5) // a worker that cannot start
	}
	embeddedtest.ServeChild()
	runtime.ServeWorker()
	code := m.Run()
	closeShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Tasks, registered in every process alike, as generated code does.
var (
	taskDouble = futuresimpl.RegisterTask("test.double", func(_ context.Context, x int) (int, error) { return 2 * x, nil })
	taskFail   = futuresimpl.RegisterTask("test.fail", func(_ context.Context, msg string) (struct{}, error) { return struct{}{}, errors.New(msg) })
	taskPanic  = futuresimpl.RegisterTask("test.panic", func(_ context.Context, v string) (int, error) { panic(v) })
	taskExit   = futuresimpl.RegisterTask("test.exit", func(_ context.Context, code int) (int, error) { os.Exit(code); return 0, nil })
	taskSleep  = futuresimpl.RegisterTask("test.sleep", func(ctx context.Context, d time.Duration) (int, error) {
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
	taskEvens = futuresimpl.RegisterTask("test.evens", func(_ context.Context, x int) (int, error) {
		switch {
		case x%10 == 3:
			panic(fmt.Sprintf("three-ish %d", x))
		case x%2 == 1:
			return 0, fmt.Errorf("odd %d", x)
		}
		return x, nil
	})
	taskWhere = futuresimpl.RegisterTask("test.where", func(_ context.Context, _ struct{}) (where, error) {
		return where{PID: os.Getpid(), PPID: os.Getppid(), Host: os.Getenv("FUTURESGEN_TEST_HOST")}, nil
	})
	taskDeadline = futuresimpl.RegisterTask("test.deadline", func(ctx context.Context, _ struct{}) (time.Duration, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return -1, nil
		}
		return time.Until(d), nil
	})
	taskHash  = futuresimpl.RegisterTask("test.hash", func(_ context.Context, b []byte) ([32]byte, error) { return sha256.Sum256(b), nil })
	taskBytes = futuresimpl.RegisterTask("test.bytes", func(_ context.Context, n int) ([]byte, error) { return pattern(n), nil })
	taskLocal = futuresimpl.RegisterTask("test.local", func(_ context.Context, ch chan int) (struct{}, error) { return struct{}{}, nil }, futuresimpl.Local())
	taskGate  = futuresimpl.RegisterTask("test.gate", runGate)
	// taskStubborn says it started, as a gated task does, then ignores its
	// context for good.
	taskStubborn = futuresimpl.RegisterTask("test.stubborn", func(_ context.Context, g gateArgs) (int, error) {
		if _, err := markStarted(g); err != nil {
			return 0, err
		}
		time.Sleep(time.Hour)
		return 0, nil
	})
	taskCount = futuresimpl.RegisterTask("test.count", runCount)
	// taskRecord records that it ran, and where: a file Dir/run-Name-*
	// holding its worker process's pid, one per run.
	taskRecord = futuresimpl.RegisterTask("test.record", func(_ context.Context, g gateArgs) (int, error) {
		f, err := os.CreateTemp(g.Dir, "run-"+g.Name+"-*")
		if err != nil {
			return 0, err
		}
		defer f.Close()
		_, err = fmt.Fprint(f, os.Getppid())
		return os.Getppid(), err
	})
)

// extraTask exists only in processes started with FUTURESGEN_TEST_EXTRA_TASK
// set: a worker whose dispatch table differs from the driver's.
var _ = func() bool {
	if os.Getenv("FUTURESGEN_TEST_EXTRA_TASK") != "" {
		futuresimpl.RegisterTask("test.extra", func(_ context.Context, x int) (int, error) { return x, nil })
	}
	return true
}()

// where says which process ran a task: a worker's child, whose parent is
// the worker process, in the test's namespace host.
type where struct {
	PID, PPID int
	Host      string
}

// pattern returns n bytes that are not all alike.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// gateArgs name a gate: a task that takes them marks that it started by
// creating Dir/started-Name (holding the pid of its worker process),
// then waits until Dir/open exists. Files work across processes, so a
// test sees which tasks run where, without sleeping.
type gateArgs struct {
	Dir, Name string
}

// markStarted says that the gated task g started, and where.
func markStarted(g gateArgs) (where, error) {
	here := where{PID: os.Getpid(), PPID: os.Getppid(), Host: os.Getenv("FUTURESGEN_TEST_HOST")}
	// Written whole, then renamed: a test never reads it half written.
	tmp := filepath.Join(g.Dir, "tmp-"+g.Name+strconv.Itoa(here.PID))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(here.PPID)+" "+here.Host), 0o644); err != nil {
		return where{}, err
	}
	return here, os.Rename(tmp, filepath.Join(g.Dir, "started-"+g.Name))
}

func runGate(ctx context.Context, g gateArgs) (where, error) {
	here, err := markStarted(g)
	if err != nil {
		return where{}, err
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(g.Dir, "open")); err == nil {
			return here, nil
		}
		select {
		case <-ctx.Done():
			return where{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// gate is the test's side of a set of gated tasks.
type gate struct {
	t   *testing.T
	dir string
}

// newGate returns a closed gate, opened when the test ends so that no
// task outlives it.
func newGate(t *testing.T) *gate {
	g := &gate{t: t, dir: t.TempDir()}
	t.Cleanup(g.open)
	return g
}

func (g *gate) args(name string) gateArgs { return gateArgs{Dir: g.dir, Name: name} }

// started reports whether the gated task name has started.
func (g *gate) started(name string) bool {
	_, err := os.Stat(filepath.Join(g.dir, "started-"+name))
	return err == nil
}

// worker returns the pid of the worker process running the gated task
// name, once it started.
func (g *gate) worker(name string) int {
	g.t.Helper()
	pid, _ := g.where(name)
	return pid
}

// where returns the pid of the worker process running the gated task
// name, and its test host, once it started.
func (g *gate) where(name string) (pid int, host string) {
	g.t.Helper()
	waitFor(g.t, "task "+name+" has started", func() bool { return g.started(name) })
	b, err := os.ReadFile(filepath.Join(g.dir, "started-"+name))
	text, host, _ := strings.Cut(string(b), " ")
	pid, _ = strconv.Atoi(text)
	if err != nil || pid == 0 {
		g.t.Fatalf("reading the worker of task %s: %q, %v", name, b, err)
	}
	return pid, host
}

// open lets every gated task return.
func (g *gate) open() { os.WriteFile(filepath.Join(g.dir, "open"), nil, 0o644) }

// runCount counts the tasks running at once, across processes: it
// raises Dir/count under a file lock, records the highest count in
// Dir/max, holds for a few milliseconds, and lowers it again.
func runCount(_ context.Context, dir string) (int, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	add := func(delta int) (int, error) {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			return 0, err
		}
		defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		n := readInt(filepath.Join(dir, "count")) + delta
		if err := os.WriteFile(filepath.Join(dir, "count"), []byte(strconv.Itoa(n)), 0o644); err != nil {
			return 0, err
		}
		if n > readInt(filepath.Join(dir, "max")) {
			return n, os.WriteFile(filepath.Join(dir, "max"), []byte(strconv.Itoa(n)), 0o644)
		}
		return n, nil
	}
	n, err := add(1)
	if err != nil {
		return 0, err
	}
	time.Sleep(20 * time.Millisecond)
	_, err = add(-1)
	return n, err
}

func readInt(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(string(b))
	return n
}

// waitFor polls cond until it holds, failing the test if it does not
// within a bound that only a broken cluster misses.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startLocal starts a cluster for one test, closed at its end; every
// worker process it started must be gone then.
func startLocal(t *testing.T, opts ...LocalOption) *Local {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := StartLocal(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeLocal(t, l) })
	return l
}

func closeLocal(t testing.TB, l *Local) {
	l.mu.Lock()
	procs := l.procs
	l.mu.Unlock()
	if err := l.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	for _, p := range procs {
		if syscall.Kill(p.cmd.Process.Pid, 0) == nil {
			t.Errorf("worker process %d is still alive after Close", p.cmd.Process.Pid)
		}
	}
}

// The shared cluster: two workers, for the tests that need no cluster of
// their own. Its hard-deadline grace is short, for the test of it.
var shared struct {
	once sync.Once
	l    *Local
	err  error
}

func sharedLocal(t *testing.T) *Local {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shared.l, shared.err = StartLocal(ctx, Workers(2), GracePeriod(200*time.Millisecond))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.l
}

func closeShared() {
	if shared.l != nil {
		shared.l.Close()
	}
}

// newDriver returns a new driver on l, closed at the end of the test.
func newDriver(t *testing.T, l *Local, opts ...Option) *Executor {
	t.Helper()
	ex, err := l.NewExecutor(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ex.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ex.WaitForWorkers(ctx, len(l.pids())); err != nil {
		t.Fatalf("the workers did not join a new driver: %v", err)
	}
	return ex
}

func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func count(n int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}
