package runtime

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"
)

// Map runs fn on p for each input and yields (result, error) per input, in
// input order: Python's Executor.map, lazy and with errors per item. It
// reads at most Buffer inputs ahead of the caller (default twice
// MaxWorkers), so an endless sequence works. With Unordered, results come
// in completion order instead.
//
// ctx bounds the whole map, as Python's timeout does: once it ends, Map
// yields one (zero, ctx.Err()) and stops. If p is shut down, Map yields one
// (zero, ErrShutdown) — or ErrCancelled under CancelPending — and stops.
// Leaving the loop early cancels the inputs that have not started; tasks
// already running finish and their results are dropped (cancel ctx to end
// their context too).
//
// Map is for closures in this process; generated MapX wrappers map named
// tasks on any executor.
func Map[In, Out any](ctx context.Context, p *ThreadPool, fn func(context.Context, In) (Out, error), inputs iter.Seq[In], opts ...MapOption) iter.Seq2[Out, error] {
	if fn == nil {
		panic("futuresgen: Map: nil function")
	}
	if inputs == nil {
		panic("futuresgen: Map: nil input sequence")
	}
	p.check("Map")
	labelCtx := closureLabels(fn) // once per map, not per input
	labels := &labelCtx
	submit := func(ctx context.Context, in []In, tick func(), add func(*Future[Out])) {
		x := in[0]
		f := &Future[Out]{fn: func(ctx context.Context) (Out, error) { return fn(ctx, x) }, tick: tick, labelCtx: labels}
		p.submit(ctx, f)
		add(f)
	}
	cfg := mapConfigOf(opts)
	cfg.chunkSize = 1 // in-process: accepted and ignored
	return mapWith(ctx, p, submit, inputs, cfg)
}

func mapConfigOf(opts []MapOption) mapConfig {
	var cfg mapConfig
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// bufferer is an executor as Map sees it: what it reads ahead by default.
type bufferer interface{ defaultBuffer() int }

// submitFunc starts the tasks of a chunk of inputs, whose futures call
// tick, if not nil, as each finishes, and hands each future to add.
type submitFunc[In, Out any] func(ctx context.Context, in []In, tick func(), add func(*Future[Out]))

// mapWith is the Map loop shared by Map and the generated MapX wrappers:
// submit starts the tasks of a chunk of inputs (one input unless the
// executor takes chunks), whose futures call tick, if not nil, as each
// finishes.
func mapWith[In, Out any](ctx context.Context, ex bufferer, submit submitFunc[In, Out], inputs iter.Seq[In], cfg mapConfig) iter.Seq2[Out, error] {
	cfg.chunkSize = max(cfg.chunkSize, 1)
	if cfg.buffer == 0 {
		cfg.buffer = ex.defaultBuffer() * cfg.chunkSize
	}
	// A chunk never holds more inputs than may be read ahead.
	cfg.chunkSize = min(cfg.chunkSize, cfg.buffer)
	if fn := cfg.progress; fn != nil {
		var mu sync.Mutex
		done := 0
		tick := func() {
			mu.Lock()
			defer mu.Unlock()
			done++
			fn(done)
		}
		inner := submit
		submit = func(ctx context.Context, in []In, _ func(), add func(*Future[Out])) { inner(ctx, in, tick, add) }
	}
	if cfg.unordered {
		return mapUnordered(ctx, submit, inputs, cfg)
	}
	return mapOrdered(ctx, submit, inputs, cfg)
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
	if errors.Is(err, ErrShutdown) || errors.Is(err, ErrCancelled) || errors.Is(err, ErrBrokenPool) {
		return err
	}
	return nil
}

// yieldResult waits for f and yields its outcome; false ends the map,
// after one (zero, err) when f's error ends the whole map.
func yieldResult[Out any](ctx context.Context, f *Future[Out], yield func(Out, error) bool) bool {
	v, err := f.Result(ctx)
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
	add(f *Future[Out])
	len() int
	// next waits for a future and yields it; false ends the map.
	next() bool
	// cancelAll cancels what has not started, when the map ends.
	cancelAll()
}

// runMap reads inputs into chunks, submits them, and yields results as w
// orders them, keeping at most cfg.buffer inputs read but not yielded.
func runMap[In, Out any](ctx context.Context, submit submitFunc[In, Out], inputs iter.Seq[In], cfg mapConfig, w waiting[Out], yield func(Out, error) bool) {
	defer w.cancelAll()
	// chunk holds inputs read but not yet submitted.
	chunk := make([]In, 0, cfg.chunkSize)
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
		if len(chunk) == cfg.chunkSize {
			flush()
		}
		for w.len()+len(chunk) >= cfg.buffer {
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

func mapOrdered[In, Out any](ctx context.Context, submit submitFunc[In, Out], inputs iter.Seq[In], cfg mapConfig) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		runMap(ctx, submit, inputs, cfg, &inOrder[Out]{ctx: ctx, yield: yield}, yield)
	}
}

// inOrder yields futures in the order they were added.
type inOrder[Out any] struct {
	ctx    context.Context
	yield  func(Out, error) bool
	window ring[*Future[Out]]
}

func (o *inOrder[Out]) add(f *Future[Out]) { o.window.push(f) }
func (o *inOrder[Out]) len() int           { return o.window.len() }
func (o *inOrder[Out]) next() bool         { return yieldResult(o.ctx, o.window.pop(), o.yield) }
func (o *inOrder[Out]) cancelAll() {
	for o.window.len() > 0 {
		o.window.pop().Cancel()
	}
}

func mapUnordered[In, Out any](ctx context.Context, submit submitFunc[In, Out], inputs iter.Seq[In], cfg mapConfig) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		w := &asDone[Out]{
			ctx:      ctx,
			yield:    yield,
			ready:    make(chan *Future[Out], cfg.buffer),
			inflight: make(map[*Future[Out]]*hook, cfg.buffer),
			pool:     poolOf(ctx),
		}
		runMap(ctx, submit, inputs, cfg, w, yield)
	}
}

// asDone yields futures as they complete. Each future's hook sends it on
// ready, which has room for every future in flight.
type asDone[Out any] struct {
	ctx      context.Context
	yield    func(Out, error) bool
	ready    chan *Future[Out]
	inflight map[*Future[Out]]*hook
	pool     *ThreadPool // the pool whose worker runs this map, if any
}

func (d *asDone[Out]) add(f *Future[Out]) {
	d.inflight[f] = nil
	d.inflight[f] = f.c.addHook(func() { d.ready <- f })
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
	return yieldResult(d.ctx, f, d.yield)
}

// await waits for any future to complete, or for the map's context to end.
func (d *asDone[Out]) await() (*Future[Out], error) {
	select {
	case f := <-d.ready:
		return f, nil
	default:
	}
	if d.pool != nil {
		defer d.pool.blockBegin()()
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
		f.c.removeHook(h)
		f.Cancel()
	}
}
