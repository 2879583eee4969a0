package embedded_test

// These tests pin the nats.go and nats-server behaviours the cluster's
// scheduler builds on (see ../NOTES.md); an upgrade that changes one
// fails here first. Durations are logged, never asserted.

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
)

func connect(t *testing.T, s *embedded.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := s.Connect(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestOneSubscriptionRunsItsCallbacksOneAtATime(t *testing.T) {
	s := embeddedtest.StartT(t, embedded.Config{})
	nc := connect(t, s)
	var running, most atomic.Int32
	var wg sync.WaitGroup
	wg.Add(8)
	cb := func(*nats.Msg) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		wg.Done()
	}
	if _, err := nc.Subscribe("work", cb); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		nc.Publish("work", nil)
	}
	wg.Wait()
	if got := most.Load(); got != 1 {
		t.Errorf("callbacks of one subscription running at once = %d; want 1", got)
	}
	// A second subscription on the same subject has its own goroutine.
	most.Store(0)
	wg.Add(16)
	if _, err := nc.Subscribe("work", cb); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		nc.Publish("work", nil)
	}
	wg.Wait()
	if got := most.Load(); got != 2 {
		t.Errorf("callbacks of two subscriptions running at once = %d; want 2", got)
	}
}

func TestASlowSubscriptionDropsBeyondItsPendingLimit(t *testing.T) {
	s := embeddedtest.StartT(t, embedded.Config{})
	slow := make(chan error, 1)
	nc := connect(t, s, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case slow <- err:
		default:
		}
	}))
	release := make(chan struct{})
	sub, err := nc.Subscribe("work", func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(10, -1); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		nc.Publish("work", nil)
	}
	nc.Flush()
	select {
	case err := <-slow:
		if !errors.Is(err, nats.ErrSlowConsumer) {
			t.Errorf("async error = %v; want ErrSlowConsumer", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no slow-consumer error")
	}
	close(release)
	dropped, _ := sub.Dropped()
	// One message is in the callback, 10 wait: the rest are gone.
	t.Logf("pending limit 10, 100 published to a blocked callback: %d dropped", dropped)
	if dropped < 80 {
		t.Errorf("dropped = %d; want most of the 100", dropped)
	}
}

func TestARequestToNobodyFailsAtOnce(t *testing.T) {
	s := embeddedtest.StartT(t, embedded.Config{Listen: "127.0.0.1:0"})
	driver := connect(t, s)
	start := time.Now()
	_, err := driver.Request("worker.gone", nil, 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request with no subscriber: err = %v; want ErrNoResponders", err)
	}
	t.Logf("no responders reported after %v", time.Since(start))

	// A worker whose connection closes (its process exits or is killed:
	// the kernel closes the socket) loses its subscriptions at once.
	worker := connect(t, s)
	worker.Subscribe("worker.w1", func(m *nats.Msg) { m.Respond(m.Data) })
	worker.Flush()
	if _, err := driver.Request("worker.w1", nil, 5*time.Second); err != nil {
		t.Fatalf("request to a live worker: %v", err)
	}
	worker.Close()
	// A request sent before the server has seen the close is routed to
	// the dead connection and waits out its whole timeout: no "no
	// responders" for it.
	start = time.Now()
	_, err = driver.Request("worker.w1", nil, 500*time.Millisecond)
	t.Logf("request right after the worker closed: %v after %v", err, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for range 100 { // the server may take a moment to see the close
		if _, err = driver.Request("worker.w1", nil, 500*time.Millisecond); errors.Is(err, nats.ErrNoResponders) {
			break
		}
	}
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request to a closed worker: err = %v; want ErrNoResponders", err)
	}
	t.Logf("then no responders after %v", time.Since(start).Round(time.Microsecond))
}

func TestPublishesWhileReconnectingAreBufferedUpToTheLimit(t *testing.T) {
	s, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	disconnected := make(chan struct{})
	var once sync.Once
	nc := connect(t, s, nats.ReconnectBufSize(1<<10), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { once.Do(func() { close(disconnected) }) }))
	noBuf := connect(t, s, nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	s.Shutdown()
	select {
	case <-disconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnect after the server shut down")
	}
	for range 100 { // noBuf sees the shutdown on its own reader goroutine
		if noBuf.IsReconnecting() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := nc.Publish("x", make([]byte, 512)); err != nil {
		t.Errorf("first 512 B while reconnecting with a 1 KiB buffer: %v; want it buffered", err)
	}
	// The limit is checked before each publish: the one that crosses it
	// still goes into the buffer, the next one fails.
	if err := nc.Publish("x", make([]byte, 1024)); err != nil {
		t.Errorf("the publish that crosses the 1 KiB buffer: %v; want it buffered", err)
	}
	if err := nc.Publish("x", nil); !errors.Is(err, nats.ErrReconnectBufExceeded) {
		t.Errorf("past the 1 KiB buffer: err = %v; want ErrReconnectBufExceeded", err)
	}
	if err := noBuf.Publish("x", nil); !errors.Is(err, nats.ErrReconnectBufExceeded) {
		t.Errorf("while reconnecting with ReconnectBufSize(-1): err = %v; want ErrReconnectBufExceeded", err)
	}
}

func TestMaxPayloadIsCheckedByTheClient(t *testing.T) {
	s := embeddedtest.StartT(t, embedded.Config{})
	nc := connect(t, s)
	if got := nc.MaxPayload(); got != 1<<20 {
		t.Errorf("default max_payload = %d; want 1 MiB", got)
	}
	if err := nc.Publish("x", make([]byte, 1<<20+1)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("publishing 1 MiB + 1: err = %v; want ErrMaxPayload", err)
	}
	// Headers count: a message of exactly 1 MiB with a header is too big.
	m := nats.NewMsg("x")
	m.Header.Set("K", "v")
	m.Data = make([]byte, 1<<20)
	if err := nc.PublishMsg(m); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("1 MiB of data plus a header: err = %v; want ErrMaxPayload", err)
	}
}

// BenchmarkRoundTrip is the floor of a call on the cluster: a driver's
// request to a worker's direct subject and its reply, on separate
// connections, one at a time ("serial") or with all in flight
// ("pipelined", one op per message pair).
func BenchmarkRoundTrip(b *testing.B) {
	for _, listen := range []string{"", "127.0.0.1:0"} {
		name := "inprocess"
		if listen != "" {
			name = "loopback"
		}
		s, err := embedded.Start(embedded.Config{Listen: listen})
		if err != nil {
			b.Fatal(err)
		}
		driver, _ := s.Connect()
		worker, _ := s.Connect()
		worker.Subscribe("w.1", func(m *nats.Msg) { m.Respond(m.Data) })
		worker.Flush()
		payload := make([]byte, 64)
		b.Run(name+"/serial", func(b *testing.B) {
			for b.Loop() {
				if _, err := driver.Request("w.1", payload, 5*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/pipelined", func(b *testing.B) {
			inbox := nats.NewInbox()
			replies := make(chan *nats.Msg, 1<<16)
			sub, _ := driver.ChanSubscribe(inbox, replies)
			sub.SetPendingLimits(-1, -1)
			b.ResetTimer()
			for left := b.N; left > 0; {
				batch := min(left, 4096) // in flight at once, well inside the buffers
				left -= batch
				for range batch {
					driver.PublishRequest("w.1", inbox, payload)
				}
				for range batch {
					select {
					case <-replies:
					case <-time.After(10 * time.Second):
						b.Fatal("a reply went missing")
					}
				}
			}
			b.StopTimer()
			sub.Unsubscribe()
		})
		driver.Close()
		worker.Close()
		s.Shutdown()
	}
}
