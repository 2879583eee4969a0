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
	in := make([]A, len(rb.frozen))
	for k, i := range rb.frozen {
		in[k] = rb.args[i]
	}
	b, err := wire.EncodeBatch(s, w.BatchArgs, in, max, rb.call.ItemMax, wire.LeaveOut)
	if b.Failed != nil {
		rb.sent, rb.bad = nil, map[int]error{}
		for k, i := range rb.frozen {
			if ierr, bad := b.Failed[k]; bad {
				rb.bad[i] = rb.cannotCross(ierr)
			} else {
				rb.sent = append(rb.sent, i)
			}
		}
	}
	switch {
	case err != nil: // each encodes alone, not all together: too large
		return nil, 0, rb.cannotCross(err)
	case len(rb.sent) == 0:
		return nil, 0, rb.bad[rb.frozen[0]]
	}
	return b.Payload, b.Gen, nil
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
		rs, err = wire.DecodeValue[[]R](s, w.BatchResult, m.Gen, m.Payload)
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
