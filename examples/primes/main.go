// Command primes runs CPU-bound tasks — checking large primes — on a
// ThreadPool and on a ProcessPool, side by side, then maps a primality
// check over many numbers in chunks with a progress bar (drawn on standard
// error when it is a terminal), and last shows a task that crashes its
// worker process failing alone while the other results arrive.
//
//	go run ./examples/primes
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/futuresgen/futuresgen/runtime"
)

//go:generate go tool futuresgen

// IsPrime reports whether n is prime, by trial division: deliberately slow.
//
//futures:task
func IsPrime(n int64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	limit := int64(math.Sqrt(float64(n)))
	for i := int64(3); i <= limit; i += 2 {
		if n%i == 0 {
			return false
		}
	}
	return true
}

// Explode returns n, except for 3: then it writes to a nil map in another
// goroutine, a fatal error no recover can catch, which kills its process.
//
//futures:task
func Explode(n int) int {
	if n == 3 {
		var m map[int]int
		done := make(chan struct{})
		go func() { m[n] = n; close(done) }()
		<-done
	}
	return n
}

// Primes are the numbers of Python's ProcessPoolExecutor example.
var Primes = []int64{
	112272535095293,
	112582705942171,
	112272535095293,
	115280095190773,
	115797848077099,
	1099726899285419,
}

func main() {
	runtime.ServeWorker() // first: in a worker process, this serves tasks and never returns
	if err := run(os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "primes:", err)
		os.Exit(1)
	}
}

func run(out, errOut io.Writer) error {
	ctx := context.Background()
	threads := runtime.NewThreadPool()
	defer threads.Close()
	procs := runtime.NewProcessPool()
	defer procs.Close()

	fmt.Fprintln(out, "== Python's prime example, on each executor")
	results := map[string][]bool{}
	times := map[string]time.Duration{}
	for _, e := range []struct {
		name string
		ex   runtime.Executor
	}{{"ThreadPool", threads}, {"ProcessPool", procs}} {
		start := time.Now()
		for ok, err := range MapIsPrime(ctx, e.ex, slices.Values(Primes)) {
			if err != nil {
				return err
			}
			results[e.name] = append(results[e.name], ok)
		}
		times[e.name] = time.Since(start)
	}
	fmt.Fprintf(out, "%-18s %-10s %-11s\n", "number", "ThreadPool", "ProcessPool")
	for i, n := range Primes {
		fmt.Fprintf(out, "%-18d %-10v %-11v\n", n, results["ThreadPool"][i], results["ProcessPool"][i])
	}
	fmt.Fprintf(out, "%-18s %-10s %-11s\n", "time", round(times["ThreadPool"]), round(times["ProcessPool"]))

	fmt.Fprintln(out, "== Primes below 1,000,000, in chunks of 1,000 inputs")
	const limit = 1_000_000
	numbers := func(yield func(int64) bool) {
		for n := int64(0); n < limit; n++ {
			if !yield(n) {
				return
			}
		}
	}
	progress := func(int) {}
	if f, ok := errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(limit, progressbar.OptionSetWriter(errOut),
			progressbar.OptionSetDescription("checking"), progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		progress = func(done int) { bar.Set(done) }
		defer bar.Finish()
	}
	count := 0
	for ok, err := range MapIsPrime(ctx, procs, numbers, runtime.ChunkSize(1000), runtime.Progress(progress)) {
		if err != nil {
			return err
		}
		if ok {
			count++
		}
	}
	fmt.Fprintf(out, "%d primes below %d\n", count, limit)

	fmt.Fprintln(out, "== A task that crashes its worker fails alone")
	var fs []*runtime.Future[int]
	for n := 1; n <= 5; n++ {
		fs = append(fs, SubmitExplode(ctx, procs, n))
	}
	for i, f := range fs {
		v, err := f.Result(ctx)
		switch {
		case errors.Is(err, runtime.ErrWorkerDied):
			fmt.Fprintf(out, "Explode(%d): the worker died (ErrWorkerDied); the pool replaced it\n", i+1)
		case err != nil:
			return err
		default:
			fmt.Fprintf(out, "Explode(%d) = %d\n", i+1, v)
		}
	}
	return procs.Close()
}

func round(d time.Duration) string { return d.Round(time.Millisecond).String() }
