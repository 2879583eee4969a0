package runtime

import (
	"fmt"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
)

// The sentinel errors below describe why a future did not produce a value.
// Test for them with errors.Is: the error a future carries may wrap them
// with more detail (the initializer's error, the worker's exit status).
var (
	// ErrCancelled is the error of a future that was cancelled before it
	// started, by Future.Cancel, by Shutdown with CancelPending, or by a Map
	// that the caller left early.
	ErrCancelled = errs.Cancelled

	// ErrShutdown is the error of a future submitted to an executor after
	// its Shutdown or Close began.
	ErrShutdown = errs.Shutdown

	// ErrBrokenPool is the error of every future an executor can no longer
	// run: its Initializer failed, or its workers cannot start. The error
	// wraps the cause.
	ErrBrokenPool = errs.BrokenPool

	// ErrWorkerDied is the error of a future whose worker process died while
	// running it. Only that future fails: the pool starts a replacement
	// worker and goes on.
	ErrWorkerDied = errs.WorkerDied
)

// PanicError is the error of a future whose task panicked. The panic is
// recovered in the worker and never re-raised: it reaches the caller through
// Future.Result and Future.Err, with the stack of the goroutine that
// panicked.
//
// When the panic happened in a worker process, Value is the text of the
// panic value and Stack is the worker's stack.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack of the panicking goroutine, as debug.Stack prints it.
	Stack string

	cause error // from a worker: the panic value, rebuilt, when it was an error
}

// Error returns "futuresgen: task panicked: " followed by the panic value.
// The stack is in the Stack field, not in the message.
func (e *PanicError) Error() string {
	return fmt.Sprintf("futuresgen: task panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, so that
// errors.Is(err, io.EOF) sees through a task that did panic(io.EOF), in a
// worker process too.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return e.cause
}

// RemoteError is the error of a task that failed in a worker (a process
// of a ProcessPool, or a cluster worker), when that error is not itself a
// registered sentinel or a value of a registered error type. Error returns
// the task's message unchanged, and errors.Is and errors.As see what it
// wrapped as they would in-process: sentinels (the task package's
// exported ones, the standard library's common ones, and those given to
// RegisterError) are the same variables here, values of registered error
// types (the task package's exported ones, *fs.PathError and the like)
// are the same values, and anything else is an error with the text it had.
// RemoteError wraps through Unwrap() []error, as errors.Join does, so
// errors.Unwrap of it is nil: use errors.Is and errors.As, which see
// through it.
type RemoteError struct {
	// Task is the stable name of the task that failed.
	Task string
	// Message is the task's error message.
	Message string

	wrapped []error
}

// Error returns the task's error message, intact.
func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns what the task's error wrapped, rebuilt on this side.
func (e *RemoteError) Unwrap() []error { return e.wrapped }

// public returns err as users see it: the executors record a task's panic
// and a worker's error in internal types (package errs), which become a
// *PanicError and a *RemoteError here, once each.
func public(err error) error {
	switch e := err.(type) {
	case *errs.Panic:
		return e.Public(newPanicError)
	case *errs.Remote:
		return e.Public(newRemoteError)
	}
	return err
}

func newPanicError(e *errs.Panic) error {
	return &PanicError{Value: e.Value, Stack: e.Stack, cause: public(e.Cause)}
}

func newRemoteError(e *errs.Remote) error {
	return &RemoteError{Task: e.Task, Message: e.Message, wrapped: e.Wrapped}
}

// RegisterError registers err, a sentinel of another package (say
// sql.ErrNoRows), so that errors.Is finds it in a task's error that
// crossed from a worker. Call it at init, in every binary that runs the
// task (a worker is the same binary, so one init does). The sentinels of
// a task's own package, and the standard library's common ones, need no
// registration. RegisterError panics if err is nil or not comparable.
func RegisterError(err error) {
	if err == nil {
		panic("futuresgen: RegisterError(nil)")
	}
	registry.RegisterSentinel(registry.SentinelKey(err), err)
}
