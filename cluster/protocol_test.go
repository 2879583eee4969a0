package cluster

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/sched"
	"github.com/futuresgen/futuresgen/internal/wire"
	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// A fake worker speaks the protocol by hand, so that a test can send what
// a real one sends only when the network misbehaves: answers late,
// twice, on an old link, or not at all.
type fakeWorker struct {
	t      *testing.T
	nc     *nats.Conn
	ns     string
	me     peer // the fake worker session
	mu     *sync.Mutex
	driver peer // the executor that sent the last message; under mu
	calls  chan *frame
	ctl    chan *frame
}

func newFakeWorker(t *testing.T, nc *nats.Conn) *fakeWorker {
	t.Helper()
	w := &fakeWorker{t: t, nc: nc, ns: DefaultNamespace, me: peer{id: "fakeworker", sub: nuid.Next()}, calls: make(chan *frame, 100), ctl: make(chan *frame, 100)}
	prefix := strings.TrimSuffix(subjWorkerInbox(w.ns, w.me.id, w.me.sub), ">")
	w.mu = new(sync.Mutex)
	sub, err := nc.Subscribe(prefix+">", func(m *nats.Msg) {
		f, err := parse(m)
		from, ok := sender(m.Subject, prefix)
		if err != nil || !ok {
			t.Errorf("the fake worker got a message that does not parse: %v", err)
			return
		}
		w.mu.Lock()
		w.driver = from
		w.mu.Unlock()
		if f.kind == kCall || f.kind == kBatch {
			w.calls <- f
		} else {
			w.ctl <- f
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	table := registry.Table()
	w.publish(subjAnnounce(w.ns, w.me.sub, w.me.id), &frame{kind: kAnnounce, name: "fake", slots: 1, free: 1, version: versionText, digest: tableDigest(table)})
	return w
}

func (w *fakeWorker) publish(subject string, f *frame) {
	w.t.Helper()
	m, err := f.msg(subject)
	if err == nil {
		err = w.nc.PublishMsg(m)
	}
	if err == nil {
		err = w.nc.Flush()
	}
	if err != nil {
		w.t.Fatal(err)
	}
}

// call waits for the next call.
func (w *fakeWorker) call() *frame {
	w.t.Helper()
	select {
	case f := <-w.calls:
		return f
	case <-time.After(20 * time.Second):
		w.t.Fatal("the fake worker got no call")
		return nil
	}
}

// join waits for a join of a link newer than after.
func (w *fakeWorker) join(after uint64) *frame {
	w.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case f := <-w.ctl:
			if f.kind == kJoin && f.link > after {
				return f
			}
		case <-deadline:
			w.t.Fatalf("the fake worker was not joined on a link after %d", after)
			return nil
		}
	}
}

// say sends the driver of call c a frame on link.
func (w *fakeWorker) say(c *frame, link uint64, f *frame) {
	w.t.Helper()
	f.link = link
	w.mu.Lock()
	driver := w.driver
	w.mu.Unlock()
	w.publish(subjToDriver(w.ns, driver, w.me), f)
}

func (w *fakeWorker) started(c *frame) { w.say(c, c.link, &frame{kind: kStarted, id: c.id}) }

// result answers call c with v, on link, as its id (or another).
func (w *fakeWorker) result(c *frame, link, id uint64, v int) {
	w.t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(struct{ V int }{v}); err != nil {
		w.t.Fatal(err)
	}
	w.say(c, link, &frame{kind: kAnswer, id: id, wire: wire.KindResult, body: buf.Bytes()})
}

func (w *fakeWorker) beat(c *frame, link, seen uint64, held ...uint64) {
	w.say(c, link, &frame{kind: kBeat, free: 1, seen: seen, held: held})
}

// fakeCluster is an in-process server and a driver that gives up on a
// silent worker after a second.
func fakeCluster(t *testing.T, opts ...Option) (*Executor, *nats.Conn) {
	t.Helper()
	srv := embeddedtest.StartT(t, embedded.Config{})
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	opts = append([]Option{option{exec: func(c *executorConfig) { c.lostAfter = time.Second }}}, opts...)
	ex, err := NewExecutor(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Shutdown(context.Background(), runtime.CancelPending()) })
	return ex, nc
}

func TestALateOrReplayedAnswerIsNeverTakenForANewOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex, nc := fakeCluster(t)
	w := newFakeWorker(t, nc)
	f := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21)
	c := w.call()
	w.started(c)
	waitFor(t, "the future is running", func() bool { return f.State() == runtime.Running })

	w.result(c, c.link, c.id+100, 1) // a call the worker was never sent
	w.result(c, c.link+1, c.id, 2)   // a link that is not open
	other := *w
	other.me.sub = nuid.Next()
	other.result(c, c.link, c.id, 3) // another worker session
	forger := *w
	forger.me.id = "someone-else"
	forger.result(c, c.link, c.id, 4) // this session, claimed by another identity
	w.beat(c, c.link, c.id+1, c.id)   // in order after the four: they were read and dropped
	if st := f.State(); st != runtime.Running {
		v, err := f.Result(ctx)
		t.Fatalf("after four answers that are not its own the future is %v (%v, %v); want Running", st, v, err)
	}
	w.result(c, c.link, c.id, 42)
	if v, err := f.Result(ctx); v != 42 || err != nil {
		t.Errorf("Result() = %v, %v; want 42, the answer of its own call", v, err)
	}
	w.result(c, c.link, c.id, 43) // replayed (the reconnect buffer)
	g := futuresimpl.SubmitTask(ctx, ex, taskDouble, 5)
	c2 := w.call()
	w.started(c2)
	w.result(c, c.link, c.id, 44) // late, for the old call
	w.result(c2, c2.link, c2.id, 10)
	if v, err := g.Result(ctx); v != 10 || err != nil {
		t.Errorf("the next call's Result() = %v, %v; want 10: old answers must not settle it", v, err)
	}
	if s := ex.Stats(); s.Completed != 2 || s.Failed != 0 || s.Lost != 0 {
		t.Errorf("Stats() = %+v; want 2 completed, nothing failed or lost", s)
	}
}

