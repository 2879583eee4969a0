package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// link is a driver's link to one worker session: the scheduler's Link.
// It sends what the scheduler writes, and reports what the worker says,
// keeping its own account of the calls it sent so that a heartbeat can
// show which were lost on the way.
type link struct {
	d       *driver
	session peer // the worker session
	name    string
	slots   int
	lid     uint64
	w       *sched.Worker // set by sched.Join before any write; read with worker()
	subject string        // where the driver says things to the worker session
	enc     *wire.Streams // the writer's: one goroutine at a time

	mu    sync.Mutex
	calls map[uint64]*sent // sent, not answered
	quiet quiet
	lost  bool
}

// sent is a call as its link sees it.
type sent struct {
	task     string
	answered bool   // an answer came; its results are being fetched
	unseen   int    // heartbeats since it was sent that do not show it received
	release  func() // ends the offer of its arguments, if they travel in chunks
	bound    int    // the most its answer's payload may be
}

func newLink(d *driver, session peer, name string, slots int, lid uint64) *link {
	return &link{
		d:       d,
		session: session,
		name:    name,
		slots:   slots,
		lid:     lid,
		subject: subjToWorker(d.cfg.ns, session, d.me),
		enc:     wire.NewSelfContainedStreams(),
		calls:   map[uint64]*sent{},
	}
}

// worker returns the scheduler's worker of the link. The scheduler sets
// it in one goroutine and the worker's answers arrive in another, with
// nothing but the network between them: the lock orders them.
func (l *link) worker() *sched.Worker {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w
}

// frame returns a frame of this link.
func (l *link) frame(kind string, id uint64) *frame {
	return &frame{kind: kind, link: l.lid, id: id}
}

// join tells the worker about the link; calls say it too, so losing it
// costs nothing but a heartbeat's wait.
func (l *link) join() { l.d.publish(l.subject, l.frame(kJoin, 0)) }

// Write sends out to the worker, in order.
func (l *link) Write(out []sched.Out) {
	for _, o := range out {
		switch o.Kind {
		case wire.KindCall:
			l.send(o)
		case wire.KindCancel, wire.KindRevoke, wire.KindGrant:
			f := l.frame(kCancel, o.ID)
			switch {
			case o.Kind == wire.KindRevoke:
				f.kind = kRevoke
			case o.Kind == wire.KindGrant:
				f.kind = kGrant
			case o.Deadline:
				// The worker lets the deadline it was sent (as time
				// remaining) end the task's context, so that the task sees
				// context.DeadlineExceeded, as it would in-process.
				f.reason = reasonDeadline
			}
			if err := l.d.publish(l.subject, f); err != nil {
				go l.lose(l.sendFailed(err))
				return
			}
		case wire.KindBye:
			l.d.publish(l.subject, l.frame(kBye, 0))
			l.d.forget(l)
			l.lose(errLetGo)
		}
	}
}

// send sends one call: its arguments inline, or offered in chunks when
// they are larger than one message.
func (l *link) send(o sched.Out) {
	c := o.Call
	f := l.frame(kCall, o.ID)
	f.task, f.max, f.ahead, f.granted = c.Task, l.d.cfg.maxPayload, o.Ahead, o.Granted
	if c.Batch {
		f.kind, f.count = kBatch, o.Count
	}
	// Each input's arguments and results are bounded; a batch's together
	// by one bound per input.
	bound := payloadBound(l.d.cfg.maxPayload, f)
	payload, _, err := c.F.Encode(l.enc, bound)
	if err != nil {
		l.d.s.NotSent(l.worker(), c, err)
		return
	}
	f.body = payload
	if dl, ok := c.Ctx.Deadline(); ok {
		f.timeout = int64(max(time.Until(dl), 1))
	}
	s := &sent{task: c.Task, bound: bound}
	if len(payload) > l.d.inline {
		ref, release, err := blob.Offer(l.d.nc, subjBlob(l.d.cfg.ns, l.d.me.id), payload, nil)
		if err != nil {
			l.d.s.NotSent(l.worker(), c, fmt.Errorf("futuresgen: the arguments of task %s (%d bytes) could not be offered to the worker: %w", c.Task, len(payload), err))
			return
		}
		f.ref, f.body, s.release = &ref, nil, release
	}
	l.mu.Lock()
	if l.lost {
		// The scheduler took the call back when it lost the worker.
		l.mu.Unlock()
		s.end()
		return
	}
	l.calls[o.ID] = s
	l.mu.Unlock()
	if err := l.d.publish(l.subject, f); err != nil {
		go l.lose(l.sendFailed(err))
	}
}

func (l *link) sendFailed(err error) error {
	return &errs.WorkerLost{Msg: fmt.Sprintf("%v: cluster worker %s: sending to it failed: %v", errs.WorkerDied, l.name, err)}
}

// end releases what s holds.
func (s *sent) end() {
	if s.release != nil {
		s.release()
	}
}

// Kill gives up on the worker: the scheduler calls it under its lock, so
// the loss is reported from another goroutine.
func (l *link) Kill(cause error) { go l.lose(cause) }

