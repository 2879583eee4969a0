package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
	"github.com/futuresgen/futuresgen/internal/worker"
)

type serveConfig struct {
	common
	slots     int
	inProcess bool
	grace     time.Duration
	name      string // how drivers' logs name the worker; default host/pid
}

// defaultGrace is a worker's GracePeriod unless told otherwise.
const defaultGrace = 3 * time.Second

// aheadPerSlot bounds the calls a worker holds sent ahead, per slot.
const aheadPerSlot = 2

// slowAfter is how long a call runs before it is taken for a slow one: a
// driver sends nothing ahead to a worker whose calls all run longer, and
// such a worker gives up the grants of the calls it holds.
const slowAfter = 2 * time.Millisecond

// ErrConnectionClosed is what Serve returns when its NATS connection
// closed for good (it gave up reconnecting, or was closed).
var ErrConnectionClosed = errors.New("cluster: the NATS connection closed")

// Serve makes this process a worker of every driver in its namespace on
// nc's NATS server, and returns when ctx ends (after draining: it takes
// no new call, finishes those it runs and sends their results, then tells
// the drivers it left) or when nc closes (ErrConnectionClosed). It does
// not close nc.
//
// The worker runs up to Slots tasks at once, for any number of drivers,
// each in a child process of its own (this same binary, started again:
// main must call runtime.ServeWorker() first), so that a task that
// crashes fails alone, and one that ignores the end of its context is
// killed after GracePeriod. With InProcess, tasks run on goroutines.
// Serve returns an error at once if the child processes cannot start.
//
// A driver whose dispatch table differs from the worker's refuses it,
// naming the difference; the worker logs that and serves the others.
//
// Options: Slots, InProcess, GracePeriod, Namespace, MaxPayload, Logger.
func Serve(ctx context.Context, nc *nats.Conn, opts ...ServeOption) error {
	if nc == nil {
		panic("cluster: Serve(nil)")
	}
	cfg := serveConfig{common: defaultCommon(), slots: goruntime.GOMAXPROCS(0), grace: defaultGrace}
	for _, o := range opts {
		o.applyServe(&cfg)
	}
	host, _ := os.Hostname()
	if cfg.name == "" {
		cfg.name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	var run worker.Runner
	if cfg.inProcess {
		run = worker.InProcess()
	} else {
		r, err := worker.StartChildren(cfg.slots, cfg.grace)
		if err != nil {
			return fmt.Errorf("cluster: Serve: %w", err)
		}
		run = r
	}
	defer run.Close()
	s := &server{
		cfg:     cfg,
		nc:      nc,
		me:      peer{id: connID(nc), sub: nuid.Next()},
		host:    host,
		log:     cfg.logger(),
		run:     run,
		w:       worker.New(context.Background(), worker.Config{Slots: cfg.slots, HoldPerSlot: aheadPerSlot, SlowAfter: slowAfter}),
		table:   registry.Table(),
		drivers: map[string]*driverSession{},
		byes:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		stop:    make(chan struct{}),
		tickEnd: make(chan struct{}),
		inline:  int(nc.MaxPayload()) - headerRoom,
	}
	s.digest = tableDigest(s.table)
	s.prefix = subjWorkerInbox(cfg.ns, s.me.id, s.me.sub)
	s.prefix = s.prefix[:len(s.prefix)-1] // "ns.w.W.S."
	if err := s.subscribe(); err != nil {
		s.unsubscribe()
		return fmt.Errorf("cluster: Serve: %w", err)
	}
	go s.tick()
	s.log.Debug("futuresgen cluster: serving", "worker", cfg.name, "session", s.me, "slots", cfg.slots)
	s.announce(subjAnnounce(cfg.ns, s.me.sub, s.me.id), 0)
	var err error
	select {
	case <-ctx.Done():
		s.drain()
	case <-s.closed:
		err = ErrConnectionClosed
	}
	close(s.stop)
	<-s.tickEnd
	s.unsubscribe()
	s.mu.Lock()
	var drop []*driverSession
	for _, d := range s.drivers {
		drop = append(drop, d)
	}
	s.mu.Unlock()
	for _, d := range drop {
		s.drop(d)
	}
	s.w.Stop()
	s.calls.Wait()
	return err
}

// server is a worker at work: its NATS side. What it runs, holds and owes
// each driver is its worker.Worker's.
type server struct {
	cfg     serveConfig
	nc      *nats.Conn
	me      peer   // this worker session
	prefix  string // of the subjects it is sent to: "ns.w.W.S."
	host    string
	log     *slog.Logger
	run     worker.Runner
	w       *worker.Worker
	table   []wire.TaskSig
	digest  string
	inline  int
	subs    []*nats.Subscription
	calls   sync.WaitGroup // goroutines running calls
	closed  chan struct{}  // closed when nc closed for good
	stop    chan struct{}  // closed to end the ticker
	tickEnd chan struct{}  // closed when the ticker ended
	byes    chan struct{}  // a driver said bye

	mu       sync.Mutex
	drivers  map[string]*driverSession // by executor token
	draining bool
}

// driverSession is what a worker knows of one executor: the newest link
// it opened, and the engine session of that link.
type driverSession struct {
	peer    peer   // the executor
	subject string // where the worker says things to it
	// Under server.mu.
	lid     uint64
	sess    *worker.Session // the link's; a newer link gets a new one
	w       *writer         // the link's
	quiet   quiet
	dropped bool // forgotten: it said bye, or was silent for driverLost
	refused bool // it refused this worker
	offers  map[*offer]struct{}
	seen    atomic.Uint64 // every call of lid below this ID was received
}

// wcall is what the worker keeps of a call: its frame, and the driver
// session and link that sent it.
type wcall struct {
	f *frame
	d *driverSession
	w *writer
}

// offer is a result offered in chunks to a driver, until it fetched it.
type offer struct{ release func() }

func (s *server) subscribe() error {
	for _, sub := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		// Everything a driver says to this session, in order; a call only
		// starts (or waits, or is refused) here: the callback never waits.
		{s.prefix + ">", s.onMessage},
		{subjDriverBeats(s.cfg.ns), s.onDriverBeat},
	} {
		sub, err := s.nc.Subscribe(sub.subject, sub.fn)
		if err != nil {
			return err
		}
		sub.SetPendingLimits(-1, -1)
		s.subs = append(s.subs, sub)
	}
	// The subscriptions reach the server before any driver hears of us.
	return s.nc.FlushTimeout(10 * time.Second)
}

