package runtime_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// count yields 0, 1, …, n-1.
func count(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

// endless yields 0, 1, 2, … forever, counting what was read.
func endless(read *atomic.Int64) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; ; i++ {
			read.Add(1)
			if !yield(i) {
				return
			}
		}
	}
}

func double(_ context.Context, x int) (int, error) { return 2 * x, nil }

func TestMap(t *testing.T) {
	t.Parallel()
	t.Run("results come in input order", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(4))
		defer p.Close()
		slow := func(_ context.Context, x int) (int, error) {
			time.Sleep(time.Duration(10-x) * time.Millisecond)
			return x * x, nil
		}
		var got []int
		for v, err := range runtime.Map(context.Background(), p, slow, count(10)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if want := []int{0, 1, 4, 9, 16, 25, 36, 49, 64, 81}; !slices.Equal(got, want) {
			t.Errorf("got %v; want %v", got, want)
		}
	})
	t.Run("errors come per item and the map goes on", func(t *testing.T) {
		p := runtime.NewThreadPool()
		defer p.Close()
		odd := errors.New("odd")
		fn := func(_ context.Context, x int) (int, error) {
			if x%2 == 1 {
				return 0, odd
			}
			if x == 4 {
				panic("four")
			}
			return x, nil
		}
		var errs []string
		for v, err := range runtime.Map(context.Background(), p, fn, count(6)) {
			var pe *runtime.PanicError
			switch {
			case err == nil:
				errs = append(errs, "ok")
				_ = v
			case errors.Is(err, odd):
				errs = append(errs, "odd")
			case errors.As(err, &pe):
				errs = append(errs, "panic")
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if want := []string{"ok", "odd", "ok", "odd", "panic", "odd"}; !slices.Equal(errs, want) {
			t.Errorf("got %v; want %v", errs, want)
		}
	})
	t.Run("an endless input is read lazily, at most Buffer ahead", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(2))
		defer p.Close()
		var read atomic.Int64
		n := 0
		for v, err := range runtime.Map(context.Background(), p, double, endless(&read), runtime.Buffer(5)) {
			if err != nil || v != 2*n {
				t.Fatalf("item %d: %v, %v", n, v, err)
			}
			n++
			if ahead := read.Load() - int64(n); ahead > 5 {
				t.Fatalf("after %d items Map had read %d inputs: %d ahead; want at most 5", n, read.Load(), ahead)
			}
			if n == 100 {
				break
			}
		}
	})
	t.Run("the default buffer is twice MaxWorkers", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(3))
		defer p.Close()
		var read atomic.Int64
		for range runtime.Map(context.Background(), p, double, endless(&read)) {
			if got := read.Load(); got != 6 {
				t.Errorf("read %d inputs before the first result; want 6", got)
			}
			break
		}
	})
	t.Run("leaving early cancels pending tasks and stops reading", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		defer p.Close()
		var read, ran atomic.Int64
		first, rest := make(chan struct{}), make(chan struct{})
		fn := func(_ context.Context, x int) (int, error) {
			ran.Add(1)
			if x == 0 {
				<-first
			} else {
				<-rest
			}
			return x, nil
		}
		go func() { time.Sleep(5 * time.Millisecond); close(first) }()
		for range runtime.Map(context.Background(), p, fn, endless(&read), runtime.Buffer(10)) {
			break
		}
		close(rest)
		p.Close()
		if r := read.Load(); r != 10 {
			t.Errorf("read %d inputs; want 10 (the buffer) and no more after the break", r)
		}
		// The one worker may have started item 1 before the break; the
		// others must have been cancelled.
		s := p.Stats()
		if n := ran.Load(); n > 2 || n+s.Cancelled != 10 {
			t.Errorf("%d tasks ran and %d were cancelled; want at most 2 run and the rest cancelled", n, s.Cancelled)
		}
	})
	t.Run("a deadline bounds the whole map", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(2))
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		fn := func(ctx context.Context, x int) (int, error) {
			if x == 3 {
				<-ctx.Done()
				return 0, ctx.Err()
			}
			return x, nil
		}
		var got []error
		for _, err := range runtime.Map(ctx, p, fn, count(100)) {
			got = append(got, err)
		}
		if len(got) != 4 || got[3] != context.DeadlineExceeded || got[0] != nil {
			t.Errorf("got %v; want 3 results then one DeadlineExceeded", got)
		}
	})
	t.Run("shutdown ends the map with one error", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		var last error
		n := 0
		for _, err := range runtime.Map(context.Background(), p, double, count(100), runtime.Buffer(4)) {
			n++
			last = err
			if n == 2 {
				go p.Shutdown(context.Background(), runtime.CancelPending())
				<-runtime.ShutdownBegun(p)
			}
		}
		p.Close()
		if !errors.Is(last, runtime.ErrCancelled) && !errors.Is(last, runtime.ErrShutdown) {
			t.Errorf("last error = %v; want ErrCancelled or ErrShutdown", last)
		}
		if n > 7 {
			t.Errorf("map yielded %d items after shutdown; want it to stop", n)
		}
	})
	t.Run("Unordered yields in completion order", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(4))
		defer p.Close()
		release := make(chan struct{})
		fn := func(_ context.Context, x int) (int, error) {
			if x == 0 {
				<-release
			}
			return x, nil
		}
		var got []int
		for v, err := range runtime.Map(context.Background(), p, fn, count(4), runtime.Unordered()) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
			if len(got) == 3 {
				close(release)
			}
		}
		if len(got) != 4 || got[3] != 0 {
			t.Errorf("got %v; want the blocked item 0 last", got)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{0, 1, 2, 3}) {
			t.Errorf("got %v; want each input once", got)
		}
	})
	t.Run("Unordered reads lazily and cancels on break", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(2))
		defer p.Close()
		var read atomic.Int64
		n := 0
		for _, err := range runtime.Map(context.Background(), p, double, endless(&read), runtime.Unordered(), runtime.Buffer(3)) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if ahead := read.Load() - int64(n); ahead > 3 {
				t.Fatalf("%d inputs read ahead; want at most 3", ahead)
			}
			if n == 50 {
				break
			}
		}
	})
	t.Run("Unordered with a deadline", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(2))
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		block := func(ctx context.Context, x int) (int, error) { <-ctx.Done(); return 0, ctx.Err() }
		var got []error
		for _, err := range runtime.Map(ctx, p, block, count(10), runtime.Unordered()) {
			got = append(got, err)
		}
		if len(got) != 1 || got[0] != context.DeadlineExceeded {
			t.Errorf("got %v; want one DeadlineExceeded", got)
		}
	})
	t.Run("ChunkSize is accepted and ignored in process", func(t *testing.T) {
		p := runtime.NewThreadPool()
		defer p.Close()
		sum := 0
		for v, _ := range runtime.Map(context.Background(), p, double, count(10), runtime.ChunkSize(4)) {
			sum += v
		}
		if sum != 90 {
			t.Errorf("sum = %d; want 90", sum)
		}
	})
}

func TestMapProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			var seen []int
			n := 0
			for range futuresimpl.MapTask(ctx, ex, taskDouble, count(50), runtime.ChunkSize(8), runtime.Progress(func(done int) { seen = append(seen, done) })) {
				n++
			}
			if n != 50 || len(seen) != 50 || seen[0] != 1 || seen[49] != 50 {
				t.Errorf("%d results, progress %v; want 1…50, one per input", n, seen)
			}
		})
	}
}
