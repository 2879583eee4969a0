package runtime

import "context"

// Executor runs tasks: a ThreadPool in this process, a ProcessPool in
// worker processes. Generated SubmitX and MapX wrappers take any Executor,
// so the same call runs a task on either. Only this module's executors
// implement Executor: its unexported methods are how generated code hands
// them work.
type Executor interface {
	// Shutdown stops the executor taking new work and waits until the work
	// it has is done, or until ctx ends. With CancelPending it cancels the
	// tasks that have not started and ends the context of those running.
	// It returns ctx.Err() if ctx ends first (the work goes on); a second
	// Shutdown waits the same way.
	Shutdown(ctx context.Context, opts ...ShutdownOption) error

	// Close is Shutdown(context.Background()), for defer.
	Close() error

	// defaultBuffer is Map's read-ahead when Buffer is not given.
	defaultBuffer() int
}

// job is a submitted future as an executor sees it, whatever its value
// type.
type job interface {
	base() *core
	// prepare binds the future to the pool that will run it and to its
	// submit context.
	prepare(ctx context.Context, p *ThreadPool)
	// begin is called once the job is claimed; false means it must not
	// run (it has been failed).
	begin() bool
	// run runs a begun job, settles its future and reports whether it
	// failed.
	run() (failed bool)
	// fail settles a job that will never run with err.
	fail(err error)
	// labels returns the pprof labels the task runs under.
	labels(cache *labelCache) context.Context
}
