// Package netns builds small multi-host networks on one machine for tests:
// network namespaces joined by veth pairs, with addresses that exist only
// inside those namespaces.
//
// A namespace made here has no link to the machine's own namespace and no
// default route, so nothing a test runs in it can reach any address but
// its own loopback and the namespaces the test joined it to. Addresses
// come from 10.231.0.0/16 (point-to-point links) and 10.232.0.0/16
// (switches); they are never routed anywhere else.
//
// Everything made is removed by t.Cleanup, also when the test fails, and
// New first sweeps namespaces left behind by earlier test processes that
// died (names carry the creating process's PID).
//
// The helpers need root and the ip command (iproute2); without them New
// skips the test with a message saying what is missing.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace this package makes; Sweep
// removes stale ones by it.
const Prefix = "fgns-"

// cmdTimeout bounds every ip command; they take milliseconds.
const cmdTimeout = 10 * time.Second

// seq numbers namespaces and links within this process.
var seq atomic.Int64

// Net is one test's network: its namespaces, links and processes. Its
// methods may be called from several goroutines.
type Net struct {
	tb     testing.TB
	ipPath string

	mu    sync.Mutex
	hosts []*Host
}

// Host is one network namespace: a machine of the test network.
type Host struct {
	net   *Net
	Label string // the name the test gave it
	Name  string // the namespace's name, for ip netns exec
	ifs   int    // interfaces made in it so far, for their names
}

// Link is a veth pair between two hosts, with one address at each end.
type Link struct {
	net          *Net
	A, B         *Host
	IfA, IfB     string     // interface names inside A and B
	AddrA, AddrB netip.Addr // the addresses on them
}

// Available reports why the helpers cannot run here, or "" when they can.
func Available() string {
	if os.Geteuid() != 0 {
		return "netns: needs root (network namespaces and veth pairs)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "netns: the ip command is missing (apt-get install -y iproute2)"
	}
	return ""
}

// New returns an empty network for the test, or skips the test when
// Available says the helpers cannot run. It first removes namespaces left
// behind by dead test processes (see Sweep). Everything the network makes
// is removed when the test and its subtests end.
func New(tb testing.TB) *Net {
	tb.Helper()
	if why := Available(); why != "" {
		tb.Skip(why)
	}
	ipPath, _ := exec.LookPath("ip")
	if err := Sweep(); err != nil {
		tb.Logf("netns: sweeping stale namespaces: %v", err)
	}
	n := &Net{tb: tb, ipPath: ipPath}
	tb.Cleanup(n.cleanup)
	return n
}

