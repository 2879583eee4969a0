package runtime_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

// futures returns n pending futures and their complete functions.
func futures(n int) ([]*runtime.Future[int], []func(int, error) bool) {
	fs := make([]*runtime.Future[int], n)
	cs := make([]func(int, error) bool, n)
	for i := range fs {
		fs[i], cs[i] = runtime.NewFuture[int]()
	}
	return fs, cs
}

// collect runs AsCompleted in a goroutine and sends what it yields.
type yielded struct {
	f   *runtime.Future[int]
	err error
}

func startAsCompleted(ctx context.Context, fs ...*runtime.Future[int]) <-chan yielded {
	out := make(chan yielded, len(fs)+1)
	go func() {
		defer close(out)
		for f, err := range runtime.AsCompleted(ctx, fs...) {
			out <- yielded{f, err}
		}
	}()
	return out
}

func TestAsCompleted(t *testing.T) {
	t.Parallel()
	t.Run("done futures come first, then completion order", func(t *testing.T) {
		fs, cs := futures(4)
		cs[2](2, nil)
		fs[3].Cancel()
		out := startAsCompleted(context.Background(), fs...)
		want := []*runtime.Future[int]{fs[2], fs[3]}
		for _, w := range want {
			if y := <-out; y.f != w || y.err != nil {
				t.Fatalf("got %v, %v; want %v, nil", y.f, y.err, w)
			}
		}
		cs[1](1, nil)
		if y := <-out; y.f != fs[1] {
			t.Fatalf("got %v; want future 1, completed next", y.f)
		}
		cs[0](0, errors.New("task failed"))
		if y := <-out; y.f != fs[0] || y.err != nil {
			t.Fatalf("got %v, %v; want future 0 with a nil error (the task's error stays on the future)", y.f, y.err)
		}
		if y, ok := <-out; ok {
			t.Fatalf("AsCompleted yielded %v after every future; want it to stop", y)
		}
	})
	t.Run("each distinct future once", func(t *testing.T) {
		fs, cs := futures(2)
		cs[0](0, nil)
		var got []*runtime.Future[int]
		go cs[1](1, nil)
		for f, err := range runtime.AsCompleted(context.Background(), fs[0], fs[1], fs[0], fs[1], fs[1]) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, f)
		}
		if len(got) != 2 || got[0] != fs[0] || got[1] != fs[1] {
			t.Errorf("got %v; want each future once", got)
		}
	})
	t.Run("no futures yields nothing", func(t *testing.T) {
		for f, err := range runtime.AsCompleted[*runtime.Future[int]](context.Background()) {
			t.Errorf("yielded %v, %v", f, err)
		}
	})
	t.Run("a timeout yields what is done, then the context's error", func(t *testing.T) {
		fs, cs := futures(3)
		cs[1](1, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		var got []yielded
		for f, err := range runtime.AsCompleted(ctx, fs...) {
			got = append(got, yielded{f, err})
		}
		if len(got) != 2 || got[0].f != fs[1] || got[1].f != nil || got[1].err != context.DeadlineExceeded {
			t.Errorf("got %v; want future 1 then (nil, DeadlineExceeded)", got)
		}
	})
	t.Run("an ended context still yields the done futures first", func(t *testing.T) {
		fs, cs := futures(2)
		cs[0](0, nil)
		var got []yielded
		for f, err := range runtime.AsCompleted(expired(), fs...) {
			got = append(got, yielded{f, err})
		}
		if len(got) != 2 || got[0].f != fs[0] || got[0].err != nil || got[1].err != context.Canceled {
			t.Errorf("got %v; want future 0 then (nil, Canceled)", got)
		}
	})
	t.Run("futures of different types mix as Awaitable", func(t *testing.T) {
		a, ca := runtime.NewFuture[int]()
		b, cb := runtime.NewFuture[string]()
		go func() { cb("x", nil); ca(1, nil) }()
		n := 0
		for f, err := range runtime.AsCompleted[runtime.Awaitable](context.Background(), a, b) {
			if err != nil || f.State() != runtime.Finished {
				t.Errorf("got %v, %v", f, err)
			}
			n++
		}
		if n != 2 {
			t.Errorf("yielded %d futures; want 2", n)
		}
	})
}

