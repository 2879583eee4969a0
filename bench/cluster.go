package main

import (
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/cluster"
	"github.com/futuresgen/futuresgen/runtime"
)

// The cluster-* rows measure the cluster executor: an embedded NATS
// server on 127.0.0.1 and worker processes of this binary, one slot each.
// The peer is Dask distributed's LocalCluster with as many worker
// processes of one thread each (dask_bench.py prints the same workload
// names).
//
// The systems:
//   - futuresgen-cluster: StartLocal's default, secure (every connection
//     authenticated, permissions per role; no TLS on loopback), each
//     worker running its tasks in a child process of its own (one more
//     pipe hop per task than Dask, whose workers run tasks on their own
//     threads).
//   - futuresgen-cluster-tls: the same with TLS on loopback too, as
//     every connection beyond loopback is (clusteropen.go).
//   - futuresgen-cluster-open: security off, the floor of the default: a
//     NATS server with neither authentication nor TLS, and workers that
//     Serve on it (clusteropen.go).
//   - futuresgen-cluster-inprocess: InProcess, tasks on the worker's own
//     goroutines, as Dask's workers run them: the floor of the default.
const clusterWorkers = 2

// clusterSystem is a variant measured: how to start a cluster of n
// workers, each of one slot, whose driver is warm and whose workers all
// joined.
type clusterSystem struct {
	name  string
	start func(workers int) *startedCluster
	floor bool
}

// startedCluster is a running cluster of any system: its driver, and
// how to stop it all.
type startedCluster struct {
	ex    runtime.Executor
	close func()
}

// clusterSystems are the variants measured, by system name.
var clusterSystems = []clusterSystem{
	{"futuresgen-cluster", localSystem(), false},
	{"futuresgen-cluster-tls", func(n int) *startedCluster { return localSystem(cluster.TLS(benchTLS()))(n) }, false},
	{"futuresgen-cluster-open", startOpenCluster, true},
	{"futuresgen-cluster-inprocess", localSystem(cluster.InProcess()), true},
}

// localSystem starts clusters with StartLocal and opts.
func localSystem(opts ...cluster.LocalOption) func(int) *startedCluster {
	return func(workers int) *startedCluster {
		l := startCluster(workers, opts...)
		return &startedCluster{ex: l.Executor(), close: func() { l.Close() }}
	}
}

// startCluster starts a local cluster of workers, with opts, bounded by a
// minute.
func startCluster(workers int, opts ...cluster.LocalOption) *cluster.Local {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := cluster.StartLocal(ctx, append([]cluster.LocalOption{cluster.Workers(workers)}, opts...)...)
	if err != nil {
		panic(err)
	}
	return l
}

// withCluster runs f on the executor of a warmed-up cluster of sys with
// clusterWorkers workers.
func withCluster(sys clusterSystem, f func(ex runtime.Executor)) {
	ctx := context.Background()
	c := sys.start(clusterWorkers)
	defer c.close()
	ex := c.ex
	var fs []*runtime.Future[int]
	for i := range 16 * clusterWorkers {
		fs = append(fs, SubmitDouble(ctx, ex, i))
	}
	for _, f := range fs {
		must(f.Err(ctx))
	}
	f(ex)
}

