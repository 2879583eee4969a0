package runtime_test

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/remote"
	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// The errors of this file play the errors of a task's package. They are
// registered at init as generated code registers them (an exported
// sentinel, an exported error type T or *T, a sentinel of another package
// that the task's package names), so the test binary's workers know them
// as well.
var (
	errNotFound = errors.New("not found")
	errDenied   = fmt.Errorf("denied for user %d", 7) // fmt.Errorf without %w is a sentinel too
)

// codeErr has a value receiver: T and *T are both errors, both registered.
type codeErr struct{ Code int }

func (e codeErr) Error() string { return fmt.Sprintf("code %d", e.Code) }

// ptrErr has a pointer receiver: only *T is registered.
type ptrErr struct {
	Code int
	Msg  string
}

func (e *ptrErr) Error() string { return fmt.Sprintf("%s (code %d)", e.Msg, e.Code) }

// queryErr has one exported field of type error, its cause, which crosses
// with it.
type queryErr struct {
	Query string
	Err   error
}

func (e *queryErr) Error() string { return "query " + e.Query + ": " + e.Err.Error() }
func (e *queryErr) Unwrap() error { return e.Err }

// statusErr is not a struct.
type statusErr int

func (e statusErr) Error() string { return fmt.Sprintf("status %d", int(e)) }

// closedErr has no fields.
type closedErr struct{}

func (closedErr) Error() string { return "closed" }

// funcErr cannot cross (a func field): the generator does not register it,
// so it crosses as text.
type funcErr struct {
	Op    string
	Retry func()
}

func (e *funcErr) Error() string { return e.Op + " failed" }

// anyErr is registered, but a value holding a type gob does not know does
// not encode: it crosses as text.
type anyErr struct{ V any }

func (e *anyErr) Error() string { return fmt.Sprintf("bad value %v", e.V) }

type unknownToGob struct{ N int }

// lossyErr encodes itself without N: its message does not round-trip, and
// the message that crossed is kept.
type lossyErr struct {
	Msg string
	N   int
}

func (e *lossyErr) Error() string { return fmt.Sprintf("%s #%d", e.Msg, e.N) }

func (e *lossyErr) GobEncode() ([]byte, error) { return []byte(e.Msg), nil }

func (e *lossyErr) GobDecode(b []byte) error { e.Msg = string(b); return nil }

func init() {
	futuresimpl.RegisterSentinel("github.com/futuresgen/futuresgen/runtime_test.errNotFound", errNotFound)
	futuresimpl.RegisterSentinel("github.com/futuresgen/futuresgen/runtime_test.errDenied", errDenied)
	futuresimpl.RegisterErrorType[codeErr]("github.com/futuresgen/futuresgen/runtime_test.codeErr")
	futuresimpl.RegisterErrorType[*codeErr]("*github.com/futuresgen/futuresgen/runtime.codeErr")
	futuresimpl.RegisterErrorType[*ptrErr]("*github.com/futuresgen/futuresgen/runtime.ptrErr")
	futuresimpl.RegisterErrorType[*queryErr]("*github.com/futuresgen/futuresgen/runtime.queryErr")
	futuresimpl.RegisterErrorType[statusErr]("github.com/futuresgen/futuresgen/runtime_test.statusErr")
	futuresimpl.RegisterErrorType[*statusErr]("*github.com/futuresgen/futuresgen/runtime.statusErr")
	futuresimpl.RegisterErrorType[closedErr]("github.com/futuresgen/futuresgen/runtime_test.closedErr")
	futuresimpl.RegisterErrorType[*closedErr]("*github.com/futuresgen/futuresgen/runtime.closedErr")
	futuresimpl.RegisterErrorType[*anyErr]("*github.com/futuresgen/futuresgen/runtime.anyErr")
	futuresimpl.RegisterErrorType[*lossyErr]("*github.com/futuresgen/futuresgen/runtime.lossyErr")
	// A sentinel of another package that the task's package names: the
	// generator registers it under its own name.
	futuresimpl.RegisterSentinel("encoding/hex.ErrLength", hex.ErrLength)
	// A user's registration of another package's sentinel.
	runtime.RegisterError(flag.ErrHelp)
}

