package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

// expired returns a context that has already ended.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// runningFuture returns a future that a pool is running, and a function
// that lets it finish with v.
func runningFuture(t *testing.T, p *runtime.ThreadPool, v int) (*runtime.Future[int], func()) {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	f := runtime.Submit(context.Background(), p, func(context.Context) (int, error) {
		close(started)
		<-release
		return v, nil
	})
	<-started
	return f, func() { close(release) }
}

func TestFutureStates(t *testing.T) {
	t.Parallel()
	t.Run("a new future is pending and not done", func(t *testing.T) {
		f, _ := runtime.NewFuture[int]()
		if got := f.State(); got != runtime.Pending {
			t.Errorf("State() = %v; want Pending", got)
		}
		select {
		case <-f.Done():
			t.Error("Done() is closed on a pending future")
		default:
		}
	})
	t.Run("a completed future is finished with its value", func(t *testing.T) {
		f, complete := runtime.NewFuture[int]()
		if !complete(42, nil) {
			t.Fatal("complete returned false on a pending future")
		}
		if complete(7, nil) {
			t.Error("a second complete returned true")
		}
		if got := f.State(); got != runtime.Finished {
			t.Errorf("State() = %v; want Finished", got)
		}
		<-f.Done()
		v, err := f.Result(context.Background())
		if v != 42 || err != nil {
			t.Errorf("Result() = %v, %v; want 42, nil", v, err)
		}
	})
	t.Run("a failed future keeps its error intact", func(t *testing.T) {
		f, complete := runtime.NewFuture[string]()
		complete("", io.ErrUnexpectedEOF)
		if err := f.Err(context.Background()); err != io.ErrUnexpectedEOF {
			t.Errorf("Err() = %v; want io.ErrUnexpectedEOF", err)
		}
		if _, err := f.Result(context.Background()); err != io.ErrUnexpectedEOF {
			t.Errorf("Result() error = %v; want io.ErrUnexpectedEOF", err)
		}
	})
}

func TestFutureCancel(t *testing.T) {
	t.Parallel()
	t.Run("a pending future can be cancelled, again and again", func(t *testing.T) {
		f, complete := runtime.NewFuture[int]()
		if !f.Cancel() {
			t.Fatal("Cancel() = false on a pending future")
		}
		if !f.Cancel() {
			t.Error("second Cancel() = false; want true")
		}
		if got := f.State(); got != runtime.Cancelled {
			t.Errorf("State() = %v; want Cancelled", got)
		}
		if complete(1, nil) {
			t.Error("complete succeeded on a cancelled future")
		}
		<-f.Done()
		if _, err := f.Result(context.Background()); !errors.Is(err, runtime.ErrCancelled) {
			t.Errorf("Result() error = %v; want ErrCancelled", err)
		}
		if err := f.Err(context.Background()); !errors.Is(err, runtime.ErrCancelled) {
			t.Errorf("Err() = %v; want ErrCancelled", err)
		}
	})
	t.Run("a running future cannot be cancelled", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		defer p.Close()
		f, release := runningFuture(t, p, 3)
		if got := f.State(); got != runtime.Running {
			t.Errorf("State() = %v; want Running", got)
		}
		if f.Cancel() {
			t.Error("Cancel() = true on a running future")
		}
		release()
		if v, err := f.Result(context.Background()); v != 3 || err != nil {
			t.Errorf("Result() = %v, %v; want 3, nil", v, err)
		}
	})
	t.Run("a finished future cannot be cancelled", func(t *testing.T) {
		f, complete := runtime.NewFuture[int]()
		complete(1, nil)
		if f.Cancel() {
			t.Error("Cancel() = true on a finished future")
		}
		if got := f.State(); got != runtime.Finished {
			t.Errorf("State() = %v; want Finished", got)
		}
	})
	t.Run("a queued future that is cancelled never runs", func(t *testing.T) {
		p := runtime.NewThreadPool(runtime.MaxWorkers(1))
		blocker, release := runningFuture(t, p, 0)
		ran := false
		f := runtime.Submit(context.Background(), p, func(context.Context) (int, error) { ran = true; return 1, nil })
		if !f.Cancel() {
			t.Fatal("Cancel() = false on a queued future")
		}
		release()
		blocker.Result(context.Background())
		p.Close()
		if ran {
			t.Error("a cancelled task ran")
		}
		if s := p.Stats(); s.Cancelled != 1 || s.Queued != 0 {
			t.Errorf("Stats() = %+v; want Cancelled 1, Queued 0", s)
		}
	})
}

