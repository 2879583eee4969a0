package remote

import (
	"context"
	"fmt"
	"reflect"

	"github.com/futuresgen/futuresgen/internal/future"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/task"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// batch is a chunk of calls of a task on a remote executor: its futures
// (one allocation for all), their arguments, and the scheduler's view of
// the chunk.
type batch[A, R any] struct {
	fs     []future.Future[R]
	t      *task.Task[A, R]
	args   []A
	frozen []int         // the items that go to the worker, by index
	sent   []int         // of those, the ones whose arguments travel
	bad    map[int]error // the others: their arguments do not encode
	call   sched.Call
}

// SubmitBatch submits the calls of t on each of args to r as one batch
// (one message out, one back) and returns their futures, which call
// tick, if not nil, as each finishes.
func SubmitBatch[A, R any](ctx context.Context, r *Executor, t *task.Task[A, R], args []A, tick func()) []*future.Future[R] {
	rb := &batch[A, R]{t: t, args: append([]A(nil), args...), fs: make([]future.Future[R], len(args))}
	out := make([]*future.Future[R], len(args))
	for i := range rb.fs {
		f := &rb.fs[i]
		f.BindCall(ctx, &rb.call, i, tick)
		out[i] = f
	}
	rb.call = sched.Call{Task: t.Name(), Ctx: ctx, Batch: true, ItemMax: r.MaxPayload, F: rb}
	if t.Local() {
		r.S.Reject(&rb.call, errLocal(t.Name(), r.Where))
		return out
	}
	r.S.Submit(&rb.call, r.Refuse)
	return out
}

func (rb *batch[A, R]) Len() int { return len(rb.fs) }

func (rb *batch[A, R]) Cancel(i int) bool { return rb.fs[i].MarkCancelled() }

func (rb *batch[A, R]) Freeze() int {
	rb.frozen = rb.frozen[:0]
	for i := range rb.fs {
		if rb.fs[i].Pending() {
			rb.frozen = append(rb.frozen, i)
		}
	}
	return len(rb.frozen)
}

func (rb *batch[A, R]) Claim() {
	for _, i := range rb.frozen {
		rb.fs[i].Claim()
	}
}

func (rb *batch[A, R]) SettleCancelled() {
	for i := range rb.fs {
		rb.fs[i].SettleCancelled()
	}
}

func (rb *batch[A, R]) Fail(err error) {
	for i := range rb.fs {
		if e, ok := rb.bad[i]; ok {
			rb.fs[i].FailUnlessDone(e)
			continue
		}
		rb.fs[i].FailUnlessDone(err)
	}
}

// cannotCross is the error of arguments that do not encode.
func (rb *batch[A, R]) cannotCross(err error) error {
	return task.CannotCross(rb.t.Name(), "arguments", reflect.TypeFor[A](), err)
}

// Encode encodes the arguments of the frozen items. An input whose
// arguments do not encode fails alone (at the answer, with its own
// error); the others travel.
func (rb *batch[A, R]) Encode(s *wire.Streams, max int) ([]byte, uint32, error) {
	rb.sent, rb.bad = rb.frozen, nil
	w := rb.t.Wire()
	if w.ArgsEmpty {
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
			err = task.ErrItemsOverMax
		}
	}
	if err == nil {
		return b, gen, nil
	}
	// Find the inputs that do not encode alone.
	rb.sent = nil
	for _, i := range rb.frozen {
		if _, _, ierr := task.EncodeValue(wire.NewSelfContainedStreams(), "", rb.args[i], itemMax, w.ArgsCycle); ierr != nil {
			if rb.bad == nil {
				rb.bad = map[int]error{}
			}
			rb.bad[i] = rb.cannotCross(ierr)
			continue
		}
		rb.sent = append(rb.sent, i)
	}
	switch {
	case len(rb.bad) == 0 && err == task.ErrItemsOverMax: // each within its bound: they go as encoded
		rb.sent = rb.frozen
		return b, gen, nil
	case len(rb.bad) == 0: // each encodes, not all together: too large
		rb.sent = rb.frozen
		return nil, 0, rb.cannotCross(err)
	case len(rb.sent) == 0:
		return nil, 0, rb.bad[rb.frozen[0]]
	}
	if b, gen, err = rb.encode(s, max); err != nil {
		return nil, 0, rb.cannotCross(err)
	}
	return b, gen, nil
}

// encode encodes the arguments of the items sent.
func (rb *batch[A, R]) encode(s *wire.Streams, max int) ([]byte, uint32, error) {
	in := make([]A, len(rb.sent))
	for k, i := range rb.sent {
		in[k] = rb.args[i]
	}
	w := rb.t.Wire()
	return task.EncodeValue(s, w.BatchArgs, in, max, w.ArgsCycle)
}

func (rb *batch[A, R]) Deliver(s *wire.Streams, m *wire.Msg) (int, error) {
	ctx := rb.call.Ctx
	var zero R
	// Inputs whose arguments did not encode never went.
	for i, err := range rb.bad {
		rb.fs[i].Claim()
		rb.fs[i].Finish(zero, err)
	}
	finishAll := func(err error) int {
		for _, i := range rb.sent {
			rb.fs[i].Claim()
			rb.fs[i].Finish(zero, err)
		}
		return len(rb.sent) + len(rb.bad)
	}
	switch m.Kind {
	case wire.KindError, wire.KindPanic: // the chunk as a whole
		return finishAll(failureErr(ctx, rb.t.Name(), wire.Failure{Panic: m.Kind == wire.KindPanic, Err: m.Err, Text: m.Text, Stack: m.Stack})), nil
	case wire.KindBatchResult:
	default:
		err := fmt.Errorf("%w: a %v answers chunk %d of %s", wire.ErrProtocol, m.Kind, m.ID, rb.t.Name())
		return finishAll(err), err
	}
	n := len(rb.sent)
	var rs []R
	if w := rb.t.Wire(); w.ResultEmpty {
		rs = make([]R, n)
	} else {
		var err error
		rs, err = task.DecodeValue[[]R](s, w.BatchResult, m.Gen, m.Payload)
		if err == nil && len(rs) != n {
			err = fmt.Errorf("%w: %d results for a chunk of %d", wire.ErrProtocol, len(rs), n)
			return finishAll(err), err
		}
		if err != nil {
			return finishAll(task.CannotCross(rb.t.Name(), "results", reflect.TypeFor[[]R](), err)), nil
		}
	}
	failed := map[int]error{}
	for _, f := range m.Failures {
		if f.Index >= 0 && f.Index < n {
			failed[f.Index] = failureErr(ctx, rb.t.Name(), f)
		}
	}
	for k, i := range rb.sent {
		f := &rb.fs[i]
		f.Claim()
		if err, ok := failed[k]; ok {
			f.Finish(zero, err)
		} else {
			f.Finish(rs[k], nil)
		}
	}
	return len(failed) + len(rb.bad), nil
}