// errShapes are the errors a task returns (or panics with), by name: the
// task takes the name, so that the worker builds the same error.
var errShapes = map[string]func(ctx context.Context) error{
	"nil":              func(context.Context) error { return nil },
	"sentinel":         func(context.Context) error { return errNotFound },
	"Errorf sentinel":  func(context.Context) error { return errDenied },
	"wrapped sentinel": func(context.Context) error { return fmt.Errorf("load user 7: %w", errNotFound) },
	"twice wrapped":    func(context.Context) error { return fmt.Errorf("api: %w", fmt.Errorf("load user 7: %w", errNotFound)) },
	"joined": func(context.Context) error {
		return errors.Join(errNotFound, fmt.Errorf("close: %w", io.EOF), &ptrErr{7, "flush"})
	},
	"wrapped joined":        func(context.Context) error { return fmt.Errorf("batch: %w", errors.Join(errDenied, codeErr{3})) },
	"two %w":                func(context.Context) error { return fmt.Errorf("%w; then %w", errNotFound, io.ErrUnexpectedEOF) },
	"value receiver":        func(context.Context) error { return codeErr{404} },
	"value receiver by ptr": func(context.Context) error { return &codeErr{500} },
	"pointer receiver":      func(context.Context) error { return &ptrErr{3, "bad input"} },
	"wrapped custom":        func(context.Context) error { return fmt.Errorf("step 2: %w", &ptrErr{3, "bad input"}) },
	"custom with cause":     func(context.Context) error { return &queryErr{"SELECT 1", errNotFound} },
	"custom with deep cause": func(context.Context) error {
		return fmt.Errorf("db: %w", &queryErr{"SELECT 2", fmt.Errorf("row 3: %w", &ptrErr{9, "truncated"})})
	},
	"custom with nil cause": func(context.Context) error { return &anyErr{V: 5} },
	"non-struct type":       func(context.Context) error { return fmt.Errorf("http: %w", statusErr(503)) },
	"empty struct type":     func(context.Context) error { return fmt.Errorf("conn: %w", closedErr{}) },
	"io.EOF":                func(context.Context) error { return io.EOF },
	"wrapped io.EOF":        func(context.Context) error { return fmt.Errorf("read header: %w", io.EOF) },
	"os.Open":               func(context.Context) error { _, err := os.Open("/nonexistent/futuresgen-errors-test"); return err },
	"wrapped os.Open": func(context.Context) error {
		_, err := os.Open("/nonexistent/futuresgen-errors-test")
		return fmt.Errorf("config: %w", err)
	},
	"strconv.Atoi": func(context.Context) error { _, err := strconv.Atoi("12x"); return err },
	"time.Parse":   func(context.Context) error { _, err := time.Parse(time.DateOnly, "2026-13-01"); return err },
	"url.Parse": func(context.Context) error {
		_, err := url.Parse("http://a.com/%zz") //lint:ignore SA1007 a bad URL makes the *url.Error under test
		return fmt.Errorf("link: %w", err)
	},
	"exec.LookPath": func(context.Context) error { _, err := exec.LookPath("futuresgen-no-such-command"); return err },
	"own timeout wrapped": func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 0) // a deadline already past: no waiting
		defer cancel()
		<-ctx.Done()
		return fmt.Errorf("GET %s: %w", "http://example.invalid/a", ctx.Err())
	},
	"own timeout bare": func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 0)
		defer cancel()
		<-ctx.Done()
		return ctx.Err()
	},
	"panic with error":  func(context.Context) error { panic(fmt.Errorf("corrupt index: %w", errNotFound)) },
	"panic with custom": func(context.Context) error { panic(&ptrErr{1, "invariant"}) },
	"runtime sentinel":  func(context.Context) error { return fmt.Errorf("inner pool: %w", runtime.ErrCancelled) },
	"worker lost": func(context.Context) error {
		return fmt.Errorf("inner pool: %w", &errs.WorkerLost{Msg: "pid 7 killed"})
	},
	"named other package":     func(context.Context) error { return fmt.Errorf("decode: %w", hex.ErrLength) },
	"RegisterError":           func(context.Context) error { return fmt.Errorf("flags: %w", flag.ErrHelp) },
	"unregistered other":      func(context.Context) error { return fmt.Errorf("parse: %w", csv.ErrQuote) },
	"cannot cross":            func(context.Context) error { return fmt.Errorf("sync: %w", &funcErr{Op: "push"}) },
	"registered, not encoded": func(context.Context) error { return &anyErr{V: unknownToGob{1}} },
	"lossy type":              func(context.Context) error { return fmt.Errorf("retry: %w", &lossyErr{"flaky", 3}) },
	"typed nil":               func(context.Context) error { return (*ptrErr)(nil) },
}

