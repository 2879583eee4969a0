// Command bench compares futuresgen with the pools a Go or Python user
// would pick instead, side by side in one run: only same-run ratios mean
// anything on a shared machine.
//
//	cd bench && go run .          # the full run, a few minutes
//	cd bench && go run . -quick   # smaller counts, under a minute
//	cd bench && go run . -only cluster -repeat 3   # the cluster rows, with Dask
//
// It prints one line per measurement,
//
//	system workload ns_per_task allocs_per_task [key=value …]
//
// then a Markdown table with each system's ratio to the best peer of the
// workload. Go pools run with 4 goroutines, process pools with 2 workers.
// The codec-* rows compare encodings for the ProcessPool's wire (see
// codecs.go).
// Python's concurrent.futures runs when python3 is on the PATH. The
// cluster-* rows (cluster.go) compare the cluster executor on StartLocal
// (2 workers of one slot; 4 for cluster-4x500ms) with Dask distributed's
// LocalCluster of as many one-thread workers (dask.go, dask_bench.py),
// which runs when /usr/bin/python3 can import distributed (apt-get install
// -y python3-distributed) unless -skip-python or -skip-dask.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/futuresgen/futuresgen/runtime"
)

const (
	goWorkers   = 4
	procWorkers = 2
)

var (
	quick      = flag.Bool("quick", false, "run smaller counts (under a minute)")
	skipPython = flag.Bool("skip-python", false, "do not run Python: neither concurrent.futures nor Dask")
	skipDask   = flag.Bool("skip-dask", false, "do not run Dask distributed")
	repeats    = flag.Int("repeat", 3, "runs of each measurement; the fastest counts")
	only       = flag.String("only", "", "run only the workloads whose names start with one of these comma-separated prefixes")
)

// result is one measurement.
type result struct {
	system, workload string
	ns, allocs       float64
	extra            string
	floor            bool // a floor or a component, not a peer
}

var results []result

func main() {
	runtime.ServeWorker()                  // the ProcessPool's and the cluster's workers are this binary
	slog.SetLogLoggerLevel(slog.LevelWarn) // workers joining are news in a program, not in a benchmark
	flag.Parse()
	if os.Getenv("FUTURESGEN_BENCH_ECHO") != "" {
		echo()
		return
	}
	if url := os.Getenv(natsEchoEnv); url != "" {
		natsEcho(url)
		return
	}
	if url := os.Getenv(benchServeEnv); url != "" {
		serveOpen(url)
		return
	}
	scale := 1
	if *quick {
		scale = 10
	}
	n := func(full int) int { return max(full/scale, 1) }

	run("trivial", func() { trivial(n(1_000_000)) })
	run("cpu-2us", func() { cpu(n(100_000)) })
	run("futures-shape", func() { futuresShape(n(1_000_000)) })
	run("process-one-at-a-time", func() { processOneAtATime(n(5_000)) })
	run("process-trivial", func() { processTrivial(n(20_000)) })
	run("process-map-chunk256", func() { processMap(n(1_000_000)) })
	run("process-sha256-64KiB", func() { processSHA(n(2_000)) })
	run("process-start", func() { processStart(n(20)) })
	run("process-4x500ms", processSlow)
	run("codec", func() { compareCodecs(n(200_000)) })
	clusterPerTask(n(20_000), n(5_000), n(2_000))
	run("cluster-start", func() { clusterStart(n(10)) })
	run("cluster-4x500ms", clusterSlow)
	python(n)
	daskRows()
	table(os.Stdout)
}

// selected reports whether -only lets workload run.
func selected(workload string) bool {
	if *only == "" {
		return true
	}
	for _, p := range strings.Split(*only, ",") {
		if strings.HasPrefix(workload, p) {
			return true
		}
	}
	return false
}

// run runs f if -only selects workload.
func run(workload string, f func()) {
	if selected(workload) {
		f()
	}
}

// record prints and keeps a measurement.
func record(r result) {
	results = append(results, r)
	line := fmt.Sprintf("%s %s %.0f %.2f", r.system, r.workload, r.ns, r.allocs)
	if r.extra != "" {
		line += " " + r.extra
	}
	fmt.Println(line)
}

