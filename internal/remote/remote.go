// Package remote is the executor's side of tasks that run in workers, on
// a ProcessPool or a cluster: the futures of a call as the scheduler
// (internal/sched) moves them, the encoding of its arguments, and the
// decoding of its answer, a task's error rebuilt with its identity. A
// ProcessPool (package runtime) and a cluster executor (the cluster
// module) each make an Executor over their scheduler; internal/engine
// submits typed tasks to it.
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

// Executor is an executor whose tasks run in workers: the scheduler it
// submits to, and what submitting needs to know of it.
type Executor struct {
	S          *sched.Scheduler
	Buffer     int    // Map's default read-ahead
	Refuse     error  // the error of a submit after shutdown
	MaxPayload int    // bounds each input of a chunk (sched.Call.ItemMax)
	Where      string // "a ProcessPool", "a cluster": for messages
}

// errLocal is the error of a local task submitted to a remote executor.
func errLocal(task, where string) error {
	return fmt.Errorf("futuresgen: task %s is local (//futures:task local): it runs only on in-process executors, not on %s", task, where)
}

// call is one call of a task on a remote executor: its future, its
// argument and the scheduler's view of it, in one allocation.
type call[A, R any] struct {
	f    future.Future[R]
	t    *task.Task[A, R]
	arg  A
	call sched.Call
}

// Submit submits one call of t with arg to r and returns its future,
// which calls tick, if not nil, as it finishes.
func Submit[A, R any](ctx context.Context, r *Executor, t *task.Task[A, R], arg A, tick func()) *future.Future[R] {
	rc := &call[A, R]{t: t, arg: arg}
	rc.f.BindCall(ctx, &rc.call, 0, tick)
	rc.call = sched.Call{Task: t.Name(), Ctx: ctx, F: rc}
	if t.Local() {
		r.S.Reject(&rc.call, errLocal(t.Name(), r.Where))
		return &rc.f
	}
	r.S.Submit(&rc.call, r.Refuse)
	return &rc.f
}

func (rc *call[A, R]) Len() int { return 1 }

func (rc *call[A, R]) Cancel(int) bool { return rc.f.MarkCancelled() }

func (rc *call[A, R]) Freeze() int {
	if rc.f.Pending() {
		return 1
	}
	return 0
}

func (rc *call[A, R]) Claim() { rc.f.Claim() }

func (rc *call[A, R]) SettleCancelled() { rc.f.SettleCancelled() }

func (rc *call[A, R]) Fail(err error) { rc.f.FailUnlessDone(err) }

func (rc *call[A, R]) Encode(s *wire.Streams, max int) ([]byte, uint32, error) {
	w := rc.t.Wire()
	if w.ArgsEmpty {
		return nil, 0, nil
	}
	b, gen, err := wire.EncodeValue(s, w.Args, rc.arg, max, w.ArgsCycle)
	if err != nil {
		return nil, 0, task.CannotCross(rc.t.Name(), "arguments", reflect.TypeFor[A](), err)
	}
	return b, gen, nil
}

func (rc *call[A, R]) Deliver(s *wire.Streams, m *wire.Msg) (int, error) {
	rc.f.Claim() // answered without a Started: it never ran, or ran at once
	var zero R
	switch m.Kind {
	case wire.KindResult:
		w := rc.t.Wire()
		if w.ResultEmpty {
			rc.f.Finish(zero, nil)
			return 0, nil
		}
		r, err := wire.DecodeValue[R](s, w.Result, m.Gen, m.Payload)
		if err != nil {
			rc.f.Finish(zero, task.CannotCross(rc.t.Name(), "result", reflect.TypeFor[R](), err))
			return 1, nil
		}
		rc.f.Finish(r, nil)
		return 0, nil
	case wire.KindError, wire.KindPanic:
		rc.f.Finish(zero, failureErr(rc.call.Ctx, rc.t.Name(), wire.Failure{Panic: m.Kind == wire.KindPanic, Err: m.Err, Text: m.Text, Stack: m.Stack}))
		return 1, nil
	}
	err := fmt.Errorf("%w: a %v answers call %d of %s", wire.ErrProtocol, m.Kind, m.ID, rc.t.Name())
	rc.f.Finish(zero, err)
	return 1, err
}
