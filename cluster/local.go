package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/internal/bridge"
	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
)

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

	mu      sync.Mutex
	procs   []*localProc
	drivers []*Executor
	exited  chan struct{} // closed and replaced when a worker process ends
	seq     int
	closed  bool
}

// localProc is one worker process.
type localProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{} // closed once it ended and was waited for
	err   error
}

// StartLocal starts a cluster on this machine, with nothing installed:
// an embedded NATS server on 127.0.0.1 (a free port; see Listen) and
// Workers(n) worker processes of this program (default GOMAXPROCS, one
// slot each), and returns once they have all joined its driver, or with
// ctx's error if ctx ends first. It is Dask's LocalCluster.
//
// The worker processes are this binary again, in which
// runtime.ServeWorker() serves as a cluster worker: main must call it
// first. They exit when this process exits, or at Close. More workers,
// on this host or on others, can join at URL (Listen makes the server
// reachable from other hosts).
//
// Options: Workers, Listen, Namespace; ServeOptions (Slots, InProcess,
// GracePeriod) configure the worker processes, and Options (With,
// Retries) the driver that Executor returns.
func StartLocal(ctx context.Context, opts ...LocalOption) (l *Local, err error) {
	guardNotWorker()
	cfg := localConfig{ns: DefaultNamespace, workers: goruntime.GOMAXPROCS(0), listen: "127.0.0.1:0"}
	for _, o := range opts {
		o.applyLocal(&cfg)
	}
	sc := serveConfig{common: defaultCommon(), slots: 1, grace: defaultGrace}
	for _, o := range cfg.serveOpts {
		o.applyServe(&sc)
	}
	srv, err := embedded.Start(embedded.Config{Listen: cfg.listen, PingInterval: time.Second, MaxPingsOut: 2})
	if err != nil {
		return nil, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l = &Local{srv: srv, ns: cfg.ns, exited: make(chan struct{})}
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
	if l.nc, err = Connect(self, nats.Name("futuresgen driver")); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l.worker = localWorker{URL: self, Namespace: cfg.ns, Slots: sc.slots, InProcess: sc.inProcess, Grace: sc.grace, MaxPayload: sc.maxPayload}
	if l.ex, err = l.NewExecutor(cfg.execOpts...); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	for range cfg.workers {
		if err := l.startWorker(nil); err != nil {
			return l, fmt.Errorf("cluster: StartLocal: %w", err)
		}
	}
	if err := l.waitWorkers(ctx, cfg.workers); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
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
// seconds), and stops the server. No worker process outlives it.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
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

// startWorker starts a worker process, with extra environment variables
// if given.
func (l *Local) startWorker(extraEnv []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program to run as a worker: %w", err)
	}
	l.mu.Lock()
	l.seq++
	w := l.worker
	w.Name = fmt.Sprintf("local-%d", l.seq)
	l.mu.Unlock()
	raw, _ := json.Marshal(w)
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), localEnv+"="+string(raw)), extraEnv...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group (a terminal's Ctrl-C is the driver's to act
	// on), killed if this process dies; it drains and exits when its
	// standard input closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting a worker process: %w", err)
	}
	p := &localProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		l.mu.Lock()
		close(l.exited)
		l.exited = make(chan struct{})
		l.mu.Unlock()
	}()
	return nil
}

// waitWorkers waits until n workers joined the driver, failing as soon as
// a worker process ends before then.
func (l *Local) waitWorkers(ctx context.Context, n int) error {
	for {
		l.ex.d.mu.Lock()
		joined := l.ex.d.joined
		l.ex.d.mu.Unlock()
		l.mu.Lock()
		exited := l.exited
		var dead *localProc
		for _, p := range l.procs {
			select {
			case <-p.done:
				dead = p
			default:
			}
		}
		l.mu.Unlock()
		if l.ex.Stats().Workers >= n {
			return nil
		}
		if dead != nil {
			return fmt.Errorf("worker process %d ended before it joined (%v): does main call runtime.ServeWorker() first?", dead.cmd.Process.Pid, dead.err)
		}
		select {
		case <-joined:
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pids returns the process IDs of the worker processes alive now.
func (l *Local) pids() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pids []int
	for _, p := range l.procs {
		select {
		case <-p.done:
		default:
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// Connect connects to the NATS server at url with the options a cluster
// wants, after which opts apply: a ping every second with two
// outstanding, so that the server and the client notice a dead peer in
// about three seconds instead of minutes, and reconnecting for ever. Any
// *nats.Conn works with NewExecutor and Serve; this one notices trouble
// sooner.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.PingInterval(time.Second),
		nats.MaxPingsOutstanding(2),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(2 * time.Second),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", url, err)
	}
	return nc, nil
}

// serving is set once ServeWorker took this process over as a cluster
// worker; isLocalWorker when StartLocal started it as one.
var (
	serving       atomic.Bool
	isLocalWorker bool
)

// guardDelay is how long a process started as a worker may run without
// calling ServeWorker before it gives up.
const guardDelay = 3 * time.Second

func init() {
	// runtime.ServeWorker serves as a cluster worker in a process that
	// StartLocal started: linking this package makes it so.
	bridge.ServeCluster = serveLocalWorker
	// The runtime's sentinels keep their identity when a worker's child
	// died (ErrWorkerDied) or could not start (ErrBrokenPool).
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrWorkerDied", errs.WorkerDied)
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrBrokenPool", errs.BrokenPool)
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrCancelled", errs.Cancelled)
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/runtime.ErrShutdown", errs.Shutdown)
	if _, ok := os.LookupEnv(localEnv); ok {
		isLocalWorker = true
		// If main does not hand this process to ServeWorker soon, it must
		// not go on as the program: it would start clusters of its own.
		time.AfterFunc(guardDelay, func() {
			if !serving.Load() {
				notAWorker()
			}
		})
	}
}

func guardNotWorker() {
	if isLocalWorker && !serving.Load() {
		notAWorker()
	}
}

func notAWorker() {
	fmt.Fprintln(os.Stderr, "futuresgen: this process was started as a cluster worker, but its main did not call runtime.ServeWorker() first; exiting")
	os.Exit(3)
}

// serveLocalWorker serves this process as a worker of the StartLocal
// that started it, if one did.
func serveLocalWorker() (int, bool) {
	raw, ok := os.LookupEnv(localEnv)
	if !ok {
		return 0, false
	}
	serving.Store(true)
	os.Unsetenv(localEnv) // its child processes are the runtime's workers, not the cluster's
	var w localWorker
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		fmt.Fprintf(os.Stderr, "futuresgen cluster worker: bad %s: %v\n", localEnv, err)
		return 2, true
	}
	if os.Getenv("FUTURESGEN_CLUSTER_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	// Ctrl-C in a terminal is the driver's to act on: it closes our input.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	nc, err := Connect(w.URL, nats.Name("futuresgen worker "+w.Name))
	if err != nil {
		fmt.Fprintln(os.Stderr, "futuresgen cluster worker:", err)
		return 1, true
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
		fmt.Fprintf(os.Stderr, "futuresgen cluster worker %s: %v\n", w.Name, err)
		return 1, true
	}
	return 0, true
}

// named sets the name drivers' logs give the worker.
func named(name string) ServeOption {
	return option{serve: func(c *serveConfig) {
		host, _ := os.Hostname()
		c.name = fmt.Sprintf("%s (%s/%d)", name, host, os.Getpid())
	}}
}