func (s *server) unsubscribe() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
}

// publish sends f to a driver. Only the goroutine writing a session's
// messages, or one with nothing to keep in order, calls it.
func (s *server) publish(subject string, f *frame) {
	m, err := f.msg(subject)
	if err == nil {
		err = s.nc.PublishMsg(m)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Warn("futuresgen cluster: sending to a driver", "worker", s.cfg.name, "subject", subject, "err", err)
	}
}

// announce tells drivers (all of them, or one) that this worker is here;
// knownLink is the link it last knew of that driver.
func (s *server) announce(subject string, knownLink uint64) {
	s.publish(subject, &frame{kind: kAnnounce, link: knownLink, name: s.cfg.name, host: s.host, pid: os.Getpid(),
		slots: s.cfg.slots, free: s.w.Room(), version: versionText, digest: s.digest})
}

// writer writes a link's messages to its driver: the engine session's
// Writer.
type writer struct {
	s   *server
	d   *driverSession
	lid uint64
}

func (w *writer) send(f *frame) error {
	f.link = w.lid
	w.s.publish(w.d.subject, f)
	return nil
}

// Write sends what the engine owes the driver: Started and Revoked.
func (w *writer) Write(m *wire.Msg) error {
	switch m.Kind {
	case wire.KindStarted:
		return w.send(&frame{kind: kStarted, id: m.ID})
	case wire.KindRevoked:
		return w.send(&frame{kind: kRevoked, id: m.ID, full: m.Full})
	case wire.KindUngranted:
		return w.send(&frame{kind: kUngrant, id: m.ID})
	case wire.KindAsk:
		return w.send(&frame{kind: kAsk})
	}
	return fmt.Errorf("cluster: the worker has no frame for a %v", m.Kind)
}

// Flush does nothing: each message was published as it was written.
func (w *writer) Flush(bool) error { return nil }

