package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// benchLocal starts a cluster of two worker processes of one slot for a
// benchmark, as bench/'s cluster rows use, and closes it after.
func benchLocal(b *testing.B, opts ...LocalOption) *Executor {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := StartLocal(ctx, append([]LocalOption{Workers(2)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	ex := l.Executor()
	for i := range 16 { // warm: workers' children started
		futuresimpl.SubmitTask(ctx, ex, taskDouble, i).Result(ctx)
	}
	return ex
}

// BenchmarkSubmitAll is the cost of a trivial task submitted with many
// others, then awaited (bench/'s cluster-trivial).
func BenchmarkSubmitAll(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []LocalOption
	}{{"children", nil}, {"inprocess", []LocalOption{InProcess()}}} {
		b.Run(mode.name, func(b *testing.B) {
			ex := benchLocal(b, mode.opts...)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			fs := make([]*runtime.Future[int], b.N)
			for i := range b.N {
				fs[i] = futuresimpl.SubmitTask(ctx, ex, taskDouble, i)
			}
			for i, f := range fs {
				if v, err := f.Result(ctx); v != 2*i || err != nil {
					b.Fatalf("task %d: %v, %v", i, v, err)
				}
			}
		})
	}
}

// BenchmarkOneAtATime is the round trip of one task, submitted once the
// last one's result came (bench/'s cluster-one-at-a-time).
func BenchmarkOneAtATime(b *testing.B) {
	ex := benchLocal(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, i).Result(ctx); v != 2*i || err != nil {
			b.Fatalf("task %d: %v, %v", i, v, err)
		}
	}
}
