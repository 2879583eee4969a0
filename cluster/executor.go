package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/futuresgen/futuresgen/internal/engine"
	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/options"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/remote"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
	"github.com/futuresgen/futuresgen/runtime"
)

// Liveness. A worker sends each driver it works for a heartbeat every
// beatInterval; a driver that hears nothing from a worker for lostAfter
// declares it lost: its started calls fail with ErrWorkerDied (or run
// again under Retries) and the others run elsewhere. Drivers beat too,
// and a worker forgets a driver it has not heard from for driverLost,
// ending the calls it ran for it. Silence is counted in the time the
// listener was awake to hear (see quiet): a process stalled for a second
// (a loaded machine; the race detector copying 64 MiB) does not take its
// own deafness for its peer's death.
const (
	beatInterval = 250 * time.Millisecond
	lostAfter    = 4 * time.Second
	driverLost   = 15 * time.Second
)

// quiet measures how long a peer has said nothing. Each tick of the
// listener adds the time since its last tick, but at most two intervals:
// a tick that comes late means the listener itself was stalled, and what
// the peer said meanwhile may be waiting to be read.
type quiet struct {
	heard bool // something came since the last tick
	for_  time.Duration
}

func (q *quiet) hear() { q.heard = true }

// tick returns the silence so far, delta after the last tick.
func (q *quiet) tick(delta time.Duration) time.Duration {
	if q.heard {
		q.heard, q.for_ = false, 0
		return 0
	}
	q.for_ += min(delta, 2*beatInterval)
	return q.for_
}

// mapBuffer is Map's default read-ahead on a cluster executor.
const mapBuffer = 128

type executorConfig struct {
	common
	maxWorkers int
	queueLimit int
	retries    int
	lostAfter  time.Duration
	slowAfter  time.Duration // a worker busy for longer gets no call sent ahead (tests raise it)
}

// handle makes *Executor a runtime.Executor (see engine.Handle), without
// a field or a method in its documentation.
type handle = engine.Handle

var _ runtime.Executor = (*Executor)(nil)

// Executor runs generated tasks on the workers of a cluster: a
// runtime.Executor, so every generated SubmitX and MapX, AsCompleted,
// Wait and Map work on it as on a ProcessPool. Make one with NewExecutor
// (any program with a NATS connection) or get one from a Local.
//
// Calls wait in the executor until a worker has a free slot. To keep
// workers busy with short tasks, a busy worker also holds up to two calls
// per slot sent ahead, which start as its running ones end; they are
// taken back when another worker frees up first, and a worker whose task
// has run for over 2 ms gets none, so no call waits behind a slow task
// while another worker is free. Several executors (drivers) can share one
// set of workers. A future is Pending until a worker says it started the
// task, then Running. When a worker is lost — its process killed, its
// host down, its link cut: no heartbeat for 4 seconds — its started
// calls fail with runtime.ErrWorkerDied (or run again elsewhere under
// Retries), and nothing it had not started is lost.
//
// Submitting a call costs about as much as on a ProcessPool plus a NATS
// round trip; see the README for measured numbers.
type Executor struct {
	handle
	d *driver
}

// Stats is a snapshot of an executor's counters. Each input of a chunk
// (runtime.ChunkSize) counts as a future.
type Stats struct {
	Workers   int   // workers this executor can send calls to now
	Slots     int   // their slots, shared with other executors
	Submitted int64 // futures submitted
	Queued    int64 // waiting for a free slot
	Running   int64 // started on a worker and not done
	Completed int64 // finished without error
	Failed    int64 // finished with an error, a panic, or a lost worker
	Cancelled int64 // cancelled before they started
	Lost      int64 // workers lost while this executor used them
	Refused   int   // workers refused: another protocol or dispatch table
}