// measure runs f(n) *repeats times and returns the fastest run's
// nanoseconds and allocations per task.
func measure(n int, f func(n int)) (ns, allocs float64) {
	ns = -1
	for range *repeats {
		goruntime.GC()
		var m0, m1 goruntime.MemStats
		goruntime.ReadMemStats(&m0)
		start := time.Now()
		f(n)
		el := time.Since(start)
		goruntime.ReadMemStats(&m1)
		per := float64(el.Nanoseconds()) / float64(n)
		if ns < 0 || per < ns {
			ns = per
			allocs = float64(m1.Mallocs-m0.Mallocs) / float64(n)
		}
	}
	return ns, allocs
}

func double(x int) int { return 2 * x }

// Go pools, each running n trivial tasks: submit all, collect all.
func goPools(work func(int) int) map[string]func(n int) {
	ctx := context.Background()
	return map[string]func(n int){
		"futuresgen-threadpool": func(n int) {
			p := runtime.NewThreadPool(runtime.MaxWorkers(goWorkers))
			fs := make([]*runtime.Future[int], n)
			for i := range fs {
				fs[i] = runtime.Submit(ctx, p, func(context.Context) (int, error) { return work(i), nil })
			}
			for _, f := range fs {
				f.Result(ctx)
			}
			p.Close()
		},
		"handwritten": func(n int) {
			type job struct {
				x   int
				out chan int
			}
			jobs := make(chan job, 1024)
			var wg sync.WaitGroup
			for range goWorkers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range jobs {
						j.out <- work(j.x)
					}
				}()
			}
			outs := make([]chan int, n)
			for i := range outs {
				outs[i] = make(chan int, 1)
				jobs <- job{i, outs[i]}
			}
			for _, o := range outs {
				<-o
			}
			close(jobs)
			wg.Wait()
		},
		"pond": func(n int) {
			p := pond.NewResultPool[int](goWorkers)
			ts := make([]pond.ResultTask[int], n)
			for i := range ts {
				ts[i] = p.Submit(func() int { return work(i) })
			}
			for _, t := range ts {
				t.Wait()
			}
			p.StopAndWait()
		},
		"conc": func(n int) {
			p := pool.NewWithResults[int]().WithMaxGoroutines(goWorkers)
			for i := range n {
				p.Go(func() int { return work(i) })
			}
			p.Wait()
		},
		"errgroup": func(n int) {
			var g errgroup.Group
			g.SetLimit(goWorkers)
			out := make([]int, n)
			for i := range n {
				g.Go(func() error { out[i] = work(i); return nil })
			}
			g.Wait()
		},
		"ants": func(n int) {
			p, _ := ants.NewPool(goWorkers)
			out := make([]int, n)
			var wg sync.WaitGroup
			wg.Add(n)
			for i := range n {
				p.Submit(func() { out[i] = work(i); wg.Done() })
			}
			wg.Wait()
			p.Release()
		},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func trivial(n int) {
	pools := goPools(double)
	for _, name := range sortedKeys(pools) {
		ns, allocs := measure(n, pools[name])
		record(result{system: name, workload: "trivial", ns: ns, allocs: allocs, floor: name == "handwritten", extra: fmt.Sprintf("tasks=%d", n)})
	}
}

// spin burns about d of CPU time.
func spin(d time.Duration) int {
	start := time.Now()
	k := 0
	for time.Since(start) < d {
		k++
	}
	return k
}

func cpu(n int) {
	work := func(int) int { return spin(2 * time.Microsecond) }
	serial, _ := measure(n, func(n int) {
		for i := range n {
			work(i)
		}
	})
	cores := float64(goruntime.GOMAXPROCS(0))
	pools := goPools(work)
	for _, name := range sortedKeys(pools) {
		ns, allocs := measure(n, pools[name])
		record(result{system: name, workload: "cpu-2us", ns: ns, allocs: allocs, floor: name == "handwritten",
			extra: fmt.Sprintf("efficiency=%.2f tasks=%d", serial/(ns*cores), n)})
	}
}

func futuresShape(n int) {
	pools := goPools(double)
	for _, name := range []string{"futuresgen-threadpool", "handwritten", "pond"} {
		ns, allocs := measure(n, pools[name])
		record(result{system: name, workload: "futures-shape", ns: ns, allocs: allocs, floor: name == "handwritten", extra: fmt.Sprintf("tasks=%d", n)})
	}
}