// beat sends the driver a heartbeat: the room the worker has, the ID
// below which it received every call of the link, and the calls of the
// link it holds. Written in order with the link's answers, so that a
// call it does not hold was answered before.
func (w *writer) beat(sess *worker.Session) error {
	return w.send(&frame{kind: kBeat, free: w.s.w.Room(), seen: w.d.seen.Load(), held: sess.Calls()})
}

// openLocked opens a new link lid of d: an engine session of its own.
// s.mu is held.
func (s *server) openLocked(d *driverSession, lid uint64) {
	w := &writer{s: s, d: d, lid: lid}
	var sess *worker.Session
	sess = s.w.Open(worker.SessionConfig{
		Writer:    w,
		ReportAll: true, // a driver counts a call Running only when told
		Grants:    true,
		OnRoom:    func(worker.Writer) error { return w.beat(sess) },
	})
	d.lid, d.sess, d.w, d.dropped = lid, sess, w, false
	d.seen.Store(0)
}

// session returns the driver session that sent f, with f's link open, or
// nil if f belongs to a link the driver gave up on (or claims an
// executor of another identity). A newer link ends the calls of the older
// one: the driver failed them, or runs them elsewhere.
func (s *server) session(from peer, f *frame) *driverSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drivers[from.sub]
	switch {
	case d == nil:
		d = &driverSession{peer: from, subject: subjToDriver(s.cfg.ns, from, s.me), offers: map[*offer]struct{}{}}
		s.drivers[from.sub] = d
		s.openLocked(d, f.link)
	case d.peer.id != from.id:
		s.log.Warn("futuresgen cluster: a message claims an executor of another identity; dropped", "worker", s.cfg.name, "executor", from)
		return nil
	case f.link < d.lid || f.link == d.lid && d.dropped:
		return nil
	case f.link > d.lid:
		old := d.sess
		s.openLocked(d, f.link)
		go old.Close()
	}
	d.quiet.hear()
	return d
}

// onMessage handles what a driver says to this session.
func (s *server) onMessage(m *nats.Msg) {
	from, ok := sender(m.Subject, s.prefix)
	f, err := parse(m)
	if !ok || err != nil {
		s.log.Warn("futuresgen cluster: a message that does not parse; dropped", "worker", s.cfg.name, "subject", m.Subject, "err", err)
		return
	}
	switch f.kind {
	case kCall, kBatch:
		s.onCall(from, f)
	case kCancel, kRevoke, kGrant:
		s.mu.Lock()
		d := s.drivers[from.sub]
		var sess *worker.Session
		if d != nil && d.peer == from && d.lid == f.link && !d.dropped {
			sess = d.sess
			d.quiet.hear()
		}
		s.mu.Unlock()
		switch {
		case sess == nil:
		case f.kind == kCancel:
			sess.Cancel(f.id, f.reason == reasonDeadline)
		case f.kind == kRevoke:
			sess.Revoke(f.id)
		default:
			for _, c := range sess.Grant(f.id) {
				s.calls.Add(1)
				go s.runCall(c)
			}
		}
	case kJoin:
		if d := s.session(from, f); d != nil {
			s.mu.Lock()
			sess, w := d.sess, d.w
			s.mu.Unlock()
			sess.Send(func(worker.Writer) error { return w.beat(sess) })
		}
	case kBye:
		s.mu.Lock()
		d := s.drivers[from.sub]
		bye := d != nil && d.peer == from && d.lid == f.link
		s.mu.Unlock()
		if bye {
			s.drop(d)
			select {
			case s.byes <- struct{}{}:
			default:
			}
		}
	case kRefused:
		s.mu.Lock()
		d := s.drivers[from.sub]
		if d == nil {
			d = &driverSession{peer: from, subject: subjToDriver(s.cfg.ns, from, s.me), offers: map[*offer]struct{}{}, dropped: true}
			s.drivers[from.sub] = d
		}
		first := !d.refused && d.peer == from
		d.refused = d.refused || first
		s.mu.Unlock()
		if first {
			s.log.Error("futuresgen cluster: refused by a driver", "worker", s.cfg.name, "driver", from, "reason", f.reason)
		}
	case kTable:
		if m.Reply != "" {
			m.Respond(encodeTable(s.table))
		}
	default:
		s.log.Warn("futuresgen cluster: an unexpected message; dropped", "worker", s.cfg.name, "driver", from, "kind", f.kind)
	}
}