// driver is an executor's side of the protocol.
type driver struct {
	cfg    executorConfig
	nc     *nats.Conn
	me     peer   // this executor
	prefix string // of the subjects workers say things to it on: "ns.d.D.E."
	s      *sched.Scheduler
	log    *slog.Logger
	table  []wire.TaskSig
	digest string
	inline int // the largest body sent in one message

	inboxSub *nats.Subscription
	subs     []*nats.Subscription
	stop     chan struct{} // closed to end the ticker
	ticked   chan struct{} // closed when the ticker ended
	bg       sync.WaitGroup
	busy     atomic.Int64 // when the inbox callback began, in Unix ns; 0 when idle

	finishOnce sync.Once

	mu       sync.Mutex
	links    map[string]*link // by worker session token
	known    map[string]known // sessions accepted once, for a rejoin
	refused  map[string]bool  // session tokens refused, or being checked
	nextLink uint64
	joined   chan struct{} // closed and replaced when a worker joins
	nRefused int
	closed   bool
	dropped  int
}

// known is what a driver remembers of a worker session it accepted.
type known struct {
	session peer
	name    string
	slots   int
}

// NewExecutor returns an executor that runs tasks on the workers that
// Serve on nc's NATS server, in the same namespace. It does not own nc:
// close nc after the executor. Workers join and leave at any time; the
// executor sends calls to the ones that are there (see WaitForWorkers).
//
// Options: Namespace, With (MaxWorkers, QueueLimit), Retries, MaxPayload,
// Logger.
func NewExecutor(nc *nats.Conn, opts ...Option) (*Executor, error) {
	if nc == nil {
		panic("cluster: NewExecutor(nil)")
	}
	cfg := executorConfig{common: defaultCommon(), lostAfter: lostAfter, slowAfter: slowAfter}
	for _, o := range opts {
		o.applyExecutor(&cfg)
	}
	d := &driver{
		cfg:     cfg,
		nc:      nc,
		me:      peer{id: connID(nc), sub: nuid.Next()},
		log:     cfg.logger(),
		table:   registry.Table(),
		stop:    make(chan struct{}),
		ticked:  make(chan struct{}),
		links:   map[string]*link{},
		known:   map[string]known{},
		refused: map[string]bool{},
		joined:  make(chan struct{}),
		inline:  int(nc.MaxPayload()) - headerRoom,
	}
	d.prefix = strings.TrimSuffix(subjDriverInbox(cfg.ns, d.me.id, d.me.sub), ">")
	d.digest = tableDigest(d.table)
	d.s = sched.New(sched.Config{
		QueueLimit: cfg.queueLimit,
		Retries:    cfg.retries,
		MaxCalls:   cfg.maxWorkers,
		// A busy worker holds a few calls sent ahead, so that the next
		// starts as the last ends instead of a round trip later; they
		// are taken back when another worker frees up first, and a
		// worker busy for longer than a round trip or two gets none.
		// It starts them only once granted, one per slot ahead of its
		// running calls: at most once, whatever becomes of it.
		AheadPerSlot: aheadPerSlot,
		GrantPerSlot: 1,
		SlowAfter:    cfg.slowAfter,
	})
	var err error
	if d.inboxSub, err = nc.Subscribe(d.prefix+">", d.receive); err == nil {
		d.subs = append(d.subs, d.inboxSub)
		var sub *nats.Subscription
		if sub, err = nc.Subscribe(subjAnnouncements(cfg.ns), d.receive); err == nil {
			d.subs = append(d.subs, sub)
		}
	}
	for _, sub := range d.subs {
		// Never drop what a worker says: a dropped answer is a call that
		// never ends (heartbeats would show it, but late).
		sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		// Our subscriptions reach the server before any worker hears of us.
		err = nc.FlushTimeout(10 * time.Second)
	}
	if err != nil {
		d.unsubscribe()
		return nil, fmt.Errorf("cluster: NewExecutor: %w", err)
	}
	d.beat()
	go d.tick()
	return &Executor{handle: engine.NewHandle(engine.Engine{Remote: &remote.Executor{
		S:          d.s,
		Buffer:     mapBuffer,
		Refuse:     runtime.ErrShutdown,
		MaxPayload: cfg.maxPayload,
		Where:      "a cluster",
	}}), d: d}, nil
}

