package board

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

// The costs the dashboard must keep (issue #21): a trivial ThreadPool task
// at most 10% dearer with a dashboard attached and a page open; a snapshot
// of 1,000 workers and 10,000 running calls; memory bounded whatever the
// number of calls. Run side by side in one run, on a quiet machine:
//
//	go test -run '^$' -bench . -benchmem ./dashboard/internal/board

// BenchmarkObserve is the cost of one event, and of the three of a task,
// on one goroutine.
func BenchmarkObserve(b *testing.B) {
	b.Run("event=CallSubmitted", func(b *testing.B) {
		bd := New(Config{})
		defer bd.Close()
		b.ReportAllocs()
		reportThreadCPU(b)
		for i := range b.N {
			bd.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: uint64(i + 1), Task: "shop.Square", Items: 1})
		}
	})
	b.Run("event=CallStarted+CallEnded", func(b *testing.B) {
		bd := New(Config{})
		defer bd.Close()
		b.ReportAllocs()
		reportThreadCPU(b)
		for i := range b.N {
			bd.Observe(runtime.Event{Kind: runtime.CallStarted, Call: uint64(i + 1), Task: "shop.Square", Items: 1, Worker: "thread 1"})
			bd.Observe(runtime.Event{Kind: runtime.CallEnded, Call: uint64(i + 1), Task: "shop.Square", Items: 1, Worker: "thread 1"})
		}
	})
	b.Run("event=task", func(b *testing.B) { // submitted, started, ended
		bd := New(Config{})
		defer bd.Close()
		b.ReportAllocs()
		reportThreadCPU(b)
		for i := range b.N {
			call := uint64(i + 1)
			bd.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: call, Task: "shop.Square", Items: 1})
			bd.Observe(runtime.Event{Kind: runtime.CallStarted, Call: call, Task: "shop.Square", Items: 1, Worker: "thread 1"})
			bd.Observe(runtime.Event{Kind: runtime.CallEnded, Call: call, Task: "shop.Square", Items: 1, Worker: "thread 1"})
		}
	})
	b.Run("event=task/parallel", func(b *testing.B) {
		// Each goroutine is a worker of its own, as a ThreadPool's are.
		bd := New(Config{})
		defer bd.Close()
		var next, calls sync.Mutex
		var id, call uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			next.Lock()
			id++
			worker := "thread " + strconv.FormatUint(id, 10)
			next.Unlock()
			for pb.Next() {
				calls.Lock()
				call++
				c := call
				calls.Unlock()
				bd.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: c, Task: "shop.Square", Items: 1})
				bd.Observe(runtime.Event{Kind: runtime.CallStarted, Call: c, Task: "shop.Square", Items: 1, Worker: worker})
				bd.Observe(runtime.Event{Kind: runtime.CallEnded, Call: c, Task: "shop.Square", Items: 1, Worker: worker})
			}
		})
	})
}

// emulated stands in for a ThreadPool wired to an observer, until the
// executors report events: the submitter reports CallSubmitted, the task
// itself CallStarted and CallEnded from the worker goroutine that runs it,
// named as the ThreadPool names its workers (one name per P here, which
// is what a worker goroutine running on it would be). With o nil it pays
// what an executor without observer pays: a nil check per event.
type emulated struct {
	o     runtime.Observer
	names sync.Pool
	next  sync.Mutex
	n     int
	task  string
}

func newEmulated(o runtime.Observer) *emulated {
	e := &emulated{o: o, task: "github.com/futuresgen/futuresgen/dashboard/internal/board.square"}
	e.names.New = func() any {
		e.next.Lock()
		defer e.next.Unlock()
		e.n++
		s := "thread " + strconv.Itoa(e.n)
		return &s
	}
	return e
}