// runIP runs one ip command with a bounded time and returns its output.
func runIP(ipPath string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, ipPath, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// must runs an ip command and fails the test if it fails.
func (n *Net) must(args ...string) string {
	n.tb.Helper()
	out, err := runIP(n.ipPath, args...)
	if err != nil {
		n.tb.Fatalf("netns: %v", err)
	}
	return out
}

// Host makes a new namespace with its loopback up. label appears in its
// name, for reading ip netns list; it need not be unique.
func (n *Net) Host(label string) *Host {
	n.tb.Helper()
	name := fmt.Sprintf("%s%d-%d-%s", Prefix, os.Getpid(), seq.Add(1), label)
	h := &Host{net: n, Label: label, Name: name}
	n.must("netns", "add", name)
	n.mu.Lock()
	n.hosts = append(n.hosts, h) // before anything else can fail: cleanup removes it
	n.mu.Unlock()
	n.must("-n", name, "link", "set", "lo", "up")
	return h
}

// newIf returns the next interface name in h, short enough for IFNAMSIZ.
func (h *Host) newIf(kind string) string {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	h.ifs++
	return fmt.Sprintf("%s%d", kind, h.ifs)
}

// Connect joins a and b with a veth pair on a subnet of their own,
// 10.231.k.0/24 with a at .1 and b at .2, and brings both ends up. The
// pair is made inside the namespaces: it never exists in the machine's
// own namespace.
func (n *Net) Connect(a, b *Host) *Link {
	n.tb.Helper()
	k := seq.Add(1) % 250
	l := &Link{
		net: n, A: a, B: b,
		IfA: a.newIf("veth"), IfB: b.newIf("veth"),
		AddrA: netip.AddrFrom4([4]byte{10, 231, byte(k), 1}),
		AddrB: netip.AddrFrom4([4]byte{10, 231, byte(k), 2}),
	}
	n.must("-n", a.Name, "link", "add", l.IfA, "type", "veth", "peer", "name", l.IfB, "netns", b.Name)
	for _, end := range []struct {
		h    *Host
		ifn  string
		addr netip.Addr
	}{{a, l.IfA, l.AddrA}, {b, l.IfB, l.AddrB}} {
		// No IPv6 link-local address: the link carries only what the test sends.
		n.must("-n", end.h.Name, "link", "set", "dev", end.ifn, "addrgenmode", "none")
		n.must("-n", end.h.Name, "addr", "add", end.addr.String()+"/24", "dev", end.ifn)
		n.must("-n", end.h.Name, "link", "set", end.ifn, "up")
	}
	return l
}

// Down cuts the link by setting A's end down: B's end loses its carrier,
// and packets either way are dropped without any error reaching B (A sees
// its route go away). The TCP connections across it stay open until a
// timeout or a heartbeat notices.
func (l *Link) Down() { l.net.tb.Helper(); l.net.must("-n", l.A.Name, "link", "set", l.IfA, "down") }

// Up restores a link cut by Down.
func (l *Link) Up() { l.net.tb.Helper(); l.net.must("-n", l.A.Name, "link", "set", l.IfA, "up") }

// Switch is a bridge in a namespace of its own, joining any number of
// hosts on one subnet, 10.232.k.0/24. Hosts get .1, .2, … in the order
// they are plugged in.
type Switch struct {
	net    *Net
	host   *Host // the namespace holding the bridge
	subnet byte
	ports  int
}

// Port is a host's connection to a switch.
type Port struct {
	sw   *Switch
	Host *Host
	If   string     // the interface inside Host
	Addr netip.Addr // its address
	swIf string     // the bridge port inside the switch's namespace
}

// Switch makes a new switch: a namespace with a bridge.
func (n *Net) Switch(label string) *Switch {
	n.tb.Helper()
	h := n.Host("sw-" + label)
	n.must("-n", h.Name, "link", "add", "br0", "type", "bridge")
	n.must("-n", h.Name, "link", "set", "br0", "up")
	return &Switch{net: n, host: h, subnet: byte(seq.Add(1) % 250)}
}

// Plug connects h to the switch with a veth pair and gives h's end the
// next address of the switch's subnet.
func (s *Switch) Plug(h *Host) *Port {
	s.net.tb.Helper()
	s.net.mu.Lock()
	s.ports++
	k := s.ports
	s.net.mu.Unlock()
	if k > 250 {
		s.net.tb.Fatalf("netns: switch %s is full", s.host.Name)
	}
	p := &Port{sw: s, Host: h, If: h.newIf("eth"), swIf: s.host.newIf("p"),
		Addr: netip.AddrFrom4([4]byte{10, 232, s.subnet, byte(k)})}
	n := s.net
	n.must("-n", s.host.Name, "link", "add", p.swIf, "type", "veth", "peer", "name", p.If, "netns", h.Name)
	n.must("-n", s.host.Name, "link", "set", "dev", p.swIf, "addrgenmode", "none")
	n.must("-n", s.host.Name, "link", "set", p.swIf, "master", "br0")
	n.must("-n", s.host.Name, "link", "set", p.swIf, "up")
	n.must("-n", h.Name, "link", "set", "dev", p.If, "addrgenmode", "none")
	n.must("-n", h.Name, "addr", "add", p.Addr.String()+"/24", "dev", p.If)
	n.must("-n", h.Name, "link", "set", p.If, "up")
	return p
}

// Down cuts the host off the switch (the switch's side of the cable), so
// the host sees only silence from the others: no error, no reset.
func (p *Port) Down() {
	p.sw.net.tb.Helper()
	p.sw.net.must("-n", p.sw.host.Name, "link", "set", p.swIf, "down")
}

// Up plugs the cable back in.
func (p *Port) Up() {
	p.sw.net.tb.Helper()
	p.sw.net.must("-n", p.sw.host.Name, "link", "set", p.swIf, "up")
}

// Command returns a command that runs name with args inside h (through
// ip netns exec). The process gets SIGKILL if the test process dies, and
// is killed at the test's cleanup, before the namespace is removed, if it
// is still running then. Start it with Start or Run as usual.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(h.net.ipPath, append([]string{"netns", "exec", h.Name, name}, args...)...)
	// ip netns exec execs name in place, so cmd.Process is name's process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	h.net.tb.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its whole group
			_ = cmd.Wait()
		}
	})
	return cmd
}

// cleanup removes every namespace of the network; the veth pairs and
// bridges in them go with them. Processes started by Command were killed
// by their own cleanups, which run first (they were registered later).
func (n *Net) cleanup() {
	n.mu.Lock()
	hosts := n.hosts
	n.hosts = nil
	n.mu.Unlock()
	for _, h := range hosts {
		if _, err := runIP(n.ipPath, "netns", "del", h.Name); err != nil {
			n.tb.Errorf("netns: removing %s: %v", h.Name, err)
		}
	}
}

// Sweep removes the namespaces named with Prefix whose creating process
// is no longer alive: what a test killed before its cleanup ran left
// behind. Namespaces of live processes are left alone.
func Sweep() error {
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("netns: sweep: %v", err)
	}
	out, err := runIP(ipPath, "netns", "list")
	if err != nil {
		return err
	}
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		pidText, _, _ := strings.Cut(strings.TrimPrefix(f[0], Prefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pidAlive(pid) {
			continue
		}
		if _, err := runIP(ipPath, "netns", "del", f[0]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("netns: sweep: %s", strings.Join(errs, "; "))
	}
	return nil
}

// pidAlive reports whether a process with that PID exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