// Shutdown stops e taking new tasks, waits until the tasks submitted have
// finished, then lets its workers go (they go on serving other drivers),
// or until ctx ends. Submits after Shutdown began fail with
// runtime.ErrShutdown. With runtime.CancelPending, every task that has
// not started is cancelled, and running tasks' contexts end, on their
// workers. Shutdown returns ctx.Err() if ctx ends first (the work goes
// on, and a later Shutdown waits for it again), and nil otherwise.
func (e *Executor) Shutdown(ctx context.Context, opts ...runtime.ShutdownOption) error {
	return e.d.shutdown(ctx, options.Apply(opts).CancelPending)
}

// Close is Shutdown(context.Background()).
func (e *Executor) Close() error { return e.Shutdown(context.Background()) }

// WaitForWorkers waits until at least n workers have joined the executor
// (n slots is not the same: a worker may have many), or until ctx ends,
// and returns ctx's error then.
func (e *Executor) WaitForWorkers(ctx context.Context, n int) error {
	for {
		e.d.mu.Lock()
		ch := e.d.joined
		e.d.mu.Unlock()
		if e.d.s.Stats().Workers >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stats returns a snapshot of e's counters.
func (e *Executor) Stats() Stats {
	s := e.d.s.Stats()
	e.d.mu.Lock()
	refused := e.d.nRefused
	e.d.mu.Unlock()
	return Stats{
		Workers:   s.Workers,
		Slots:     s.Slots,
		Submitted: s.Submitted,
		Queued:    s.Queued,
		Running:   s.Running,
		Completed: s.Completed,
		Failed:    s.Failed,
		Cancelled: s.Cancelled,
		Lost:      s.WorkerDeaths,
		Refused:   refused,
	}
}

// shutdown is the executor's Shutdown, its options read.
func (d *driver) shutdown(ctx context.Context, cancelPending bool) error {
	d.s.Shutdown(cancelPending)
	if err := d.s.WaitDone(ctx); err != nil {
		return err
	}
	d.finish()
	return nil
}

// finish stops what the driver runs once its scheduler is done: no call
// is left and every worker was let go.
func (d *driver) finish() {
	d.finishOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		links := d.links
		d.links = map[string]*link{}
		d.mu.Unlock()
		for _, l := range links { // joined after the last bye
			l.lose(errLetGo)
		}
		close(d.stop)
		<-d.ticked
		d.unsubscribe()
		d.bg.Wait()
		d.nc.FlushTimeout(time.Second) // the byes; a closed connection has none to send
	})
}

func (d *driver) unsubscribe() {
	for _, sub := range d.subs {
		sub.Unsubscribe()
	}
}

// errLetGo is the cause of a worker the driver let go: none of its calls
// is left, so nothing fails with it.
var errLetGo = errors.New("cluster: the driver let the worker go")

// publish sends f to subject, reporting a failure to send.
func (d *driver) publish(subject string, f *frame) error {
	m, err := f.msg(subject)
	if err != nil {
		return err
	}
	return d.nc.PublishMsg(m)
}

// beat tells every worker that this driver is alive; workers that have no
// session with it announce themselves in reply.
func (d *driver) beat() {
	d.publish(subjDriverBeat(d.cfg.ns, d.me.sub, d.me.id), &frame{kind: kDriver})
}

