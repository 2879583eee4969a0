package runtime_test

// Outside attack tests on the ProcessPool and its scheduler. The tests
// marked "Once a defect" failed when they were written and were fixed; the
// others are attacks that held up. All stay, as regression tests.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// liveness is how long a test waits before it takes a wait for a hang.
const liveness = 25 * time.Second

// markArgs make attack.mark leave a side effect: the file Dir/ran-I is
// created as the task starts. Then it sleeps Sleep, exits the worker with
// status 7 if Exit, waits for Dir/open if Gate, and returns I.
type markArgs struct {
	Dir   string
	I     int
	Sleep time.Duration
	Exit  bool
	Gate  bool
	Ctx   bool // return ctx.Err() if the context ended while gated
}

func ranFile(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("ran-%d", i)) }

var taskMark = futuresimpl.RegisterTask("attack.mark", func(ctx context.Context, a markArgs) (int, error) {
	if err := os.WriteFile(ranFile(a.Dir, a.I), nil, 0o644); err != nil {
		return 0, err
	}
	if a.Sleep > 0 {
		time.Sleep(a.Sleep)
	}
	if a.Gate {
		for {
			if _, err := os.Stat(filepath.Join(a.Dir, "open")); err == nil {
				break
			}
			if a.Ctx && ctx.Err() != nil {
				return 0, ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
	}
	if a.Exit {
		os.Exit(7)
	}
	return a.I, nil
})

// taskWaitCtx waits until its context ends (or an hour) and says why.
var taskWaitCtx = futuresimpl.RegisterTask("attack.waitCtx", func(ctx context.Context, a markArgs) (int, error) {
	os.WriteFile(ranFile(a.Dir, a.I), nil, 0o644)
	select {
	case <-ctx.Done():
		return a.I, ctx.Err()
	case <-time.After(time.Hour):
		return a.I, nil
	}
})

func ran(dir string, i int) bool {
	_, err := os.Stat(ranFile(dir, i))
	return err == nil
}

// picky is a value whose own gob encoding fails for N == 13 and panics for
// N == 14.
type picky struct{ N int }

func (p picky) GobEncode() ([]byte, error) {
	switch p.N {
	case 13:
		return nil, errors.New("picky: 13 is unlucky")
	case 14:
		panic("picky: 14 panics")
	}
	return []byte(fmt.Sprint(p.N)), nil
}

func (p *picky) GobDecode(b []byte) error {
	_, err := fmt.Sscan(string(b), &p.N)
	return err
}

var (
	taskPickyArg    = futuresimpl.RegisterTask("attack.pickyArg", func(_ context.Context, p picky) (int, error) { return p.N, nil })
	taskPickyResult = futuresimpl.RegisterTask("attack.pickyResult", func(_ context.Context, n int) (picky, error) { return picky{n}, nil })
	taskIdentity    = futuresimpl.RegisterTask("attack.identity", func(_ context.Context, n int) (int, error) { return n, nil })
	taskEmpty       = futuresimpl.RegisterTask("attack.empty", func(_ context.Context, _ struct{}) (struct{}, error) { return struct{}{}, nil })
	taskNils        = futuresimpl.RegisterTask("attack.nils", func(_ context.Context, kind int) (nilsResult, error) {
		switch kind {
		case 1:
			five := 5
			return nilsResult{M: map[string]int{"a": 1}, S: []int{1}, P: &five}, nil
		case 2:
			return nilsResult{P: new(int)}, nil
		}
		return nilsResult{}, nil
	})
)

type nilsResult struct {
	M map[string]int
	S []int
	P *int
}

// stuck reports a Shutdown that does not return, then cleans up so that the
// test binary can go on: the caller's ctx is cancelled first (which by
// itself lets Shutdown return: once a defect, ctx-end-no-checkidle), then
// a CancelPending shutdown.
func unstick(t *testing.T, p *runtime.ProcessPool, cancel context.CancelFunc) {
	t.Helper()
	cancel()
	c, stop := context.WithTimeout(context.Background(), 5*time.Second)
	err := p.Shutdown(c)
	stop()
	if err != nil {
		t.Errorf("after the submit context of every queued call ended, Shutdown still waits (%v); Stats %+v", err, p.Stats())
		c, stop := context.WithTimeout(context.Background(), liveness)
		defer stop()
		if err := p.Shutdown(c, runtime.CancelPending()); err != nil {
			t.Errorf("even Shutdown(CancelPending) did not return: %v; Stats %+v", err, p.Stats())
		}
	}
}

// checkStats checks that the counters add up once everything is done.
func checkStats(t *testing.T, p *runtime.ProcessPool) {
	t.Helper()
	s := p.Stats()
	if s.Queued != 0 || s.Running != 0 || s.Submitted != s.Completed+s.Failed+s.Cancelled {
		t.Errorf("Stats() = %+v; want Queued = Running = 0 and Submitted = Completed + Failed + Cancelled", s)
	}
}

// Calls still queued when the last worker retires (MaxTasksPerWorker)
// during Shutdown get a new worker and run; Close returns. Python's pool
// replaces a retired worker while it shuts down too. Once a defect
// (shutdown-no-respawn): the scheduler started no worker after Shutdown.
func TestAttackCloseWithMaxTasksPerWorkerAndQueuedCalls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := processPool(t, runtime.MaxWorkers(1), runtime.MaxTasksPerWorker(1))
	var fs []*runtime.Future[int]
	for i := range 4 {
		fs = append(fs, futuresimpl.SubmitTask(ctx, p, taskDouble, i))
	}
	c, stop := context.WithTimeout(context.Background(), liveness)
	defer stop()
	if err := p.Shutdown(c); err != nil {
		t.Errorf("Shutdown of a pool with MaxTasksPerWorker(1) and 4 calls: %v after %v; Stats %+v", err, liveness, p.Stats())
		unstick(t, p, cancel)
		return
	}
	for i, f := range fs {
		if v, err := f.Result(ctx); err != nil || v != 2*i {
			t.Errorf("call %d: %v, %v; want %d", i, v, err, 2*i)
		}
	}
	checkStats(t, p)
}

// A worker that dies during a graceful Shutdown is replaced: the calls
// queued behind its task run, and Shutdown returns. Once a defect
// (shutdown-no-respawn).
func TestAttackWorkerDiesDuringShutdown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := processPool(t, runtime.MaxWorkers(1))
	dir := t.TempDir()
	t.Cleanup(func() { os.WriteFile(filepath.Join(dir, "open"), nil, 0o644) })
	dying := futuresimpl.SubmitTask(ctx, p, taskMark, markArgs{Dir: dir, I: 0, Gate: true, Exit: true})
	eventually(t, "the dying task started", func() bool { return ran(dir, 0) })
	var fs []*runtime.Future[int]
	for i := 1; i <= 3; i++ {
		fs = append(fs, futuresimpl.SubmitTask(ctx, p, taskIdentity, i))
	}
	done := make(chan error, 1)
	c, stop := context.WithTimeout(context.Background(), liveness)
	defer stop()
	go func() { done <- p.Shutdown(c) }()
	eventually(t, "Shutdown began", func() bool {
		probe, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		return errors.Is(futuresimpl.SubmitTask(probe, p, taskIdentity, 0).Err(ctx), runtime.ErrShutdown)
	})
	os.WriteFile(filepath.Join(dir, "open"), nil, 0o644)
	if err := <-done; err != nil {
		t.Errorf("the worker died during Shutdown; Shutdown: %v after %v; Stats %+v", err, liveness, p.Stats())
		unstick(t, p, cancel)
		return
	}
	if err := dying.Err(ctx); !errors.Is(err, runtime.ErrWorkerDied) {
		t.Errorf("the dying task: %v; want ErrWorkerDied", err)
	}
	for i, f := range fs {
		if v, err := f.Result(ctx); err != nil || v != i+1 {
			t.Errorf("call %d: %v, %v; want %d", i+1, v, err, i+1)
		}
	}
	checkStats(t, p)
}

