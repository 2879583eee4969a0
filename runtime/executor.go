package runtime

import (
	"context"

	"github.com/futuresgen/futuresgen/internal/engine"
)

// Executor runs tasks: a ThreadPool in this process, a ProcessPool in
// worker processes, a cluster executor (package cluster) on other
// machines. Generated SubmitX and MapX wrappers take any Executor, so the
// same call runs a task on each. Only this module's executors implement
// Executor: its unexported method is how generated code hands them work.
// A type that embeds an Executor is one too, and hands work to it.
type Executor interface {
	// Shutdown stops the executor taking new work and waits until the work
	// it has is done, or until ctx ends. With CancelPending it cancels the
	// tasks that have not started and ends the context of those running.
	// It returns ctx.Err() if ctx ends first (the work goes on); a second
	// Shutdown waits the same way.
	Shutdown(ctx context.Context, opts ...ShutdownOption) error

	// Close is Shutdown(context.Background()), for defer.
	Close() error

	// The unexported method through which generated code reaches the
	// executor's engine.
	engine.Executor
}

// handle makes the executor that embeds it an Executor (see
// engine.Handle), without a field or a method in its documentation.
type handle = engine.Handle

var (
	_ Executor = (*ThreadPool)(nil)
	_ Executor = (*ProcessPool)(nil)
)
