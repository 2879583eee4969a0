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
	submit := func(ctx context.Context, in []In, tick func()) []*Future[Out] {
		x := in[0]
		f := &Future[Out]{fn: func(ctx context.Context) (Out, error) { return fn(ctx, x) }, tick: tick}
		f.labelCtx = closureLabels(fn)
		p.submit(ctx, f)
		return []*Future[Out]{f}
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

// mapWith is the Map loop shared by Map and the generated MapX wrappers:
// submit starts the tasks of a chunk of inputs (one input unless the
// executor takes chunks), whose futures call tick, if not nil, as each
// finishes.
func mapWith[In, Out any](ctx context.Context, ex Executor, submit func(ctx context.Context, in []In, tick func()) []*Future[Out], inputs iter.Seq[In], cfg mapConfig) iter.Seq2[Out, error] {
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
		submit = func(ctx context.Context, in []In, _ func()) []*Future[Out] { return inner(ctx, in, tick) }
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

func mapOrdered[In, Out any](ctx context.Context, submit func(ctx context.Context, in []In, tick func()) []*Future[Out], inputs iter.Seq[In], cfg mapConfig) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		var window ring[*Future[Out]]
		defer func() {
			for window.len() > 0 {
				window.pop().Cancel()
			}
		}()
		// next waits for the oldest future and yields it; false ends the map.
		next := func() bool { return yieldResult(ctx, window.pop(), yield) }
		// chunk holds inputs read but not yet submitted.
		chunk := make([]In, 0, cfg.chunkSize)
		flush := func() {
			if len(chunk) > 0 {
				for _, f := range submit(ctx, chunk, nil) {
					window.push(f)
				}
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
			for window.len()+len(chunk) >= cfg.buffer {
				if window.len() == 0 {
					flush()
				}
				if !next() {
					return
				}
			}
		}
		flush()
		for window.len() > 0 {
			if !next() {
				return
			}
		}
	}
}

func mapUnordered[In, Out any](ctx context.Context, submit func(ctx context.Context, in []In, tick func()) []*Future[Out], inputs iter.Seq[In], cfg mapConfig) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		ready := make(chan *Future[Out], cfg.buffer)
		inflight := make(map[*Future[Out]]*hook, cfg.buffer)
		defer func() {
			for f, h := range inflight {
				f.c.removeHook(h)
				f.Cancel()
			}
		}()
		pool := poolOf(ctx)
		// await waits for any future to complete, or for ctx to end.
		await := func() (*Future[Out], error) {
			select {
			case f := <-ready:
				return f, nil
			default:
			}
			if pool != nil {
				defer pool.blockBegin()()
			}
			select {
			case f := <-ready:
				return f, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		// next waits for any future and yields it; false ends the map.
		next := func() bool {
			f, err := await()
			if err != nil {
				var zero Out
				yield(zero, err)
				return false
			}
			delete(inflight, f)
			return yieldResult(ctx, f, yield)
		}
		chunk := make([]In, 0, cfg.chunkSize)
		flush := func() {
			if len(chunk) > 0 {
				for _, f := range submit(ctx, chunk, nil) {
					inflight[f] = nil
					inflight[f] = f.c.addHook(func() { ready <- f })
				}
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
			for len(inflight)+len(chunk) >= cfg.buffer {
				if len(inflight) == 0 {
					flush()
				}
				if !next() {
					return
				}
			}
		}
		flush()
		for len(inflight) > 0 {
			if !next() {
				return
			}
		}
	}
}