func TestFutureResultWithEndedContext(t *testing.T) {
	t.Parallel()
	t.Run("a pending future gives the context's error", func(t *testing.T) {
		f, _ := runtime.NewFuture[int]()
		if _, err := f.Result(expired()); err != context.Canceled {
			t.Errorf("Result() error = %v; want context.Canceled", err)
		}
		if err := f.Err(expired()); err != context.Canceled {
			t.Errorf("Err() = %v; want context.Canceled", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if _, err := f.Result(ctx); err != context.DeadlineExceeded {
			t.Errorf("Result() error = %v; want context.DeadlineExceeded", err)
		}
		if got := f.State(); got != runtime.Pending {
			t.Errorf("State() = %v after a wait gave up; want Pending", got)
		}
	})
	t.Run("a finished future answers anyway", func(t *testing.T) {
		f, complete := runtime.NewFuture[int]()
		complete(5, nil)
		if v, err := f.Result(expired()); v != 5 || err != nil {
			t.Errorf("Result() = %v, %v; want 5, nil", v, err)
		}
		if err := f.Err(expired()); err != nil {
			t.Errorf("Err() = %v; want nil", err)
		}
	})
	t.Run("the task goes on after the wait gives up", func(t *testing.T) {
		p := runtime.NewThreadPool()
		defer p.Close()
		f, release := runningFuture(t, p, 9)
		if _, err := f.Result(expired()); err != context.Canceled {
			t.Errorf("Result() error = %v; want context.Canceled", err)
		}
		release()
		if v, err := f.Result(context.Background()); v != 9 || err != nil {
			t.Errorf("Result() = %v, %v; want 9, nil", v, err)
		}
	})
}

func TestFutureOnDone(t *testing.T) {
	t.Run("callbacks on a pending future run once each, in order", func(t *testing.T) {
		f, complete := runtime.NewFuture[int]()
		var got []string
		f.OnDone(func(f *runtime.Future[int]) { got = append(got, "first") })
		f.OnDone(func(f *runtime.Future[int]) {
			v, _ := f.Result(context.Background())
			got = append(got, "second saw "+string(rune('0'+v)))
		})
		if len(got) != 0 {
			t.Fatalf("callbacks ran before the future was done: %v", got)
		}
		complete(7, nil)
		complete(8, nil)
		if want := "first,second saw 7"; strings.Join(got, ",") != want {
			t.Errorf("callbacks = %q; want %q", strings.Join(got, ","), want)
		}
	})
	t.Run("a callback on a done future runs before OnDone returns", func(t *testing.T) {
		f, complete := runtime.NewFuture[int]()
		complete(1, nil)
		ran := false
		f.OnDone(func(*runtime.Future[int]) { ran = true })
		if !ran {
			t.Error("callback did not run at once")
		}
	})
	t.Run("a callback on a cancelled future runs", func(t *testing.T) {
		f, _ := runtime.NewFuture[int]()
		var st runtime.State
		f.OnDone(func(f *runtime.Future[int]) { st = f.State() })
		f.Cancel()
		if st != runtime.Cancelled {
			t.Errorf("callback saw %v; want Cancelled", st)
		}
	})
	t.Run("a panicking callback is logged and the others still run", func(t *testing.T) {
		var buf bytes.Buffer
		old := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
		defer slog.SetDefault(old)

		f, complete := runtime.NewFuture[int]()
		after := false
		f.OnDone(func(*runtime.Future[int]) { panic("boom in callback") })
		f.OnDone(func(*runtime.Future[int]) { after = true })
		complete(1, nil)
		if !after {
			t.Error("the callback after a panicking one did not run")
		}
		if !strings.Contains(buf.String(), "boom in callback") {
			t.Errorf("log = %q; want the panic value logged", buf.String())
		}
		// A done future takes the same path.
		buf.Reset()
		f.OnDone(func(*runtime.Future[int]) { panic("boom again") })
		if !strings.Contains(buf.String(), "boom again") {
			t.Errorf("log = %q; want the panic value logged", buf.String())
		}
	})
}

func TestFutureString(t *testing.T) {
	t.Parallel()
	f, complete := runtime.NewFuture[int]()
	if got, want := f.String(), "Future[int](Pending)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	complete(3, nil)
	if got, want := f.String(), "Future[int](Finished: 3)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	g, complete := runtime.NewFuture[int]()
	complete(0, errors.New("bad"))
	if got, want := g.String(), "Future[int](Finished, error: bad)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[runtime.State]string{runtime.Pending: "Pending", runtime.Running: "Running", runtime.Finished: "Finished", runtime.Cancelled: "Cancelled", 9: "State(9)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q; want %q", uint32(s), got, want)
		}
	}
}

func TestPanicError(t *testing.T) {
	t.Parallel()
	p := runtime.NewThreadPool()
	defer p.Close()
	f := runtime.Submit(context.Background(), p, func(context.Context) (int, error) { panic(io.EOF) })
	_, err := f.Result(context.Background())
	var pe *runtime.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Result() error = %v (%T); want *PanicError", err, err)
	}
	if pe.Value != io.EOF {
		t.Errorf("PanicError.Value = %v; want io.EOF", pe.Value)
	}
	if !strings.Contains(pe.Stack, "future_test.go") {
		t.Errorf("PanicError.Stack does not show the panicking function:\n%s", pe.Stack)
	}
	if !errors.Is(err, io.EOF) {
		t.Error("errors.Is(err, io.EOF) = false; want Unwrap to reach the panic value")
	}
	if got, want := err.Error(), "futuresgen: task panicked: EOF"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	// The panic is delivered, never re-raised: asking again is safe.
	if err2 := f.Err(context.Background()); err2 != err {
		t.Errorf("second Err() = %v; want the same *PanicError", err2)
	}
}