// One input of a chunk whose arguments do not encode fails its own future
// only (API.md §3). Once a defect (chunk-arg-poisons-chunk): it failed the
// whole chunk.
func TestAttackChunkWithOneUnencodableArgument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))
	in := []picky{{10}, {11}, {12}, {13}, {15}, {16}, {14}, {17}}
	i := 0
	for v, err := range futuresimpl.MapTask(ctx, p, taskPickyArg, slices.Values(in), runtime.ChunkSize(4)) {
		bad := in[i].N == 13 || in[i].N == 14
		switch {
		case bad && (err == nil || !strings.Contains(err.Error(), "attack.pickyArg")):
			t.Errorf("input %d (N=%d): %v, %v; want an error naming the task", i, in[i].N, v, err)
		case !bad && (err != nil || v != in[i].N):
			t.Errorf("input %d (N=%d) encodes fine but got %v, %v; want %d", i, in[i].N, v, err, in[i].N)
		}
		i++
	}
	if i != len(in) {
		t.Errorf("Map yielded %d results; want %d", i, len(in))
	}
	// Alone, the good values go through, the bad ones fail alone.
	for _, a := range in {
		v, err := futuresimpl.SubmitTask(ctx, p, taskPickyArg, a).Result(ctx)
		if bad := a.N == 13 || a.N == 14; bad != (err != nil) || (!bad && v != a.N) {
			t.Errorf("pickyArg(%d) alone = %v, %v", a.N, v, err)
		}
	}
	checkStats(t, p)
}

