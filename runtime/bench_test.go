package runtime_test

import (
	"context"
	"crypto/sha256"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// The benchmarks measure pool overhead per task. Compare them side by side
// in one run (machines here are shared and noisy):
//
//	go test -run '^$' -bench . -benchmem ./runtime
//
// The bench/ module compares futuresgen with other pools.

const benchWorkers = 4

// handPool is the floor a pool is measured against: four goroutines reading
// a job channel, and one buffered result channel per task.
type handJob struct {
	x   int
	out chan int
}

func startHandPool(workers int) (chan<- handJob, func()) {
	jobs := make(chan handJob, 1024)
	done := make(chan struct{})
	for range workers {
		go func() {
			for j := range jobs {
				j.out <- j.x * 2
			}
			done <- struct{}{}
		}()
	}
	return jobs, func() {
		close(jobs)
		for range workers {
			<-done
		}
	}
}

// BenchmarkFuturesShape submits b.N tasks returning i*2, then awaits each
// result in submit order: the concurrent.futures shape. ns/op is per task.
func BenchmarkFuturesShape(b *testing.B) {
	ctx := context.Background()
	b.Run("system=futuresgen", func(b *testing.B) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(benchWorkers))
		defer p.Close()
		fs := make([]*runtime.Future[int], b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range fs {
			fs[i] = runtime.Submit(ctx, p, func(context.Context) (int, error) { return i * 2, nil })
		}
		for i, f := range fs {
			if v, _ := f.Result(ctx); v != i*2 {
				b.Fatalf("task %d = %d", i, v)
			}
		}
	})
	b.Run("system=handwritten", func(b *testing.B) {
		jobs, stop := startHandPool(benchWorkers)
		defer stop()
		outs := make([]chan int, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range outs {
			outs[i] = make(chan int, 1)
			jobs <- handJob{i, outs[i]}
		}
		for i, out := range outs {
			if v := <-out; v != i*2 {
				b.Fatalf("task %d = %d", i, v)
			}
		}
	})
}

// spin burns about d of CPU time.
func spin(d time.Duration) int {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		n++
	}
	return n
}

// BenchmarkCPUTasks runs b.N tasks of about 2µs of CPU each and reports
// efficiency: serial time / (pool time × GOMAXPROCS). 1.0 is ideal.
func BenchmarkCPUTasks(b *testing.B) {
	const work = 2 * time.Microsecond
	ctx := context.Background()
	cores := goruntime.GOMAXPROCS(0)

	start := time.Now()
	const calib = 20000
	for range calib {
		spin(work)
	}
	serial := float64(time.Since(start).Nanoseconds()) / calib

	p := runtime.NewThreadPool(runtime.MaxWorkers(cores))
	defer p.Close()
	fs := make([]*runtime.Future[int], b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range fs {
		fs[i] = runtime.Submit(ctx, p, func(context.Context) (int, error) { return spin(work), nil })
	}
	for _, f := range fs {
		f.Result(ctx)
	}
	b.StopTimer()
	perTask := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(serial/(perTask*float64(cores)), "efficiency")
}

// BenchmarkMap maps i*2 over b.N inputs in order. ns/op is per input.
func BenchmarkMap(b *testing.B) {
	ctx := context.Background()
	p := runtime.NewThreadPool(runtime.MaxWorkers(benchWorkers))
	defer p.Close()
	inputs := func(yield func(int) bool) {
		for i := range b.N {
			if !yield(i) {
				return
			}
		}
	}
	fn := func(_ context.Context, x int) (int, error) { return x * 2, nil }
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for v, err := range runtime.Map(ctx, p, fn, inputs, runtime.Buffer(1024)) {
		if err != nil || v != i*2 {
			b.Fatalf("item %d = %d, %v", i, v, err)
		}
		i++
	}
}

// The ProcessPool benchmarks run tasks in worker processes (this test
// binary, started again), with 2 workers.
const benchProcWorkers = 2

// BenchmarkProcessPool measures the cost of a task in a worker process:
// trivial tasks submitted all at once then awaited in order; one task at
// a time; MapX with ChunkSize(256); a 64 KiB argument hashed with sha256;
// and the time from a new pool to its first result.
func BenchmarkProcessPool(b *testing.B) {
	ctx := context.Background()
	b.Run("workload=trivial", func(b *testing.B) {
		p := runtime.NewProcessPool(runtime.MaxWorkers(benchProcWorkers))
		defer p.Close()
		warm(b, p)
		fs := make([]*runtime.Future[int], b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range fs {
			fs[i] = futuresimpl.SubmitTask(ctx, p, taskDouble, i)
		}
		for i, f := range fs {
			if v, err := f.Result(ctx); v != 2*i || err != nil {
				b.Fatalf("task %d = %d, %v", i, v, err)
			}
		}
	})
	b.Run("workload=one-at-a-time", func(b *testing.B) {
		p := runtime.NewProcessPool(runtime.MaxWorkers(benchProcWorkers))
		defer p.Close()
		warm(b, p)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if v, err := futuresimpl.SubmitTask(ctx, p, taskDouble, i).Result(ctx); v != 2*i || err != nil {
				b.Fatalf("task %d = %d, %v", i, v, err)
			}
		}
	})
	b.Run("workload=map-chunk-256", func(b *testing.B) {
		p := runtime.NewProcessPool(runtime.MaxWorkers(benchProcWorkers))
		defer p.Close()
		warm(b, p)
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for v, err := range futuresimpl.MapTask(ctx, p, taskDouble, count(b.N), runtime.ChunkSize(256)) {
			if v != 2*i || err != nil {
				b.Fatalf("item %d = %d, %v", i, v, err)
			}
			i++
		}
	})
	b.Run("workload=sha256-64KiB", func(b *testing.B) {
		p := runtime.NewProcessPool(runtime.MaxWorkers(benchProcWorkers))
		defer p.Close()
		warm(b, p)
		data := make([]byte, 64<<10)
		for i := range data {
			data[i] = byte(i * 7)
		}
		want := sha256.Sum256(data)
		fs := make([]*runtime.Future[[32]byte], b.N)
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for i := range fs {
			fs[i] = futuresimpl.SubmitTask(ctx, p, taskHash, data)
		}
		for _, f := range fs {
			if sum, err := f.Result(ctx); sum != want || err != nil {
				b.Fatalf("hash = %x, %v", sum, err)
			}
		}
	})
	b.Run("workload=start-to-first-result", func(b *testing.B) {
		for b.Loop() {
			p := runtime.NewProcessPool(runtime.MaxWorkers(1))
			if _, err := futuresimpl.SubmitTask(ctx, p, taskDouble, 1).Result(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			p.Close()
			b.StartTimer()
		}
	})
}

// warm starts every worker of p before the timer starts.
func warm(b *testing.B, p *runtime.ProcessPool) {
	b.Helper()
	var fs []*runtime.Future[int]
	for range 4 * benchProcWorkers {
		fs = append(fs, futuresimpl.SubmitTask(context.Background(), p, taskSleep, time.Millisecond))
	}
	for _, f := range fs {
		if err := f.Err(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
