package netns_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/cluster/internal/netns"
)

// echoServer listens on port 7 of addr inside h and echoes every line.
func echoServer(t *testing.T, h *netns.Host, addr netip.Addr) {
	t.Helper()
	l, err := h.Listen("tcp", netip.AddrPortFrom(addr, 7007).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// roundTrip dials addr from h, sends a line and reads it back, within d.
func roundTrip(h *netns.Host, addr netip.Addr, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, 7007).String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "hello\n" {
		return errors.New("echo gave " + line)
	}
	return nil
}

func TestConnectedHostsTalkUntilTheLinkIsCut(t *testing.T) {
	n := netns.New(t)
	a, b := n.Host("a"), n.Host("b")
	l := n.Connect(a, b)
	echoServer(t, a, l.AddrA)

	if err := roundTrip(b, l.AddrA, 5*time.Second); err != nil {
		t.Fatalf("b to a over the link: %v", err)
	}
	l.Down()
	if err := roundTrip(b, l.AddrA, 300*time.Millisecond); err == nil {
		t.Fatal("b reached a over a link that is down")
	} else {
		t.Logf("over the cut link: %v", err)
	}
	l.Up()
	// The first try after Up may still meet the link coming up: a few tries.
	var err error
	for range 20 {
		if err = roundTrip(b, l.AddrA, time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("b to a after the link came back: %v", err)
	}
}

func TestAHostReachesNothingOutsideItsNamespaces(t *testing.T) {
	n := netns.New(t)
	a, b := n.Host("a"), n.Host("b")
	n.Connect(a, b)
	out, err := a.Command("ip", "route", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route inside a: %v: %s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "default") || !strings.HasPrefix(line, "10.231.") {
			t.Errorf("route inside a = %q; want only the link's own 10.231.k.0/24", line)
		}
	}
	// The machine's own loopback is not a's loopback: a port open on the
	// host's 127.0.0.1 is not reachable from a.
	hostL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := a.DialContext(ctx, "tcp", hostL.Addr().String()); err == nil {
		c.Close()
		t.Errorf("a reached the machine's own %s", hostL.Addr())
	}
}

func TestHostsOnASwitch(t *testing.T) {
	n := netns.New(t)
	sw := n.Switch("lan")
	var ports []*netns.Port
	for _, label := range []string{"srv", "w1", "w2"} {
		ports = append(ports, sw.Plug(n.Host(label)))
	}
	echoServer(t, ports[0].Host, ports[0].Addr)
	for _, p := range ports[1:] {
		if err := roundTrip(p.Host, ports[0].Addr, 5*time.Second); err != nil {
			t.Fatalf("%s to srv: %v", p.Host.Label, err)
		}
	}
	ports[1].Down()
	if err := roundTrip(ports[1].Host, ports[0].Addr, 300*time.Millisecond); err == nil {
		t.Error("w1 reached srv while unplugged")
	}
	if err := roundTrip(ports[2].Host, ports[0].Addr, 5*time.Second); err != nil {
		t.Errorf("w2 to srv while w1 is unplugged: %v", err)
	}
	ports[1].Up()
}

func TestCleanupRemovesEveryNamespace(t *testing.T) {
	var names []string
	t.Run("a network", func(t *testing.T) {
		n := netns.New(t)
		a, b := n.Host("a"), n.Host("b")
		n.Connect(a, b)
		cmd := a.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		names = append(names, a.Name, b.Name)
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, name := range names {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s is still there after its test ended", name)
		}
	}
}

func TestSweepRemovesNamespacesOfDeadProcesses(t *testing.T) {
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	// PIDs never go above 2^22 on Linux, so this creator is surely dead.
	stale := netns.Prefix + "99999999-1-stale"
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	if err := netns.Sweep(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(out), stale) {
		t.Errorf("Sweep left %s", stale)
	}
}

// TestDoLeavesChildProcessesAlive: a process started with Pdeathsig dies
// with the OS thread that forked it. Do must not end the threads it runs
// on, or dialling from a host kills the servers the test started there
// (once a defect: the third connection to a NATS server in a namespace
// found it gone).
func TestDoLeavesChildProcessesAlive(t *testing.T) {
	n := netns.New(t)
	h := n.Host("a")
	for i := range 20 {
		cmd := h.Command("sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// Do's goroutine usually runs on the thread that just forked.
		if err := h.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
			t.Fatalf("round %d: the child died after Do: %v", i, cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		cmd.Process.Kill()
		<-exited
	}
}
