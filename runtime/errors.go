package runtime

import (
	"fmt"

	"github.com/futuresgen/futuresgen/internal/errs"
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