// Held up: results whose GobEncode fails or panics fail only their own item,
// also inside chunks, and the worker goes on.
func TestAttackChunkWithOneUnencodableResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	in := []int{10, 13, 11, 14, 12, 15, 16, 17, 13}
	for _, chunk := range []int{1, 3, 9} {
		i := 0
		for v, err := range futuresimpl.MapTask(ctx, p, taskPickyResult, slices.Values(in), runtime.ChunkSize(chunk)) {
			bad := in[i] == 13 || in[i] == 14
			if bad != (err != nil) || (!bad && v.N != in[i]) || (bad && !strings.Contains(err.Error(), "attack.pickyResult")) {
				t.Errorf("chunk %d, input %d (%d): %v, %v", chunk, i, in[i], v, err)
			}
			i++
		}
	}
	if s := p.Stats(); s.WorkerDeaths != 0 {
		t.Errorf("a worker died: %+v", s)
	}
	checkStats(t, p)
}

// Held up: nil maps, slices and pointers, empty ones, and struct{} values in
// chunks come back as they went.
func TestAttackNilsAndEmptiesInChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))
	for _, chunk := range []int{1, 5} {
		n := 0
		for _, err := range futuresimpl.MapTask(ctx, p, taskEmpty, func(yield func(struct{}) bool) {
			for range 23 {
				if !yield(struct{}{}) {
					return
				}
			}
		}, runtime.ChunkSize(chunk)) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 23 {
			t.Errorf("chunk %d: %d struct{} results; want 23", chunk, n)
		}
		k := 0
		for r, err := range futuresimpl.MapTask(ctx, p, taskNils, slices.Values([]int{0, 1, 0, 1}), runtime.ChunkSize(chunk)) {
			if err != nil {
				t.Fatal(err)
			}
			if k%2 == 0 && (r.M != nil || r.S != nil || r.P != nil) {
				t.Errorf("chunk %d item %d: %+v; want nils", chunk, k, r)
			}
			if k%2 == 1 && (r.P == nil || *r.P != 5 || r.M["a"] != 1 || len(r.S) != 1) {
				t.Errorf("chunk %d item %d: %+v; want a pointer", chunk, k, r)
			}
			k++
		}
	}
	checkStats(t, p)
}