func TestASilentWorkerIsLostAndItsLateAnswerDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex, nc := fakeCluster(t)
	w := newFakeWorker(t, nc)
	f := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21)
	c := w.call()
	w.started(c)
	// Silence: no heartbeat. The driver gives up after a second.
	if err := f.Err(ctx); !errors.Is(err, runtime.ErrWorkerDied) {
		t.Fatalf("Err() = %v; want ErrWorkerDied", err)
	}
	w.result(c, c.link, c.id, 42) // too late
	// The worker is alive after all: its next heartbeat, on the old
	// link, brings it back on a new one.
	w.beat(c, c.link, c.id+1)
	j := w.join(c.link)
	g := futuresimpl.SubmitTask(ctx, ex, taskDouble, 1)
	c2 := w.call()
	if c2.link != j.link {
		t.Errorf("a call came on link %d after the join of link %d", c2.link, j.link)
	}
	w.started(c2)
	w.result(c2, c2.link, c2.id, 2)
	if v, err := g.Result(ctx); v != 2 || err != nil {
		t.Errorf("on the new link: %v, %v; want 2, nil", v, err)
	}
	if s := ex.Stats(); s.Completed != 1 || s.Failed != 1 || s.Lost != 1 {
		t.Errorf("Stats() = %+v; want 1 completed, 1 failed, 1 worker lost", s)
	}
}

func TestALostAnswerShowsInTheNextHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex, nc := fakeCluster(t, Retries(1))
	w := newFakeWorker(t, nc)
	f := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21)
	c := w.call()
	w.started(c)
	// The worker says it saw the call and holds nothing: the answer was
	// lost on the way (published into a dead connection). The driver gives
	// up on the link at once and runs the call again, on a new link.
	w.beat(c, c.link, c.id+1)
	c2 := w.call()
	if c2.link <= c.link || c2.id == c.id {
		t.Errorf("the call came again as call %d on link %d; want a new call on a new link (was %d on %d)", c2.id, c2.link, c.id, c.link)
	}
	w.started(c2)
	w.result(c, c.link, c.id, 1) // the lost answer turns up after all
	w.result(c2, c2.link, c2.id, 42)
	if v, err := f.Result(ctx); v != 42 || err != nil {
		t.Errorf("Result() = %v, %v; want 42 from the retry", v, err)
	}
}

func TestARefusalForAFullWorkerRequeuesTheCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ex, nc := fakeCluster(t)
	w := newFakeWorker(t, nc)
	f := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21)
	c := w.call()
	w.say(c, c.link, &frame{kind: kRevoked, id: c.id, full: true}) // another driver took the slot
	w.say(c, c.link, &frame{kind: kBeat, free: 0, seen: c.id + 1})
	// The driver takes the worker for full, and sends it nothing until
	// it says it has room (the scheduler's tests show the rest).
	waitFor(t, "the driver takes the worker for full", func() bool {
		full := false
		ex.d.s.Workers(func(sw *sched.Worker) { full = full || sw.Full() })
		return full
	})
	select {
	case c2 := <-w.calls:
		t.Fatalf("a full worker was sent call %d", c2.id)
	default:
	}
	if st := f.State(); st != runtime.Pending {
		t.Errorf("a refused call is %v; want Pending", st)
	}
	w.beat(c, c.link, c.id+1) // a slot is free
	c2 := w.call()
	w.started(c2)
	w.result(c2, c2.link, c2.id, 42)
	if v, err := f.Result(ctx); v != 42 || err != nil {
		t.Errorf("Result() = %v, %v; want 42", v, err)
	}
}

// TestAnAnswerSaysTheSlotIsFree: a heartbeat sent while the worker ran
// the call says it has no free slot; the answer that follows frees it.
// Once a defect: the driver believed the heartbeat until the next one, a
// quarter of a second later, and left the worker idle meanwhile (4 tasks
// of 500 ms on 4 workers took 0.7 s).
func TestAnAnswerSaysTheSlotIsFree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The fake sends no heartbeats of its own: the driver must not give up
	// on it while the test waits.
	ex, nc := fakeCluster(t, option{exec: func(c *executorConfig) { c.lostAfter = time.Minute }})
	w := newFakeWorker(t, nc)
	f := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21)
	g := futuresimpl.SubmitTask(ctx, ex, taskDouble, 5)
	c := w.call()
	w.started(c)
	w.say(c, c.link, &frame{kind: kBeat, free: 0, seen: c.id + 1, held: []uint64{c.id}})
	var buf bytes.Buffer
	gob.NewEncoder(&buf).Encode(struct{ V int }{42})
	w.say(c, c.link, &frame{kind: kAnswer, id: c.id, wire: wire.KindResult, body: buf.Bytes(), free: 1, freeSet: true})
	if v, err := f.Result(ctx); v != 42 || err != nil {
		t.Fatalf("Result() = %v, %v; want 42", v, err)
	}
	select {
	case c2 := <-w.calls:
		w.started(c2)
		w.result(c2, c2.link, c2.id, 10)
	case <-time.After(20 * time.Second):
		t.Fatal("the worker's slot was free after its answer, and the queued call was not sent")
	}
	if v, err := g.Result(ctx); v != 10 || err != nil {
		t.Errorf("the queued call: %v, %v; want 10", v, err)
	}
}
