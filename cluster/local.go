package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/internal/worker"
)

// stopWait bounds how long Close waits for a worker process to drain and
// exit before it is killed.
const stopWait = 10 * time.Second

type localConfig struct {
	ns         string
	workers    int
	workersSet bool
	listen     string
	serveOpts  []ServeOption
	execOpts   []Option
}

// Local is a cluster on this machine, made by StartLocal: an embedded
// NATS server, worker processes of this program, and a driver.
type Local struct {
	srv    *embedded.Server
	nc     *nats.Conn
	url    string // where other hosts join
	ns     string
	ex     *Executor
	worker localWorker

	log *slog.Logger // the driver's

	mu       sync.Mutex
	procs    []*localProc
	drivers  []*Executor
	exited   chan struct{} // closed and replaced when a worker process ends
	seq      int
	closed   bool
	closing  chan struct{}  // closed when Close begins
	watchers sync.WaitGroup // the goroutines that restart worker processes
	extraEnv []string       // added to the environment of the processes started (tests)
}

// StartLocal starts a cluster on this machine, with nothing installed:
// an embedded NATS server on 127.0.0.1 (a free port; see Listen) and
// Workers(n) worker processes of this program (default GOMAXPROCS, one
// slot each), and returns once they have all joined its driver, or with
// ctx's error if ctx ends first. It is Dask's LocalCluster.
//
// The worker processes are this binary again, in which
// runtime.ServeWorker() serves as a cluster worker: main must call it
// first. They exit when this process exits, or at Close. One that exits
// before (it crashed, or was killed) is replaced, after a pause that
// grows while they keep exiting; one that keeps dying before it joins is
// given up on after three tries, with an error in the driver's log. More
// workers,
// on this host or on others, can join at URL (Listen makes the server
// reachable from other hosts).
//
// Options: Workers, Listen, Namespace; ServeOptions (Slots, InProcess,
// GracePeriod) configure the worker processes, and Options (With,
// Retries) the driver that Executor returns.
func StartLocal(ctx context.Context, opts ...LocalOption) (l *Local, err error) {
	worker.Guard()
	cfg := localConfig{ns: DefaultNamespace, workers: goruntime.GOMAXPROCS(0), listen: "127.0.0.1:0"}
	for _, o := range opts {
		o.applyLocal(&cfg)
	}
	sc := serveConfig{common: defaultCommon(), slots: 1, grace: defaultGrace}
	for _, o := range cfg.serveOpts {
		o.applyServe(&sc)
	}
	srv, err := embedded.Start(embedded.Config{Listen: cfg.listen, PingInterval: pingInterval, MaxPingsOut: maxPingsOut})
	if err != nil {
		return nil, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l = &Local{srv: srv, ns: cfg.ns, exited: make(chan struct{}), closing: make(chan struct{})}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	self, public, err := serverURLs(srv)
	if err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l.url = public
	if l.nc, err = connect(self, execLogger(cfg.execOpts), nats.Name("futuresgen driver")); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l.worker = localWorker{URL: self, Namespace: cfg.ns, Slots: sc.slots, InProcess: sc.inProcess, Grace: sc.grace, MaxPayload: sc.maxPayload}
	if l.ex, err = l.NewExecutor(cfg.execOpts...); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l.log = l.ex.d.log
	var procs []*localProc
	for range cfg.workers {
		p, err := l.startWorker()
		if err != nil {
			return l, fmt.Errorf("cluster: StartLocal: %w", err)
		}
		procs = append(procs, p)
	}
	if err := l.waitWorkers(ctx, cfg.workers); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	for _, p := range procs {
		l.watchers.Add(1)
		go l.watch(p)
	}
	return l, nil
}

// serverURLs returns the URL this host's processes reach srv at, and the
// one other hosts do: for a server listening on every address, this
// host's first address that is not a loopback one.
func serverURLs(srv *embedded.Server) (self, public string, err error) {
	addr, ok := srv.NS.Addr().(*net.TCPAddr)
	if !ok {
		return "", "", fmt.Errorf("the NATS server listens on %v, not TCP", srv.NS.Addr())
	}
	port := strconv.Itoa(addr.Port)
	if !addr.IP.IsUnspecified() {
		u := "nats://" + net.JoinHostPort(addr.IP.String(), port)
		return u, u, nil
	}
	self = "nats://" + net.JoinHostPort("127.0.0.1", port)
	public = self
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				public = "nats://" + net.JoinHostPort(n.IP.String(), port)
				break
			}
		}
	}
	return self, public, nil
}

// execLogger returns the logger that opts give a driver.
func execLogger(opts []Option) *slog.Logger {
	var c executorConfig
	for _, o := range opts {
		o.applyExecutor(&c)
	}
	return c.logger()
}

// Executor returns the driver StartLocal made, with no limits of its own
// (unless StartLocal was given With or Retries). Close closes it.
func (l *Local) Executor() *Executor { return l.ex }

// NewExecutor returns another driver on the cluster, in its namespace,
// sharing its workers with the others. Close closes it too.
func (l *Local) NewExecutor(opts ...Option) (*Executor, error) {
	ex, err := NewExecutor(l.nc, append([]Option{Namespace(l.ns)}, opts...)...)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.drivers = append(l.drivers, ex)
	l.mu.Unlock()
	return ex, nil
}

// URL returns where more workers can join: nats://127.0.0.1:port unless
// Listen made the server listen elsewhere.
func (l *Local) URL() string { return l.url }

// Close shuts down the cluster's drivers (waiting for their tasks), lets
// the worker processes finish and exit (killing any that has not after 10
// seconds), and stops the server. No worker process outlives it, and
// none is restarted once Close has begun.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closing)
	l.mu.Unlock()
	l.watchers.Wait() // no worker process starts from now on
	l.mu.Lock()
	drivers, procs := l.drivers, l.procs
	l.mu.Unlock()
	var errs []error
	for _, ex := range drivers {
		errs = append(errs, ex.Close())
	}
	for _, p := range procs {
		p.stdin.Close() // the worker drains and exits
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(stopWait):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	if l.nc != nil {
		l.nc.Close()
	}
	l.srv.Shutdown()
	return errors.Join(errs...)
}

// NATS pings, on the cluster's connections and StartLocal's server: a
// client or server that has had no pong for maxPingsOut intervals takes
// its peer for gone.
const (
	pingInterval = 2 * time.Second
	maxPingsOut  = 3
)

// Connect connects to the NATS server at url with the options a cluster
// wants, after which opts apply: a ping every 2 seconds with three
// outstanding, so that the client notices a dead server or link in about
// 8 seconds instead of minutes (a pong waits behind what the server has
// queued for the client: megabytes of a large value, on a loaded
// machine, take seconds), and reconnecting for ever. Any *nats.Conn works
// with NewExecutor and Serve; this one notices trouble sooner. A lost
// worker is noticed by the cluster's own heartbeats, in 4 seconds.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	return connect(url, slog.Default(), opts...)
}

// connect is Connect, logging what happens to the connection to log
// (nats.go would print its errors on standard error, unprefixed).
func connect(url string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(2 * time.Second),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			args := []any{"connection", nc.Opts.Name, "err", err}
			if sub != nil {
				args = append(args, "subject", sub.Subject)
			}
			log.Warn("futuresgen cluster: NATS", args...)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("futuresgen cluster: NATS connection lost; reconnecting", "connection", nc.Opts.Name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("futuresgen cluster: NATS connection back", "connection", nc.Opts.Name)
		}),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", url, err)
	}
	return nc, nil
}
