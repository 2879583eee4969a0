package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/proc"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// children runs calls in child processes of this one (this same program,
// serving a pipe), on a scheduler of its own with one slot per child: a
// crash kills only the child, which fails only its call and is replaced,
// and a child whose task ignores the end of its context is killed after
// the grace period, so that deadlines are hard. Payloads pass through as
// they came: arguments and results are self-contained, so children never
// decodes them.
type children struct {
	s *sched.Scheduler
}

// warmUp is the task of the call that starts the first child at once: no
// task has that name, so the child answers it with an error, which shows
// that children start and serve.
const warmUp = "futuresgen/worker.warm-up"

// maxStartFailures is how many children may die at start in a row before
// they are taken for unable to start.
const maxStartFailures = 3

// StartChildren returns a Runner that runs up to slots calls at once, each
// in a child process of this program, killing one whose task ignores the
// end of its context for grace. It starts the first child before it
// returns, and fails if that child cannot start (main does not call
// runtime.ServeWorker first, say).
func StartChildren(slots int, grace time.Duration) (Runner, error) {
	s, _ := proc.NewScheduler(proc.Config{SelfContained: true, MaxStartFailures: maxStartFailures}, sched.Config{
		MaxWorkers: slots,
		Grace:      grace,
		Exclusive:  true,
		StartFailed: func(n int, last error) error {
			return fmt.Errorf("%w: %d child processes in a row died before they were ready; the last: %w", errs.BrokenPool, n, last)
		},
	})
	r := &children{s: s}
	c := newChildCall(&Request{Task: warmUp})
	s.Submit(&sched.Call{Task: warmUp, Ctx: context.Background(), F: c}, errs.Shutdown)
	if out := <-c.done; errors.Is(out.failure, errs.BrokenPool) {
		r.Close()
		return nil, fmt.Errorf("the worker's child processes cannot start (does main call runtime.ServeWorker() first?): %w", out.failure)
	}
	return r, nil
}

func (r *children) Close() {
	r.s.Shutdown(true)
	<-r.s.Done()
}

func (r *children) Run(ctx context.Context, req *Request) *wire.Msg {
	c := newChildCall(req)
	r.s.Submit(&sched.Call{Task: req.Task, Ctx: ctx, Batch: req.Batch, ItemMax: req.ItemMax, F: c}, errs.Shutdown)
	out := <-c.done
	if out.failure != nil {
		return ErrorAnswer(req.ID, keepWorkerDied(out.failure))
	}
	out.msg.ID = req.ID
	return out.msg
}

// childCall is a call as the children's scheduler sees it: it passes the
// payload through, and hands over the child's answer, or why there is
// none.
type childCall struct {
	req  *Request
	once sync.Once
	done chan childOutcome
}

type childOutcome struct {
	msg     *wire.Msg
	failure error
}

func newChildCall(req *Request) *childCall {
	return &childCall{req: req, done: make(chan childOutcome, 1)}
}

func (c *childCall) Len() int {
	if c.req.Batch {
		return c.req.Count
	}
	return 1
}
func (c *childCall) Cancel(int) bool  { return false } // the executor cancels; children only run
func (c *childCall) Freeze() int      { return c.Len() }
func (c *childCall) Claim()           {}
func (c *childCall) SettleCancelled() {}

func (c *childCall) Fail(err error) {
	c.once.Do(func() { c.done <- childOutcome{failure: err} })
}

func (c *childCall) Encode(*wire.Streams, int) ([]byte, uint32, error) {
	return c.req.Payload, 0, nil
}

// Deliver keeps the child's answer; its payload is valid only until the
// child's next message, so it is copied.
func (c *childCall) Deliver(_ *wire.Streams, m *wire.Msg) (int, error) {
	out := *m
	out.Payload = append([]byte(nil), m.Payload...)
	c.once.Do(func() { c.done <- childOutcome{msg: &out} })
	switch m.Kind {
	case wire.KindResult:
		return 0, nil
	case wire.KindBatchResult:
		return len(m.Failures), nil
	}
	return c.Len(), nil
}

// keepWorkerDied makes an error that is runtime.ErrWorkerDied (a child
// that died) keep that identity for the executor: errs.WorkerLost says so
// with a method, which does not cross; the sentinel itself does.
func keepWorkerDied(err error) error {
	if errors.Is(err, errs.WorkerDied) {
		return diedError{err}
	}
	return err
}

type diedError struct{ err error }

func (e diedError) Error() string   { return e.err.Error() }
func (e diedError) Unwrap() []error { return []error{e.err, errs.WorkerDied} }
