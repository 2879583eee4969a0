package runtime

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/futuresgen/futuresgen/runtime/internal/wire"
)

// RemoteError is the error of a task that failed in a worker process: its
// error crossed the boundary as text, which Error returns unchanged.
// Errors the worker knew as context errors arrive as context.Canceled or
// context.DeadlineExceeded instead.
type RemoteError struct {
	// Task is the stable name of the task that failed.
	Task string
	// Message is the task's error message.
	Message string
}

// Error returns the task's error message, intact.
func (e *RemoteError) Error() string { return e.Message }

// box wraps a payload so that gob can carry any value, nil pointers
// included, on a stream.
type box[T any] struct{ V T }

// empty reports whether T carries no data (struct{}): such payloads are
// not encoded at all (gob refuses types without exported fields).
func empty[T any]() bool {
	t := reflect.TypeFor[T]()
	return t.Kind() == reflect.Struct && t.NumField() == 0
}

func encodePayload[T any](s *wire.Streams, key string, v T) ([]byte, error) {
	if empty[T]() {
		return nil, nil
	}
	return s.Encode(key, box[T]{v})
}

func decodePayload[T any](s *wire.Streams, key string, data []byte) (T, error) {
	var b box[T]
	if empty[T]() {
		return b.V, nil
	}
	err := s.Decode(key, data, &b)
	return b.V, err
}

// encodeBatch encodes the results of a batch; results without data are
// not sent, only counted by the caller.
func encodeBatch[T any](s *wire.Streams, key string, vs []T) ([]byte, error) {
	if empty[T]() {
		return nil, nil
	}
	return encodePayload(s, key, vs)
}

// decodeBatch decodes n results encoded by encodeBatch.
func decodeBatch[T any](s *wire.Streams, key string, data []byte, n int) ([]T, error) {
	if empty[T]() {
		return make([]T, n), nil
	}
	vs, err := decodePayload[[]T](s, key, data)
	if err == nil && len(vs) != n {
		err = fmt.Errorf("%w: %d results for a batch of %d", wire.ErrProtocol, len(vs), n)
	}
	return vs, err
}

// The stream keys of a task's payloads.
func argsKey(task string) string        { return "a " + task }
func resultKey(task string) string      { return "r " + task }
func batchArgsKey(task string) string   { return "A " + task }
func batchResultKey(task string) string { return "R " + task }

// remoteErr turns a failure reported by a worker into the error a future
// carries.
// The worker's context ends because the submit context did, so a context
// error is reported as the submit context's own.
func remoteErr(ctx context.Context, task string, panicked bool, text, stack string, ctxErr uint8) error {
	switch {
	case panicked:
		return &PanicError{Value: text, Stack: stack}
	case ctxErr != 0 && ctx.Err() != nil:
		return ctx.Err()
	case ctxErr == wire.CtxCanceled:
		return context.Canceled
	case ctxErr == wire.CtxDeadlineExceeded:
		return context.DeadlineExceeded
	}
	return &RemoteError{Task: task, Message: text}
}

// ctxErrCode classifies err for the wire.
func ctxErrCode(err error) uint8 {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return wire.CtxDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return wire.CtxCanceled
	}
	return 0
}

// workerEntry is how a worker process runs a registered task: decoding,
// calling and encoding without knowing the types.
type workerEntry struct {
	info TaskInfo
	// call runs one call. taskErr is the task's own error; err is a
	// payload that does not decode or encode.
	call func(ctx context.Context, s *wire.Streams, payload []byte) (out []byte, taskErr error, err error)
	// batch runs count calls, one after another; failures lists the items
	// that failed or panicked.
	batch func(ctx context.Context, s *wire.Streams, payload []byte) (out []byte, failures []wire.Failure, err error)
}

// newWorkerEntry builds the worker side of a task registered with
// RegisterTask.
func newWorkerEntry[A, R any](info TaskInfo, fn func(context.Context, A) (R, error)) *workerEntry {
	name := info.Name
	return &workerEntry{
		info: info,
		call: func(ctx context.Context, s *wire.Streams, payload []byte) ([]byte, error, error) {
			a, err := decodePayload[A](s, argsKey(name), payload)
			if err != nil {
				return nil, nil, err
			}
			r, taskErr := fn(ctx, a) // a panic is recovered by the worker loop
			if taskErr != nil {
				return nil, taskErr, nil
			}
			out, err := encodePayload(s, resultKey(name), r)
			if err != nil {
				return nil, nil, fmt.Errorf("encoding the result of %s: %w", name, err)
			}
			return out, nil, nil
		},
		batch: func(ctx context.Context, s *wire.Streams, payload []byte) ([]byte, []wire.Failure, error) {
			as, err := decodePayload[[]A](s, batchArgsKey(name), payload)
			if err == nil && empty[A]() {
				err = fmt.Errorf("%w: a batch of %s, which takes no arguments", wire.ErrProtocol, name)
			}
			if err != nil {
				return nil, nil, err
			}
			rs := make([]R, len(as))
			var failures []wire.Failure
			for i, a := range as {
				if err := ctx.Err(); err != nil {
					failures = append(failures, wire.Failure{Index: i, Text: err.Error(), CtxErr: ctxErrCode(err)})
					continue
				}
				func() {
					defer func() {
						if p := recover(); p != nil {
							failures = append(failures, wire.Failure{Index: i, Panic: true, Text: fmt.Sprint(p), Stack: stack()})
						}
					}()
					r, err := fn(ctx, a)
					if err != nil {
						failures = append(failures, wire.Failure{Index: i, Text: err.Error(), CtxErr: ctxErrCode(err)})
						return
					}
					rs[i] = r
				}()
			}
			out, err := encodeBatch(s, batchResultKey(name), rs)
			if err != nil {
				return nil, nil, fmt.Errorf("encoding the results of %s: %w", name, err)
			}
			return out, failures, nil
		},
	}
}