var taskErrShape = futuresimpl.RegisterTask("test.errshape", func(ctx context.Context, shape string) (struct{}, error) {
	return struct{}{}, errShapes[shape](ctx)
})

// probe asks one question of an error. Its answer on a ThreadPool must be
// want, and on a ProcessPool the same, or remote where the row documents
// that the error does not keep its identity (it crossed as text).
type probe struct {
	q      string
	ask    func(error) string
	want   string
	remote string // "": the same as want
}

func (p probe) expect(remote bool) string {
	if remote && p.remote != "" {
		return p.remote
	}
	return p.want
}

func message(want string) probe {
	return probe{q: "Error()", ask: func(err error) string { return err.Error() }, want: want}
}

// printed is fmt.Sprint(err): what a caller prints even when Error panics.
func printed(want string) probe {
	return probe{q: "fmt.Sprint", ask: func(err error) string { return fmt.Sprint(err) }, want: want}
}

func is(target error, want bool) probe {
	return probe{q: fmt.Sprintf("errors.Is(%q)", target), ask: func(err error) string { return fmt.Sprint(errors.Is(err, target)) }, want: fmt.Sprint(want)}
}

func same(target error) probe {
	return probe{q: fmt.Sprintf("err == %q", target), ask: func(err error) string { return fmt.Sprint(err == target) }, want: "true"}
}

// as asks errors.As with a *T target and answers with what it found:
// "false", or the found value's type and message.
func as[T error](want string) probe {
	return probe{q: fmt.Sprintf("errors.As(%T)", new(T)), ask: func(err error) string {
		var v T
		if !errors.As(err, &v) {
			return "false"
		}
		return fmt.Sprintf("%T %s", v, fmt.Sprint(v))
	}, want: want}
}

// unwrapped applies errors.Unwrap n times and prints what is left.
func unwrapped(n int, want string) probe {
	return probe{q: fmt.Sprintf("errors.Unwrap ×%d", n), ask: func(err error) string {
		for range n {
			err = errors.Unwrap(err)
		}
		return fmt.Sprint(err)
	}, want: want}
}

// unwrappedAs finds a T with errors.As and unwraps it n times.
func unwrappedAs[T error](n int, want string) probe {
	p := unwrapped(n, want)
	p.q = fmt.Sprintf("errors.As(%T), then %s", new(T), p.q)
	ask := p.ask
	p.ask = func(err error) string {
		var v T
		if !errors.As(err, &v) {
			return "errors.As: false"
		}
		return ask(v)
	}
	return p
}

// lost marks a probe whose answer differs on a ProcessPool, as documented.
func lost(p probe, remote string) probe { p.remote = remote; return p }

// panicked asks for the *PanicError's value text and whether its stack is
// the task's.
func panicked(want string) probe {
	return probe{q: "PanicError", ask: func(err error) string {
		var pe *runtime.PanicError
		if !errors.As(err, &pe) {
			return "not a *PanicError"
		}
		return fmt.Sprintf("%v; stack has the task: %v", pe.Value, strings.Contains(pe.Stack, "errors_cross_test.go"))
	}, want: want}
}