// onCall takes a call: the engine starts it if it may (a free slot, and
// its grant), holds it if it was sent ahead and there is room, and refuses
// it otherwise (for want of a slot: it goes back to its driver's queue).
func (s *server) onCall(from peer, f *frame) {
	d := s.session(from, f)
	if d == nil {
		return
	}
	for seen := d.seen.Load(); f.id+1 > seen && !d.seen.CompareAndSwap(seen, f.id+1); seen = d.seen.Load() {
	}
	s.mu.Lock()
	sess, w := d.sess, d.w
	s.mu.Unlock()
	if _, err := worker.Refusal(f.task); err != nil {
		af := answerFrame(worker.ErrorAnswer(f.id, err))
		sess.Send(func(worker.Writer) error { af.free, af.freeSet = s.w.Room(), true; return w.send(af) })
		return
	}
	c := &worker.Call{ID: f.id, Task: f.task, Ahead: f.ahead, Granted: f.granted, Timeout: time.Duration(f.timeout), Value: &wcall{f: f, d: d, w: w}}
	if sess.Receive(c) {
		s.calls.Add(1)
		go s.runCall(c)
	}
}

// runCall runs c, which holds a slot, and answers it; then the calls
// that take its slot after it.
func (s *server) runCall(c *worker.Call) {
	defer s.calls.Done()
	for c != nil {
		c = s.runOne(c)
	}
}

// runOne runs c and answers it, and returns the next call to run on its
// slot, or nil.
func (s *server) runOne(c *worker.Call) *worker.Call {
	wc := c.Value.(*wcall)
	f := wc.f
	limit := s.cfg.maxPayload
	if f.max > 0 {
		limit = min(limit, f.max)
	}
	total := payloadBound(limit, f)
	var ans *wire.Msg
	payload := f.body
	if ref := f.ref; ref != nil {
		var err error
		if payload, err = blob.Fetch(c.Context(), s.nc, *ref, int64(total), blob.FetchOptions{}); err != nil {
			if cerr := c.Context().Err(); cerr != nil {
				err = cerr
			} else {
				err = fmt.Errorf("futuresgen: fetching the arguments of task %s from the driver: %w", f.task, err)
			}
			ans = worker.ErrorAnswer(f.id, err)
		}
	}
	if ans == nil {
		ans = s.run.Run(c.Context(), &worker.Request{ID: f.id, Task: f.task, Batch: f.kind == kBatch, Count: f.count, ItemMax: limit, Total: total, Payload: payload})
		ans.ID = f.id
		if len(ans.Payload) > total {
			e, _ := worker.Refusal(f.task)
			ans = worker.ErrorAnswer(f.id, fmt.Errorf("futuresgen: the result of task %s (%s) cannot cross the process boundary: %w: it encodes to %d bytes, over the limit of %d bytes",
				f.task, e.Result, wire.ErrTooLarge, len(ans.Payload), total))
		}
	}
	af := answerFrame(ans)
	if len(ans.Payload) > s.inline {
		af = s.offer(c, wc, af, ans.Payload)
	}
	return c.Session().Finish(c, func(worker.Writer) error {
		// The slot is free before the answer goes (and the next call held
		// may have taken it): the answer says what room is left.
		af.free, af.freeSet = s.w.Room(), true
		return wc.w.send(af)
	})
}

// offer offers a result larger than one message in chunks to its driver,
// until the driver fetched it or forgets the link.
func (s *server) offer(c *worker.Call, wc *wcall, af *frame, payload []byte) *frame {
	d, f := wc.d, wc.f
	o := &offer{}
	ref, release, err := blob.Offer(s.nc, subjBlob(s.cfg.ns, s.me.id), payload, func() {
		// The driver fetched it, or the offer was released.
		s.mu.Lock()
		delete(d.offers, o)
		s.mu.Unlock()
	})
	if err != nil {
		return answerFrame(worker.ErrorAnswer(f.id, fmt.Errorf("futuresgen: the result of task %s (%d bytes) could not be offered to the driver: %w", f.task, len(payload), err)))
	}
	o.release = release
	s.mu.Lock()
	live := !d.dropped && d.sess == c.Session()
	if live {
		d.offers[o] = struct{}{} // until the driver fetched it, or is forgotten
	}
	s.mu.Unlock()
	if !live {
		release() // nobody takes this answer
	}
	af.ref, af.body = &ref, nil
	return af
}