// Shutdown(CancelPending) revokes a call sent ahead; when the worker
// starts it before it reads the revoke (the call before it just returned),
// its context ends all the same, as API.md §1 says. Once a defect
// (cancelpending-start-race): it ran on with a live context and Shutdown
// waited for it.
func TestAttackCancelPendingRacesASentAheadCallStarting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rounds = 60
	hung := 0
	for round := range rounds {
		dir := t.TempDir()
		p := runtime.NewProcessPool(runtime.MaxWorkers(1))
		// Warm up so that the two calls meet a ready worker.
		if _, err := futuresimpl.SubmitTask(ctx, p, taskIdentity, 0).Result(ctx); err != nil {
			t.Fatal(err)
		}
		d := time.Duration(rand.IntN(3000)) * time.Microsecond
		a := futuresimpl.SubmitTask(ctx, p, taskMark, markArgs{Dir: dir, I: 1, Sleep: d})
		b := futuresimpl.SubmitTask(ctx, p, taskWaitCtx, markArgs{Dir: dir, I: 2})
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		pids := p.WorkerPIDs()
		c, stop := context.WithTimeout(ctx, liveness)
		err := p.Shutdown(c, runtime.CancelPending())
		stop()
		if err != nil {
			hung++
			t.Errorf("round %d: Shutdown(CancelPending) = %v after %v; b is %v (ran: %v); Stats %+v", round, err, liveness, b.State(), ran(dir, 2), p.Stats())
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			p.Close()
			continue
		}
		a.Err(ctx)
		switch berr := b.Err(ctx); {
		case b.State() == runtime.Cancelled:
			if ran(dir, 2) {
				t.Errorf("round %d: b is Cancelled but it ran", round)
			}
		case errors.Is(berr, context.Canceled):
		default:
			t.Errorf("round %d: b ended with %v (state %v, ran %v); want Cancelled or context.Canceled", round, berr, b.State(), ran(dir, 2))
		}
		checkStats(t, p)
		if t.Failed() {
			break
		}
	}
	if hung > 0 {
		t.Logf("Shutdown hung in %d of the rounds run", hung)
	}
}

// Many short calls on three workers, some of which exit their worker, with
// their submit contexts cancelled at random and Cancel called at random.
// For every future: Cancelled ⇒ it never ran; a result ⇒ its own; a
// context error ⇒ it never ran to completion... and the counters add up.
func TestAttackStormOfCancelsAndDeaths(t *testing.T) {
	t.Parallel()
	const n = 300
	ctx := context.Background()
	dir := t.TempDir()
	p := processPool(t, runtime.MaxWorkers(3))
	fs := make([]*runtime.Future[int], n)
	exits := make([]bool, n)
	cancels := make([]context.CancelFunc, n)
	var wg sync.WaitGroup
	for i := range n {
		c, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		exits[i] = rand.IntN(40) == 0
		a := markArgs{Dir: dir, I: i, Exit: exits[i]}
		if rand.IntN(4) == 0 {
			a.Sleep = time.Duration(rand.IntN(2000)) * time.Microsecond
		}
		fs[i] = futuresimpl.SubmitTask(c, p, taskMark, a)
		switch rand.IntN(6) {
		case 0:
			cancel()
		case 1:
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				cancel()
			}()
		case 2:
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				fs[i].Cancel()
			}()
		case 3:
			fs[i].Cancel()
		}
	}
	wg.Wait()
	wctx, stop := context.WithTimeout(ctx, liveness)
	defer stop()
	done, pending, err := runtime.Wait(wctx, runtime.AllCompleted, fs...)
	if err != nil {
		t.Fatalf("after %v, %d futures of %d are not done (%v); Stats %+v", liveness, len(pending), n, err, p.Stats())
	}
	_ = done
	counts := map[string]int{}
	for i, f := range fs {
		v, err := f.Result(ctx)
		st := f.State()
		r := ran(dir, i)
		switch {
		case st == runtime.Cancelled:
			counts["cancelled"]++
			if r {
				t.Errorf("call %d is Cancelled but it ran", i)
			}
		case err == nil:
			counts["ok"]++
			if v != i || !r || exits[i] {
				t.Errorf("call %d = %d, nil (ran %v, exits %v); want its own %d", i, v, r, exits[i], i)
			}
		case errors.Is(err, runtime.ErrWorkerDied):
			counts["died"]++
			if !exits[i] {
				t.Errorf("call %d, which does not exit, failed with %v (ran %v)", i, err, r)
			}
		case errors.Is(err, context.Canceled):
			counts["ctx"]++
			if r && !exits[i] {
				t.Errorf("call %d ran to completion but failed with %v", i, err)
			}
		default:
			t.Errorf("call %d: %v, %v (state %v)", i, v, err, st)
		}
	}
	for _, c := range cancels {
		c()
	}
	t.Logf("outcomes %v; Stats %+v", counts, p.Stats())
	checkStats(t, p)
}

