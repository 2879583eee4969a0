// Package bridge lets the cluster module build a runtime.Executor on the
// shared scheduler without package runtime exporting anything for it:
// runtime fills these variables at init, and the cluster (which imports
// runtime, so runtime's init has run) calls them.
package bridge

import (
	"context"

	"github.com/futuresgen/futuresgen/internal/sched"
)

// ExecutorConfig describes an executor whose tasks run on a scheduler's
// workers.
type ExecutorConfig struct {
	Scheduler  *sched.Scheduler
	Buffer     int    // Map's default read-ahead
	MaxPayload int    // the largest encoded argument a call may carry
	Where      string // "a cluster", for messages: "… not on a cluster"
	// Shutdown is what the executor's Shutdown does, once its options are
	// read.
	Shutdown func(ctx context.Context, cancelPending bool) error
}

// Options are the runtime.Option values that a cluster executor honours.
type Options struct {
	MaxWorkers int // 0: not given
	QueueLimit int // 0: not given
}

var (
	// NewExecutor returns a runtime.Executor (as any: this package cannot
	// name the type) that submits to cfg.Scheduler.
	NewExecutor func(cfg ExecutorConfig) any
	// ReadOptions reads a []runtime.Option (as any).
	ReadOptions func(opts any) Options
)
