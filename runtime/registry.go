package runtime

import (
	"context"
	"fmt"
	"iter"
	"reflect"
	goruntime "runtime"

	"github.com/futuresgen/futuresgen/internal/registry"
)

// This file holds the few entry points that generated code calls. Users do
// not call them: they call the generated SubmitX and MapX wrappers.

// SupportPackageIsVersion1 is referenced by generated code to check, at
// compile time, that it was written for this version of the runtime. If a
// generated file fails to compile because this constant is undefined,
// re-run "go generate" with the futuresgen that matches the runtime.
const SupportPackageIsVersion1 = true

// Task is a task registered by generated code: a function of one argument
// value (the task's single parameter, its XArgs struct, or struct{}) that
// returns one result value (the result, its XResult struct, or struct{})
// and an error. It is for generated code; users hold it only through the
// generated wrappers.
type Task[A, R any] struct {
	name   string
	fn     func(context.Context, A) (R, error)
	local  bool
	labels context.Context
	// What crosses a process boundary: whether the values carry data
	// (struct{} does not, and is not encoded), and the stream keys.
	argsEmpty, resultEmpty bool
	argsCycle, resultCycle bool // the values may refer to themselves: check before gob recurses
	keys                   streamKeys
}

// Name returns the task's stable name, under which worker processes find
// it: "<import path>.<FuncName>" unless the directive set name=.
func (t *Task[A, R]) Name() string { return t.name }

// Local reports whether the task may run only in this process.
func (t *Task[A, R]) Local() bool { return t.local }

// TaskOption configures RegisterTask. It is for generated code.
type TaskOption func(*taskConfig)

type taskConfig struct{ local bool }

// Local marks a task that may take values that cannot cross a process
// boundary: it runs only on in-process executors. It is for generated code,
// which passes it for a //futures:task local directive.
func Local() TaskOption { return func(c *taskConfig) { c.local = true } }

// TaskInfo describes a registered task.
type TaskInfo struct {
	Name      string       // the stable name
	Args      reflect.Type // the argument value's type
	Result    reflect.Type // the result value's type
	Local     bool         // runs only in this process
	Signature string       // the types, as "func(A) R", for comparing registries
	Site      string       // file:line of the registration
}

// RegisterTask adds fn to the process's task registry under name and
// returns the Task that generated wrappers submit. It is for generated
// code, which calls it while its package initializes. RegisterTask panics
// if the name is empty or already registered, naming both registrations:
// two tasks would answer to one name in a worker process.
func RegisterTask[A, R any](name string, fn func(context.Context, A) (R, error), opts ...TaskOption) *Task[A, R] {
	if name == "" {
		panic("futuresgen: RegisterTask: empty task name")
	}
	if fn == nil {
		panic(fmt.Sprintf("futuresgen: RegisterTask %q: nil function", name))
	}
	var cfg taskConfig
	for _, o := range opts {
		o(&cfg)
	}
	site := "unknown"
	if _, file, line, ok := goruntime.Caller(1); ok {
		site = fmt.Sprintf("%s:%d", file, line)
	}
	t := &Task[A, R]{
		name:        name,
		fn:          fn,
		local:       cfg.local,
		labels:      taskLabels(name),
		argsEmpty:   empty[A](),
		resultEmpty: empty[R](),
		argsCycle:   mayCycle[A](),
		resultCycle: mayCycle[R](),
		keys:        keysOf(name),
	}
	at, rt := reflect.TypeFor[A](), reflect.TypeFor[R]()
	registry.Add(&registry.Entry{
		Name:      name,
		Signature: fmt.Sprintf("func(%s) %s", registry.TypeName(at), registry.TypeName(rt)),
		Site:      site,
		Local:     cfg.local,
		Args:      at,
		Result:    rt,
		Labels:    t.labels,
		NewCall:   t.newWorkerCall,
	})
	return t
}

// Tasks returns every registered task, sorted by name.
func Tasks() []TaskInfo {
	all := registry.All()
	out := make([]TaskInfo, len(all))
	for i, e := range all {
		out[i] = TaskInfo{Name: e.Name, Args: e.Args, Result: e.Result, Local: e.Local, Signature: e.Signature, Site: e.Site}
	}
	return out
}

// SubmitTask submits a registered task with its argument value to ex and
// returns its future. It is for generated code: the SubmitX wrappers call
// it. On a ThreadPool the task's function is called directly, without
// encoding anything; on a ProcessPool or a cluster the argument is encoded
// and sent to a worker.
func SubmitTask[A, R any](ctx context.Context, ex Executor, t *Task[A, R], args A) *Future[R] {
	if t == nil {
		panic("futuresgen: a task was submitted before its package's init registered it; submit tasks from init functions or later, not from package-level variable initializers")
	}
	e := engineOf(ex, "submit "+t.name)
	if e.local != nil {
		return submitLocal(ctx, e.local, t, args, nil)
	}
	return submitRemote(ctx, e.remote, t, args, nil)
}

func submitLocal[A, R any](ctx context.Context, p *ThreadPool, t *Task[A, R], args A, tick func()) *Future[R] {
	f := &Future[R]{labelCtx: &t.labels, tick: tick}
	fn := t.fn
	f.fn = func(ctx context.Context) (R, error) { return fn(ctx, args) }
	p.submit(ctx, f)
	return f
}

// MapTask maps a registered task over inputs on ex, as Map does for
// closures. It is for generated code: the MapX wrappers call it. On a
// ProcessPool or a cluster, ChunkSize(n) sends n inputs in one message.
func MapTask[A, R any](ctx context.Context, ex Executor, t *Task[A, R], inputs iter.Seq[A], opts ...MapOption) iter.Seq2[R, error] {
	if t == nil {
		panic("futuresgen: a task was mapped before its package's init registered it; map tasks from init functions or later, not from package-level variable initializers")
	}
	if inputs == nil {
		panic(fmt.Sprintf("futuresgen: map %s: nil input sequence", t.name))
	}
	e := engineOf(ex, "map "+t.name)
	cfg := mapConfigOf(opts)
	if p := e.local; p != nil {
		submit := func(ctx context.Context, in []A, tick func(), add func(*Future[R])) {
			add(submitLocal(ctx, p, t, in[0], tick))
		}
		cfg.chunkSize = 1 // in-process: accepted and ignored
		return mapWith(ctx, e, submit, inputs, cfg)
	}
	r := e.remote
	chunk := max(cfg.chunkSize, 1)
	submit := func(ctx context.Context, in []A, tick func(), add func(*Future[R])) {
		if chunk == 1 && len(in) == 1 {
			add(submitRemote(ctx, r, t, in[0], tick))
			return
		}
		for _, f := range submitRemoteBatch(ctx, r, t, in, tick) {
			add(f)
		}
	}
	return mapWith(ctx, e, submit, inputs, cfg)
}
