package runtime

import (
	"context"
	"fmt"
	"reflect"

	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// This file is a task's executor side on a ProcessPool or a cluster: the
// futures of a call as the scheduler (internal/sched) moves them, and the
// encoding of its arguments and decoding of its answer.

// remote is an executor whose tasks run in workers: the scheduler it
// submits to, and what generated code needs to know of it.
type remote struct {
	s          *sched.Scheduler
	buffer     int   // Map's default read-ahead
	refuse     error // the error of a submit after shutdown
	maxPayload int
	where      string // "a ProcessPool", "a cluster": for messages
}

// errLocal is the error of a local task submitted to a remote executor.
func errLocal(task, where string) error {
	return fmt.Errorf("futuresgen: task %s is local (//futures:task local): it runs only on in-process executors, not on %s", task, where)
}

// remoteCall is one call of a task on a remote executor: its future, its
// argument and the scheduler's view of it, in one allocation.
type remoteCall[A, R any] struct {
	f    Future[R]
	t    *Task[A, R]
	arg  A
	call sched.Call
}

// submitRemote submits one call of t to r.
func submitRemote[A, R any](ctx context.Context, r *remote, t *Task[A, R], arg A, tick func()) *Future[R] {
	rc := &remoteCall[A, R]{t: t, arg: arg}
	rc.f.tick = tick
	rc.f.c.parent = ctx
	rc.f.c.rcall = &rc.call
	rc.call = sched.Call{Task: t.name, Ctx: ctx, F: rc}
	if t.local {
		r.s.Reject(&rc.call, errLocal(t.name, r.where))
		return &rc.f
	}
	r.s.Submit(&rc.call, r.refuse)
	return &rc.f
}

func (rc *remoteCall[A, R]) Len() int { return 1 }

func (rc *remoteCall[A, R]) Cancel(int) bool { return rc.f.c.move(Pending, Cancelled) }

func (rc *remoteCall[A, R]) Freeze() int {
	if rc.f.c.loadState() == Pending {
		return 1
	}
	return 0
}

func (rc *remoteCall[A, R]) Claim() { rc.f.c.claim() }

func (rc *remoteCall[A, R]) SettleCancelled() {
	if rc.f.c.loadState() == Cancelled {
		rc.f.c.settle(Cancelled)
	}
}

func (rc *remoteCall[A, R]) Fail(err error) { failFuture(&rc.f, err) }

func (rc *remoteCall[A, R]) Encode(s *wire.Streams, max int) ([]byte, uint32, error) {
	if rc.t.argsEmpty {
		return nil, 0, nil
	}
	b, gen, err := encodeValue(s, rc.t.keys.args, rc.arg, max, rc.t.argsCycle)
	if err != nil {
		return nil, 0, cannotCross(rc.t.name, "arguments", reflect.TypeFor[A](), err)
	}
	return b, gen, nil
}

func (rc *remoteCall[A, R]) Deliver(s *wire.Streams, m *wire.Msg) (int, error) {
	rc.f.c.claim() // answered without a Started: it never ran, or ran at once
	var zero R
	switch m.Kind {
	case wire.KindResult:
		if rc.t.resultEmpty {
			rc.f.finish(zero, nil)
			return 0, nil
		}
		r, err := decodeValue[R](s, rc.t.keys.result, m.Gen, m.Payload)
		if err != nil {
			rc.f.finish(zero, cannotCross(rc.t.name, "result", reflect.TypeFor[R](), err))
			return 1, nil
		}
		rc.f.finish(r, nil)
		return 0, nil
	case wire.KindError, wire.KindPanic:
		rc.f.finish(zero, failureErr(rc.call.Ctx, rc.t.name, wire.Failure{Panic: m.Kind == wire.KindPanic, Err: m.Err, Text: m.Text, Stack: m.Stack}))
		return 1, nil
	}
	err := fmt.Errorf("%w: a %v answers call %d of %s", wire.ErrProtocol, m.Kind, m.ID, rc.t.name)
	rc.f.finish(zero, err)
	return 1, err
}

// failFuture finishes f with err unless it is done: a Pending future is
// claimed first.
func failFuture[R any](f *Future[R], err error) {
	if f.c.claim() || f.c.loadState() == Running {
		var zero R
		f.finish(zero, err)
	}
}

// remoteBatch is a chunk of calls of a task on a remote executor: its
// futures (one allocation for all), their arguments, and the scheduler's
// view of the chunk.
type remoteBatch[A, R any] struct {
	fs     []Future[R]
	t      *Task[A, R]
	args   []A
	frozen []int         // the items that go to the worker, by index
	sent   []int         // of those, the ones whose arguments travel
	bad    map[int]error // the others: their arguments do not encode
	call   sched.Call
}

// submitRemoteBatch submits the calls of t on each of args to r as one
// batch: one message out, one back.
func submitRemoteBatch[A, R any](ctx context.Context, r *remote, t *Task[A, R], args []A, tick func()) []*Future[R] {
	rb := &remoteBatch[A, R]{t: t, args: append([]A(nil), args...), fs: make([]Future[R], len(args))}
	out := make([]*Future[R], len(args))
	for i := range rb.fs {
		f := &rb.fs[i]
		f.tick = tick
		f.c.parent = ctx
		f.c.rcall, f.c.ritem = &rb.call, int32(i)
		out[i] = f
	}
	rb.call = sched.Call{Task: t.name, Ctx: ctx, Batch: true, ItemMax: r.maxPayload, F: rb}
	if t.local {
		r.s.Reject(&rb.call, errLocal(t.name, r.where))
		return out
	}
	r.s.Submit(&rb.call, r.refuse)
	return out
}

func (rb *remoteBatch[A, R]) Len() int { return len(rb.fs) }

func (rb *remoteBatch[A, R]) Cancel(i int) bool { return rb.fs[i].c.move(Pending, Cancelled) }

func (rb *remoteBatch[A, R]) Freeze() int {
	rb.frozen = rb.frozen[:0]
	for i := range rb.fs {
		if rb.fs[i].c.loadState() == Pending {
			rb.frozen = append(rb.frozen, i)
		}
	}
	return len(rb.frozen)
}

func (rb *remoteBatch[A, R]) Claim() {
	for _, i := range rb.frozen {
		rb.fs[i].c.claim()
	}
}

func (rb *remoteBatch[A, R]) SettleCancelled() {
	for i := range rb.fs {
		if rb.fs[i].c.loadState() == Cancelled {
			rb.fs[i].c.settle(Cancelled)
		}
	}
}

func (rb *remoteBatch[A, R]) Fail(err error) {
	for i := range rb.fs {
		if e, ok := rb.bad[i]; ok {
			failFuture(&rb.fs[i], e)
			continue
		}
		failFuture(&rb.fs[i], err)
	}
}

// Encode encodes the arguments of the frozen items. An input whose
// arguments do not encode fails alone (at the answer, with its own
// error); the others travel.
func (rb *remoteBatch[A, R]) Encode(s *wire.Streams, max int) ([]byte, uint32, error) {
	rb.sent, rb.bad = rb.frozen, nil
	if rb.t.argsEmpty {
		return nil, 0, nil // the count travels in the message
	}
	b, gen, err := rb.encode(s, max)
	itemMax := max
	if m := rb.call.ItemMax; m > 0 && m < max {
		// The executor bounds each input below the message: look at
		// each when they are over it together. (Only a cluster does,
		// whose streams are self-contained: encoding again after a
		// successful encode leaves them usable.)
		itemMax = m
		if err == nil && len(b) > itemMax && len(rb.frozen) > 1 {
			err = errItemsOverMax
		}
	}
	if err == nil {
		return b, gen, nil
	}
	// Find the inputs that do not encode alone.
	rb.sent = nil
	for _, i := range rb.frozen {
		if _, _, ierr := encodeValue(wire.NewSelfContainedStreams(), "", rb.args[i], itemMax, rb.t.argsCycle); ierr != nil {
			if rb.bad == nil {
				rb.bad = map[int]error{}
			}
			rb.bad[i] = cannotCross(rb.t.name, "arguments", reflect.TypeFor[A](), ierr)
			continue
		}
		rb.sent = append(rb.sent, i)
	}
	switch {
	case len(rb.bad) == 0 && err == errItemsOverMax: // each within its bound: they go as encoded
		rb.sent = rb.frozen
		return b, gen, nil
	case len(rb.bad) == 0: // each encodes, not all together: too large
		rb.sent = rb.frozen
		return nil, 0, cannotCross(rb.t.name, "arguments", reflect.TypeFor[A](), err)
	case len(rb.sent) == 0:
		return nil, 0, rb.bad[rb.frozen[0]]
	}
	if b, gen, err = rb.encode(s, max); err != nil {
		return nil, 0, cannotCross(rb.t.name, "arguments", reflect.TypeFor[A](), err)
	}
	return b, gen, nil
}

// encode encodes the arguments of the items sent.
func (rb *remoteBatch[A, R]) encode(s *wire.Streams, max int) ([]byte, uint32, error) {
	in := make([]A, len(rb.sent))
	for k, i := range rb.sent {
		in[k] = rb.args[i]
	}
	return encodeValue(s, rb.t.keys.batchArgs, in, max, rb.t.argsCycle)
}

func (rb *remoteBatch[A, R]) Deliver(s *wire.Streams, m *wire.Msg) (int, error) {
	ctx := rb.call.Ctx
	var zero R
	// Inputs whose arguments did not encode never went.
	for i, err := range rb.bad {
		rb.fs[i].c.claim()
		rb.fs[i].finish(zero, err)
	}
	finishAll := func(err error) int {
		for _, i := range rb.sent {
			rb.fs[i].c.claim()
			rb.fs[i].finish(zero, err)
		}
		return len(rb.sent) + len(rb.bad)
	}
	switch m.Kind {
	case wire.KindError, wire.KindPanic: // the chunk as a whole
		return finishAll(failureErr(ctx, rb.t.name, wire.Failure{Panic: m.Kind == wire.KindPanic, Err: m.Err, Text: m.Text, Stack: m.Stack})), nil
	case wire.KindBatchResult:
	default:
		err := fmt.Errorf("%w: a %v answers chunk %d of %s", wire.ErrProtocol, m.Kind, m.ID, rb.t.name)
		return finishAll(err), err
	}
	n := len(rb.sent)
	var rs []R
	if rb.t.resultEmpty {
		rs = make([]R, n)
	} else {
		var err error
		rs, err = decodeValue[[]R](s, rb.t.keys.batchResult, m.Gen, m.Payload)
		if err == nil && len(rs) != n {
			err = fmt.Errorf("%w: %d results for a chunk of %d", wire.ErrProtocol, len(rs), n)
			return finishAll(err), err
		}
		if err != nil {
			return finishAll(cannotCross(rb.t.name, "results", reflect.TypeFor[[]R](), err)), nil
		}
	}
	failed := map[int]error{}
	for _, f := range m.Failures {
		if f.Index >= 0 && f.Index < n {
			failed[f.Index] = failureErr(ctx, rb.t.name, f)
		}
	}
	for k, i := range rb.sent {
		f := &rb.fs[i]
		f.c.claim()
		if err, ok := failed[k]; ok {
			f.finish(zero, err)
		} else {
			f.finish(rs[k], nil)
		}
	}
	return len(failed) + len(rb.bad), nil
}

// failureErr turns a failure a worker reported into the error a future
// carries: a *PanicError for a panic, and otherwise the task's error,
// rebuilt (see decodeError).
func failureErr(ctx context.Context, task string, f wire.Failure) error {
	if f.Panic {
		pe := &PanicError{Value: f.Text, Stack: f.Stack}
		if f.Err != nil {
			pe.cause = decodeError(task, f.Err)
		}
		return pe
	}
	if f.Err == nil {
		return &RemoteError{Task: task, Message: f.Text}
	}
	err := decodeError(task, f.Err)
	// A task that returned its context's bare error because the submit
	// context ended returns the submit context's own error, as in-process.
	if cerr := ctx.Err(); cerr != nil && (err == context.Canceled || err == context.DeadlineExceeded) {
		return cerr
	}
	return err
}
