// Package options holds what the options of package runtime set: an
// executor's (runtime.Option), a shutdown's (runtime.ShutdownOption) and
// a map's (runtime.MapOption). Package runtime makes the options and
// documents them; the executors read these structs, and the cluster
// module applies runtime options to read those it honours (cluster.With).
package options

import (
	"context"
	"time"
)

// Executor is what runtime.Option sets. A zero field means the option was
// not given: the executor's default applies.
type Executor struct {
	MaxWorkers        int
	QueueLimit        int // 0: unbounded
	Initializer       func(context.Context) error
	MaxTasksPerWorker int // 0: unlimited

	// ProcessPool only.
	Grace        time.Duration
	StartTimeout time.Duration
	Command      []string
}

// Shutdown is what runtime.ShutdownOption sets.
type Shutdown struct {
	CancelPending bool
}

// Map is what runtime.MapOption sets.
type Map struct {
	ChunkSize int // 0: 1
	Buffer    int // 0: the executor's default
	Unordered bool
	Progress  func(done int)
}

// Apply returns the configuration that opts set, in order, on a zero C.
func Apply[C any, O ~func(*C)](opts []O) C {
	var c C
	for _, o := range opts {
		o(&c)
	}
	return c
}
