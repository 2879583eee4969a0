package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

type serveConfig struct {
	common
	slots     int
	inProcess bool
	grace     time.Duration
	name      string // how drivers' logs name the worker; default host/pid
}

// startedFlush bounds how long a worker waits for the NATS server to
// have a call's Started before it runs the call.
const startedFlush = 5 * time.Second

// defaultGrace is a worker's GracePeriod unless told otherwise.
const defaultGrace = 3 * time.Second

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
	if cfg.name == "" {
		host, _ := os.Hostname()
		cfg.name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	var run backend
	if cfg.inProcess {
		run = inProcess{}
	} else {
		r, err := newRelay(cfg.slots, cfg.grace)
		if err != nil {
			return fmt.Errorf("cluster: Serve: %w", err)
		}
		run = r
	}
	defer run.close()
	w := &server{
		cfg:     cfg,
		nc:      nc,
		session: nuid.Next(),
		log:     cfg.logger(),
		run:     run,
		table:   registry.Table(),
		free:    cfg.slots,
		drivers: map[string]*session{},
		idle:    make(chan struct{}),
		byes:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		stop:    make(chan struct{}),
		tickEnd: make(chan struct{}),
		inline:  int(nc.MaxPayload()) - headerRoom,
	}
	w.digest = tableDigest(w.table)
	if err := w.subscribe(); err != nil {
		w.unsubscribe()
		return fmt.Errorf("cluster: Serve: %w", err)
	}
	go w.tick()
	w.log.Debug("futuresgen cluster: serving", "worker", cfg.name, "session", w.session, "slots", cfg.slots)
	w.announce(subjAnnounce(cfg.ns), 0)
	var err error
	select {
	case <-ctx.Done():
		w.drain()
	case <-w.closed:
		err = ErrConnectionClosed
	}
	close(w.stop)
	<-w.tickEnd
	w.unsubscribe()
	var offers []*offer
	w.mu.Lock()
	for _, d := range w.drivers {
		offers = append(offers, w.dropLocked(d)...)
	}
	w.mu.Unlock()
	releaseAll(offers)
	w.calls.Wait()
	return err
}

// backend runs calls: in child processes (relay) or on goroutines.
type backend interface {
	// run runs c, whose arguments are payload, and returns its answer.
	run(c *wcall, payload []byte) *wire.Msg
	close()
}

// server is a worker at work.
type server struct {
	cfg     serveConfig
	nc      *nats.Conn
	session string
	log     *slog.Logger
	run     backend
	table   []wire.TaskSig
	digest  string
	inline  int
	subs    []*nats.Subscription
	calls   sync.WaitGroup // calls running
	closed  chan struct{}  // closed when nc closed for good
	stop    chan struct{}  // closed to end the ticker
	tickEnd chan struct{}  // closed when the ticker ended

	mu       sync.Mutex // also orders what the worker publishes to a driver
	free     int
	running  int
	drivers  map[string]*session // by driver ID
	waiting  []*wcall            // calls sent ahead, to start in order as slots free up
	draining bool
	idle     chan struct{} // closed once draining and no call runs
	byes     chan struct{} // a driver said bye
}

// session is what a worker knows of one driver: the newest link it
// opened, and the calls of that link the worker holds.
type session struct {
	id    string
	inbox string
	lid   uint64
	seen  uint64            // every call of lid below this ID was received
	held  map[uint64]*wcall // calls of lid, started or waiting for a slot
	// early are the calls of lid that a cancel or revoke named before the
	// call itself came (they travel on separate subjects, and may overtake
	// it): such a call is given back, never run.
	early   map[uint64]bool
	quiet   quiet
	dropped bool // forgotten: it said bye, or was silent for driverLost
	refused bool // it refused this worker
	room    bool // it was refused a call for want of a slot: tell it when one frees
	offers  map[*offer]struct{}
}

// offer is a result offered in chunks to a driver, until it fetched it.
type offer struct{ release func() }