// errLocal is the error of a local task submitted to a ProcessPool.
func errLocal(task string) error {
	return fmt.Errorf("futuresgen: task %s is local (//futures:task local): it runs only on in-process executors, not on a ProcessPool", task)
}

// settleRemote finishes a future of a ProcessPool call with err: a
// Pending one is cancelled (err is ErrCancelled) or failed, a Running one
// failed.
func settleRemote[R any](f *Future[R], err error) {
	var zero R
	if err == ErrCancelled && f.c.cancel() {
		return
	}
	if f.c.claim() || f.c.loadState() == Running {
		f.finish(zero, err)
	}
}

// submitRemote submits one call of t to a ProcessPool.
func submitRemote[A, R any](ctx context.Context, p *ProcessPool, t *Task[A, R], args A, tick func()) *Future[R] {
	f := &Future[R]{tick: tick}
	f.c.parent = ctx
	name := t.name
	c := &pcall{task: name, ctx: ctx, count: 1}
	c.claim = func() int {
		if f.c.claim() {
			return 1
		}
		return 0
	}
	c.encode = func(w *procWorker) ([]byte, error) { return encodePayload(w.enc, argsKey(name), args) }
	c.fail = func(err error) { settleRemote(f, err) }
	c.deliver = func(w *procWorker, m *wire.Msg) (int, error) {
		var zero R
		switch m.Kind {
		case wire.KindResult:
			r, err := decodePayload[R](w.dec, resultKey(name), m.Payload)
			if err != nil {
				f.finish(zero, err)
				return 1, err
			}
			f.finish(r, nil)
			return 0, nil
		case wire.KindError, wire.KindPanic:
			f.finish(zero, remoteErr(ctx, name, m.Kind == wire.KindPanic, m.Text, m.Stack, m.CtxErr))
			return 1, nil
		}
		err := fmt.Errorf("%w: a %v answers call %d of %s", wire.ErrProtocol, m.Kind, m.ID, name)
		f.finish(zero, err)
		return 1, err
	}
	if t.local {
		p.reject(c, errLocal(name))
		return f
	}
	p.enqueue(c)
	return f
}

// submitRemoteBatch submits the calls of t on each of args to a
// ProcessPool as one batch: one message out, one back.
func submitRemoteBatch[A, R any](ctx context.Context, p *ProcessPool, t *Task[A, R], args []A, tick func()) []*Future[R] {
	args = append([]A(nil), args...) // the caller reuses its slice
	fs := make([]*Future[R], len(args))
	for i := range fs {
		fs[i] = &Future[R]{tick: tick}
		fs[i].c.parent = ctx
	}
	name := t.name
	c := &pcall{task: name, ctx: ctx, count: len(args), batch: true}
	var sent []int // indexes of the futures claimed, in order
	c.claim = func() int {
		for i, f := range fs {
			if f.c.claim() {
				sent = append(sent, i)
			}
		}
		return len(sent)
	}
	c.encode = func(w *procWorker) ([]byte, error) {
		in := make([]A, len(sent))
		for k, i := range sent {
			in[k] = args[i]
		}
		return encodePayload(w.enc, batchArgsKey(name), in)
	}
	c.fail = func(err error) {
		for _, f := range fs {
			settleRemote(f, err)
		}
	}
	c.deliver = func(w *procWorker, m *wire.Msg) (int, error) {
		var zero R
		if m.Kind != wire.KindBatchResult {
			// A failure of the batch as a whole.
			err := remoteErr(ctx, name, m.Kind == wire.KindPanic, m.Text, m.Stack, m.CtxErr)
			if m.Kind != wire.KindError && m.Kind != wire.KindPanic {
				err = fmt.Errorf("%w: a %v answers batch %d of %s", wire.ErrProtocol, m.Kind, m.ID, name)
			}
			for _, i := range sent {
				fs[i].finish(zero, err)
			}
			if m.Kind != wire.KindError && m.Kind != wire.KindPanic {
				return len(sent), err
			}
			return len(sent), nil
		}
		rs, err := decodeBatch[R](w.dec, batchResultKey(name), m.Payload, len(sent))
		if err != nil {
			for _, i := range sent {
				fs[i].finish(zero, err)
			}
			return len(sent), err
		}
		failed := map[int]error{}
		for _, fl := range m.Failures {
			if fl.Index >= 0 && fl.Index < len(sent) {
				failed[fl.Index] = remoteErr(ctx, name, fl.Panic, fl.Text, fl.Stack, fl.CtxErr)
			}
		}
		for k, i := range sent {
			if err, ok := failed[k]; ok {
				fs[i].finish(zero, err)
			} else {
				fs[i].finish(rs[k], nil)
			}
		}
		return len(failed), nil
	}
	if t.local {
		p.reject(c, errLocal(name))
		return fs
	}
	p.enqueue(c)
	return fs
}
