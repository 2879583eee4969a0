package cluster

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/futuresgen/futuresgen/internal/options"
	"github.com/futuresgen/futuresgen/runtime"
)

// LocalOption configures StartLocal. Every ServeOption is one too: it
// configures the worker processes StartLocal starts.
type LocalOption interface {
	applyLocal(*localConfig)
}

// ServeOption configures Serve. Every Option is one too; the options that
// only make sense for a driver (With, Retries) are ignored there.
type ServeOption interface {
	LocalOption
	applyServe(*serveConfig)
}

// Option configures NewExecutor (and, as a LocalOption, the driver that
// StartLocal returns).
type Option interface {
	ServeOption
	applyExecutor(*executorConfig)
}

// option is every kind of option at once: each function it holds is nil
// where the option does not apply.
type option struct {
	exec  func(*executorConfig)
	serve func(*serveConfig)
	local func(*localConfig)
}

func (o option) applyExecutor(c *executorConfig) {
	if o.exec != nil {
		o.exec(c)
	}
}

func (o option) applyServe(c *serveConfig) {
	if o.serve != nil {
		o.serve(c)
	}
}

func (o option) applyLocal(c *localConfig) {
	if o.local != nil {
		o.local(c)
	}
	// A ServeOption given to StartLocal configures its workers, and an
	// Option its driver.
	if o.serve != nil {
		c.serveOpts = append(c.serveOpts, o)
	}
	if o.exec != nil {
		c.execOpts = append(c.execOpts, o)
	}
}

// common is what drivers and workers both read.
type common struct {
	ns         string
	maxPayload int
	log        *slog.Logger
}

func defaultCommon() common {
	return common{ns: DefaultNamespace, maxPayload: DefaultMaxPayload}
}

func (c *common) logger() *slog.Logger {
	if c.log != nil {
		return c.log
	}
	return slog.Default()
}

// DefaultNamespace is the namespace of drivers and workers that are given
// none.
const DefaultNamespace = "futures"

// DefaultMaxPayload bounds an encoded argument or result: 64 MiB, plus
// 64 KiB for the bytes the encoding adds to a value of 64 MiB. Values
// larger than the connection's max_payload (1 MiB on a default NATS
// server) travel in chunks.
const DefaultMaxPayload = 64<<20 + 64<<10

var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Namespace puts the executor, worker or local cluster in the namespace
// name (default "futures"): drivers and workers meet only within one, so
// independent clusters can share a NATS server. Every subject the cluster
// uses starts with name. Namespace panics unless name is one or more
// dot-separated tokens of letters, digits, '-' and '_'.
func Namespace(name string) Option {
	if !namespaceRE.MatchString(name) {
		panic(fmt.Sprintf("cluster: Namespace(%q): need dot-separated tokens of letters, digits, '-' and '_'", name))
	}
	set := func(c *common) { c.ns = name }
	return option{
		exec:  func(c *executorConfig) { set(&c.common) },
		serve: func(c *serveConfig) { set(&c.common) },
		local: func(c *localConfig) { c.ns = name },
	}
}

// MaxPayload bounds an encoded argument or result (default
// DefaultMaxPayload): each input's, in a chunk (runtime.ChunkSize), whose
// inputs travel together. A larger one fails its own future with an
// error naming the task, the type and the limit; nothing else is
// affected. On a worker it bounds the results it sends. MaxPayload
// panics if n < 1.
func MaxPayload(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("cluster: MaxPayload(%d): need at least 1 byte", n))
	}
	return option{
		exec:  func(c *executorConfig) { c.maxPayload = n },
		serve: func(c *serveConfig) { c.maxPayload = n },
	}
}

// Logger sends the cluster's log (workers joining, lost and refused) to l
// instead of slog.Default(). Worker processes that StartLocal starts log
// to their standard error.
func Logger(l *slog.Logger) Option {
	if l == nil {
		panic("cluster: Logger(nil)")
	}
	return option{
		exec:  func(c *executorConfig) { c.log = l },
		serve: func(c *serveConfig) { c.log = l },
	}
}

// With applies runtime options to a cluster executor: MaxWorkers(n) lets
// at most n of this executor's tasks run at once across the cluster (the
// default is no limit of its own: every free slot of every worker), and
// QueueLimit(n) bounds its tasks waiting to start, as on a ProcessPool.
// Other runtime options have no meaning here and are ignored.
func With(opts ...runtime.Option) Option {
	o := options.Apply(opts)
	return option{exec: func(c *executorConfig) {
		if o.MaxWorkers > 0 {
			c.maxWorkers = o.MaxWorkers
		}
		if o.QueueLimit > 0 {
			c.queueLimit = o.QueueLimit
		}
	}}
}

// Retries reruns a task whose worker was lost after the task started, on
// another worker, up to n times (default 0: its future fails with
// runtime.ErrWorkerDied). Use it for tasks that may run twice: the lost
// worker may have run part of the task, or all of it. Retries panics if
// n < 0.
func Retries(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("cluster: Retries(%d): need n >= 0", n))
	}
	return option{exec: func(c *executorConfig) { c.retries = n }}
}

// Slots sets how many tasks one worker runs at once (default GOMAXPROCS
// for Serve; 1 for each of StartLocal's workers, which are GOMAXPROCS
// processes). Slots panics if n < 1.
func Slots(n int) ServeOption {
	if n < 1 {
		panic(fmt.Sprintf("cluster: Slots(%d): need at least 1", n))
	}
	return option{serve: func(c *serveConfig) { c.slots = n }}
}

// InProcess makes a worker run tasks on goroutines of its own process
// instead of in child processes: cheaper by a pipe round trip per task,
// but a task that crashes takes the whole worker with it (its calls fail
// with ErrWorkerDied, or run elsewhere under Retries), and a task that
// ignores the end of its context cannot be stopped.
func InProcess() ServeOption {
	return option{serve: func(c *serveConfig) { c.inProcess = true }}
}

// GracePeriod sets how long a task may run on in a worker's child process
// after its context ended (its deadline passed, it was cancelled) before
// the child is killed and replaced, so that deadlines are hard (default
// 3s; it does not apply with InProcess). GracePeriod panics if d <= 0.
func GracePeriod(d time.Duration) ServeOption {
	if d <= 0 {
		panic(fmt.Sprintf("cluster: GracePeriod(%v): need a positive duration", d))
	}
	return option{serve: func(c *serveConfig) { c.grace = d }}
}

// Workers sets how many worker processes StartLocal starts (default
// GOMAXPROCS). Zero starts none: workers join from elsewhere. Workers
// panics if n < 0.
func Workers(n int) LocalOption {
	if n < 0 {
		panic(fmt.Sprintf("cluster: Workers(%d): need n >= 0", n))
	}
	return option{local: func(c *localConfig) { c.workers = n; c.workersSet = true }}
}

// Listen sets the address StartLocal's NATS server listens on (default
// "127.0.0.1:0": this host only, a free port). Listen(":4222") lets
// workers on other hosts join at URL().
func Listen(addr string) LocalOption {
	return option{local: func(c *localConfig) { c.listen = addr }}
}
