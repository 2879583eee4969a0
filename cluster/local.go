package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
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
	tls        *tls.Config // the user's, or nil: a generated one beyond loopback
	insecure   bool        // no TLS beyond loopback, knowingly
	serveOpts  []ServeOption
	execOpts   []Option
}

// Local is a cluster on this machine, made by StartLocal: an embedded
// NATS server, worker processes of this program, and a driver.
type Local struct {
	srv    *embedded.Server
	nc     *nats.Conn
	url    string // the server's address, for other hosts: no secret
	public string // host:port of url
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
// The cluster is secure by default: every connection to its server
// authenticates with the secret of its role, worker or driver (WorkerURL
// and DriverURL carry them; URL does not), the server lets each
// connection do what its role needs and nothing more, and beyond
// loopback (Listen) every connection is encrypted with TLS, from a
// certificate made in memory and pinned in the join URLs (TLS brings your
// own; Insecure turns it off, knowingly).
//
// The worker processes are this binary again, in which
// runtime.ServeWorker() serves as a cluster worker: main must call it
// first. They get their secret from this process on their standard input,
// never on a command line or in their environment. They exit when this
// process exits, or at Close. One that exits before (it crashed, or was
// killed) is replaced, after a pause that grows while they keep exiting;
// one that keeps dying before it joins is given up on after three tries,
// with an error in the driver's log. More workers, on this host or on
// others, join with WorkerURL (Listen makes the server reachable from
// other hosts).
//
// Options: Workers, Listen, TLS, Insecure, Namespace; ServeOptions
// (Slots, InProcess, GracePeriod) configure the worker processes, and
// Options (With, Retries, Logger) the driver that Executor returns.
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
	log := execLogger(cfg.execOpts)
	// No replies: a reply goes wherever the asker says, so that the last
	// token of what one publishes would not always be one's own identity.
	auth, err := secure.NewAuth(cfg.ns, log, secure.WithoutResponses())
	if err != nil {
		return nil, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	generate, plaintext := tlsPlan(cfg)
	if plaintext {
		log.Warn("futuresgen cluster: StartLocal listens beyond loopback without TLS (Insecure): the secrets, and every argument and result, cross the network in plaintext", "listen", cfg.listen)
	}
	srv, err := embedded.Start(embedded.Config{
		Listen:       cfg.listen,
		PingInterval: secure.PingInterval,
		MaxPingsOut:  secure.MaxPingsOut,
		Auth:         auth,
		TLS:          cfg.tls,
		GenerateTLS:  generate,
		Insecure:     cfg.insecure,
	})
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
	self, public, err := serverAddrs(srv)
	if err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l.public = public
	l.url = srv.Join(secure.Worker, public).ServerURL()
	// The drivers of this process reach the server in-process: no TCP,
	// no TLS.
	if l.nc, err = srv.ConnectInProcess(secure.Driver, log, nats.Name("futuresgen driver")); err != nil {
		return l, fmt.Errorf("cluster: StartLocal: %w", err)
	}
	l.worker = localWorker{URL: srv.Join(secure.Worker, self).Reveal(), Namespace: cfg.ns, Slots: sc.slots, InProcess: sc.inProcess, Grace: sc.grace, MaxPayload: sc.maxPayload}
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

// tlsPlan says how StartLocal's server encrypts its connections: with a
// certificate it generates (beyond loopback, unless TLS brought one or
// Insecure turned TLS off), and whether it sends everything in plaintext
// beyond loopback (Insecure, and no TLS of the user's).
func tlsPlan(cfg localConfig) (generate, plaintext bool) {
	beyond := !listensOnLoopback(cfg.listen)
	return beyond && cfg.tls == nil && !cfg.insecure, beyond && cfg.tls == nil && cfg.insecure
}

// listensOnLoopback reports whether addr, host:port, is a loopback
// address: one that only this host reaches. A name other than localhost
// is not taken for one.
func listensOnLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// serverAddrs returns the host:port this host's processes reach srv at,
// and the one other hosts do: for a server listening on every address,
// this host's first address that is not a loopback one.
func serverAddrs(srv *embedded.Server) (self, public string, err error) {
	addr, ok := srv.NS.Addr().(*net.TCPAddr)
	if !ok {
		return "", "", fmt.Errorf("the NATS server listens on %v, not TCP", srv.NS.Addr())
	}
	port := strconv.Itoa(addr.Port)
	if !addr.IP.IsUnspecified() {
		a := net.JoinHostPort(addr.IP.String(), port)
		return a, a, nil
	}
	self = net.JoinHostPort("127.0.0.1", port)
	public = self
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				public = net.JoinHostPort(n.IP.String(), port)
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

// URL returns the address of the cluster's server, without any secret:
// nats://127.0.0.1:port unless Listen made it listen elsewhere (tls://
// when its connections use TLS). For logs and display: joining needs
// WorkerURL or DriverURL.
func (l *Local) URL() string { return l.url }

// WorkerURL returns the join URL a worker on any host passes to Connect to
// serve this cluster (then Serve): the server's address as other hosts
// reach it, the worker secret, the namespace and, with TLS, the pin of
// the server's certificate. Treat it as a password: whoever has it may
// serve tasks to this cluster's drivers. A worker secret cannot submit
// tasks, nor read other workers' calls and results.
func (l *Local) WorkerURL() string { return l.srv.Join(secure.Worker, l.public).Reveal() }

// DriverURL returns the join URL another driver, on any host, passes to
// Connect to submit tasks to this cluster (then NewExecutor). Treat it as a
// password: whoever has it may run this program's tasks on the workers. A
// driver secret cannot answer as a worker.
func (l *Local) DriverURL() string { return l.srv.Join(secure.Driver, l.public).Reveal() }

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

// Connect connects to a cluster's NATS server at url: a join URL
// (WorkerURL or DriverURL of a Local, or one made for a server of your
// own), or a plain nats:// URL. A join URL authenticates the connection
// with its role's secret and a new identity of this process's own, with
// TLS when it says tls://, checking the server's certificate against the
// URL's pin before the secret leaves; its namespace becomes the default
// of Serve and NewExecutor on the connection. Connect never sends a
// secret in plaintext to a host beyond loopback, and no error it returns
// holds one.
//
// The connection pings every 2 seconds with three outstanding, so that it
// notices a dead server or link in about 8 seconds instead of minutes,
// and reconnects for ever; nats.go's asynchronous errors and reconnects go
// to slog.Default() rather than standard error. opts apply after those.
// Any *nats.Conn works with NewExecutor and Serve; this one notices
// trouble sooner.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	return connect(url, slog.Default(), opts...)
}

// connect is Connect, logging what happens to the connection to log.
func connect(url string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	nc, j, err := secure.Connect(url, log, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if j.Namespace != "" {
		joinNamespaces.remember(nc, j.Namespace)
	}
	return nc, nil
}

// joinNamespaces remembers the namespace of the join URL each connection
// was made with, until the connection is garbage.
var joinNamespaces namespaces

type namespaces struct{ m sync.Map } // weak.Pointer[nats.Conn] → string

func (n *namespaces) remember(nc *nats.Conn, ns string) {
	k := weak.Make(nc)
	n.m.Store(k, ns)
	goruntime.AddCleanup(nc, func(k weak.Pointer[nats.Conn]) { n.m.Delete(k) }, k)
}

// of returns the namespace of nc's join URL, or "".
func (n *namespaces) of(nc *nats.Conn) string {
	if v, ok := n.m.Load(weak.Make(nc)); ok {
		return v.(string)
	}
	return ""
}