// drop forgets d: the calls it holds are dropped and those running end,
// and the results it did not fetch are no longer offered.
func (s *server) drop(d *driverSession) {
	s.mu.Lock()
	d.dropped = true
	sess := d.sess
	var offers []*offer
	for o := range d.offers {
		offers = append(offers, o)
	}
	s.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
	for _, o := range offers {
		o.release()
	}
}

// onDriverBeat handles an executor's heartbeat: the worker announces
// itself to one it has no link with, and forgets none it hears from.
func (s *server) onDriverBeat(m *nats.Msg) {
	from, ok := sender(m.Subject, s.cfg.ns+".drivers.")
	if !ok {
		return
	}
	s.mu.Lock()
	d := s.drivers[from.sub]
	var knownLink uint64
	switch {
	case d != nil && (d.refused || d.peer != from):
		s.mu.Unlock()
		return
	case d != nil && !d.dropped:
		d.quiet.hear()
		s.mu.Unlock()
		return
	case d != nil:
		knownLink = d.lid
	}
	draining := s.draining
	s.mu.Unlock()
	if !draining {
		s.announce(subjToDriver(s.cfg.ns, from, s.me), knownLink)
	}
}

// tick sends heartbeats, forgets silent drivers, and watches the
// connection.
func (s *server) tick() {
	defer close(s.tickEnd)
	t := time.NewTicker(beatInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if s.nc.IsClosed() {
			close(s.closed)
			<-s.stop
			return
		}
		now := time.Now()
		delta := now.Sub(last)
		last = now
		var silent []*driverSession
		type beat struct {
			w    *writer
			sess *worker.Session
		}
		var beats []beat
		s.mu.Lock()
		for _, d := range s.drivers {
			switch {
			case d.dropped || d.refused:
			case d.quiet.tick(delta) > driverLost:
				silent = append(silent, d)
			default:
				beats = append(beats, beat{d.w, d.sess})
			}
		}
		s.mu.Unlock()
		for _, d := range silent {
			s.log.Info("futuresgen cluster: a driver went silent; its calls end", "worker", s.cfg.name, "driver", d.peer)
			s.drop(d)
		}
		for _, b := range beats {
			b.sess.Send(func(worker.Writer) error { return b.w.beat(b.sess) })
		}
	}
}

// byeWait bounds how long a worker that drains waits for a driver's bye.
const byeWait = 3 * time.Second

// drain stops taking calls, tells the drivers the worker is leaving, and
// waits for the calls it runs. Then it waits for each driver's bye (sent
// once the driver holds no call here), refusing what comes meanwhile: a
// call a driver sent before it read the leave goes back to its queue
// instead of into a worker that is gone.
func (s *server) drain() {
	s.mu.Lock()
	s.draining = true
	var live []*driverSession
	for _, d := range s.drivers {
		if !d.dropped && !d.refused {
			live = append(live, d)
		}
	}
	s.mu.Unlock()
	s.w.Drain() // what it holds goes back first
	for _, d := range live {
		s.mu.Lock()
		w, sess := d.w, d.sess
		s.mu.Unlock()
		sess.Send(func(worker.Writer) error { return w.send(&frame{kind: kLeave}) })
	}
	select {
	case <-s.w.Idle():
	case <-s.closed:
		return
	}
	s.nc.FlushTimeout(5 * time.Second)
	timeout := time.NewTimer(byeWait)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		waiting := 0
		for _, d := range s.drivers {
			if !d.dropped && !d.refused {
				waiting++
			}
		}
		s.mu.Unlock()
		if waiting == 0 {
			return
		}
		select {
		case <-s.byes:
		case <-timeout.C:
			s.log.Debug("futuresgen cluster: drivers did not say bye", "worker", s.cfg.name, "drivers", waiting)
			return
		case <-s.closed:
			return
		}
	}
}
