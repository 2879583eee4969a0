package errs

import (
	"fmt"
	"sync"
)

// Panic is the error of a future whose task panicked, as the executors
// record it. Users never see it: package runtime hands it out as a
// *runtime.PanicError (made once, by Public), whose doc says what the
// fields hold.
type Panic struct {
	Value any
	Stack string
	Cause error // from a worker: the panic value, rebuilt, when it was an error

	public onePublic
}

// Error is runtime.PanicError's.
func (e *Panic) Error() string { return fmt.Sprintf("futuresgen: task panicked: %v", e.Value) }

// Unwrap is runtime.PanicError's.
func (e *Panic) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return e.Cause
}

// Public returns the error users see for e: mk(e) the first time, the
// same value after, so that a future's error is one value however often
// it is asked for.
func (e *Panic) Public(mk func(*Panic) error) error {
	return e.public.get(func() error { return mk(e) })
}

// Remote is the error of a task that failed in a worker, when that error
// is not itself a registered sentinel or a value of a registered error
// type. Users see it as a *runtime.RemoteError (see Public).
type Remote struct {
	Task    string
	Message string
	Wrapped []error

	public onePublic
}

// Error is runtime.RemoteError's.
func (e *Remote) Error() string { return e.Message }

// Unwrap is runtime.RemoteError's.
func (e *Remote) Unwrap() []error { return e.Wrapped }

// Public returns the error users see for e: mk(e) the first time, the
// same value after.
func (e *Remote) Public(mk func(*Remote) error) error {
	return e.public.get(func() error { return mk(e) })
}

// onePublic holds the error users see for an internal one, made once.
type onePublic struct {
	once sync.Once
	err  error
}

func (p *onePublic) get(mk func() error) error {
	p.once.Do(func() { p.err = mk() })
	return p.err
}