// lose gives up on the worker for cause: the scheduler queues its calls
// that had not started again, and fails (or retries) the others. What
// the worker still says on this link is dropped; if it is alive, its
// next heartbeat opens a new link.
func (l *link) lose(cause error) {
	l.mu.Lock()
	if l.lost {
		l.mu.Unlock()
		return
	}
	l.lost = true
	calls := l.calls
	l.calls = nil
	l.mu.Unlock()
	for _, s := range calls {
		s.end()
	}
	l.d.forget(l)
	if cause != errLetGo {
		l.d.log.Warn("futuresgen cluster: worker lost", "worker", l.name, "cause", cause.Error())
	}
	l.d.s.Gone(l.worker(), cause)
}

func (l *link) heard() {
	l.mu.Lock()
	l.quiet.hear()
	l.mu.Unlock()
}

// silence returns how long the worker has said nothing, delta after the
// driver's last tick.
func (l *link) silence(delta time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quiet.tick(delta)
}

// call returns the call id sent on this link, not answered, or nil.
func (l *link) call(id uint64) *sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.calls[id]; s != nil && !s.answered {
		return s
	}
	return nil
}

// done forgets call id: answered, or given back.
func (l *link) done(id uint64) {
	l.mu.Lock()
	s := l.calls[id]
	delete(l.calls, id)
	l.mu.Unlock()
	if s != nil {
		s.end()
	}
}

// event reports an error the scheduler gave for an event of the worker:
// one about a call the worker does not hold is a late message, dropped;
// anything else is a worker breaking the protocol.
func (l *link) event(err error) {
	if err != nil && !errors.Is(err, sched.ErrUnknownCall) {
		l.lose(&errs.WorkerLost{Msg: fmt.Sprintf("%v: cluster worker %s: %v", errs.WorkerDied, l.name, err)})
	}
}

func (l *link) started(id uint64) {
	if l.call(id) == nil {
		return
	}
	l.event(l.d.s.Started(l.worker(), id))
}

func (l *link) ungranted(id uint64) {
	if l.call(id) == nil {
		return
	}
	l.event(l.d.s.Ungranted(l.worker(), id))
}

func (l *link) revoked(id uint64, full bool) {
	if l.call(id) == nil {
		return
	}
	l.done(id)
	if full {
		l.event(l.d.s.Refused(l.worker(), id))
	} else {
		l.event(l.d.s.Revoked(l.worker(), id))
	}
}

// answer delivers an answer, fetching its results first when they come
// in chunks (in a goroutine: the inbox must go on).
func (l *link) answer(f *frame) {
	s := l.call(f.id)
	if s == nil {
		return
	}
	if f.ref == nil {
		l.deliver(f.answerMsg(f.body))
		l.free(f)
		return
	}
	l.free(f)
	l.mu.Lock()
	s.answered = true // not lost, whatever a heartbeat says meanwhile
	l.mu.Unlock()
	d := l.d
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		// Fetch gives up on a holder that stops answering (a dead worker)
		// within seconds; nothing else can end it.
		payload, err := blob.Fetch(context.Background(), d.nc, *f.ref, int64(s.bound), blob.FetchOptions{})
		m := f.answerMsg(payload)
		if err != nil {
			m = &wire.Msg{Kind: wire.KindError, ID: f.id, Err: registry.EncodeError(
				fmt.Errorf("futuresgen: fetching the result of task %s from cluster worker %s: %w", s.task, l.name, err))}
		}
		l.deliver(m)
	}()
}

// free passes on the free slots an answer says its worker has, once the
// answer's own slot is counted free here too.
func (l *link) free(f *frame) {
	if f.freeSet {
		l.d.s.Available(l.worker(), f.free)
	}
}

func (l *link) deliver(m *wire.Msg) {
	err := l.d.s.Answer(l.worker(), m, wire.NewSelfContainedStreams())
	l.done(m.ID)
	l.event(err)
}

// beat handles a heartbeat: the worker's free slots, and the calls of
// this link it holds. A call it received (its ID is below the one it
// says it saw up to) but does not hold, and whose answer never came, had its answer
// lost on the way; a call it never received for lostAfter was lost on
// the way there (heartbeats for as long as a silent worker is given came
// that do not show it). Either way the link's messages cannot be trusted: the
// worker is given up on (its calls run elsewhere or fail) and joins
// again on a new link.
func (l *link) beat(f *frame) {
	l.d.s.Available(l.worker(), f.free)
	held := make(map[uint64]bool, len(f.held))
	for _, id := range f.held {
		held[id] = true
	}
	var lostBack, lostThere []uint64
	l.mu.Lock()
	for id, s := range l.calls {
		switch {
		case s.answered:
		case id < f.seen && !held[id]:
			lostBack = append(lostBack, id)
		case id >= f.seen:
			// Counted in heartbeats, not time: a driver that stalled reads
			// a few at once that the worker sent before the call came.
			if s.unseen++; s.unseen > int(l.d.cfg.lostAfter/beatInterval) {
				lostThere = append(lostThere, id)
			}
		}
	}
	l.mu.Unlock()
	if len(lostBack)+len(lostThere) > 0 {
		l.lose(&errs.WorkerLost{Msg: fmt.Sprintf("%v: cluster worker %s: messages were lost between it and this driver (the answers of calls %v, calls %v on link %d)",
			errs.WorkerDied, l.name, lostBack, lostThere, l.lid)})
		// It is alive (it just said so): a new link, on which it drops
		// what it still runs for the old one.
		l.d.accept(l.session, l.name, l.slots, f.free)
	}
}