// wcall is a call a worker started.
type wcall struct {
	d      *session
	lid    uint64
	f      *frame
	entry  *registry.Entry
	ctx    context.Context
	cancel context.CancelFunc
	limit  int // bounds each input's encoded result
	total  int // bounds the call's results together (a batch's: limit per input)

	started bool // false while it waits in server.waiting
}

// aheadPerSlot bounds the calls a worker holds sent ahead, per slot.
const aheadPerSlot = 2

func (w *server) subscribe() error {
	ns := w.cfg.ns
	for _, s := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		// Calls only start (or are refused) in their callback: it never
		// waits, so calls never wait behind one another.
		{subjWorker(ns, w.session, "call"), w.onCall},
		{subjWorker(ns, w.session, "ctl"), w.onCtl},
		{subjWorker(ns, w.session, "table"), func(m *nats.Msg) { m.Respond(encodeTable(w.table)) }},
		{subjDrivers(ns), w.onDriver},
	} {
		sub, err := w.nc.Subscribe(s.subject, s.fn)
		if err != nil {
			return err
		}
		sub.SetPendingLimits(-1, -1)
		w.subs = append(w.subs, sub)
	}
	// The subscriptions reach the server before any driver hears of us.
	return w.nc.FlushTimeout(10 * time.Second)
}

func (w *server) unsubscribe() {
	for _, sub := range w.subs {
		sub.Unsubscribe()
	}
}

// publishLocked sends f to d's inbox. w.mu is held, so that messages to
// one driver leave in the order the worker's state changed.
func (w *server) publishLocked(d *session, f *frame) {
	f.worker = w.session
	if f.link == 0 {
		f.link = d.lid
	}
	m, err := f.msg(d.inbox)
	if err == nil {
		err = w.nc.PublishMsg(m)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		w.log.Warn("futuresgen cluster: sending to a driver", "driver", d.id, "err", err)
	}
}

// announce tells drivers (a subject: all of them, or one's inbox) that
// this worker is here; knownLink is the link it last knew of that driver.
func (w *server) announce(subject string, knownLink uint64) {
	w.mu.Lock()
	f := &frame{kind: kAnnounce, worker: w.session, link: knownLink, name: w.cfg.name, slots: w.cfg.slots,
		free: w.roomLocked(), version: versionText, digest: w.digest}
	w.mu.Unlock()
	if m, err := f.msg(subject); err == nil {
		w.nc.PublishMsg(m)
	}
}

func (w *server) freeLocked() int {
	if w.draining {
		return 0
	}
	return w.free
}

// roomLocked is what the worker tells drivers it has free: its free
// slots, and room for calls sent ahead. A driver sends a call ahead only
// to a worker whose slots it fills itself, so it never mistakes the room
// for a slot. w.mu is held.
func (w *server) roomLocked() int {
	if w.draining {
		return 0
	}
	return w.free + max(0, w.aheadRoomLocked())
}

// aheadRoomLocked is how many more calls sent ahead the worker takes
// (negative once stale ones fill the queue). w.mu is held.
func (w *server) aheadRoomLocked() int { return aheadPerSlot*w.cfg.slots - len(w.waiting) }

// sessionLocked returns the session of the driver that sent f, on f's
// link, or nil if f belongs to a link the driver gave up on. A newer link
// ends the calls of the older one: the driver failed them, or runs them
// elsewhere. w.mu is held.
func (w *server) sessionLocked(f *frame) *session {
	d := w.drivers[f.driver]
	switch {
	case f.driver == "" || f.reply == "":
		return nil
	case d == nil:
		d = &session{id: f.driver, lid: f.link, held: map[uint64]*wcall{}, offers: map[*offer]struct{}{}}
		w.drivers[f.driver] = d
	case f.link < d.lid || f.link == d.lid && d.dropped:
		return nil
	case f.link > d.lid:
		w.endCallsLocked(d)
		d.lid, d.seen, d.dropped, d.early = f.link, 0, false, nil
	}
	d.inbox = f.reply
	d.quiet.hear()
	return d
}