// tick beats, and declares lost the workers not heard from for lostAfter.
func (d *driver) tick() {
	defer close(d.ticked)
	t := time.NewTicker(beatInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		if d.nc.IsClosed() {
			d.connectionClosed()
			continue
		}
		d.beat()
		now := time.Now()
		delta := now.Sub(last)
		last = now
		if b := d.busy.Load(); b != 0 && now.Sub(time.Unix(0, b)) > beatInterval {
			// This driver is the slow one (a callback of a future holds
			// up the inbox): what it has not read is not the workers'
			// silence.
			continue
		}
		d.mu.Lock()
		var silent []*link
		for _, l := range d.links {
			if l.silence(delta) > d.cfg.lostAfter {
				silent = append(silent, l)
			}
		}
		d.mu.Unlock()
		for _, l := range silent {
			l.lose(&errs.WorkerLost{Msg: fmt.Sprintf("%v: cluster worker %s: no word from it for %v", errs.WorkerDied, l.name, d.cfg.lostAfter)})
		}
		if n, err := d.inboxSub.Dropped(); err == nil && n > d.dropped {
			d.log.Warn("futuresgen cluster: the driver dropped messages from workers (slow consumer); the calls they concerned are found by heartbeats",
				"dropped", n-d.dropped)
			d.dropped = n
		}
	}
}

// connectionClosed gives up on everything a driver whose connection
// closed for good (closed by its owner, or its reconnects gave up) still
// waits for: the calls its workers run fail with ErrWorkerDied (no other
// worker can be reached to run them again), the queued ones and every
// later submit with ErrBrokenPool and ErrConnectionClosed, and Shutdown
// can finish.
func (d *driver) connectionClosed() {
	if d.s.Broken() != nil {
		return
	}
	d.log.Error("futuresgen cluster: the driver's NATS connection closed; its calls fail")
	d.s.Break(fmt.Errorf("%w: %w", errs.BrokenPool, ErrConnectionClosed))
	d.mu.Lock()
	links := make([]*link, 0, len(d.links))
	for _, l := range d.links {
		links = append(links, l)
	}
	d.mu.Unlock()
	for _, l := range links {
		l.lose(&errs.WorkerLost{Msg: fmt.Sprintf("%v: cluster worker %s: this driver's NATS connection closed", errs.WorkerDied, l.name)})
	}
}

// receive handles one message from a worker: the inbox's callback (one
// goroutine, in the order each worker sent them) and the announcements'.
// The sender is the subject's, which the server vouches for.
func (d *driver) receive(m *nats.Msg) {
	d.busy.Store(time.Now().UnixNano())
	defer d.busy.Store(0)
	from, ok := sender(m.Subject, d.prefix)
	if !ok {
		from, ok = sender(m.Subject, d.cfg.ns+".announce.")
	}
	f, err := parse(m)
	if !ok || err != nil {
		d.log.Warn("futuresgen cluster: a message that does not parse; dropped", "subject", m.Subject, "err", err)
		return
	}
	if f.kind == kAnnounce {
		d.announced(from, f)
		return
	}
	d.mu.Lock()
	l := d.links[from.sub]
	d.mu.Unlock()
	switch {
	case l != nil && l.session.id != from.id:
		d.log.Warn("futuresgen cluster: a message claims a worker session of another identity; dropped", "worker", l.name, "from", from)
		return
	case l == nil || l.lid != f.link:
		if f.kind == kBeat {
			d.staleBeat(from, l, f)
		}
		return // a late or replayed message of a link given up on
	}
	l.heard()
	switch f.kind {
	case kStarted:
		l.started(f.id)
	case kRevoked:
		l.revoked(f.id, f.full)
	case kUngrant:
		l.ungranted(f.id)
	case kAsk:
		d.s.Ask(l.worker())
	case kAnswer:
		l.answer(f)
	case kBeat:
		l.beat(f)
	case kLeave:
		d.log.Info("futuresgen cluster: worker leaving", "worker", l.name)
		d.s.Retire(l.worker())
	default:
		d.log.Warn("futuresgen cluster: an unexpected message; dropped", "worker", l.name, "kind", f.kind)
	}
}

