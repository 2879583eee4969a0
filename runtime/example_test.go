package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/futuresgen/futuresgen/internal/exampletasks"
	"github.com/futuresgen/futuresgen/runtime"
)

func ExampleFuture() {
	ctx := context.Background()
	pool := runtime.NewThreadPool()
	defer pool.Close()

	f := runtime.Submit(ctx, pool, func(ctx context.Context) (string, error) {
		return strings.ToUpper("hello"), nil
	})
	called := make(chan struct{})
	f.OnDone(func(f *runtime.Future[string]) { // runs in the goroutine that finishes f
		fmt.Println("callback: done")
		close(called)
	})
	<-called
	v, err := f.Result(ctx)
	fmt.Println(v, err, f.State())
	// Output:
	// callback: done
	// HELLO <nil> Finished
}

func ExampleFuture_Cancel() {
	ctx := context.Background()
	pool := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer pool.Close()

	release := make(chan struct{})
	busy := runtime.Submit(ctx, pool, func(ctx context.Context) (int, error) { <-release; return 1, nil })
	queued := runtime.Submit(ctx, pool, func(ctx context.Context) (int, error) { return 2, nil })
	fmt.Println("cancel queued:", queued.Cancel())
	close(release)
	busy.Result(ctx)
	fmt.Println("cancel finished:", busy.Cancel())
	_, err := queued.Result(ctx)
	fmt.Println(errors.Is(err, runtime.ErrCancelled))
	// Output:
	// cancel queued: true
	// cancel finished: false
	// true
}

func ExampleThreadPool() {
	ctx := context.Background()
	pool := runtime.NewThreadPool(runtime.MaxWorkers(4))
	defer pool.Close()

	var fs []*runtime.Future[int]
	for i := range 5 {
		fs = append(fs, runtime.Submit(ctx, pool, func(ctx context.Context) (int, error) {
			return i * i, nil
		}))
	}
	for _, f := range fs {
		v, _ := f.Result(ctx)
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output: 0 1 4 9 16
}

// A task may submit to its own pool and wait, even on one worker: with the
// context the pool gave it, the pool never deadlocks (Python's
// ThreadPoolExecutor does, in this very case).
func ExampleThreadPool_nestedWait() {
	ctx := context.Background()
	pool := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer pool.Close()

	outer := runtime.Submit(ctx, pool, func(ctx context.Context) (string, error) {
		inner := runtime.Submit(ctx, pool, func(ctx context.Context) (string, error) {
			return "inner", nil
		})
		v, err := inner.Result(ctx)
		return "outer saw " + v, err
	})
	fmt.Println(outer.Result(ctx))
	// Output: outer saw inner <nil>
}

func ExampleAsCompleted() {
	ctx := context.Background()
	pool := runtime.NewThreadPool()
	defer pool.Close()

	urls := []string{"a.txt", "b.txt", "c"}
	var fs []*runtime.Future[string]
	for _, u := range urls {
		fs = append(fs, runtime.Submit(ctx, pool, func(ctx context.Context) (string, error) {
			if !strings.Contains(u, ".") {
				return "", fmt.Errorf("%s: no extension", u)
			}
			return "body of " + u, nil
		}))
	}
	var lines []string
	for f, err := range runtime.AsCompleted(ctx, fs...) {
		if err != nil { // ctx ended
			break
		}
		if body, err := f.Result(ctx); err != nil {
			lines = append(lines, "failed: "+err.Error())
		} else {
			lines = append(lines, body)
		}
	}
	slices.Sort(lines) // completion order varies
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// body of a.txt
	// body of b.txt
	// failed: c: no extension
}

func ExampleWait() {
	ctx := context.Background()
	pool := runtime.NewThreadPool()
	defer pool.Close()

	ok := runtime.Submit(ctx, pool, func(ctx context.Context) (int, error) { return 1, nil })
	bad := runtime.Submit(ctx, pool, func(ctx context.Context) (string, error) { return "", errors.New("bad input") })
	done, pending, err := runtime.Wait[runtime.Awaitable](ctx, runtime.AllCompleted, ok, bad)
	fmt.Println(len(done), len(pending), err)
	fmt.Println(bad.Err(ctx))
	// Output:
	// 2 0 <nil>
	// bad input
}

func ExampleMap() {
	ctx := context.Background()
	pool := runtime.NewThreadPool()
	defer pool.Close()

	square := func(ctx context.Context, x int) (int, error) {
		if x == 3 {
			return 0, errors.New("three is unlucky")
		}
		return x * x, nil
	}
	for v, err := range runtime.Map(ctx, pool, square, slices.Values([]int{1, 2, 3, 4})) {
		fmt.Println(v, err)
	}
	// Output:
	// 1 <nil>
	// 4 <nil>
	// 0 three is unlucky
	// 16 <nil>
}

// A ProcessPool runs tasks in worker processes: functions marked
// //futures:task, through the SubmitX and MapX wrappers that go generate
// writes for them (here, exampletasks.WordCount's). The program's main
// (here, TestMain) must call runtime.ServeWorker first.
func ExampleProcessPool() {
	ctx := context.Background()
	pool := runtime.NewProcessPool(runtime.MaxWorkers(2))
	defer pool.Close()

	n, err := exampletasks.SubmitWordCount(ctx, pool, "a task in another process").Result(ctx)
	fmt.Println(n, err)
	texts := slices.Values([]string{"one", "two words", "and three words"})
	for n, err := range exampletasks.MapWordCount(ctx, pool, texts, runtime.ChunkSize(2)) {
		fmt.Println(n, err)
	}
	// Output:
	// 5 <nil>
	// 1 <nil>
	// 2 <nil>
	// 3 <nil>
}
