// Package maploop is the lazy Map loop that runtime.Map (closures on a
// ThreadPool) and the generated MapX wrappers (runtime/futuresimpl, on
// any executor) share: it reads inputs into chunks, submits them, and
// yields (result, error) per input, in input order or in completion
// order, keeping at most a buffer of inputs read but not yielded.
package maploop

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/future"
	"github.com/futuresgen/futuresgen/internal/options"
	"github.com/futuresgen/futuresgen/internal/ring"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// Submit starts the tasks of a chunk of inputs, whose futures call tick,
// if not nil, as each finishes, and hands each future to add.
type Submit[In, Out any] func(ctx context.Context, in []In, tick func(), add func(*future.Future[Out]))

// Result waits for a future and returns its outcome as users see it (a
// runtime.Future's Result).
type Result[Out any] func(ctx context.Context, f *future.Future[Out]) (Out, error)

// Run is the Map loop: submit starts the tasks of a chunk of inputs (one
// input unless cfg.ChunkSize says more), buffer is the executor's default
// read-ahead (before ChunkSize), and result gives each future's outcome.
// See runtime.Map for what the caller sees.
func Run[In, Out any](ctx context.Context, buffer int, submit Submit[In, Out], inputs iter.Seq[In], cfg options.Map, result Result[Out]) iter.Seq2[Out, error] {
	cfg.ChunkSize = max(cfg.ChunkSize, 1)
	if cfg.Buffer == 0 {
		cfg.Buffer = buffer * cfg.ChunkSize
	}
	// A chunk never holds more inputs than may be read ahead.
	cfg.ChunkSize = min(cfg.ChunkSize, cfg.Buffer)
	if fn := cfg.Progress; fn != nil {
		var mu sync.Mutex
		done := 0
		tick := func() {
			mu.Lock()
			defer mu.Unlock()
			done++
			fn(done)
		}
		inner := submit
		submit = func(ctx context.Context, in []In, _ func(), add func(*future.Future[Out])) { inner(ctx, in, tick, add) }
	}
	if cfg.Unordered {
		return func(yield func(Out, error) bool) {
			w := &asDone[Out]{
				ctx:      ctx,
				yield:    yield,
				result:   result,
				ready:    make(chan *future.Future[Out], cfg.Buffer),
				inflight: make(map[*future.Future[Out]]*future.Hook, cfg.Buffer),
				pool:     threadpool.Of(ctx),
			}
			run(ctx, submit, inputs, cfg, w, yield)
		}
	}
	return func(yield func(Out, error) bool) {
		run(ctx, submit, inputs, cfg, &inOrder[Out]{ctx: ctx, yield: yield, result: result}, yield)
	}
}

// endsMap returns the error that ends the whole map, given the error of
// one of its futures, or nil when err concerns that item alone: the map's
// context ended (a worker process may see the deadline pass a moment
// before this one does), or its executor was shut down or broke.
func endsMap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, context.DeadlineExceeded) && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	if errors.Is(err, errs.Shutdown) || errors.Is(err, errs.Cancelled) || errors.Is(err, errs.BrokenPool) {
		return err
	}
	return nil
}

// yieldResult waits for f and yields its outcome; false ends the map,
// after one (zero, err) when f's error ends the whole map.
func yieldResult[Out any](ctx context.Context, result Result[Out], f *future.Future[Out], yield func(Out, error) bool) bool {
	v, err := result(ctx, f)
	if end := endsMap(ctx, err); end != nil {
		var zero Out
		yield(zero, end)
		return false
	}
	return yield(v, err)
}

// waiting is what a running map waits on: its futures in input order, or
// in completion order.
type waiting[Out any] interface {
	add(f *future.Future[Out])
	len() int
	// next waits for a future and yields it; false ends the map.
	next() bool
	// cancelAll cancels what has not started, when the map ends.
	cancelAll()
}

// run reads inputs into chunks, submits them, and yields results as w
// orders them, keeping at most cfg.Buffer inputs read but not yielded.
func run[In, Out any](ctx context.Context, submit Submit[In, Out], inputs iter.Seq[In], cfg options.Map, w waiting[Out], yield func(Out, error) bool) {
	defer w.cancelAll()
	// chunk holds inputs read but not yet submitted.
	chunk := make([]In, 0, cfg.ChunkSize)
	add := w.add // one method value for the whole map
	flush := func() {
		if len(chunk) > 0 {
			submit(ctx, chunk, nil, add)
			chunk = chunk[:0]
		}
	}
	for in := range inputs {
		if err := ctx.Err(); err != nil {
			var zero Out
			yield(zero, err)
			return
		}
		chunk = append(chunk, in)
		if len(chunk) == cfg.ChunkSize {
			flush()
		}
		for w.len()+len(chunk) >= cfg.Buffer {
			if w.len() == 0 {
				flush()
			}
			if !w.next() {
				return
			}
		}
	}
	flush()
	for w.len() > 0 {
		if !w.next() {
			return
		}
	}
}

// inOrder yields futures in the order they were added.
type inOrder[Out any] struct {
	ctx    context.Context
	yield  func(Out, error) bool
	result Result[Out]
	window ring.Ring[*future.Future[Out]]
}

func (o *inOrder[Out]) add(f *future.Future[Out]) { o.window.Push(f) }
func (o *inOrder[Out]) len() int                  { return o.window.Len() }
func (o *inOrder[Out]) next() bool {
	return yieldResult(o.ctx, o.result, o.window.Pop(), o.yield)
}
func (o *inOrder[Out]) cancelAll() {
	for o.window.Len() > 0 {
		o.window.Pop().Cancel()
	}
}

// asDone yields futures as they complete. Each future's hook sends it on
// ready, which has room for every future in flight.
type asDone[Out any] struct {
	ctx      context.Context
	yield    func(Out, error) bool
	result   Result[Out]
	ready    chan *future.Future[Out]
	inflight map[*future.Future[Out]]*future.Hook
	pool     *threadpool.Pool // the pool whose worker runs this map, if any
}

func (d *asDone[Out]) add(f *future.Future[Out]) {
	d.inflight[f] = nil
	d.inflight[f] = f.AddHook(func() { d.ready <- f })
}

func (d *asDone[Out]) len() int { return len(d.inflight) }

func (d *asDone[Out]) next() bool {
	f, err := d.await()
	if err != nil {
		var zero Out
		d.yield(zero, err)
		return false
	}
	delete(d.inflight, f)
	return yieldResult(d.ctx, d.result, f, d.yield)
}

// await waits for any future to complete, or for the map's context to end.
func (d *asDone[Out]) await() (*future.Future[Out], error) {
	select {
	case f := <-d.ready:
		return f, nil
	default:
	}
	if d.pool != nil {
		defer d.pool.BlockBegin()()
	}
	select {
	case f := <-d.ready:
		return f, nil
	case <-d.ctx.Done():
		return nil, d.ctx.Err()
	}
}

func (d *asDone[Out]) cancelAll() {
	for f, h := range d.inflight {
		f.RemoveHook(h)
		f.Cancel()
	}
}