// A submit waiting for a QueueLimit slot when the pool breaks fails with
// ErrBrokenPool. Once a defect (broken-queue-limit-says-shutdown): it got
// ErrShutdown.
func TestAttackQueueLimitWaitersOfABrokenPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A worker program that never says hello and exits after a moment:
	// three of those in a row break the pool.
	p := processPool(t, runtime.MaxWorkers(1), runtime.QueueLimit(1), runtime.WorkerCommand("/bin/sleep", "0.3"))
	first := futuresimpl.SubmitTask(ctx, p, taskIdentity, 1)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = futuresimpl.SubmitTask(ctx, p, taskIdentity, 2).Err(ctx)
		}()
	}
	wg.Wait()
	if err := first.Err(ctx); !errors.Is(err, runtime.ErrBrokenPool) {
		t.Errorf("the queued call: %v; want ErrBrokenPool", err)
	}
	for k, err := range errs {
		if !errors.Is(err, runtime.ErrBrokenPool) {
			t.Errorf("submit %d, waiting for a queue slot as the pool broke: %v; want ErrBrokenPool", k, err)
		}
	}
	checkStats(t, p)
}

// Map leaving early with chunks: every item counted Cancelled never ran
// (each run leaves a file), and the counters add up.
func TestAttackMapEarlyBreakWithChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, workers := range []int{1, 3} {
		dir := t.TempDir()
		p := processPool(t, runtime.MaxWorkers(workers))
		n := 0
		for v, err := range futuresimpl.MapTask(ctx, p, taskMark, func(yield func(markArgs) bool) {
			for i := 0; ; i++ {
				if !yield(markArgs{Dir: dir, I: i, Sleep: time.Duration(rand.IntN(500)) * time.Microsecond}) {
					return
				}
			}
		}, runtime.ChunkSize(3), runtime.Buffer(30)) {
			if err != nil || v != n {
				t.Fatalf("item %d: %v, %v", n, v, err)
			}
			if n++; n == 25 {
				break
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		s := p.Stats()
		files, _ := filepath.Glob(filepath.Join(dir, "ran-*"))
		if int64(len(files)) != s.Completed || s.Submitted != s.Completed+s.Cancelled || s.Queued != 0 || s.Running != 0 {
			t.Errorf("%d workers: %d inputs ran; Stats %+v; want as many completed, the rest cancelled", workers, len(files), s)
		}
	}
}

// Map over an endless sequence with a deadline: it ends with one ctx error,
// promptly, and leaves nothing behind.
func TestAttackMapEndlessWithDeadline(t *testing.T) {
	t.Parallel()
	p := processPool(t, runtime.MaxWorkers(2))
	for _, chunk := range []int{1, 4} {
		for _, unordered := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			opts := []runtime.MapOption{runtime.ChunkSize(chunk)}
			if unordered {
				opts = append(opts, runtime.Unordered())
			}
			var last error
			errs := 0
			start := time.Now()
			for _, err := range futuresimpl.MapTask(ctx, p, taskSleep, func(yield func(time.Duration) bool) {
				for yield(time.Millisecond) {
				}
			}, opts...) {
				if err != nil {
					errs++
					last = err
				}
				if time.Since(start) > liveness {
					t.Fatal("the map did not end")
				}
			}
			cancel()
			if errs != 1 || !errors.Is(last, context.DeadlineExceeded) {
				t.Errorf("chunk %d unordered %v: %d errors, the last %v; want one DeadlineExceeded", chunk, unordered, errs, last)
			}
		}
	}
	c, stop := context.WithTimeout(context.Background(), liveness)
	defer stop()
	if err := p.Shutdown(c); err != nil {
		t.Fatal(err)
	}
	checkStats(t, p)
}