var errRows = []struct {
	shape  string
	probes []probe
}{
	{"sentinel", []probe{message("not found"), same(errNotFound), is(errNotFound, true), is(errDenied, false)}},
	{"Errorf sentinel", []probe{message("denied for user 7"), same(errDenied), is(errDenied, true)}},
	{"wrapped sentinel", []probe{message("load user 7: not found"), is(errNotFound, true), is(io.EOF, false)}},
	// An error whose type did not cross is a *RemoteError with its
	// message. errors.Unwrap of it is nil: it wraps through Unwrap() []error, as
	// errors.Join does. errors.Is and errors.As see through it, and the
	// errors inside unwrap as they did.
	{"twice wrapped", []probe{message("api: load user 7: not found"), is(errNotFound, true),
		lost(unwrapped(1, "load user 7: not found"), "<nil>"),
		lost(unwrappedAs[*runtime.RemoteError](0, "errors.As: false"), "api: load user 7: not found")}},
	{"joined", []probe{message("not found\nclose: EOF\nflush (code 7)"), is(errNotFound, true), is(io.EOF, true), is(errDenied, false),
		as[*ptrErr]("*runtime_test.ptrErr flush (code 7)")}},
	{"wrapped joined", []probe{message("batch: denied for user 7\ncode 3"), is(errDenied, true), as[codeErr]("runtime_test.codeErr code 3")}},
	{"two %w", []probe{message("not found; then unexpected EOF"), is(errNotFound, true), is(io.ErrUnexpectedEOF, true), is(io.EOF, false)}},
	{"value receiver", []probe{message("code 404"), same(codeErr{404}), as[codeErr]("runtime_test.codeErr code 404"), as[*codeErr]("false")}},
	{"value receiver by ptr", []probe{message("code 500"), as[*codeErr]("*runtime_test.codeErr code 500"), as[codeErr]("false")}},
	{"pointer receiver", []probe{message("bad input (code 3)"), as[*ptrErr]("*runtime_test.ptrErr bad input (code 3)")}},
	{"wrapped custom", []probe{message("step 2: bad input (code 3)"), as[*ptrErr]("*runtime_test.ptrErr bad input (code 3)"), is(errNotFound, false)}},
	{"custom with cause", []probe{message("query SELECT 1: not found"), is(errNotFound, true), as[*queryErr]("*runtime_test.queryErr query SELECT 1: not found")}},
	{"custom with deep cause", []probe{message("db: query SELECT 2: row 3: truncated (code 9)"),
		as[*queryErr]("*runtime_test.queryErr query SELECT 2: row 3: truncated (code 9)"), as[*ptrErr]("*runtime_test.ptrErr truncated (code 9)"),
		unwrappedAs[*queryErr](1, "row 3: truncated (code 9)"), unwrappedAs[*queryErr](2, "truncated (code 9)")}},
	{"custom with nil cause", []probe{message("bad value 5"), as[*anyErr]("*runtime_test.anyErr bad value 5")}},
	{"non-struct type", []probe{message("http: status 503"), as[statusErr]("runtime_test.statusErr status 503")}},
	{"empty struct type", []probe{message("conn: closed"), as[closedErr]("runtime_test.closedErr closed")}},
	{"io.EOF", []probe{message("EOF"), same(io.EOF), is(io.EOF, true)}},
	{"wrapped io.EOF", []probe{message("read header: EOF"), is(io.EOF, true), is(io.ErrUnexpectedEOF, false)}},
	{"os.Open", []probe{message("open /nonexistent/futuresgen-errors-test: no such file or directory"), is(fs.ErrNotExist, true), is(fs.ErrExist, false),
		as[*fs.PathError]("*fs.PathError open /nonexistent/futuresgen-errors-test: no such file or directory"),
		as[syscall.Errno]("syscall.Errno no such file or directory")}},
	{"wrapped os.Open", []probe{message("config: open /nonexistent/futuresgen-errors-test: no such file or directory"), is(fs.ErrNotExist, true),
		as[*fs.PathError]("*fs.PathError open /nonexistent/futuresgen-errors-test: no such file or directory")}},
	{"strconv.Atoi", []probe{message(`strconv.Atoi: parsing "12x": invalid syntax`), is(strconv.ErrSyntax, true),
		as[*strconv.NumError](`*strconv.NumError strconv.Atoi: parsing "12x": invalid syntax`)}},
	{"time.Parse", []probe{message(`parsing time "2026-13-01": month out of range`),
		as[*time.ParseError](`*time.ParseError parsing time "2026-13-01": month out of range`)}},
	{"url.Parse", []probe{message(`link: parse "http://a.com/%zz": invalid URL escape "%zz"`),
		as[*url.Error](`*url.Error parse "http://a.com/%zz": invalid URL escape "%zz"`), as[url.EscapeError](`url.EscapeError invalid URL escape "%zz"`)}},
	{"exec.LookPath", []probe{message(`exec: "futuresgen-no-such-command": executable file not found in $PATH`), is(exec.ErrNotFound, true),
		as[*exec.Error](`*exec.Error exec: "futuresgen-no-such-command": executable file not found in $PATH`)}},
	{"own timeout wrapped", []probe{message("GET http://example.invalid/a: context deadline exceeded"),
		is(context.DeadlineExceeded, true), is(context.Canceled, false)}},
	{"own timeout bare", []probe{message("context deadline exceeded"), same(context.DeadlineExceeded)}},
	{"panic with error", []probe{message("futuresgen: task panicked: corrupt index: not found"), is(errNotFound, true),
		panicked("corrupt index: not found; stack has the task: true")}},
	{"panic with custom", []probe{message("futuresgen: task panicked: invariant (code 1)"), as[*ptrErr]("*runtime_test.ptrErr invariant (code 1)")}},
	{"runtime sentinel", []probe{message("inner pool: futuresgen: future cancelled"), is(runtime.ErrCancelled, true), is(runtime.ErrShutdown, false)}},
	{"worker lost", []probe{message("inner pool: pid 7 killed"), is(runtime.ErrWorkerDied, true), as[*errs.WorkerLost]("*errs.WorkerLost pid 7 killed")}},
	{"named other package", []probe{message("decode: encoding/hex: odd length hex string"), is(hex.ErrLength, true)}},
	{"RegisterError", []probe{message("flags: flag: help requested"), is(flag.ErrHelp, true)}},
	// A sentinel nobody registered crosses as its text: errors.Is cannot
	// find it after a ProcessPool. The generator registers the sentinels
	// a task's package names; RegisterError registers others.
	{"unregistered other", []probe{message(`parse: extraneous or missing " in quoted-field`), lost(is(csv.ErrQuote, true), "false")}},
	// A type whose values cannot be encoded crosses as its text.
	{"cannot cross", []probe{message("sync: push failed"), lost(as[*funcErr]("*runtime_test.funcErr push failed"), "false")}},
	{"registered, not encoded", []probe{message("bad value {1}"), lost(as[*anyErr]("*runtime_test.anyErr bad value {1}"), "false")}},
	// A value whose type's Error reads what its encoding leaves out keeps
	// its message; errors.As finds the value as it was decoded.
	{"lossy type", []probe{message("retry: flaky #3"), lost(as[*lossyErr]("*runtime_test.lossyErr flaky #3"), "*runtime_test.lossyErr flaky #0")}},
	// A nil *T returned as an error: its Error panics, as fmt shows it.
	{"typed nil", []probe{printed("<nil>"), as[*ptrErr]("*runtime_test.ptrErr <nil>")}},
}