// run submits n trivial tasks to p and awaits them in order: the futures
// shape of runtime's BenchmarkFuturesShape.
func (e *emulated) run(ctx context.Context, p *runtime.ThreadPool, n int, base uint64) {
	fs := make([]*runtime.Future[int], n)
	for i := range fs {
		call := base + uint64(i) + 1
		if e.o != nil {
			e.o.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: call, Task: e.task, Items: 1})
		}
		fs[i] = runtime.Submit(ctx, p, func(context.Context) (int, error) {
			w := e.names.Get().(*string)
			if e.o != nil {
				e.o.Observe(runtime.Event{Kind: runtime.CallStarted, Call: call, Task: e.task, Items: 1, Worker: *w})
			}
			v := i * 2
			if e.o != nil {
				e.o.Observe(runtime.Event{Kind: runtime.CallEnded, Call: call, Task: e.task, Items: 1, Worker: *w})
			}
			e.names.Put(w)
			return v, nil
		})
	}
	for i, f := range fs {
		if v, _ := f.Result(ctx); v != i*2 {
			panic(fmt.Sprintf("task %d = %d", i, v))
		}
	}
}

// nopObserver is the floor of any observer: the three calls alone.
type nopObserver struct{}

func (nopObserver) Observe(runtime.Event) {}

// BenchmarkTrivialTask runs batches of trivial ThreadPool tasks without an
// observer, with an observer that does nothing (the cost of the calls
// alone), and with a dashboard attached and a page open (its stream
// collected and encoded every 250 ms), in turn, and reports the best ns
// per task of each (wall clock and the process's CPU time) and the
// dashboard's ratio to none (target: at most 1.10).
func BenchmarkTrivialTask(b *testing.B) {
	const batch = 200_000
	ctx := context.Background()
	p := runtime.NewThreadPool(runtime.MaxWorkers(4))
	defer p.Close()

	bd := New(Config{})
	defer bd.Close()
	page := bd.hub.join() // a page open: the hub collects and encodes
	go func() {
		for range page.ch {
		}
	}()
	arms := []*emulated{newEmulated(nil), newEmulated(nopObserver{}), newEmulated(bd)}
	best := [3]time.Duration{1 << 62, 1 << 62, 1 << 62}
	cpu := [3]time.Duration{1 << 62, 1 << 62, 1 << 62}
	var base uint64
	b.ResetTimer()
	for range b.N {
		for k, e := range arms {
			goruntime.GC()
			start, startCPU := time.Now(), processCPU()
			e.run(ctx, p, batch, base)
			best[k] = min(best[k], time.Since(start))
			cpu[k] = min(cpu[k], processCPU()-startCPU)
			base += batch
		}
	}
	b.StopTimer()
	for k, name := range []string{"none", "nop", "dashboard"} {
		b.ReportMetric(float64(best[k].Nanoseconds())/batch, "ns/task-"+name)
		b.ReportMetric(float64(cpu[k].Nanoseconds())/batch, "cpu-ns/task-"+name)
	}
	b.ReportMetric(float64(best[2])/float64(best[0]), "ratio")
	b.ReportMetric(0, "ns/op")
	bd.hub.leave(page)
}

// snapshotBoard returns a board with workers workers of slots slots, each
// running slots calls.
func snapshotBoard(workers, slots int) (*Board, []string) {
	bd := New(Config{fakeClock: true})
	names := make([]string, workers)
	call := uint64(0)
	for w := range workers {
		names[w] = fmt.Sprintf("worker-%04d", w)
		bd.Observe(runtime.Event{Kind: runtime.WorkerJoined, Worker: names[w], Detail: &runtime.EventDetail{Host: "host-" + strconv.Itoa(w%50), PID: 1000 + w, Slots: slots}})
		for range slots {
			call++
			task := fmt.Sprintf("example.com/shop.Task%d", call%20)
			bd.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: call, Task: task, Items: 1})
			bd.Observe(runtime.Event{Kind: runtime.CallStarted, Call: call, Task: task, Items: 1, Worker: names[w]})
		}
	}
	return bd, names
}