// withProcessPool runs f on a warmed-up pool of procWorkers.
func withProcessPool(f func(p *runtime.ProcessPool)) {
	ctx := context.Background()
	p := runtime.NewProcessPool(runtime.MaxWorkers(procWorkers))
	defer p.Close()
	var fs []*runtime.Future[int]
	for i := range 4 * procWorkers {
		fs = append(fs, SubmitDouble(ctx, p, i))
	}
	for _, f := range fs {
		f.Result(ctx)
	}
	f(p)
}

func processOneAtATime(n int) {
	ctx := context.Background()
	withProcessPool(func(p *runtime.ProcessPool) {
		ns, allocs := measure(n, func(n int) {
			for i := range n {
				SubmitDouble(ctx, p, i).Result(ctx)
			}
		})
		record(result{system: "futuresgen-processpool", workload: "process-one-at-a-time", ns: ns, allocs: allocs})
	})
	ns, allocs := measure(n, pipeRoundTrips)
	record(result{system: "raw-pipe", workload: "process-one-at-a-time", ns: ns, allocs: allocs, floor: true})
}

func processTrivial(n int) {
	ctx := context.Background()
	withProcessPool(func(p *runtime.ProcessPool) {
		ns, allocs := measure(n, func(n int) {
			fs := make([]*runtime.Future[int], n)
			for i := range fs {
				fs[i] = SubmitDouble(ctx, p, i)
			}
			for _, f := range fs {
				f.Result(ctx)
			}
		})
		record(result{system: "futuresgen-processpool", workload: "process-trivial", ns: ns, allocs: allocs, extra: fmt.Sprintf("tasks=%d", n)})
	})
}

func processMap(n int) {
	ctx := context.Background()
	withProcessPool(func(p *runtime.ProcessPool) {
		ns, allocs := measure(n, func(n int) {
			for range MapDouble(ctx, p, func(yield func(int) bool) {
				for i := range n {
					if !yield(i) {
						return
					}
				}
			}, runtime.ChunkSize(256)) {
			}
		})
		record(result{system: "futuresgen-processpool", workload: "process-map-chunk256", ns: ns, allocs: allocs, extra: fmt.Sprintf("items=%d", n)})
	})
}

func processSHA(n int) {
	ctx := context.Background()
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	withProcessPool(func(p *runtime.ProcessPool) {
		ns, allocs := measure(n, func(n int) {
			fs := make([]*runtime.Future[[32]byte], n)
			for i := range fs {
				fs[i] = SubmitHash(ctx, p, data)
			}
			for _, f := range fs {
				f.Result(ctx)
			}
		})
		record(result{system: "futuresgen-processpool", workload: "process-sha256-64KiB", ns: ns, allocs: allocs})
	})
}

func processStart(n int) {
	ctx := context.Background()
	ns, allocs := measure(n, func(n int) {
		for range n {
			p := runtime.NewProcessPool(runtime.MaxWorkers(1))
			SubmitDouble(ctx, p, 1).Result(ctx)
			go p.Close() // shutting down is not part of the start
		}
	})
	record(result{system: "futuresgen-processpool", workload: "process-start", ns: ns, allocs: allocs})
}

// processSlow runs 4 tasks of 500 ms at once on a pool of 4 warm workers
// and records the wall time of the 4 (ideal: 500 ms): whether slow tasks
// run side by side.
func processSlow() {
	ctx := context.Background()
	p := runtime.NewProcessPool(runtime.MaxWorkers(4))
	defer p.Close()
	var warm []*runtime.Future[struct{}]
	for range 4 {
		warm = append(warm, SubmitSleep(ctx, p, 10*time.Millisecond))
	}
	for _, f := range warm {
		f.Result(ctx)
	}
	ns, allocs := measure(1, func(int) {
		var fs []*runtime.Future[struct{}]
		for range 4 {
			fs = append(fs, SubmitSleep(ctx, p, 500*time.Millisecond))
		}
		for _, f := range fs {
			f.Result(ctx)
		}
	})
	record(result{system: "futuresgen-processpool", workload: "process-4x500ms", ns: ns, allocs: allocs, extra: "workers=4 ns=wall-time-of-all-4"})
}

