// Command cluster runs the downloader and the primes of the other examples
// on a cluster: worker processes that may sit on other machines, over
// NATS. With no flags it starts one on this machine, with nothing
// installed (cluster.StartLocal: an embedded NATS server on 127.0.0.1 and
// two worker processes of this program), and runs everything there.
//
//	go run ./cluster
//
// To let other hosts help, listen on an address they can reach, and keep
// the cluster open after the demo:
//
//	go build -o prog ./cluster
//	./prog -listen 0.0.0.0:4222 -wait 1m     # on host A; it prints the line below
//	./prog -join 'tls://fgw_…@hostA:4222/futures?pin=sha256:…'   # on host B, C, …: a worker
//
// The join URL carries the cluster's worker secret and the pin of its
// server's certificate (made in memory at start): copy it whole, as a
// password; the connection is encrypted and authenticated, and nothing
// else needs copying. With -workers 0 host A starts no workers of its own:
// its tasks wait until a worker joins, then run there.
//
// The same binary is the driver and the worker: its dispatch table (the
// tasks below) must be the same on every host.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/futuresgen/futuresgen/cluster"
	"github.com/futuresgen/futuresgen/runtime"
)

//go:generate go tool futuresgen

// Fetched is what Fetch learned of one URL.
type Fetched struct {
	Name   string
	Bytes  int
	SHA256 string
	Worker string // the host and process that fetched it
}

// Fetch downloads url and returns its size and digest. Its worker may be
// on another machine, so the body is not written to a file: a task's
// result travels back to the driver, its side effects stay where it ran.
//
//futures:task
func Fetch(ctx context.Context, url string) (Fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Fetched{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Fetched{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Fetched{}, fmt.Errorf("%s: %s", url, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return Fetched{}, err
	}
	return Fetched{Name: path.Base(url), Bytes: int(n), SHA256: hex.EncodeToString(h.Sum(nil))[:12], Worker: worker()}, nil
}

// CountPrimes counts the primes in [lo, hi), by trial division:
// deliberately slow.
//
//futures:task
func CountPrimes(lo, hi int64) int {
	count := 0
	for n := max(lo, 2); n < hi; n++ {
		if isPrime(n) {
			count++
		}
	}
	return count
}

func isPrime(n int64) bool {
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

// Crash kills the process that runs it: a fatal error no recover can
// catch. On a cluster worker that process is one of the worker's
// children, so only this task fails.
//
//futures:task
func Crash() int {
	var m map[int]int
	done := make(chan struct{})
	go func() { m[0] = 0; close(done) }()
	<-done
	return 0
}

func worker() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getppid())
}

// files is what the driver's file server serves.
var files = map[string]string{
	"/report.pdf": "%PDF-1.7 a small report",
	"/photo.jpg":  "\xff\xd8\xff a small photo",
	"/data.csv":   "a,b\n1,2\n",
	"/notes.txt":  "remember the milk",
}

func main() {
	runtime.ServeWorker() // first: in a worker process, this serves tasks and never returns
	join := flag.String("join", "", "serve as a worker of the cluster with this join URL (the line the driver prints), until interrupted")
	listen := flag.String("listen", "127.0.0.1:0", "where the cluster's NATS server listens (0.0.0.0:4222 lets other hosts join)")
	workers := flag.Int("workers", 2, "worker processes to start on this machine")
	wait := flag.Duration("wait", 0, "keep the cluster open this long after the demo, for workers on other hosts")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if *join != "" {
		err = serve(ctx, *join)
	} else {
		err = run(ctx, os.Stdout, *listen, *workers, *wait)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// serve makes this process a worker of the cluster with the join URL
// join until ctx ends.
func serve(ctx context.Context, join string) error {
	nc, err := cluster.Connect(join)
	if err != nil {
		return err
	}
	defer nc.Close()
	fmt.Fprintf(os.Stderr, "serving the cluster at %s; Ctrl-C to leave\n", nc.ConnectedAddr())
	return cluster.Serve(ctx, nc)
}

func run(ctx context.Context, out io.Writer, listen string, workers int, wait time.Duration) error {
	local, err := cluster.StartLocal(ctx, cluster.Listen(listen), cluster.Workers(workers))
	if err != nil {
		return err
	}
	defer local.Close()
	ex := local.Executor()
	fmt.Fprintf(out, "== A cluster of %d workers at %s; more join with (a password: copy it whole):\n", ex.Stats().Workers, local.URL())
	fmt.Fprintf(out, "   -join '%s'\n", local.WorkerURL())

	// The file server listens where the cluster does, so that workers on
	// other hosts can reach it too.
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	})}
	go srv.Serve(lis)
	defer srv.Close()
	// Workers fetch from the host in the cluster's URL.
	_, natsAddr, _ := strings.Cut(local.URL(), "://")
	natsHost, _, _ := net.SplitHostPort(natsAddr)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	base := "http://" + net.JoinHostPort(natsHost, port)

	fmt.Fprintln(out, "== SubmitFetch + AsCompleted, on whichever worker is free")
	var names []string
	for p := range files {
		names = append(names, p)
	}
	slices.Sort(names)
	var fs []*runtime.Future[Fetched]
	for _, p := range append(names, "/missing.txt") {
		fs = append(fs, SubmitFetch(ctx, ex, base+p))
	}
	var fetched []string
	for f, err := range runtime.AsCompleted(ctx, fs...) {
		if err != nil {
			return err
		}
		r, err := f.Result(ctx)
		if err != nil {
			fetched = append(fetched, fmt.Sprintf("failed: %v", err))
			continue
		}
		fetched = append(fetched, fmt.Sprintf("%-10s %3d bytes  sha256 %s", r.Name, r.Bytes, r.SHA256))
	}
	slices.Sort(fetched) // completion order varies from run to run
	for _, line := range fetched {
		fmt.Fprintln(out, line)
	}

	fmt.Fprintln(out, "== Primes below 2,000,000, in 40 ranges, in input order (MapCountPrimes)")
	const limit, ranges = 2_000_000, 40
	args := func(yield func(CountPrimesArgs) bool) {
		for i := range int64(ranges) {
			if !yield(CountPrimesArgs{Lo: i * limit / ranges, Hi: (i + 1) * limit / ranges}) {
				return
			}
		}
	}
	total := 0
	for n, err := range MapCountPrimes(ctx, ex, args) {
		if err != nil {
			return err
		}
		total += n
	}
	fmt.Fprintf(out, "%d primes below %d\n", total, limit)

	fmt.Fprintln(out, "== A task that crashes fails alone; its worker stays")
	_, err = SubmitCrash(ctx, ex).Result(ctx)
	if !errors.Is(err, runtime.ErrWorkerDied) {
		return fmt.Errorf("Crash: %v; want ErrWorkerDied", err)
	}
	fmt.Fprintln(out, "Crash: ErrWorkerDied (its child process died; its panic is on stderr)")
	v, err := SubmitCountPrimes(ctx, ex, 0, 100).Result(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "then CountPrimes(0, 100) = %d\n", v)
	st := ex.Stats()
	fmt.Fprintf(out, "== Stats: %d workers, %d completed, %d failed\n", st.Workers, st.Completed, st.Failed)

	if wait > 0 {
		fmt.Fprintf(os.Stderr, "the cluster stays open for %v at %s\n", wait, local.URL())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	return local.Close()
}