// TestErrorsKeepTheirIdentity runs each error shape on a ThreadPool and
// on a ProcessPool (one call at a time, and in a chunk of a Map) and
// compares the answers of errors.Is, errors.As and Error().
func TestErrorsKeepTheirIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	threads := runtime.NewThreadPool(runtime.MaxWorkers(2))
	procs := processPool(t, runtime.MaxWorkers(2))
	t.Cleanup(func() { threads.Close() })

	for _, row := range errRows {
		if errShapes[row.shape] == nil {
			t.Fatalf("row %q has no shape", row.shape)
		}
	}
	// chunked returns the error of the first of two calls sent in one
	// chunk.
	chunked := func(shape string) error {
		for _, err := range futuresimpl.MapTask(ctx, procs, taskErrShape, slices.Values([]string{shape, shape}), runtime.ChunkSize(2)) {
			return err
		}
		return nil
	}
	for _, row := range errRows {
		t.Run(row.shape, func(t *testing.T) {
			got := map[string]error{
				"ThreadPool":             futuresimpl.SubmitTask(ctx, threads, taskErrShape, row.shape).Err(ctx),
				"ProcessPool":            futuresimpl.SubmitTask(ctx, procs, taskErrShape, row.shape).Err(ctx),
				"ProcessPool, ChunkSize": chunked(row.shape),
			}
			for _, ex := range []string{"ThreadPool", "ProcessPool", "ProcessPool, ChunkSize"} {
				err := got[ex]
				if err == nil {
					t.Errorf("%s on %s: no error", row.shape, ex)
					continue
				}
				for _, p := range row.probes {
					if a, want := p.ask(err), p.expect(ex != "ThreadPool"); a != want {
						t.Errorf("%s on %s: %s = %q; want %q (error %T %q)", row.shape, ex, p.q, a, want, err, fmt.Sprint(err))
					}
				}
			}
		})
	}
	if s := procs.Stats(); s.WorkerDeaths != 0 {
		t.Errorf("workers died: %+v", s)
	}
}

