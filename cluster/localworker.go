package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/worker"
)

// This file is the worker side of StartLocal: a process that StartLocal
// started as its worker, served by runtime.ServeWorker.

// localEnv marks a process that StartLocal started as its worker; its
// value is the worker's localWorker, as JSON.
const localEnv = "FUTURESGEN_CLUSTER_WORKER"

// localWorker is what a worker process of StartLocal needs to know.
type localWorker struct {
	URL        string
	Namespace  string
	Name       string
	Slots      int
	InProcess  bool
	Grace      time.Duration
	MaxPayload int
}

func init() {
	// runtime.ServeWorker serves as a cluster worker in a process that
	// StartLocal started: linking this package makes it so.
	worker.RegisterMode(worker.Mode{Name: "cluster", Env: localEnv, Serve: serveLocalWorker})
	// The runtime's sentinels keep their identity when a worker's child
	// died (ErrWorkerDied) or could not start (ErrBrokenPool).
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrWorkerDied", errs.WorkerDied)
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrBrokenPool", errs.BrokenPool)
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrCancelled", errs.Cancelled)
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrShutdown", errs.Shutdown)
}

// serveLocalWorker serves this process as a worker of the StartLocal
// that started it, described by raw, and returns the exit status.
func serveLocalWorker(raw string, _ func(context.Context) error) int {
	var w localWorker
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		fmt.Fprintf(os.Stderr, "futuresgen cluster worker: bad %s: %v\n", localEnv, err)
		return 2
	}
	if os.Getenv("FUTURESGEN_CLUSTER_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	log := slog.Default().With("worker", w.Name)
	// Ctrl-C in a terminal is the driver's to act on: it closes our input.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	nc, err := connect(w.URL, log, nats.Name("futuresgen worker "+w.Name))
	if err != nil {
		log.Error("futuresgen cluster: a local worker cannot reach its cluster", "err", err)
		return 1
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin) // ends when the parent closes it, or dies
		cancel()
	}()
	opts := []ServeOption{Namespace(w.Namespace), Slots(w.Slots), GracePeriod(w.Grace), MaxPayload(w.MaxPayload), named(w.Name)}
	if w.InProcess {
		opts = append(opts, InProcess())
	}
	if err := Serve(ctx, nc, opts...); err != nil {
		log.Error("futuresgen cluster: a local worker stopped", "err", err)
		return 1
	}
	return 0
}

// named sets the name drivers' logs give the worker.
func named(name string) ServeOption {
	return option{serve: func(c *serveConfig) {
		host, _ := os.Hostname()
		c.name = fmt.Sprintf("%s (%s/%d)", name, host, os.Getpid())
	}}
}