// A ThreadPool task waiting on ProcessPool futures, and a ThreadPool map
// whose tasks map on a ProcessPool: no hang, every result its own.
func TestAttackThreadPoolTasksWaitOnProcessPoolFutures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pp := processPool(t, runtime.MaxWorkers(2))
	tp := runtime.NewThreadPool(runtime.MaxWorkers(2))
	defer tp.Close()
	var fs []*runtime.Future[int]
	for i := range 40 {
		fs = append(fs, runtime.Submit(ctx, tp, func(ctx context.Context) (int, error) {
			sum := 0
			for v, err := range futuresimpl.MapTask(ctx, pp, taskIdentity, slices.Values([]int{i, i, i}), runtime.ChunkSize(2)) {
				if err != nil {
					return 0, err
				}
				sum += v
			}
			v, err := futuresimpl.SubmitTask(ctx, pp, taskIdentity, i).Result(ctx)
			return sum + v, err
		}))
	}
	wctx, stop := context.WithTimeout(ctx, liveness)
	defer stop()
	for i, f := range fs {
		v, err := f.Result(wctx)
		if err != nil || v != 4*i {
			t.Fatalf("task %d: %v, %v; want %d", i, v, err, 4*i)
		}
	}
}

// Shutdown with a ctx that has already ended returns ctx.Err() at once, the
// work goes on, and a later Close waits for it; Close twice at once.
func TestAttackShutdownExpiredThenCloseTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2))
	g := newGate(t)
	fs := []*runtime.Future[int]{futuresimpl.SubmitTask(ctx, p, taskGate, g.args("a")), futuresimpl.SubmitTask(ctx, p, taskGate, g.args("b"))}
	var more []*runtime.Future[int]
	for i := range 10 {
		more = append(more, futuresimpl.SubmitTask(ctx, p, taskIdentity, i))
	}
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Shutdown(expired); err != context.Canceled {
		t.Errorf("Shutdown(ended ctx) = %v; want context.Canceled", err)
	}
	if err := futuresimpl.SubmitTask(ctx, p, taskIdentity, 1).Err(ctx); !errors.Is(err, runtime.ErrShutdown) {
		t.Errorf("submit after Shutdown: %v", err)
	}
	g.open()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- p.Close() }()
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("Close() = %v", err)
			}
		case <-time.After(liveness):
			t.Fatalf("Close did not return; Stats %+v", p.Stats())
		}
	}
	for _, f := range fs {
		if _, err := f.Result(ctx); err != nil {
			t.Error(err)
		}
	}
	for i, f := range more {
		if v, err := f.Result(ctx); err != nil || v != i {
			t.Errorf("call %d: %v, %v", i, v, err)
		}
	}
	checkStats(t, p)
}

// Shutdown while the workers are still starting, with and without
// CancelPending.
func TestAttackShutdownWhileWorkersStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cancelPending := range []bool{false, true} {
		for range 5 {
			p := runtime.NewProcessPool(runtime.MaxWorkers(3))
			var fs []*runtime.Future[int]
			for i := range 12 {
				fs = append(fs, futuresimpl.SubmitTask(ctx, p, taskIdentity, i))
			}
			var opts []runtime.ShutdownOption
			if cancelPending {
				opts = append(opts, runtime.CancelPending())
			}
			c, stop := context.WithTimeout(ctx, liveness)
			err := p.Shutdown(c, opts...)
			stop()
			if err != nil {
				t.Fatalf("cancelPending %v: Shutdown = %v; Stats %+v", cancelPending, err, p.Stats())
			}
			for i, f := range fs {
				v, err := f.Result(ctx)
				switch {
				case f.State() == runtime.Cancelled && cancelPending:
				case err == nil && v == i:
				default:
					t.Errorf("cancelPending %v: call %d: %v, %v, %v", cancelPending, i, f.State(), v, err)
				}
			}
			checkStats(t, p)
			// Once Shutdown returns, WorkerPIDs names no worker. Once a
			// defect (stale-worker-pids, under -race): a process was
			// forgotten only after it was reported gone.
			if pids := p.WorkerPIDs(); len(pids) != 0 {
				alive := 0
				for _, pid := range pids {
					if syscall.Kill(pid, 0) == nil {
						alive++
					}
				}
				t.Errorf("WorkerPIDs() = %v after Shutdown returned (%d of them alive)", pids, alive)
			}
		}
	}
}