// must panics on a task's error: a benchmark of failures measures
// nothing.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// clusterPerTask measures the per-task rows, each system on one cluster.
func clusterPerTask(nTrivial, nSerial, nSHA int) {
	ctx := context.Background()
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if selected("cluster-one-at-a-time") {
		ns, allocs := measure(nSerial, natsRoundTrips)
		record(result{system: "raw-nats", workload: "cluster-one-at-a-time", ns: ns, allocs: allocs, floor: true,
			extra: fmt.Sprintf("tasks=%d", nSerial)})
	}
	for _, sys := range clusterSystems {
		if !selected("cluster-trivial") && !selected("cluster-one-at-a-time") && !selected("cluster-sha256-64KiB") {
			return
		}
		withCluster(sys, func(ex runtime.Executor) {
			if selected("cluster-trivial") {
				ns, allocs := measure(nTrivial, func(n int) {
					fs := make([]*runtime.Future[int], n)
					for i := range fs {
						fs[i] = SubmitDouble(ctx, ex, i)
					}
					for _, f := range fs {
						must(f.Err(ctx))
					}
				})
				record(result{system: sys.name, workload: "cluster-trivial", ns: ns, allocs: allocs, floor: sys.floor,
					extra: fmt.Sprintf("tasks=%d workers=%d", nTrivial, clusterWorkers)})
			}
			if selected("cluster-one-at-a-time") {
				ns, allocs := measure(nSerial, func(n int) {
					for i := range n {
						must(SubmitDouble(ctx, ex, i).Err(ctx))
					}
				})
				record(result{system: sys.name, workload: "cluster-one-at-a-time", ns: ns, allocs: allocs, floor: sys.floor,
					extra: fmt.Sprintf("tasks=%d workers=%d", nSerial, clusterWorkers)})
			}
			if selected("cluster-sha256-64KiB") {
				ns, allocs := measure(nSHA, func(n int) {
					fs := make([]*runtime.Future[[32]byte], n)
					for i := range fs {
						fs[i] = SubmitHash(ctx, ex, data)
					}
					for _, f := range fs {
						must(f.Err(ctx))
					}
				})
				record(result{system: sys.name, workload: "cluster-sha256-64KiB", ns: ns, allocs: allocs, floor: sys.floor,
					extra: fmt.Sprintf("tasks=%d workers=%d", nSHA, clusterWorkers)})
			}
		})
	}
}

// clusterStart measures StartLocal with clusterWorkers workers to its
// first result, n times per run (Close is not counted), as Dask's
// LocalCluster and Client to the first result.
func clusterStart(n int) {
	ctx := context.Background()
	for _, sys := range clusterSystems {
		best, bestAllocs := -1.0, 0.0
		for range *repeats {
			var el time.Duration
			var mallocs uint64
			for range n {
				goruntime.GC()
				var m0, m1 goruntime.MemStats
				goruntime.ReadMemStats(&m0)
				start := time.Now()
				c := sys.start(clusterWorkers)
				must(SubmitDouble(ctx, c.ex, 1).Err(ctx))
				el += time.Since(start)
				goruntime.ReadMemStats(&m1)
				mallocs += m1.Mallocs - m0.Mallocs
				c.close()
			}
			if per := float64(el.Nanoseconds()) / float64(n); best < 0 || per < best {
				best, bestAllocs = per, float64(mallocs)/float64(n)
			}
		}
		record(result{system: sys.name, workload: "cluster-start", ns: best, allocs: bestAllocs, floor: sys.floor,
			extra: fmt.Sprintf("workers=%d runs=%d", clusterWorkers, n)})
	}
}

// clusterSlow runs 4 tasks of 500 ms at once on a warm cluster of 4
// workers and records the wall time of the 4 (ideal: 500 ms).
func clusterSlow() {
	ctx := context.Background()
	for _, sys := range clusterSystems {
		c := sys.start(4)
		ex := c.ex
		var warm []*runtime.Future[struct{}]
		for range 8 {
			warm = append(warm, SubmitSleep(ctx, ex, 10*time.Millisecond))
		}
		for _, f := range warm {
			must(f.Err(ctx))
		}
		// When each task ended, in ms after the submits, of the fastest run:
		// 4 at about 500 ms is side by side; one late says which hop lags.
		var done, bestDone []int64
		best := time.Duration(-1)
		ns, allocs := measure(1, func(int) {
			var fs []*runtime.Future[struct{}]
			var mu sync.Mutex
			done = done[:0]
			start := time.Now()
			for range 4 {
				f := SubmitSleep(ctx, ex, 500*time.Millisecond)
				f.OnDone(func(*runtime.Future[struct{}]) {
					mu.Lock()
					done = append(done, time.Since(start).Milliseconds())
					mu.Unlock()
				})
				fs = append(fs, f)
			}
			for _, f := range fs {
				must(f.Err(ctx))
			}
			mu.Lock()
			if el := time.Since(start); best < 0 || el < best {
				best, bestDone = el, slices.Clone(done)
			}
			mu.Unlock()
		})
		slices.Sort(bestDone)
		doneMS := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(bestDone)), ","), "[]")
		c.close()
		record(result{system: sys.name, workload: "cluster-4x500ms", ns: ns, allocs: allocs, floor: sys.floor,
			extra: "workers=4 ns=wall-time-of-all-4 done_ms=" + doneMS})
	}
}