// BenchmarkSnapshot is the cost of a collection and its frame with 1,000
// workers and 10,000 running calls (synthetic).
func BenchmarkSnapshot(b *testing.B) {
	const workers, slots = 1000, 10
	b.Run("frame=delta/changed=none", func(b *testing.B) {
		bd, _ := snapshotBoard(workers, slots)
		defer bd.Close()
		bd.hub.tickFrames(true)
		b.ReportAllocs()
		reportThreadCPU(b)
		b.ResetTimer()
		for range b.N {
			bd.hub.tickFrames(false)
		}
	})
	b.Run("frame=delta/changed=one-call-per-worker", func(b *testing.B) {
		bd, names := snapshotBoard(workers, slots)
		defer bd.Close()
		bd.hub.tickFrames(true)
		call := uint64(workers * slots)
		b.ReportAllocs()
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		var cpu time.Duration
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			bd.clk.set(time.Duration(i+1) * time.Millisecond)
			for _, w := range names {
				call++
				bd.Observe(runtime.Event{Kind: runtime.CallStarted, Call: call, Task: "example.com/shop.Task1", Items: 1, Worker: w})
				bd.Observe(runtime.Event{Kind: runtime.CallEnded, Call: call, Task: "example.com/shop.Task1", Items: 1, Worker: w})
			}
			b.StartTimer()
			start := threadCPU()
			bd.hub.tickFrames(false)
			cpu += threadCPU() - start
		}
		if cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	})
	b.Run("frame=full", func(b *testing.B) {
		bd, _ := snapshotBoard(workers, slots)
		defer bd.Close()
		b.ReportAllocs()
		reportThreadCPU(b)
		var size int
		for range b.N {
			size = len(bd.hub.tickFrames(true))
		}
		b.ReportMetric(float64(size), "bytes/frame")
	})
}

// tickFrames collects and encodes as the hub's tick does, returning the
// full frame if full, else the delta (nil when nothing changed).
func (h *hub) tickFrames(full bool) []byte {
	c := h.b.col
	c.mu.Lock()
	defer c.mu.Unlock()
	c.collect()
	var delta []byte
	if c.changedSince(h.since) {
		h.seq++
		delta = frame("delta", h.seq, c.encodeDelta(h.seq, h.since))
	}
	h.since = c.ver
	if full {
		return frame("full", h.seq, c.encodeFull(h.seq))
	}
	return delta
}

// feedCalls reports n calls of 20 task names on 8 workers, one in 100
// failing with one of 1,000 messages, collecting every 10,000 calls.
func feedCalls(bd *Board, from, n int) {
	workers := make([]string, 8)
	for w := range workers {
		workers[w] = "thread " + strconv.Itoa(w+1)
	}
	tasks := make([]string, 20)
	for t := range tasks {
		tasks[t] = fmt.Sprintf("example.com/shop.Task%d", t)
	}
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = fmt.Errorf("error %d: %w", i, errors.ErrUnsupported)
	}
	for i := from; i < from+n; i++ {
		call := uint64(i + 1)
		task, w := tasks[i%len(tasks)], workers[i%len(workers)]
		bd.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: call, Task: task, Items: 1})
		bd.Observe(runtime.Event{Kind: runtime.CallStarted, Call: call, Task: task, Items: 1, Worker: w})
		var d *runtime.EventDetail
		if i%100 == 0 {
			d = &runtime.EventDetail{Failed: 1, Err: errs[(i/100)%len(errs)]}
		}
		bd.Observe(runtime.Event{Kind: runtime.CallEnded, Call: call, Task: task, Items: 1, Worker: w, Detail: d})
		if i%10_000 == 0 {
			bd.State()
		}
	}
	bd.State()
}

func heapAlloc() uint64 {
	var m goruntime.MemStats
	goruntime.GC()
	goruntime.GC()
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory reports the heap a board holds after a million calls
// (and a page's worth of collections).
func BenchmarkMemory(b *testing.B) {
	for range b.N {
		before := heapAlloc()
		bd := New(Config{})
		feedCalls(bd, 0, 1_000_000)
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/(1<<20), "MiB-after-1M-calls")
		goruntime.KeepAlive(bd)
		bd.Close()
	}
}

// TestMemoryIsBounded checks that a board holds no more after 300,000
// calls than after 100,000.
func TestMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 300,000 calls")
	}
	bd := New(Config{fakeClock: true})
	defer bd.Close()
	base := heapAlloc()
	feedCalls(bd, 0, 100_000)
	first := heapAlloc()
	feedCalls(bd, 100_000, 200_000)
	second := heapAlloc()
	goruntime.KeepAlive(bd)
	grew := int64(second) - int64(first)
	t.Logf("heap: %d KiB after 100,000 calls, %+d KiB after 200,000 more", (int64(first)-int64(base))>>10, grew>>10)
	if grew > 256<<10 {
		t.Errorf("the board grew by %d KiB over 200,000 more calls; want it bounded", grew>>10)
	}
}
