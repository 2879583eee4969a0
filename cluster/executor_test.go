package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// TestEveryExecutor is the runtime's test of the behaviour every executor
// keeps (runtime/executors_test.go), on a StartLocal cluster.
func TestEveryExecutor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex := newDriver(t, sharedLocal(t))
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
		if _, err := futuresimpl.SubmitTask(ctx, ex, taskPanic, "oops").Result(ctx); !errors.As(err, &pe) || pe.Value != "oops" || !strings.Contains(pe.Stack, "main_test.go") {
			t.Errorf("Result() error = %v; want a *PanicError of oops with the worker's stack", err)
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
			t.Errorf("Err() = %v (%T %#v, submit ctx %v); want context.DeadlineExceeded", err, err, err, c.Err())
		}
	})
	t.Run("map yields in input order, with errors per item", func(t *testing.T) {
		for _, chunk := range []int{1, 4} {
			var got []string
			for v, err := range futuresimpl.MapTask(ctx, ex, taskEvens, count(12), runtime.ChunkSize(chunk)) {
				switch {
				case errors.As(err, new(*runtime.PanicError)):
					got = append(got, "panic")
				case err != nil:
					got = append(got, "err")
				default:
					got = append(got, string(rune('0'+v%10)))
				}
			}
			want := []string{"0", "err", "2", "panic", "4", "err", "6", "err", "8", "err", "0", "err"}
			if !slices.Equal(got, want) {
				t.Errorf("chunk size %d: got %v; want %v", chunk, got, want)
			}
		}
	})
	t.Run("leaving a map early stops reading its input", func(t *testing.T) {
		read := 0
		n := 0
		for _, err := range futuresimpl.MapTask(ctx, ex, taskDouble, func(yield func(int) bool) {
			for i := 0; ; i++ {
				read++
				if !yield(i) {
					return
				}
			}
		}, runtime.Buffer(4)) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 10 {
				break
			}
		}
		if read > 10+4 {
			t.Errorf("read %d inputs for 10 results with Buffer(4)", read)
		}
	})
	t.Run("a deadline bounds the whole map", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
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
	t.Run("a local task fails its future, naming the task", func(t *testing.T) {
		err := futuresimpl.SubmitTask(ctx, ex, taskLocal, nil).Err(ctx)
		if err == nil || !strings.Contains(err.Error(), "test.local") || !strings.Contains(err.Error(), "a cluster") {
			t.Errorf("Err() = %v; want an error naming the task and the cluster", err)
		}
	})
	t.Run("tasks run in the workers' child processes", func(t *testing.T) {
		w, err := futuresimpl.SubmitTask(ctx, ex, taskWhere, struct{}{}).Result(ctx)
		if err != nil || w.PID == os.Getpid() || w.PPID == os.Getpid() || !slices.Contains(sharedLocal(t).pids(), w.PPID) {
			t.Errorf("a task ran in pid %d, child of %d (%v); want a child of one of the workers %v", w.PID, w.PPID, err, sharedLocal(t).pids())
		}
	})
	t.Run("deadlines cross as time remaining", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		left, err := futuresimpl.SubmitTask(c, ex, taskDeadline, struct{}{}).Result(ctx)
		if err != nil || left <= 50*time.Second || left > time.Minute {
			t.Errorf("the task's context had %v left (%v) of a minute; want most of it", left, err)
		}
		if left, err := futuresimpl.SubmitTask(ctx, ex, taskDeadline, struct{}{}).Result(ctx); left != -1 || err != nil {
			t.Errorf("without a deadline the task saw %v, %v; want none", left, err)
		}
	})
	t.Run("AsCompleted and Wait see cluster futures", func(t *testing.T) {
		var fs []*runtime.Future[int]
		for i := range 20 {
			fs = append(fs, futuresimpl.SubmitTask(ctx, ex, taskDouble, i))
		}
		n := 0
		for f, err := range runtime.AsCompleted(ctx, fs...) {
			if v, ferr := f.Result(ctx); err != nil || ferr != nil || v%2 != 0 {
				t.Errorf("AsCompleted yielded %v, %v, %v", v, ferr, err)
			}
			n++
		}
		done, pending, err := runtime.Wait(ctx, runtime.AllCompleted, fs...)
		if n != 20 || len(done) != 20 || len(pending) != 0 || err != nil {
			t.Errorf("AsCompleted yielded %d; Wait: %d done, %d pending, %v", n, len(done), len(pending), err)
		}
	})
}

func TestEveryExecutorAfterShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := sharedLocal(t)
	ex, err := l.NewExecutor()
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.WaitForWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
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
	if err := ex.Close(); err != nil {
		t.Errorf("Close() after Shutdown = %v", err)
	}
}

func TestPayloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex := newDriver(t, sharedLocal(t))
	for _, n := range []int{0, 64 << 10, 900 << 10, 3 << 20, 64 << 20} {
		b := pattern(n)
		if sum, err := futuresimpl.SubmitTask(ctx, ex, taskHash, b).Result(ctx); err != nil || sum != sha256.Sum256(b) {
			t.Errorf("an argument of %d bytes: %x, %v", n, sum, err)
		}
		if got, err := futuresimpl.SubmitTask(ctx, ex, taskBytes, n).Result(ctx); err != nil || !bytes.Equal(got, b) {
			t.Errorf("a result of %d bytes: %d bytes back, %v", n, len(got), err)
		}
	}
	const over = 65 << 20
	err := futuresimpl.SubmitTask(ctx, ex, taskHash, make([]byte, over)).Err(ctx)
	if err == nil || !strings.Contains(err.Error(), "test.hash") || !strings.Contains(err.Error(), "[]uint8") || !strings.Contains(err.Error(), "over the limit") || errors.Is(err, runtime.ErrWorkerDied) {
		t.Errorf("an argument of 65 MiB: %v; want a clear error naming the task, the type and the limit", err)
	}
	_, err = futuresimpl.SubmitTask(ctx, ex, taskBytes, over).Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "test.bytes") || !strings.Contains(err.Error(), "[]uint8") || !strings.Contains(err.Error(), "over the limit") || errors.Is(err, runtime.ErrWorkerDied) {
		t.Errorf("a result of 65 MiB: %v; want a clear error naming the task, the type and the limit", err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 2).Result(ctx); v != 4 || err != nil {
		t.Errorf("after the payloads over the limit, the cluster did not go on: %v, %v", v, err)
	}
}
