package task

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// This file is a task's worker side: decoding a call's arguments, running
// it, and encoding its answer, with the types the registration gave
// Register. The worker loop (internal/worker) finds it in the registry
// under the task's name.

// maxStack bounds the stack text a panic sends across.
const maxStack = 64 << 10

func stack() string {
	s := debug.Stack()
	if len(s) > maxStack {
		s = append(s[:maxStack:maxStack], "\n…(cut)"...)
	}
	return string(s)
}

// newWorkerCall decodes the payload of a call of t in a worker.
func (t *Task[A, R]) newWorkerCall(s *wire.Streams, m *wire.Msg) (registry.Call, error) {
	if m.Kind == wire.KindBatch {
		var as []A
		if t.wire.ArgsEmpty {
			if m.Count < 0 || m.Count > 1<<20 {
				return nil, fmt.Errorf("%w: a batch of %d inputs", wire.ErrProtocol, m.Count)
			}
			as = make([]A, m.Count)
		} else {
			var err error
			if as, err = wire.DecodeValue[[]A](s, t.wire.BatchArgs, m.Gen, m.Payload); err != nil {
				return nil, err
			}
		}
		return &workerBatch[A, R]{t: t, args: as, itemMax: m.ItemMax}, nil
	}
	var a A
	if !t.wire.ArgsEmpty {
		var err error
		if a, err = wire.DecodeValue[A](s, t.wire.Args, m.Gen, m.Payload); err != nil {
			return nil, err
		}
	}
	return &workerCall[A, R]{t: t, arg: a}, nil
}

// runOutcome is how a task's run ended.
type runOutcome[R any] struct {
	ran      bool
	returned bool
	r        R
	err      error
	panicked any
	stack    string
}

// run calls fn, recovering a panic; a Goexit leaves returned false and
// panicked nil.
func (o *runOutcome[R]) run(ctx context.Context, fn func(context.Context) (R, error)) {
	o.ran = true
	defer func() {
		if !o.returned {
			if p := recover(); p != nil {
				o.panicked, o.stack = p, stack()
			}
		}
	}()
	o.r, o.err = fn(ctx)
	o.returned = true
}

// failure returns the wire form of a run that did not return a value, or
// ok false if it did.
func (o *runOutcome[R]) failure() (f wire.Failure, ok bool) {
	switch {
	case o.panicked != nil:
		f = wire.Failure{Panic: true, Text: fmt.Sprint(o.panicked), Stack: o.stack}
		if err, isErr := o.panicked.(error); isErr {
			f.Err = registry.EncodeError(err)
		}
		return f, true
	case !o.returned:
		return wire.Failure{Err: registry.EncodeError(errs.Goexit)}, true
	case o.err != nil:
		return wire.Failure{Err: registry.EncodeError(o.err)}, true
	}
	return f, false
}

// workerCall is one call of a task in a worker.
type workerCall[A, R any] struct {
	t   *Task[A, R]
	arg A
	out runOutcome[R]
}

func (c *workerCall[A, R]) Run(ctx context.Context) {
	fn := c.t.fn
	c.out.run(ctx, func(ctx context.Context) (R, error) { return fn(ctx, c.arg) })
}

func (c *workerCall[A, R]) Ran() bool { return c.out.ran }

func (c *workerCall[A, R]) Answer(s *wire.Streams, max int, m *wire.Msg) {
	if f, failed := c.out.failure(); failed {
		if f.Panic {
			m.Kind, m.Text, m.Stack, m.Err = wire.KindPanic, f.Text, f.Stack, f.Err
		} else {
			m.Kind, m.Err = wire.KindError, f.Err
		}
		return
	}
	m.Kind = wire.KindResult
	if c.t.wire.ResultEmpty {
		return
	}
	payload, gen, err := wire.EncodeValue(s, c.t.wire.Result, c.out.r, max, c.t.wire.ResultCycle)
	if err != nil {
		m.Kind = wire.KindError
		m.Err = registry.EncodeError(CannotCross(c.t.name, "result", reflect.TypeFor[R](), err))
		return
	}
	m.Payload, m.Gen = payload, gen
}

// workerBatch is a chunk of calls of a task in a worker, run one after
// another.
type workerBatch[A, R any] struct {
	t       *Task[A, R]
	args    []A
	itemMax int // bounds each input's encoded result (0: only max, all together)
	ran     bool
	outs    []runOutcome[R]
	stop    error // why the items that did not run did not
}

// errAfterGoexit is the error of the inputs of a chunk after one that
// called runtime.Goexit: they never ran.
var errAfterGoexit = errors.New("futuresgen: not run: an earlier input of its chunk called runtime.Goexit")

func (b *workerBatch[A, R]) Run(ctx context.Context) {
	b.ran = true
	b.outs = make([]runOutcome[R], len(b.args))
	b.stop = context.Canceled
	fn := b.t.fn
	for i := range b.args {
		if err := ctx.Err(); err != nil {
			b.stop = err // the rest fail with the context's error
			return
		}
		o := &b.outs[i]
		b.stop = errAfterGoexit
		o.run(ctx, func(ctx context.Context) (R, error) { return fn(ctx, b.args[i]) })
		b.stop = context.Canceled
	}
}

func (b *workerBatch[A, R]) Ran() bool { return b.ran }

func (b *workerBatch[A, R]) Answer(s *wire.Streams, max int, m *wire.Msg) {
	m.Kind, m.Count = wire.KindBatchResult, len(b.args)
	rs := make([]R, len(b.args))
	failed := make([]bool, len(b.args))
	for i := range b.args {
		if b.outs == nil {
			b.outs = make([]runOutcome[R], len(b.args)) // never run: its context ended first
		}
		o := &b.outs[i]
		if !o.ran {
			stop := b.stop
			if stop == nil {
				stop = context.Canceled
			}
			m.Failures = append(m.Failures, wire.Failure{Index: i, Err: registry.EncodeError(stop)})
			failed[i] = true
			continue
		}
		if f, ok := o.failure(); ok {
			f.Index = i
			m.Failures = append(m.Failures, f)
			failed[i] = true
			continue
		}
		rs[i] = o.r
	}
	if b.t.wire.ResultEmpty {
		return
	}
	out, err := wire.EncodeBatch(s, b.t.wire.BatchResult, rs, max, b.itemMax, wire.ZeroOut)
	if err != nil {
		// Each item encodes alone but not all together: too large.
		m.Failures = m.Failures[:0]
		text := CannotCross(b.t.name, "results", reflect.TypeFor[[]R](), err)
		for i := range rs {
			m.Failures = append(m.Failures, wire.Failure{Index: i, Err: registry.EncodeError(text)})
		}
		return
	}
	for i := range rs {
		if ierr, bad := out.Failed[i]; bad && !failed[i] {
			m.Failures = append(m.Failures, wire.Failure{Index: i, Err: registry.EncodeError(CannotCross(b.t.name, "result", reflect.TypeFor[R](), ierr))})
		}
	}
	m.Payload, m.Gen = out.Payload, out.Gen
}
