package worker

import (
	"context"
	"fmt"
	"runtime/pprof"

	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// Request is a call as a Runner runs it: its task and arguments, encoded
// self-contained (see wire.NewSelfContainedStreams).
type Request struct {
	ID      uint64
	Task    string
	Batch   bool // a chunk of Count inputs
	Count   int
	ItemMax int    // bounds each input's encoded result (a batch)
	Total   int    // bounds the encoded results together
	Payload []byte // the arguments
}

// A Runner runs calls whose arguments and results travel self-contained:
// on goroutines of this process (InProcess), or in child processes
// (StartChildren). Run returns the call's answer, its results encoded
// self-contained; ctx is the call's.
type Runner interface {
	Run(ctx context.Context, r *Request) *wire.Msg
	Close()
}

// ErrorAnswer is the answer of a call that failed with err.
func ErrorAnswer(id uint64, err error) *wire.Msg {
	return &wire.Msg{Kind: wire.KindError, ID: id, Err: registry.EncodeError(err)}
}

// Refusal returns the error of a call of task that no worker may run
// (there is no such task, or it is local), or nil.
func Refusal(task string) (*registry.Entry, error) {
	e := registry.Lookup(task)
	switch {
	case e == nil:
		return nil, fmt.Errorf("futuresgen: the worker has no task named %q", task)
	case e.Local:
		return nil, fmt.Errorf("futuresgen: task %s is local (//futures:task local): it runs only on in-process executors, and this worker refuses it", task)
	}
	return e, nil
}

// runTask runs rc under its task's pprof labels, unless ctx has ended.
func runTask(ctx context.Context, e *registry.Entry, rc registry.Call) {
	if ctx.Err() != nil {
		return
	}
	if e.Labels != nil {
		pprof.SetGoroutineLabels(e.Labels)
	}
	rc.Run(ctx)
}

// InProcess returns a Runner that runs calls on goroutines of this
// process: cheaper by a pipe round trip a call than child processes, but
// a task that crashes takes the process with it, and one that ignores the
// end of its context cannot be stopped.
func InProcess() Runner { return inProcess{} }

type inProcess struct{}

func (inProcess) Close() {}

func (inProcess) Run(ctx context.Context, r *Request) *wire.Msg {
	e, err := Refusal(r.Task)
	if err != nil {
		return ErrorAnswer(r.ID, err)
	}
	m := &wire.Msg{Kind: wire.KindCall, ID: r.ID, Task: r.Task, Payload: r.Payload}
	if r.Batch {
		m.Kind, m.Count, m.ItemMax = wire.KindBatch, r.Count, r.ItemMax
	}
	streams := wire.NewSelfContainedStreams()
	rc, err := e.NewCall(streams, m)
	if err != nil {
		return ErrorAnswer(r.ID, fmt.Errorf("futuresgen: the worker cannot decode the arguments of %s: %w", r.Task, err))
	}
	// Its own goroutine, so that a task calling runtime.Goexit ends only
	// that one; Run records it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runTask(ctx, e, rc)
	}()
	<-done
	if err := ctx.Err(); err != nil && !rc.Ran() {
		return ErrorAnswer(r.ID, err)
	}
	reply := &wire.Msg{ID: r.ID}
	rc.Answer(streams, r.Total, reply)
	return reply
}
