package runtime

import (
	"context"
	"iter"

	"github.com/futuresgen/futuresgen/internal/future"
	"github.com/futuresgen/futuresgen/internal/labels"
	"github.com/futuresgen/futuresgen/internal/maploop"
	"github.com/futuresgen/futuresgen/internal/options"
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
	pool := p.pool("Map")
	labelCtx := labels.Func(fn) // once per map, not per input
	submit := func(ctx context.Context, in []In, tick func(), add func(*future.Future[Out])) {
		x := in[0]
		f := future.NewTask(func(ctx context.Context) (Out, error) { return fn(ctx, x) }, &labelCtx, tick)
		pool.Submit(ctx, f)
		add(f)
	}
	cfg := options.Apply(opts)
	cfg.ChunkSize = 1 // in-process: accepted and ignored
	return maploop.Run(ctx, pool.DefaultBuffer(), submit, inputs, cfg, result[Out])
}