// QueueLimit(1) with cancels: a cancelled queued call frees its slot for a
// waiting submit, a submit that gives up fails with its ctx error, and the
// counters add up.
func TestAttackQueueLimitWithCancels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1), runtime.QueueLimit(1))
	g := newGate(t)
	long := futuresimpl.SubmitTask(ctx, p, taskGate, g.args("long"))
	eventually(t, "the long task started", func() bool { return g.started("long") })
	var fs []*runtime.Future[int]
	for i := range 30 {
		c, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(20))*time.Millisecond)
		f := futuresimpl.SubmitTask(c, p, taskIdentity, i)
		if rand.IntN(2) == 0 {
			f.Cancel()
		}
		fs = append(fs, f)
		defer cancel()
	}
	g.open()
	if _, err := long.Result(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithTimeout(ctx, liveness)
	defer stop()
	for i, f := range fs {
		v, err := f.Result(wctx)
		switch {
		case f.State() == runtime.Cancelled:
		case errors.Is(err, context.DeadlineExceeded) && !errors.Is(wctx.Err(), context.DeadlineExceeded):
		case err == nil && v == i:
		default:
			t.Errorf("call %d: %v, %v, %v", i, f.State(), v, err)
		}
	}
	checkStats(t, p)
}

// GracePeriod kills a task that ignores its context; the calls sent ahead
// to its worker get their own results elsewhere.
func TestAttackGraceKillKeepsTheOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(2), runtime.GracePeriod(200*time.Millisecond))
	for round := range 3 {
		c, cancel := context.WithCancel(ctx)
		stubborn := futuresimpl.SubmitTask(c, p, taskIgnore, time.Hour)
		var fs []*runtime.Future[int]
		for i := range 50 {
			fs = append(fs, futuresimpl.SubmitTask(ctx, p, taskIdentity, i))
		}
		eventually(t, "the stubborn task runs", func() bool { return stubborn.State() == runtime.Running })
		cancel()
		wctx, stop := context.WithTimeout(ctx, liveness)
		if err := stubborn.Err(wctx); !errors.Is(err, context.Canceled) {
			t.Errorf("round %d: the stubborn task: %v; want context.Canceled", round, err)
		}
		for i, f := range fs {
			if v, err := f.Result(wctx); err != nil || v != i {
				t.Errorf("round %d call %d: %v, %v", round, i, v, err)
			}
		}
		stop()
	}
	checkStats(t, p)
}

// A result holding a pointer to a zero value comes back from a ProcessPool
// as a nil pointer, where a ThreadPool gives the pointer: gob leaves out
// zero values, and a pointer to one with them. It is documented (README,
// ProcessPool); this test pins the behaviour so that a codec change that
// alters it is seen.
func TestAttackPointerToZeroComesBackNil(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	tp := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer tp.Close()
	local, err := futuresimpl.SubmitTask(ctx, tp, taskNils, 2).Result(ctx)
	if err != nil || local.P == nil {
		t.Fatalf("ThreadPool: %+v, %v", local, err)
	}
	remote, err := futuresimpl.SubmitTask(ctx, p, taskNils, 2).Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if remote.P != nil {
		t.Errorf("a result field holding new(int) came back as %v from a ProcessPool; the docs say nil (gob leaves out zero values)", remote.P)
	}
}

// Close on a pool whose worker program never says hello fails the calls
// with ErrBrokenPool and returns. Once a defect (shutdown-no-respawn):
// during a shutdown a worker that died before it was ready was not counted
// as a start failure, so the pool never broke and no other worker started.
// Without the Close, the same calls fail with ErrBrokenPool within a second.
func TestAttackCloseOfAPoolWhoseWorkersCannotStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := processPool(t, runtime.MaxWorkers(1), runtime.WorkerCommand("/bin/sleep", "0.3"))
	f := futuresimpl.SubmitTask(ctx, p, taskIdentity, 1)
	c, stop := context.WithTimeout(context.Background(), liveness)
	defer stop()
	if err := p.Shutdown(c); err != nil {
		t.Errorf("Shutdown of a pool whose workers never start: %v after %v; the call is %v; Stats %+v", err, liveness, f.State(), p.Stats())
		unstick(t, p, cancel)
		return
	}
	if err := f.Err(ctx); !errors.Is(err, runtime.ErrBrokenPool) {
		t.Errorf("the call: %v; want ErrBrokenPool", err)
	}
}

