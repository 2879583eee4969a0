package cluster_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/futuresgen/futuresgen/cluster"
	"github.com/futuresgen/futuresgen/internal/exampletasks"
)

// StartLocal is the one-machine cluster: an embedded NATS server and
// worker processes of this program. The SubmitX and MapX wrappers that go
// generate writes for functions marked //futures:task (here,
// exampletasks.WordCount's) take its executor as they take a ProcessPool.
// The program's main (here, TestMain) must call runtime.ServeWorker
// first.
func ExampleStartLocal() {
	ctx := context.Background()
	local, err := cluster.StartLocal(ctx, cluster.Workers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer local.Close()
	ex := local.Executor()

	n, err := exampletasks.SubmitWordCount(ctx, ex, "a task on a cluster worker").Result(ctx)
	fmt.Println(n, err)
	fmt.Println(ex.Stats().Workers, "workers; more can join at", strings.SplitN(local.URL(), ":", 2)[0]+"://…")
	// Output:
	// 6 <nil>
	// 2 workers; more can join at nats://…
}

// A worker on another host is the same program, connected to the
// cluster's NATS server: Serve runs tasks for every driver there until
// its context ends. Going from StartLocal to other hosts changes one line
// on each side: StartLocal(ctx, cluster.Listen(":4222")) on the first
// host, and this on the others.
func ExampleServe() {
	url := os.Getenv("CLUSTER_URL") // for example nats://hostA:4222
	if url == "" {
		return
	}
	nc, err := cluster.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := cluster.Serve(ctx, nc, cluster.Slots(4)); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// A driver on any host: NewExecutor on a NATS connection, and the
// generated wrappers as on any executor. Several drivers share the
// workers in their namespace.
func ExampleNewExecutor() {
	url := os.Getenv("CLUSTER_URL")
	if url == "" {
		return
	}
	nc, err := cluster.Connect(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	ex, err := cluster.NewExecutor(nc, cluster.Retries(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ex.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ex.WaitForWorkers(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(exampletasks.SubmitWordCount(ctx, ex, "counted elsewhere").Result(ctx))
}
