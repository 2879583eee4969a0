// Package errs holds the errors that the executors make and package
// runtime hands to users: the sentinels that runtime exports, so that the
// packages under internal/ (the scheduler, the process and NATS links)
// and the cluster wrap the same values (users see them as
// runtime.ErrCancelled and the rest; the docs are there), and a task's
// panic and a worker's error as the executors record them (Panic,
// Remote), which runtime turns into its PanicError and RemoteError.
package errs

import "errors"

// The sentinels behind runtime's ErrCancelled, ErrShutdown, ErrBrokenPool
// and ErrWorkerDied.
var (
	Cancelled  = errors.New("futuresgen: future cancelled")
	Shutdown   = errors.New("futuresgen: executor is shut down")
	BrokenPool = errors.New("futuresgen: pool is broken")
	WorkerDied = errors.New("futuresgen: worker process died")
)

// WorkerLost is an error that Is WorkerDied and carries the details: the
// exit status or signal, the end of the worker's standard error, or why
// a remote worker was declared lost.
type WorkerLost struct{ Msg string }

// Error returns the message with the details.
func (e *WorkerLost) Error() string { return e.Msg }

// Is makes errors.Is(err, runtime.ErrWorkerDied) true.
func (e *WorkerLost) Is(target error) bool { return target == WorkerDied }

// Goexit is the error of a task that called runtime.Goexit, in this
// process or in a worker.
var Goexit = errors.New("futuresgen: task called runtime.Goexit")
