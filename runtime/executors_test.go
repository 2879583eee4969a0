package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// executors returns one of each executor, shut down at the end of the
// test: the behaviour every executor keeps is tested on all of them.
func executors(t *testing.T) map[string]runtime.Executor {
	t.Helper()
	exs := map[string]runtime.Executor{
		"ThreadPool":  runtime.NewThreadPool(runtime.MaxWorkers(2)),
		"ProcessPool": runtime.NewProcessPool(runtime.MaxWorkers(2)),
	}
	t.Cleanup(func() {
		for name, ex := range exs {
			if err := ex.Close(); err != nil {
				t.Errorf("%s: Close() = %v", name, err)
			}
		}
	})
	return exs
}

func TestEveryExecutor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("a result comes back", func(t *testing.T) {
				if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 4).Result(ctx); v != 8 || err != nil {
					t.Errorf("Result() = %v, %v; want 8, nil", v, err)
				}
			})
			t.Run("an error keeps its message", func(t *testing.T) {
				if err := futuresimpl.SubmitTask(ctx, ex, taskFail, "no route to host").Err(ctx); err == nil || err.Error() != "no route to host" {
					t.Errorf("Err() = %v; want the task's message", err)
				}
			})
			t.Run("a panic becomes a PanicError", func(t *testing.T) {
				var pe *runtime.PanicError
				if _, err := futuresimpl.SubmitTask(ctx, ex, taskPanic, "oops").Result(ctx); !errors.As(err, &pe) || pe.Stack == "" {
					t.Errorf("Result() error = %v; want a *PanicError with a stack", err)
				}
			})
			t.Run("an ended submit context means the task never runs", func(t *testing.T) {
				if err := futuresimpl.SubmitTask(expired(), ex, taskDouble, 1).Err(ctx); err != context.Canceled {
					t.Errorf("Err() = %v; want context.Canceled", err)
				}
			})
			t.Run("a task's context ends with its submit context", func(t *testing.T) {
				c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
				defer cancel()
				if err := futuresimpl.SubmitTask(c, ex, taskSleep, time.Hour).Err(ctx); err != context.DeadlineExceeded {
					t.Errorf("Err() = %v; want context.DeadlineExceeded", err)
				}
			})
			t.Run("map yields in input order, with errors per item", func(t *testing.T) {
				var got []string
				for v, err := range futuresimpl.MapTask(ctx, ex, taskEvens, count(12)) {
					if err != nil {
						got = append(got, "err")
					} else {
						got = append(got, string(rune('0'+v%10)))
					}
				}
				want := []string{"0", "err", "2", "err", "4", "err", "6", "err", "8", "err", "0", "err"}
				if !slices.Equal(got, want) {
					t.Errorf("got %v; want %v", got, want)
				}
			})
			t.Run("leaving a map early stops reading its input", func(t *testing.T) {
				var read atomicInt
				n := 0
				for _, err := range futuresimpl.MapTask(ctx, ex, taskDouble, countRead(&read), runtime.Buffer(4)) {
					if err != nil {
						t.Fatal(err)
					}
					if n++; n == 10 {
						break
					}
				}
				if r := read.load(); r > 10+4 {
					t.Errorf("read %d inputs for 10 results with Buffer(4)", r)
				}
			})
			t.Run("a deadline bounds the whole map", func(t *testing.T) {
				c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
				defer cancel()
				var last error
				n := 0
				for _, err := range futuresimpl.MapTask(c, ex, taskSleep, slices.Values([]time.Duration{0, time.Hour, 0})) {
					n++
					last = err
				}
				if n != 2 || last != context.DeadlineExceeded {
					t.Errorf("%d items, last error %v; want 2 items ending with DeadlineExceeded", n, last)
				}
			})
		})
	}
}

func TestEveryExecutorAfterShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			futuresimpl.SubmitTask(ctx, ex, taskDouble, 1).Result(ctx)
			if err := ex.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 1).Err(ctx); !errors.Is(err, runtime.ErrShutdown) {
				t.Errorf("submit after Shutdown: %v; want ErrShutdown", err)
			}
			var errs []error
			for _, err := range futuresimpl.MapTask(ctx, ex, taskDouble, count(5)) {
				errs = append(errs, err)
			}
			if len(errs) != 1 || !errors.Is(errs[0], runtime.ErrShutdown) {
				t.Errorf("map after Shutdown: %v; want one ErrShutdown", errs)
			}
			if err := ex.Shutdown(ctx); err != nil {
				t.Errorf("second Shutdown() = %v", err)
			}
			// Done is done, whatever the context says (once a defect: a
			// select between two closed channels picked either).
			ended, cancel := context.WithCancel(ctx)
			cancel()
			for i := range 64 {
				if err := ex.Shutdown(ended); err != nil {
					t.Fatalf("Shutdown #%d after Shutdown, with an ended context: %v; want nil", i+3, err)
				}
			}
		})
	}
}

// atomicInt counts inputs read, from the goroutine that runs the map.
type atomicInt struct{ n int }

func (a *atomicInt) load() int { return a.n }

func countRead(read *atomicInt) func(func(int) bool) {
	return func(yield func(int) bool) {
		for i := 0; ; i++ {
			read.n++
			if !yield(i) {
				return
			}
		}
	}
}

// wrapped is a user's type around an Executor, as a program might add
// logging or metrics: generated code reaches the executor inside.
type wrapped struct{ runtime.Executor }

func TestAWrappedExecutorRunsTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, ex := range executors(t) {
		w := wrapped{ex}
		if v, err := futuresimpl.SubmitTask(ctx, w, taskDouble, 21).Result(ctx); v != 42 || err != nil {
			t.Errorf("%s wrapped: Result() = %v, %v; want 42, nil", name, v, err)
		}
		n := 0
		for v, err := range futuresimpl.MapTask(ctx, w, taskDouble, slices.Values([]int{1, 2, 3})) {
			n++
			if v != 2*n || err != nil {
				t.Errorf("%s wrapped: item %d = %v, %v", name, n, v, err)
			}
		}
	}
	defer func() {
		if r := fmt.Sprint(recover()); !strings.Contains(r, "nil Executor") {
			t.Errorf("a wrapper around a nil Executor: panic %q; want one saying nil Executor", r)
		}
	}()
	futuresimpl.SubmitTask(ctx, wrapped{}, taskDouble, 1)
}