// TestEveryStdSentinelCrosses wraps each of the standard library's
// sentinels that the runtime registers (the README lists them) and checks
// that errors.Is finds it after a ProcessPool.
func TestEveryStdSentinelCrosses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	procs := processPool(t, runtime.MaxWorkers(1))
	for _, s := range registry.StdSentinels {
		err := futuresimpl.SubmitTask(ctx, procs, taskStdSentinel, s.Name).Err(ctx)
		if want := "op: " + s.Err.Error(); err == nil || err.Error() != want || !errors.Is(err, s.Err) {
			t.Errorf("%s wrapped on a ProcessPool: %v (errors.Is %v); want %q, errors.Is true", s.Name, err, errors.Is(err, s.Err), want)
		}
	}
}

var taskStdSentinel = futuresimpl.RegisterTask("test.stdsentinel", func(_ context.Context, name string) (struct{}, error) {
	for _, s := range registry.StdSentinels {
		if s.Name == name {
			return struct{}{}, fmt.Errorf("op: %w", s.Err)
		}
	}
	return struct{}{}, errors.New("no such sentinel")
})

// BenchmarkErrorPath measures a task's error on its way back from a
// worker, one task at a time and in chunks of a Map, against a task that
// returns nil (which encodes nothing: it pays nothing for errors):
//
//	go test -run '^$' -bench ErrorPath -benchmem ./runtime
func BenchmarkErrorPath(b *testing.B) {
	ctx := context.Background()
	p := runtime.NewProcessPool(runtime.MaxWorkers(benchProcWorkers))
	defer p.Close()
	warm(b, p)
	for _, shape := range []string{"nil", "wrapped sentinel", "custom with cause", "unregistered other"} {
		wantErr := errShapes[shape](ctx) != nil
		b.Run("error="+strings.ReplaceAll(shape, " ", "-"), func(b *testing.B) {
			b.Run("workload=one-at-a-time", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := futuresimpl.SubmitTask(ctx, p, taskErrShape, shape).Err(ctx); (err != nil) != wantErr {
						b.Fatal(err)
					}
				}
			})
			b.Run("workload=map-chunk-256", func(b *testing.B) {
				b.ReportAllocs()
				for _, err := range futuresimpl.MapTask(ctx, p, taskErrShape, repeat(shape, b.N), runtime.ChunkSize(256)) {
					if (err != nil) != wantErr {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// repeat yields v n times.
func repeat[T any](v T, n int) func(func(T) bool) {
	return func(yield func(T) bool) {
		for range n {
			if !yield(v) {
				return
			}
		}
	}
}

// BenchmarkErrorCodec measures encoding a task's error in the worker and
// rebuilding it in the caller, without the transport.
func BenchmarkErrorCodec(b *testing.B) {
	ctx := context.Background()
	for _, shape := range []string{"sentinel", "wrapped sentinel", "joined", "custom with cause", "wrapped os.Open", "unregistered other"} {
		err := errShapes[shape](ctx)
		b.Run("error="+strings.ReplaceAll(shape, " ", "-"), func(b *testing.B) {
			b.Run("step=encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					registry.EncodeError(err)
				}
			})
			w := registry.EncodeError(err)
			b.Run("step=decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if got := remote.DecodeError("t", w); got.Error() != err.Error() {
						b.Fatal(got)
					}
				}
			})
		})
	}
}