// endCallsLocked ends the contexts of d's calls, whose answers nobody
// will take: they are dropped when they come. w.mu is held.
func (w *server) endCallsLocked(d *session) {
	for _, c := range d.held {
		c.cancel()
	}
	d.held = map[uint64]*wcall{}
	live := w.waiting[:0]
	for _, c := range w.waiting {
		if c.d != d {
			live = append(live, c)
		}
	}
	clear(w.waiting[len(live):])
	w.waiting = live
}

// dropLocked forgets d, and returns the offers of its results, to be
// released once w.mu is not held (a release takes it). w.mu is held.
func (w *server) dropLocked(d *session) []*offer {
	d.dropped = true
	w.endCallsLocked(d)
	var offers []*offer
	for o := range d.offers {
		offers = append(offers, o)
	}
	return offers
}

func releaseAll(offers []*offer) {
	for _, o := range offers {
		o.release()
	}
}

// onCall starts a call if a slot is free. A call the driver sent ahead
// of need waits for one, in order, unless too many wait already. Any
// other is refused for want of a slot (the driver sent it to a slot it
// saw free, which another driver took): it goes back to the driver's
// queue, and may start elsewhere sooner.
func (w *server) onCall(m *nats.Msg) {
	f, err := parse(m)
	if err != nil || (f.kind != kCall && f.kind != kBatch) {
		w.log.Warn("futuresgen cluster: a call that does not parse", "err", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.sessionLocked(f)
	if d == nil {
		return
	}
	d.seen = max(d.seen, f.id+1)
	if d.early[f.id] {
		delete(d.early, f.id)
		w.publishLocked(d, &frame{kind: kRevoked, id: f.id})
		return
	}
	for id := range d.early {
		if id < f.id {
			delete(d.early, id) // calls come in order: that one was lost on the way
		}
	}
	e := registry.Lookup(f.task)
	switch {
	case e == nil:
		w.answerLocked(d, f.link, errorAnswer(f.id, fmt.Errorf("futuresgen: the worker has no task named %q", f.task)))
		return
	case e.Local:
		w.answerLocked(d, f.link, errorAnswer(f.id, fmt.Errorf("futuresgen: task %s is local (//futures:task local): it runs only on in-process executors, and this worker refuses it", f.task)))
		return
	case w.draining || w.free == 0 && (!f.ahead || w.aheadRoomLocked() <= 0):
		d.room = true
		w.publishLocked(d, &frame{kind: kRevoked, id: f.id, full: true})
		return
	}
	c := &wcall{d: d, lid: f.link, f: f, entry: e}
	if f.timeout > 0 {
		c.ctx, c.cancel = context.WithTimeout(context.Background(), time.Duration(f.timeout))
	} else {
		c.ctx, c.cancel = context.WithCancel(context.Background())
	}
	d.held[f.id] = c
	if w.free == 0 {
		w.waiting = append(w.waiting, c)
		return
	}
	w.startLocked(c)
}

// startLocked starts c on a free slot. w.mu is held.
func (w *server) startLocked(c *wcall) {
	c.started = true
	w.free--
	w.running++
	w.calls.Add(1)
	w.publishLocked(c.d, &frame{kind: kStarted, id: c.f.id})
	go w.runCall(c)
}

// startWaitingLocked starts calls sent ahead while slots are free,
// skipping those whose driver gave them up meanwhile. A call whose driver
// has been silent for aheadSilence is given back instead: its driver may
// be gone (its connection closed, and with it its futures failed), and a
// live one takes the call back in its queue. w.mu is held.
func (w *server) startWaitingLocked() {
	for w.free > 0 && len(w.waiting) > 0 && !w.draining {
		c := w.waiting[0]
		w.waiting[0] = nil
		w.waiting = w.waiting[1:]
		switch {
		case c.d.held[c.f.id] != c || c.d.dropped || c.d.lid != c.lid:
		case c.d.quiet.for_ > aheadSilence:
			w.giveBackLocked(c)
		default:
			w.startLocked(c)
		}
	}
}

// aheadSilence is how long a driver may say nothing before the calls it
// sent ahead are given back rather than started: four of its heartbeats.
const aheadSilence = 4 * beatInterval

// unwaitLocked takes c, not started, out of the calls waiting, and gives
// it back. w.mu is held.
func (w *server) unwaitLocked(c *wcall) {
	for i, x := range w.waiting {
		if x == c {
			w.waiting = append(w.waiting[:i], w.waiting[i+1:]...)
			break
		}
	}
	w.giveBackLocked(c)
}

// giveBackLocked tells c's driver that c, never started, was given back.
// w.mu is held.
func (w *server) giveBackLocked(c *wcall) {
	delete(c.d.held, c.f.id)
	c.cancel()
	w.publishLocked(c.d, &frame{kind: kRevoked, id: c.f.id, link: c.lid})
}

// end ends c's context, for the reason the driver gave. For a deadline
// that passed, the deadline c was sent (as time remaining, so a little
// later than the driver's) ends it, with context.DeadlineExceeded as the
// task would see in-process; should that be far off, a cancel does.
func (c *wcall) end(reason string) {
	if _, ok := c.ctx.Deadline(); ok && reason == reasonDeadline {
		time.AfterFunc(wire.DeadlineSlack, c.cancel)
		return
	}
	c.cancel()
}

func errorAnswer(id uint64, err error) *wire.Msg {
	return &wire.Msg{Kind: wire.KindError, ID: id, Err: registry.EncodeError(err)}
}

// runCall runs c and answers it.
func (w *server) runCall(c *wcall) {
	defer w.calls.Done()
	limit := w.cfg.maxPayload
	if c.f.max > 0 {
		limit = min(limit, c.f.max)
	}
	c.limit, c.total = limit, payloadBound(limit, c.f)
	var ans *wire.Msg
	// The driver must know the task started before it starts: a worker
	// that dies with Started still in its client's buffer would have the
	// driver run the task again elsewhere, as one that never started.
	// Once the server has it, the driver gets it whatever becomes of us.
	// A task on a goroutine can kill this process the moment it starts
	// (os.Exit, a fatal error), so it waits for the server's word, a
	// round trip. A task in a child process takes that child alone with
	// it; the child takes a pipe round trip to start it, by which time the
	// client has long written Started out.
	if w.cfg.inProcess {
		if err := w.nc.FlushTimeout(startedFlush); err != nil {
			ans = errorAnswer(c.f.id, fmt.Errorf("futuresgen: the worker could not tell the driver that task %s started, and did not run it: %w", c.f.task, err))
		}
	}
	payload := c.f.body
	if ref := c.f.ref; ref != nil && ans == nil {
		var err error
		if payload, err = blob.Fetch(c.ctx, w.nc, *ref, int64(c.total), blob.FetchOptions{}); err != nil {
			if cerr := c.ctx.Err(); cerr != nil {
				err = cerr
			} else {
				err = fmt.Errorf("futuresgen: fetching the arguments of task %s from the driver: %w", c.f.task, err)
			}
			ans = errorAnswer(c.f.id, err)
		}
	}
	if ans == nil {
		ans = w.run.run(c, payload)
		ans.ID = c.f.id
		if len(ans.Payload) > c.total {
			ans = errorAnswer(c.f.id, fmt.Errorf("futuresgen: the result of task %s (%s) cannot cross the process boundary: %w: it encodes to %d bytes, over the limit of %d bytes",
				c.f.task, c.entry.Result, wire.ErrTooLarge, len(ans.Payload), c.total))
		}
	}
	f := answerFrame(ans)
	d := c.d
	var o *offer
	if len(ans.Payload) > w.inline {
		o = &offer{}
		ref, release, err := blob.Offer(w.nc, subjBlob(w.cfg.ns, w.session), ans.Payload, func() {
			// The driver fetched it, or the offer was released.
			w.mu.Lock()
			delete(d.offers, o)
			w.mu.Unlock()
		})
		if err != nil {
			o = nil
			f = answerFrame(errorAnswer(c.f.id, fmt.Errorf("futuresgen: the result of task %s (%d bytes) could not be offered to the driver: %w", c.f.task, len(ans.Payload), err)))
		} else {
			o.release = release
			f.ref, f.body = &ref, nil
		}
	}
	w.mu.Lock()
	// The slot is free before the answer goes, and the next call sent
	// ahead takes it: the answer says how many are left.
	w.free++
	w.running--
	w.startWaitingLocked()
	live := d.held[c.f.id] == c
	if live {
		delete(d.held, c.f.id)
		if o != nil {
			d.offers[o] = struct{}{} // until the driver fetched it, or is forgotten
		}
		w.answerFrameLocked(d, c.lid, f)
	}
	w.tellRoomLocked()
	if w.draining && w.running == 0 {
		w.idleLocked()
	}
	w.mu.Unlock()
	if !live && o != nil {
		o.release() // nobody takes this answer
	}
	c.cancel()
}

// answerLocked sends an answer on link lid of d. w.mu is held.
func (w *server) answerLocked(d *session, lid uint64, m *wire.Msg) {
	w.answerFrameLocked(d, lid, answerFrame(m))
}

func (w *server) answerFrameLocked(d *session, lid uint64, f *frame) {
	f.link = lid
	// A heartbeat sent while the call ran said its slot was taken; the
	// driver believes the latest word.
	f.free, f.freeSet = w.roomLocked(), true
	w.publishLocked(d, f)
}

// tellRoomLocked tells the drivers that were refused a call for want of a
// slot that one is free, without waiting for the next heartbeat. w.mu is
// held.
func (w *server) tellRoomLocked() {
	if w.freeLocked() == 0 {
		return
	}
	for _, d := range w.drivers {
		if d.room && !d.dropped {
			d.room = false
			w.beatLocked(d)
		}
	}
}

func (w *server) idleLocked() {
	select {
	case <-w.idle:
	default:
		close(w.idle)
	}
}

// beatLocked sends d a heartbeat: the free slots, the ID below which it
// received every call of d's link, and the calls of that link it holds. w.mu is held.
func (w *server) beatLocked(d *session) {
	held := make([]uint64, 0, len(d.held))
	for id := range d.held {
		held = append(held, id)
	}
	slices.Sort(held)
	w.publishLocked(d, &frame{kind: kBeat, free: w.roomLocked(), seen: d.seen, held: held})
}

// onCtl handles cancels, revokes, joins, byes and refusals: a
// subscription apart from calls, so they never wait behind them.
func (w *server) onCtl(m *nats.Msg) {
	f, err := parse(m)
	if err != nil {
		w.log.Warn("futuresgen cluster: a message that does not parse", "err", err)
		return
	}
	var offers []*offer
	w.mu.Lock()
	defer func() {
		w.mu.Unlock()
		releaseAll(offers)
	}()
	switch f.kind {
	case kCancel, kRevoke:
		d := w.drivers[f.driver]
		if d == nil || d.lid != f.link || d.dropped {
			break
		}
		switch c := d.held[f.id]; {
		case c == nil && f.id >= d.seen:
			// It overtook its call, which is on its way.
			if d.early == nil {
				d.early = map[uint64]bool{}
			}
			d.early[f.id] = true
		case c == nil:
		case !c.started:
			// Sent ahead and not started: given back, it never runs here.
			w.unwaitLocked(c)
		case f.kind == kCancel:
			c.end(f.reason)
		}
		// A revoke of a call that started changes nothing: the driver
		// learnt it started from Started.
	case kJoin:
		if d := w.sessionLocked(f); d != nil {
			w.beatLocked(d)
		}
	case kBye:
		if d := w.drivers[f.driver]; d != nil && d.lid == f.link {
			offers = w.dropLocked(d)
			select {
			case w.byes <- struct{}{}:
			default:
			}
		}
	case kRefused:
		d := w.drivers[f.driver]
		if d == nil {
			d = &session{id: f.driver, held: map[uint64]*wcall{}, offers: map[*offer]struct{}{}}
			w.drivers[f.driver] = d
		}
		if !d.refused {
			d.refused = true
			w.log.Error("futuresgen cluster: refused by a driver", "driver", f.driver, "reason", f.reason)
		}
	}
}

// onDriver handles a driver's heartbeat: the worker announces itself to
// a driver it has no session with, and forgets none it hears from.
func (w *server) onDriver(m *nats.Msg) {
	f, err := parse(m)
	if err != nil || f.reply == "" {
		return
	}
	w.mu.Lock()
	d := w.drivers[f.driver]
	var knownLink uint64
	switch {
	case d != nil && d.refused:
		w.mu.Unlock()
		return
	case d != nil && !d.dropped:
		d.quiet.hear()
		w.mu.Unlock()
		return
	case d != nil:
		knownLink = d.lid
	}
	draining := w.draining
	w.mu.Unlock()
	if !draining {
		w.announce(f.reply, knownLink)
	}
}

// tick sends heartbeats, forgets silent drivers, and watches the
// connection.
func (w *server) tick() {
	defer close(w.tickEnd)
	t := time.NewTicker(beatInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if w.nc.IsClosed() {
			close(w.closed)
			<-w.stop
			return
		}
		now := time.Now()
		delta := now.Sub(last)
		last = now
		var offers []*offer
		w.mu.Lock()
		for _, d := range w.drivers {
			switch {
			case d.dropped || d.refused:
			case d.quiet.tick(delta) > driverLost:
				w.log.Info("futuresgen cluster: a driver went silent; its calls end", "driver", d.id, "calls", len(d.held))
				offers = append(offers, w.dropLocked(d)...)
			default:
				w.beatLocked(d)
			}
		}
		w.mu.Unlock()
		releaseAll(offers)
	}
}

// byeWait bounds how long a worker that drains waits for a driver's bye.
const byeWait = 3 * time.Second

// drain stops taking calls, tells the drivers the worker is leaving, and
// waits for the calls it runs. Then it waits for each driver's bye (sent
// once the driver holds no call here), refusing what comes meanwhile: a
// call a driver sent before it read the leave goes back to its queue
// instead of into a worker that is gone.
func (w *server) drain() {
	w.mu.Lock()
	w.draining = true
	for _, c := range append([]*wcall(nil), w.waiting...) {
		if c.d.held[c.f.id] == c {
			w.unwaitLocked(c)
		}
	}
	w.waiting = nil
	for _, d := range w.drivers {
		if !d.dropped && !d.refused {
			w.publishLocked(d, &frame{kind: kLeave})
		}
	}
	if w.running == 0 {
		w.idleLocked()
	}
	w.mu.Unlock()
	select {
	case <-w.idle:
	case <-w.closed:
		return
	}
	w.nc.FlushTimeout(5 * time.Second)
	timeout := time.NewTimer(byeWait)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		waiting := 0
		for _, d := range w.drivers {
			if !d.dropped && !d.refused {
				waiting++
			}
		}
		w.mu.Unlock()
		if waiting == 0 {
			return
		}
		select {
		case <-w.byes:
		case <-timeout.C:
			w.log.Debug("futuresgen cluster: drivers did not say bye", "drivers", waiting)
			return
		case <-w.closed:
			return
		}
	}
}
