package cluster

import (
	"bytes"
	"context"
	"encoding/gob"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
)

// A fake driver speaks the protocol by hand to a real worker, so that a
// test can send calls ahead, grant and revoke them, and watch what the
// worker says, in order, without a scheduler deciding for it.
type fakeDriver struct {
	t      *testing.T
	nc     *nats.Conn
	me     peer // the fake executor
	worker peer // the worker session
	said   chan *frame
	beats  chan *frame
}

func newFakeDriver(t *testing.T, opts ...ServeOption) *fakeDriver {
	t.Helper()
	srv := embeddedtest.StartT(t, embedded.Config{})
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	d := &fakeDriver{t: t, nc: nc, me: peer{id: "fakedriver", sub: "e1"}, said: make(chan *frame, 100), beats: make(chan *frame, 1000)}
	announced := make(chan peer, 10)
	for subject, ch := range map[string]func(*nats.Msg, *frame){
		subjDriverInbox(DefaultNamespace, d.me.id, d.me.sub): func(_ *nats.Msg, f *frame) {
			if f.kind == kBeat {
				select {
				case d.beats <- f:
				default:
				}
				return
			}
			d.said <- f
		},
		subjAnnouncements(DefaultNamespace): func(m *nats.Msg, f *frame) {
			if p, ok := sender(m.Subject, DefaultNamespace+".announce."); ok {
				announced <- p
			}
		},
	} {
		sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
			if f, err := parse(m); err == nil {
				ch(m, f)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	// The subscriptions reach the server before the worker announces
	// itself on its own connection.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	wnc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, wnc, opts...) }()
	t.Cleanup(func() {
		stop()
		<-served
		wnc.Close()
	})
	select {
	case d.worker = <-announced:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not announce itself")
	}
	return d
}

// sendCall sends call id of task with argument v, ahead of need (and not
// granted) or to a free slot (granted). Values travel in a struct of one
// field, V, as the runtime encodes them.
func sendCall[T any](d *fakeDriver, id uint64, task string, v T, ahead bool) {
	d.t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(struct{ V T }{v}); err != nil {
		d.t.Fatal(err)
	}
	d.send(&frame{kind: kCall, id: id, task: task, body: buf.Bytes(), ahead: ahead, granted: !ahead})
}

func (d *fakeDriver) send(f *frame) {
	d.t.Helper()
	f.link = 1
	m, err := f.msg(subjToWorker(DefaultNamespace, d.worker, d.me))
	if err == nil {
		err = d.nc.PublishMsg(m)
	}
	if err != nil {
		d.t.Fatal(err)
	}
}

// next returns what the worker says next (heartbeats left out).
func (d *fakeDriver) next() *frame {
	d.t.Helper()
	select {
	case f := <-d.said:
		return f
	case <-time.After(20 * time.Second):
		d.t.Fatal("the worker said nothing more")
		return nil
	}
}

// expect checks that the worker says kind of call id next.
func (d *fakeDriver) expect(kind string, id uint64) *frame {
	d.t.Helper()
	f := d.next()
	if f.kind != kind || f.id != id {
		if f.detail != nil && f.detail.Err != nil {
			d.t.Logf("its error: %v", f.detail.Err)
		}
		d.t.Fatalf("the worker said %s of call %d; want %s of call %d", f.kind, f.id, kind, id)
	}
	return f
}

// TestAWorkerHoldsCallsSentAheadUntilASlotFrees: a busy worker keeps a
// call sent ahead, without starting it, and starts it once the running
// one ends if it was granted; it gives it back, unstarted, when the driver
// revokes or cancels it; it refuses a call not sent ahead for want of a
// slot, and calls ahead past its bound; and a call it holds that its
// driver has not granted never starts, slot or no slot, until granted.
func TestAWorkerHoldsCallsSentAheadUntilASlotFrees(t *testing.T) {
	t.Parallel()
	d := newFakeDriver(t, InProcess(), Slots(1))
	g := newGate(t)
	sendCall(d, 1, "test.gate", g.args("a"), false)
	d.expect(kStarted, 1)
	sendCall(d, 2, "test.double", 21, true)
	d.send(&frame{kind: kRevoke, id: 2})
	if f := d.expect(kRevoked, 2); f.full {
		t.Errorf("a call sent ahead came back as refused for want of a slot; want given back")
	}
	sendCall(d, 3, "test.double", 5, true)
	d.send(&frame{kind: kCancel, id: 3})
	d.expect(kRevoked, 3)
	sendCall(d, 4, "test.double", 1, false)
	if f := d.expect(kRevoked, 4); !f.full {
		t.Errorf("a call not sent ahead, to a busy worker: revoked without full; want refused for want of a slot")
	}
	sendCall(d, 5, "test.double", 5, true)
	sendCall(d, 6, "test.double", 6, true)
	sendCall(d, 7, "test.double", 7, true) // past aheadPerSlot × 1 slot
	if f := d.expect(kRevoked, 7); !f.full {
		t.Errorf("a call ahead past the bound: revoked without full; want refused")
	}
	// Granted behind a call that runs long, a call gets its grant given
	// back; the worker asks for grants again once the slot frees.
	d.send(&frame{kind: kGrant, id: 5})
	d.expect(kUngrant, 5)
	g.open()
	if f := d.expect(kAnswer, 1); !f.freeSet || f.free != 1 {
		t.Errorf("the answer says free %d (set %v); want 1: a free slot, and calls 5 and 6 fill the room ahead", f.free, f.freeSet)
	}
	d.expect(kAsk, 0)
	d.send(&frame{kind: kGrant, id: 5})
	d.expect(kStarted, 5) // granted again: it takes the free slot
	d.expect(kAnswer, 5)
	// The slot is free now, but call 6 was never granted: it has not
	// started, so a revoke still gets it back.
	d.send(&frame{kind: kRevoke, id: 6})
	if f := d.expect(kRevoked, 6); f.full {
		t.Errorf("a held call not granted came back as refused; want given back")
	}
	// Held, with a free slot, it starts once granted.
	sendCall(d, 8, "test.double", 8, true)
	d.send(&frame{kind: kGrant, id: 8})
	d.expect(kStarted, 8)
	if f := d.expect(kAnswer, 8); f.free != 1+aheadPerSlot {
		t.Errorf("the last answer says free %d; want %d: a free slot and room ahead", f.free, 1+aheadPerSlot)
	}
}
