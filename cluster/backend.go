package cluster

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/proc"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// inProcess runs calls on goroutines of the worker's process.
type inProcess struct{}

func (inProcess) close() {}

func (inProcess) run(c *wcall, payload []byte) *wire.Msg {
	m := &wire.Msg{Kind: wire.KindCall, ID: c.f.id, Task: c.f.task, Payload: payload}
	if c.f.kind == kBatch {
		m.Kind, m.Count, m.ItemMax = wire.KindBatch, c.f.count, c.limit
	}
	rc, err := c.entry.NewCall(wire.NewSelfContainedStreams(), m)
	if err != nil {
		return errorAnswer(c.f.id, fmt.Errorf("futuresgen: the worker cannot decode the arguments of %s: %w", c.f.task, err))
	}
	// Its own goroutine, so that a task calling runtime.Goexit ends only
	// that one; Run records it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.entry.Labels != nil {
			pprof.SetGoroutineLabels(c.entry.Labels)
		}
		if c.ctx.Err() == nil {
			rc.Run(c.ctx)
		}
	}()
	<-done
	reply := &wire.Msg{ID: c.f.id}
	if err := c.ctx.Err(); err != nil && !rc.Ran() {
		return errorAnswer(c.f.id, err)
	}
	rc.Answer(wire.NewSelfContainedStreams(), c.total, reply)
	return reply
}

// relay runs calls in child processes of the worker, on a scheduler of
// its own with one slot per child: a crash kills only the child, which
// fails only its call and is replaced, and a child whose task ignores the
// end of its context is killed after the grace period. Payloads pass
// through as they came: the driver's arguments and the child's results
// are self-contained encodings, so the relay never decodes them.
type relay struct {
	s *sched.Scheduler
}

// warmUp is the task of the call that starts the first child at once: no
// task has that name, so the child answers it with an error, which shows
// that children start and serve.
const warmUp = "futuresgen/cluster.warm-up"

func newRelay(slots int, grace time.Duration) (*relay, error) {
	procs := proc.New(proc.Config{SelfContained: true, MaxStartFailures: 3})
	s := sched.New(sched.Config{
		MaxWorkers:       slots,
		Spawn:            procs.Spawn,
		Grace:            grace,
		Exclusive:        true,
		Lost:             func(cause error) error { return cause },
		MaxStartFailures: 3,
		StartFailed: func(n int, last error) error {
			return fmt.Errorf("%w: %d child processes in a row died before they were ready; the last: %w", errs.BrokenPool, n, last)
		},
	})
	procs.Bind(s)
	r := &relay{s: s}
	c := newRelayCall(warmUp, 1, nil)
	s.Submit(&sched.Call{Task: warmUp, Ctx: context.Background(), F: c}, errs.Shutdown)
	if m := <-c.done; errors.Is(m.failure, errs.BrokenPool) {
		r.close()
		return nil, fmt.Errorf("the worker's child processes cannot start (does main call runtime.ServeWorker() first?): %w", m.failure)
	}
	return r, nil
}

func (r *relay) close() {
	r.s.Shutdown(true)
	<-r.s.Done()
}

func (r *relay) run(c *wcall, payload []byte) *wire.Msg {
	n := 1
	if c.f.kind == kBatch {
		n = c.f.count
	}
	rc := newRelayCall(c.f.task, n, payload)
	r.s.Submit(&sched.Call{Task: c.f.task, Ctx: c.ctx, Batch: c.f.kind == kBatch, ItemMax: c.limit, F: rc}, errs.Shutdown)
	out := <-rc.done
	if out.failure != nil {
		return errorAnswer(c.f.id, keepWorkerDied(out.failure))
	}
	return out.msg
}

// relayCall is a call as the relay's scheduler sees it: it passes the
// payload through, and hands over the child's answer, or why there is
// none.
type relayCall struct {
	task    string
	n       int
	payload []byte
	once    sync.Once
	done    chan relayOutcome
}

type relayOutcome struct {
	msg     *wire.Msg
	failure error
}

func newRelayCall(task string, n int, payload []byte) *relayCall {
	return &relayCall{task: task, n: n, payload: payload, done: make(chan relayOutcome, 1)}
}

func (rc *relayCall) Len() int         { return rc.n }
func (rc *relayCall) Cancel(int) bool  { return false } // the driver cancels; the relay only runs
func (rc *relayCall) Freeze() int      { return rc.n }
func (rc *relayCall) Claim()           {}
func (rc *relayCall) SettleCancelled() {}

func (rc *relayCall) Fail(err error) {
	rc.once.Do(func() { rc.done <- relayOutcome{failure: err} })
}

func (rc *relayCall) Encode(*wire.Streams, int) ([]byte, uint32, error) {
	return rc.payload, 0, nil
}

// Deliver keeps the child's answer; its payload is valid only until the
// child's next message, so it is copied.
func (rc *relayCall) Deliver(_ *wire.Streams, m *wire.Msg) (int, error) {
	out := *m
	out.Payload = append([]byte(nil), m.Payload...)
	rc.once.Do(func() { rc.done <- relayOutcome{msg: &out} })
	switch m.Kind {
	case wire.KindResult:
		return 0, nil
	case wire.KindBatchResult:
		return len(m.Failures), nil
	}
	return rc.n, nil
}

// keepWorkerDied makes an error that is runtime.ErrWorkerDied (a child
// that died) keep that identity on the driver: errs.WorkerLost says so
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
