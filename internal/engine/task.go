package engine

import (
	"context"
	"iter"

	"github.com/futuresgen/futuresgen/internal/future"
	"github.com/futuresgen/futuresgen/internal/maploop"
	"github.com/futuresgen/futuresgen/internal/options"
	"github.com/futuresgen/futuresgen/internal/remote"
	"github.com/futuresgen/futuresgen/internal/task"
	"github.com/futuresgen/futuresgen/internal/threadpool"
)

// Submit submits one call of t with arg to e and returns its future. On
// a thread pool the task's function is called directly, without encoding
// anything; on a remote executor the argument is encoded and sent to a
// worker.
func Submit[A, R any](ctx context.Context, e *Engine, t *task.Task[A, R], arg A) *future.Future[R] {
	if e.Local != nil {
		return submitLocal(ctx, e.Local, t, arg, nil)
	}
	return remote.Submit(ctx, e.Remote, t, arg, nil)
}

func submitLocal[A, R any](ctx context.Context, p *threadpool.Pool, t *task.Task[A, R], arg A, tick func()) *future.Future[R] {
	fn := t.Func()
	f := future.NewTask(func(ctx context.Context) (R, error) { return fn(ctx, arg) }, t.Labels(), tick)
	p.Submit(ctx, f)
	return f
}

// Map maps t over inputs on e, as maploop.Run does for closures; result
// gives each future's outcome as users see it. On a remote executor,
// cfg.ChunkSize inputs travel in one message; in-process, it is ignored.
func Map[A, R any](ctx context.Context, e *Engine, t *task.Task[A, R], inputs iter.Seq[A], cfg options.Map, result maploop.Result[R]) iter.Seq2[R, error] {
	if p := e.Local; p != nil {
		submit := func(ctx context.Context, in []A, tick func(), add func(*future.Future[R])) {
			add(submitLocal(ctx, p, t, in[0], tick))
		}
		cfg.ChunkSize = 1 // in-process: accepted and ignored
		return maploop.Run(ctx, e.DefaultBuffer(), submit, inputs, cfg, result)
	}
	r := e.Remote
	chunk := max(cfg.ChunkSize, 1)
	submit := func(ctx context.Context, in []A, tick func(), add func(*future.Future[R])) {
		if chunk == 1 && len(in) == 1 {
			add(remote.Submit(ctx, r, t, in[0], tick))
			return
		}
		for _, f := range remote.SubmitBatch(ctx, r, t, in, tick) {
			add(f)
		}
	}
	return maploop.Run(ctx, e.DefaultBuffer(), submit, inputs, cfg, result)
}