var taskBytes = futuresimpl.RegisterTask("attack.bytes", func(_ context.Context, n int) ([]byte, error) { return make([]byte, n), nil })

// Payloads near the 256 MiB limit go through both ways; just over it,
// they fail their own future naming the task, never as a dead worker.
func TestAttackPayloadsNearTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := processPool(t, runtime.MaxWorkers(1))
	const limit = 256 << 20
	n, err := futuresimpl.SubmitTask(ctx, p, taskLen, make([]byte, limit-4096)).Result(ctx)
	if err != nil || n != limit-4096 {
		t.Errorf("an argument 4 KiB under the limit: %v, %v", n, err)
	}
	b, err := futuresimpl.SubmitTask(ctx, p, taskBytes, limit-4096).Result(ctx)
	if err != nil || len(b) != limit-4096 {
		t.Errorf("a result 4 KiB under the limit: %d bytes, %v", len(b), err)
	}
	b = nil
	err = futuresimpl.SubmitTask(ctx, p, taskBytes, limit+1).Err(ctx)
	if err == nil || errors.Is(err, runtime.ErrWorkerDied) || !strings.Contains(err.Error(), "attack.bytes") {
		t.Errorf("a result just over the limit: %v; want an error naming the task, not a dead worker", err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, p, taskIdentity, 3).Result(ctx); v != 3 || err != nil {
		t.Errorf("the next call: %v, %v", v, err)
	}
	if s := p.Stats(); s.WorkerDeaths != 0 {
		t.Errorf("a worker died: %+v", s)
	}
}

// A CancelPending shutdown in the middle of a Map over an endless input:
// the map ends, its last yield an error, and Progress counted each item
// once. Every item yielded with a nil error is its own.
func TestAttackCancelPendingDuringMap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, chunk := range []int{1, 4} {
		p := runtime.NewProcessPool(runtime.MaxWorkers(2))
		var mu sync.Mutex
		progress := 0
		maxDone := 0
		n, errs := 0, 0
		var last error
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			i := 0
			for v, err := range futuresimpl.MapTask(ctx, p, taskIdentity, func(yield func(int) bool) {
				for k := 0; yield(k); k++ {
				}
			}, runtime.ChunkSize(chunk), runtime.Progress(func(done int) {
				mu.Lock()
				progress++
				maxDone = max(maxDone, done)
				mu.Unlock()
			})) {
				if err == nil && v != i {
					t.Errorf("chunk %d: item %d = %d", chunk, i, v)
				}
				if err != nil {
					errs++
				}
				last = err
				i++
				n = i
				if i == 200 {
					go p.Shutdown(ctx, runtime.CancelPending())
				}
			}
		}()
		select {
		case <-ended:
		case <-time.After(liveness):
			t.Fatalf("chunk %d: the map did not end after the pool was shut down", chunk)
		}
		if last == nil || !(errors.Is(last, runtime.ErrShutdown) || errors.Is(last, runtime.ErrCancelled)) {
			t.Errorf("chunk %d: the map's last yield: %v; want ErrShutdown or ErrCancelled", chunk, last)
		}
		c, stop := context.WithTimeout(ctx, liveness)
		if err := p.Shutdown(c); err != nil {
			t.Errorf("chunk %d: Shutdown: %v", chunk, err)
		}
		stop()
		mu.Lock()
		if progress != maxDone {
			t.Errorf("chunk %d: Progress called %d times, its last count %d", chunk, progress, maxDone)
		}
		mu.Unlock()
		t.Logf("chunk %d: %d yields, %d errors, last %v", chunk, n, errs, last)
		checkStats(t, p)
	}
}