// announced handles a worker's announcement: a worker that started, or
// one with no session with this driver, answering its heartbeat.
func (d *driver) announced(from peer, f *frame) {
	d.mu.Lock()
	l := d.links[from.sub]
	switch {
	case d.closed || d.refused[from.sub]:
		d.mu.Unlock()
		return
	case l != nil && l.session.id != from.id:
		d.mu.Unlock()
		d.log.Warn("futuresgen cluster: an announcement claims a worker session of another identity; dropped", "worker", l.name, "from", from)
		return
	case l != nil && f.link < l.lid:
		// It has not heard of the link yet: the join is on its way.
		d.mu.Unlock()
		return
	case l != nil:
		// It dropped our link (it did not hear from us for long): what it
		// ran for us is gone.
		d.mu.Unlock()
		l.lose(&errs.WorkerLost{Msg: fmt.Sprintf("%v: cluster worker %s forgot this driver's calls (it did not hear from the driver for %v)", errs.WorkerDied, l.name, driverLost)})
		d.mu.Lock()
	}
	d.refused[from.sub] = true // until checked
	d.mu.Unlock()
	if f.version == versionText && f.digest == d.digest {
		d.accept(from, f.name, f.slots, f.free)
		return
	}
	d.bg.Add(1)
	go func() { // fetching the table is a round trip: not in a callback
		defer d.bg.Done()
		d.check(from, f)
	}()
}

// check refuses a worker whose protocol or dispatch table differs, or
// accepts it after all.
func (d *driver) check(from peer, f *frame) {
	why := compareWorker(f.version, f.digest, d.table, func() ([]wire.TaskSig, error) {
		req, err := (&frame{kind: kTable}).msg(subjToWorker(d.cfg.ns, from, d.me))
		if err != nil {
			return nil, err
		}
		m, err := d.nc.RequestMsg(req, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return decodeTable(m.Data)
	})
	if why == nil {
		d.accept(from, f.name, f.slots, f.free)
		return
	}
	d.mu.Lock()
	d.nRefused++
	d.mu.Unlock()
	d.log.Warn("futuresgen cluster: worker refused", "worker", f.name, "reason", why.Error())
	d.publish(subjToWorker(d.cfg.ns, from, d.me), &frame{kind: kRefused, reason: why.Error()})
}

// accept opens a link to a worker session whose table matches.
func (d *driver) accept(session peer, name string, slots, free int) {
	d.mu.Lock()
	delete(d.refused, session.sub)
	if d.closed || d.links[session.sub] != nil {
		d.mu.Unlock()
		return
	}
	_, rejoin := d.known[session.sub]
	d.known[session.sub] = known{session: session, name: name, slots: slots}
	d.nextLink++
	l := newLink(d, session, name, slots, d.nextLink)
	d.links[session.sub] = l
	d.mu.Unlock()
	if rejoin {
		d.log.Info("futuresgen cluster: worker rejoined", "worker", name, "slots", slots)
	} else {
		d.log.Info("futuresgen cluster: worker joined", "worker", name, "slots", slots)
	}
	// The worker hears of the link from its first call or from the join,
	// both sent once the link knows its worker: whatever it answers finds
	// it ready.
	w := d.s.Join(name, slots, func(w *sched.Worker) sched.Link {
		l.mu.Lock()
		l.w = w
		l.mu.Unlock()
		return l
	})
	l.join()
	if free < slots {
		d.s.Available(w, free) // busy with other drivers' calls
	}
	d.mu.Lock()
	close(d.joined) // once the scheduler has it: WaitForWorkers counts it there
	d.joined = make(chan struct{})
	d.mu.Unlock()
}

// staleBeat handles a heartbeat of a link that is not open: the worker
// did not hear of the newer one yet, or this driver lost it while the
// worker went on.
func (d *driver) staleBeat(from peer, l *link, f *frame) {
	if l != nil {
		if f.link < l.lid {
			l.join() // the join may have been lost; saying it again is harmless
		}
		return
	}
	d.mu.Lock()
	k, ok := d.known[from.sub]
	d.mu.Unlock()
	if ok && k.session == from {
		d.accept(from, k.name, k.slots, f.free)
	}
}

// forget removes l from the open links, if it is there.
func (d *driver) forget(l *link) {
	d.mu.Lock()
	if d.links[l.session.sub] == l {
		delete(d.links, l.session.sub)
	}
	d.mu.Unlock()
}