// echo is the other end of the raw pipe round trip: it returns what it
// reads on fd 3 to fd 4.
func echo() {
	in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
	b := make([]byte, 8)
	for {
		if _, err := io.ReadFull(in, b); err != nil {
			return
		}
		out.Write(b)
	}
}

// pipeRoundTrips sends n 8-byte messages to a child process that echoes
// them: the floor of a process round trip.
func pipeRoundTrips(n int) {
	exe, _ := os.Executable()
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "FUTURESGEN_BENCH_ECHO=1")
	cmd.ExtraFiles = []*os.File{r1, w2}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	r1.Close()
	w2.Close()
	b := make([]byte, 8)
	for range n {
		w1.Write(b)
		io.ReadFull(r2, b)
	}
	w1.Close()
	cmd.Wait()
	r2.Close()
}

// python runs Python's concurrent.futures on the workloads it has.
func python(n func(int) int) {
	if *skipPython {
		fmt.Println("# python: skipped (-skip-python)")
		return
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		fmt.Println("# python: skipped, python3 is not on the PATH")
		return
	}
	dir, err := os.MkdirTemp("", "futuresgen-bench")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "bench.py")
	os.WriteFile(script, []byte(pythonScript), 0o644)
	for _, w := range []struct {
		workload, system string
		n                int
	}{
		{"trivial", "python-threadpool", n(100_000)},
		{"futures-shape", "python-threadpool", n(100_000)},
		{"process-one-at-a-time", "python-processpool", n(2_000)},
		{"process-trivial", "python-processpool", n(20_000)},
		{"process-map-chunk256", "python-processpool", n(1_000_000)},
		{"process-sha256-64KiB", "python-processpool", n(2_000)},
		{"process-start-fork", "python-processpool-fork", n(20)},
		{"process-start-spawn", "python-processpool-spawn", max(n(20)/4, 1)},
		{"process-4x500ms", "python-processpool", 1},
	} {
		if !selected(w.workload) {
			continue
		}
		out, err := exec.Command(py, script, w.workload, strconv.Itoa(w.n)).Output()
		if err != nil {
			fmt.Printf("# python %s: %v\n", w.workload, err)
			continue
		}
		ns, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		workload := w.workload
		if strings.HasPrefix(workload, "process-start") {
			workload = "process-start"
		}
		record(result{system: w.system, workload: workload, ns: ns, allocs: -1, extra: fmt.Sprintf("tasks=%d", w.n)})
	}
}

// daskRows runs Dask distributed on the workloads it has (dask.go).
func daskRows() {
	switch {
	case *skipPython:
		fmt.Println("# dask: skipped (-skip-python)")
		return
	case *skipDask:
		fmt.Println("# dask: skipped (-skip-dask)")
		return
	}
	if !slices.ContainsFunc(daskWorkloads, selected) {
		return
	}
	rs, note, err := daskResults(*quick, *repeats, selected)
	if note != "" {
		fmt.Println("# " + note)
	}
	for _, r := range rs {
		record(r)
	}
	if err != nil {
		fmt.Printf("# %v\n", err)
	}
}

// table writes the Markdown table: per workload, each system with its
// ratio to the best peer (a system that is neither futuresgen nor a
// hand-written floor).
func table(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | system | ns/task | allocs/task | × best peer |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|")
	var order []string
	for _, r := range results {
		if !slices.Contains(order, r.workload) {
			order = append(order, r.workload)
		}
	}
	for _, wl := range order {
		best := -1.0
		for _, r := range results {
			if r.workload == wl && !r.floor && !strings.HasPrefix(r.system, "futuresgen") && (best < 0 || r.ns < best) {
				best = r.ns
			}
		}
		for _, r := range results {
			if r.workload != wl {
				continue
			}
			ratio, allocs := "—", "—"
			if best > 0 {
				ratio = fmt.Sprintf("%.2f", r.ns/best)
			}
			if r.allocs >= 0 {
				allocs = fmt.Sprintf("%.2f", r.allocs)
			}
			name := r.system
			if r.floor && !strings.HasPrefix(r.workload, "codec-") {
				name += " (floor)"
			}
			ns := fmt.Sprintf("%.0f", r.ns)
			if r.extra != "" && strings.Contains(r.extra, "efficiency=") {
				ns += " (" + strings.Fields(r.extra)[0] + ")"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", wl, name, ns, allocs, ratio)
		}
	}
}