func TestWait(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	t.Run("AllCompleted waits for every future", func(t *testing.T) {
		fs, cs := futures(3)
		go func() {
			for i, c := range cs {
				c(i, nil)
			}
		}()
		done, pending, err := runtime.Wait(context.Background(), runtime.AllCompleted, fs...)
		if err != nil || len(done) != 3 || len(pending) != 0 {
			t.Errorf("Wait = %d done, %d pending, %v; want 3, 0, nil", len(done), len(pending), err)
		}
		if !slices.Equal(done, fs) {
			t.Error("done is not in the order given")
		}
	})
	t.Run("FirstCompleted returns when one is done", func(t *testing.T) {
		fs, cs := futures(3)
		go cs[1](1, nil)
		done, pending, err := runtime.Wait(context.Background(), runtime.FirstCompleted, fs...)
		if err != nil || len(done) != 1 || done[0] != fs[1] || len(pending) != 2 {
			t.Errorf("Wait = %v done, %v pending, %v; want [future 1], 2 pending", done, pending, err)
		}
	})
	t.Run("FirstCompleted counts a cancelled future", func(t *testing.T) {
		fs, _ := futures(2)
		fs[0].Cancel()
		done, pending, _ := runtime.Wait(context.Background(), runtime.FirstCompleted, fs...)
		if len(done) != 1 || done[0] != fs[0] || len(pending) != 1 {
			t.Errorf("Wait = %v done, %v pending; want the cancelled future done", done, pending)
		}
	})
	t.Run("FirstError returns at the first failure", func(t *testing.T) {
		fs, cs := futures(3)
		cs[0](0, nil)
		go cs[2](0, boom)
		done, pending, err := runtime.Wait(context.Background(), runtime.FirstError, fs...)
		if err != nil || len(done) != 2 || len(pending) != 1 || pending[0] != fs[1] {
			t.Errorf("Wait = %v done, %v pending, %v; want futures 0 and 2 done, 1 pending", done, pending, err)
		}
	})
	t.Run("FirstError does not count a cancelled future as failed", func(t *testing.T) {
		fs, cs := futures(2)
		fs[0].Cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		done, pending, err := runtime.Wait(ctx, runtime.FirstError, fs...)
		if err != context.DeadlineExceeded || len(done) != 1 || len(pending) != 1 {
			t.Errorf("Wait = %v done, %v pending, %v; want it to keep waiting until the deadline", done, pending, err)
		}
		cs[1](1, nil)
	})
	t.Run("FirstError without failures is AllCompleted", func(t *testing.T) {
		fs, cs := futures(2)
		go func() { cs[0](0, nil); cs[1](1, nil) }()
		done, pending, err := runtime.Wait(context.Background(), runtime.FirstError, fs...)
		if err != nil || len(done) != 2 || len(pending) != 0 {
			t.Errorf("Wait = %v done, %v pending, %v; want all done", done, pending, err)
		}
	})
	t.Run("a timeout splits done from pending", func(t *testing.T) {
		fs, cs := futures(3)
		cs[2](2, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		done, pending, err := runtime.Wait(ctx, runtime.AllCompleted, fs...)
		if err != context.DeadlineExceeded {
			t.Errorf("err = %v; want DeadlineExceeded", err)
		}
		if !slices.Equal(done, []*runtime.Future[int]{fs[2]}) || !slices.Equal(pending, fs[:2]) {
			t.Errorf("done %v, pending %v; want [2] and [0 1]", done, pending)
		}
	})
	t.Run("duplicates appear once", func(t *testing.T) {
		fs, cs := futures(2)
		cs[0](0, nil)
		done, pending, _ := runtime.Wait(expired(), runtime.AllCompleted, fs[0], fs[0], fs[1], fs[1])
		if len(done) != 1 || len(pending) != 1 {
			t.Errorf("done %v, pending %v; want one of each", done, pending)
		}
	})
	t.Run("no futures return at once", func(t *testing.T) {
		for _, mode := range []runtime.WaitMode{runtime.AllCompleted, runtime.FirstCompleted, runtime.FirstError} {
			done, pending, err := runtime.Wait[*runtime.Future[int]](context.Background(), mode)
			if len(done)+len(pending) != 0 || err != nil {
				t.Errorf("%v: Wait() = %v, %v, %v", mode, done, pending, err)
			}
		}
	})
	t.Run("an unknown mode panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("Wait with WaitMode(7) did not panic")
			}
		}()
		runtime.Wait[*runtime.Future[int]](context.Background(), runtime.WaitMode(7))
	})
}
