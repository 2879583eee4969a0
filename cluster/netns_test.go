package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/cluster/internal/netns"
	"github.com/futuresgen/futuresgen/runtime"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// TestWorkersOnOtherHosts runs the NATS server and the driver on one
// host and a worker on each of two others: network namespaces on one
// switch, with addresses that exist only inside them. Cutting one
// worker's cable mid-task fails its task with ErrWorkerDied within 10
// seconds, or runs it again on the other host under Retries; plugged back
// in, the worker joins again on a new link, and what it still ran for the
// old one is never taken for an answer. Skipped unless root.
func TestWorkersOnOtherHosts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := netns.New(t) // skips with the reason when it cannot run
	sw := n.Switch("lan")
	srvHost := n.Host("srv")
	srvPort := sw.Plug(srvHost)
	ports := map[string]*netns.Port{}
	srv := embeddedtest.StartIn(t, srvHost, embeddedtest.ChildConfig{Config: embedded.Config{
		Listen:       netip.AddrPortFrom(srvPort.Addr, 4222).String(),
		PingInterval: time.Second, MaxPingsOut: 2,
	}})
	for _, name := range []string{"w1", "w2"} {
		h := n.Host(name)
		ports[name] = sw.Plug(h)
		startHostWorker(t, h, srv.URL, name)
	}
	// The driver is this process, on the server's host: its connection is
	// dialled from inside that namespace.
	nc, err := Connect(srv.URL, nats.SetCustomDialer(hostDialer{srvHost}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	driverOn := func(opts ...Option) *Executor {
		ex, err := NewExecutor(nc, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ex.Close() })
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := ex.WaitForWorkers(wctx, 2); err != nil {
			t.Fatalf("the workers on the other hosts did not join: %v", err)
		}
		return ex
	}
	other := map[string]string{"w1": "w2", "w2": "w1"}

	t.Run("a cut link fails the task running behind it within 10s", func(t *testing.T) {
		ex := driverOn()
		g := newGate(t)
		a := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("a"))
		b := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("b"))
		_, hostA := g.where("a")
		_, hostB := g.where("b")
		if hostA == hostB || hostA == "" {
			t.Fatalf("the two tasks run on hosts %q and %q; want one on each", hostA, hostB)
		}
		ports[hostA].Down()
		cut := time.Now()
		<-a.Done()
		if took := time.Since(cut); took > lostWithin {
			t.Errorf("the task behind the cut link failed after %v; want within %v", took, lostWithin)
		}
		if err := a.Err(ctx); !errors.Is(err, runtime.ErrWorkerDied) {
			t.Errorf("Err() = %v; want ErrWorkerDied", err)
		}
		g.open()
		if w, err := b.Result(ctx); err != nil || w.Host != hostB {
			t.Errorf("the task on the other host: %+v, %v", w, err)
		}
		ports[hostA].Up()
		// The worker reconnects and joins again, on a new link.
		waitFor(t, "the cut-off worker joined again", func() bool { return ex.Stats().Workers == 2 })
		if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21).Result(ctx); v != 42 || err != nil {
			t.Errorf("after the worker came back: %v, %v", v, err)
		}
	})

	t.Run("a cut link runs nothing twice", func(t *testing.T) {
		// Calls go ahead to busy workers whatever their tasks' age; a
		// silent worker is lost after 2s.
		ex := driverOn(option{exec: func(c *executorConfig) { c.slowAfter, c.lostAfter = time.Hour, 2*time.Second }})
		g := newGate(t)
		a := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("a"))
		b := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("b"))
		_, hostA := g.where("a")
		_, hostB := g.where("b")
		if hostA == hostB || hostA == "" {
			t.Fatalf("the two tasks run on hosts %q and %q; want one on each", hostA, hostB)
		}
		dir := t.TempDir()
		var qs []*runtime.Future[int]
		for i := range 4 {
			qs = append(qs, futuresimpl.SubmitTask(ctx, ex, taskRecord, gateArgs{Dir: dir, Name: fmt.Sprint("q", i)}))
		}
		ports[hostA].Down()
		t.Cleanup(ports[hostA].Up)
		// Both gates open: the cut-off worker frees its slot while it
		// cannot hear from the driver, and the other runs what it held,
		// then what the cut-off one held, once the driver gives up on it.
		g.open()
		if err := a.Err(ctx); !errors.Is(err, runtime.ErrWorkerDied) {
			t.Errorf("the gate behind the cut link: %v; want ErrWorkerDied", err)
		}
		b.Err(ctx)
		for _, q := range qs {
			<-q.Done()
		}
		ports[hostA].Up()
		waitFor(t, "the cut-off worker joined again", func() bool { return ex.Stats().Workers == 2 })
		// A barrier: a task on each worker, the cut-off one included,
		// starts only once that worker has decided what became of what it
		// held.
		g2 := newGate(t)
		fc := futuresimpl.SubmitTask(ctx, ex, taskGate, g2.args("c"))
		fd := futuresimpl.SubmitTask(ctx, ex, taskGate, g2.args("d"))
		if _, hc := g2.where("c"); hc != hostA {
			if _, hd := g2.where("d"); hd != hostA {
				t.Fatalf("the barrier tasks ran on %s and %s; want one on %s", hc, hd, hostA)
			}
		}
		g2.open()
		fc.Err(ctx)
		fd.Err(ctx)
		for i, q := range qs {
			name := fmt.Sprint("q", i)
			ran := runs(t, dir, name)
			_, err := q.Result(ctx)
			switch {
			case len(ran) > 1:
				t.Errorf("%s ran %d times; want at most once without Retries", name, len(ran))
			case err == nil && len(ran) != 1:
				t.Errorf("%s succeeded but ran %d times", name, len(ran))
			case err != nil && !errors.Is(err, runtime.ErrWorkerDied):
				t.Errorf("%s failed with %v; want success, or ErrWorkerDied", name, err)
			}
		}
	})

	t.Run("with Retries the task runs again on the other host", func(t *testing.T) {
		ex := driverOn(Retries(1))
		g := newGate(t)
		f := futuresimpl.SubmitTask(ctx, ex, taskGate, g.args("c"))
		_, host := g.where("c")
		os.Remove(filepath.Join(g.dir, "started-c"))
		ports[host].Down()
		t.Cleanup(ports[host].Up)
		if _, again := g.where("c"); again != other[host] {
			t.Fatalf("the task ran again on %q; want %q", again, other[host])
		}
		g.open()
		if w, err := f.Result(ctx); err != nil || w.Host != other[host] {
			t.Errorf("Result() = %+v, %v; want a result from %s", w, err, other[host])
		}
	})
}

// startHostWorker runs a cluster worker (this test binary) inside h,
// named name, joining the server at url. It drains and exits when the
// test ends.
func startHostWorker(t *testing.T, h *netns.Host, url, name string) {
	t.Helper()
	raw, _ := json.Marshal(localWorker{URL: url, Namespace: DefaultNamespace, Name: name, Slots: 1, Grace: defaultGrace, MaxPayload: DefaultMaxPayload})
	exe, _ := os.Executable()
	cmd := h.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), localEnv+"="+string(raw), "FUTURESGEN_TEST_HOST="+name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	stdin, err := cmd.StdinPipe() // its end closes it: the worker leaves
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(stopWait):
			cmd.Process.Kill()
			<-done
		}
	})
}

// hostDialer dials from inside a namespace host, for a NATS connection.
type hostDialer struct{ h *netns.Host }

func (d hostDialer) Dial(network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return d.h.DialContext(ctx, network, address)
}
