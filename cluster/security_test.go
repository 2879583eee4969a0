package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// secretRE matches what looks like a secret that is not redacted.
var secretRE = regexp.MustCompile(`fg[wd]_[A-Z2-7]{16,}`)

// noSecret fails the test if text holds a secret of l, or anything that
// looks like one.
func noSecret(t *testing.T, l *Local, where, text string) {
	t.Helper()
	for _, u := range []string{l.WorkerURL(), l.DriverURL()} {
		j, err := secure.ParseJoin(u)
		if err != nil {
			t.Fatal(err)
		}
		if s := j.Secret.Reveal(); strings.Contains(text, s) {
			t.Errorf("%s holds the %s secret", where, j.Role())
		}
	}
	if m := secretRE.FindString(text); m != "" {
		t.Errorf("%s holds something like a secret (%.8s…)", where, m)
	}
}

// violations collects a connection's asynchronous errors: the server's
// permissions violations.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) options() []nats.Option {
	return []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			v.mu.Lock()
			v.errs = append(v.errs, err.Error())
			v.mu.Unlock()
		}),
	}
}

// expect waits for the server's permissions violation for what
// ("Publish to" or "Subscription to") subject.
func (v *violations) expect(t *testing.T, what, subject string) {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for %s %q", what, subject)
	waitFor(t, want, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, e := range v.errs {
			if strings.Contains(e, want) {
				return true
			}
		}
		return false
	})
}

func TestAStartLocalClusterRefusesStrangers(t *testing.T) {
	t.Parallel()
	l := startLocal(t, Workers(1))
	if strings.Contains(l.URL(), "@") {
		t.Errorf("URL() = %s; want no secret in it", l.URL())
	}
	// No credentials at all: the plain address, as a stranger on this
	// host (or any other user of a shared machine) would try.
	if nc, err := nats.Connect(l.URL()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("a connection without credentials: %v; want nats.ErrAuthorization", err)
	}
	// A join URL with one character of its secret changed.
	j, err := secure.ParseJoin(l.DriverURL())
	if err != nil {
		t.Fatal(err)
	}
	text := j.Secret.Reveal()
	last := 'A'
	if text[len(text)-1] == 'A' {
		last = 'B'
	}
	wrongSecret, err := secure.ParseSecret(text[:len(text)-1] + string(last))
	if err != nil {
		t.Fatal(err)
	}
	j.Secret = wrongSecret
	nc, err := Connect(j.Reveal())
	if err == nil {
		nc.Close()
		t.Fatal("a connection with a wrong secret was accepted")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("a wrong secret: %v; want nats.ErrAuthorization", err)
	}
	noSecret(t, l, "the error of a wrong secret", err.Error())
	if strings.Contains(err.Error(), wrongSecret.Reveal()) {
		t.Errorf("the error of a wrong secret holds that secret: %v", err)
	}
}

// TestEachRoleDoesItsJobAndNothingMore joins a StartLocal cluster as a
// worker and as a driver of one's own, and tries what the roles must not
// do, while a real worker runs a task whose argument carries a marker.
func TestEachRoleDoesItsJobAndNothingMore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(1))
	ex := l.Executor()
	var real peer // the real worker's session
	ex.d.mu.Lock()
	for _, k := range ex.d.links {
		real = k.session
	}
	ex.d.mu.Unlock()
	ns := DefaultNamespace

	var wv violations
	rogue, err := Connect(l.WorkerURL(), wv.options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	me := secure.Identity(rogue)
	var seen sync.Mutex
	var got []string
	record := func(m *nats.Msg) {
		seen.Lock()
		got = append(got, m.Subject+" "+string(m.Data))
		seen.Unlock()
	}
	// Everything, and the real worker's calls: refused by the server.
	for _, subject := range []string{">", ns + ".>", ns + ".w." + real.id + ".>"} {
		if _, err := rogue.Subscribe(subject, record); err != nil {
			t.Fatal(err)
		}
		wv.expect(t, "Subscription to", subject)
	}
	// Its own session's subjects: allowed (the positive control: it would
	// get a driver's calls, if any came).
	own, err := rogue.SubscribeSync(ns + ".w." + me + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	// A call to the real worker, and answers as another identity: refused.
	for _, subject := range []string{
		subjToWorker(ns, real, peer{id: me, sub: "e"}),
		subjToDriver(ns, ex.d.me, peer{id: real.id, sub: real.sub}),
		ns + ".announce.s." + real.id,
	} {
		if err := rogue.Publish(subject, []byte("forged")); err != nil {
			t.Fatal(err)
		}
		wv.expect(t, "Publish to", subject)
	}
	const marker = "marker-in-an-argument-7c1e"
	if n, err := futuresimpl.SubmitTask(ctx, ex, taskLen, marker).Result(ctx); n != len(marker) || err != nil {
		t.Fatalf("the real worker: %v, %v; want it to run the task", n, err)
	}
	seen.Lock()
	for _, g := range got {
		t.Errorf("the rogue worker received %q", g)
	}
	seen.Unlock()
	if n, _, _ := own.Pending(); n != 0 {
		t.Errorf("the rogue worker received %d messages on its own subjects", n)
	}

	// A driver of one's own: it submits (its job), but answers as no worker.
	var dv violations
	other, err := Connect(l.DriverURL(), dv.options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ex2, err := NewExecutor(other)
	if err != nil {
		t.Fatal(err)
	}
	defer ex2.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ex2.WaitForWorkers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := futuresimpl.SubmitTask(ctx, ex2, taskLen, "abc").Result(ctx); n != 3 || err != nil {
		t.Errorf("a second driver's task: %v, %v", n, err)
	}
	for _, subject := range []string{
		subjToDriver(ns, ex.d.me, real),
		ns + ".announce.s." + secure.Identity(other),
	} {
		if err := other.Publish(subject, []byte("forged")); err != nil {
			t.Fatal(err)
		}
		dv.expect(t, "Publish to", subject)
	}
	if _, err := other.Subscribe(ns+".w."+real.id+".>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	dv.expect(t, "Subscription to", ns+".w."+real.id+".>")
}

// relay forwards TCP connections from 127.0.0.1 to a server and records
// every byte either way.
type relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   bytes.Buffer
	conns  []net.Conn
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in, out)
			r.mu.Unlock()
			r.wg.Add(2)
			go r.pipe(out, in)
			go r.pipe(in, out)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			dst.Close()
			src.Close()
			return
		}
	}
}

func (r *relay) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// TestNothingReadableOnTheWire sends a task whose argument and result
// carry markers through a recording relay, to a cluster with TLS (the
// certificate pinned in the join URL, as beyond loopback by default): the
// bytes show neither marker, nor the secret. The positive control, a
// cluster without TLS (loopback), shows them: the recording works.
func TestNothingReadableOnTheWire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, _, err := secure.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	const marker = "wire-marker-3b90f1"
	for _, tc := range []struct {
		name string
		opts []LocalOption
		tls  bool
	}{
		{"plaintext on loopback", nil, false},
		{"TLS", []LocalOption{TLS(cfg)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLocal(t, append([]LocalOption{Workers(1)}, tc.opts...)...)
			j, err := secure.ParseJoin(l.DriverURL())
			if err != nil {
				t.Fatal(err)
			}
			r := startRelay(t, j.Addr)
			j.Addr = r.ln.Addr().String()
			nc, err := Connect(j.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ex, err := NewExecutor(nc)
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := ex.WaitForWorkers(wctx, 1); err != nil {
				t.Fatal(err)
			}
			if v, err := futuresimpl.SubmitTask(ctx, ex, taskEcho, marker).Result(ctx); v != marker+marker || err != nil {
				t.Fatalf("the task through the relay: %q, %v", v, err)
			}
			wire := r.bytes()
			secret := j.Secret.Reveal()
			for _, what := range []string{marker, secret, "PUB " + DefaultNamespace} {
				if found := bytes.Contains(wire, []byte(what)); found == tc.tls {
					t.Errorf("TLS %v: %.12q… on the wire: %v", tc.tls, what, found)
				}
			}
		})
	}
}

func TestTLSBeyondLoopbackByDefault(t *testing.T) {
	t.Parallel()
	cfg := &tls.Config{}
	for _, tc := range []struct {
		listen              string
		tls                 *tls.Config
		insecure            bool
		generate, plaintext bool
	}{
		{"127.0.0.1:0", nil, false, false, false},
		{"[::1]:4222", nil, false, false, false},
		{"localhost:4222", nil, false, false, false},
		{":4222", nil, false, true, false},
		{"0.0.0.0:4222", nil, false, true, false},
		{"10.0.0.5:4222", nil, false, true, false},
		{"hosta:4222", nil, false, true, false},
		{"10.0.0.5:4222", cfg, false, false, false},
		{"10.0.0.5:4222", nil, true, false, true},
		{"127.0.0.1:0", nil, true, false, false},
	} {
		g, p := tlsPlan(localConfig{listen: tc.listen, tls: tc.tls, insecure: tc.insecure})
		if g != tc.generate || p != tc.plaintext {
			t.Errorf("Listen(%q), TLS %v, Insecure %v: generate %v, plaintext %v; want %v, %v", tc.listen, tc.tls != nil, tc.insecure, g, p, tc.generate, tc.plaintext)
		}
	}
}

func TestConnectSendsNoSecretInPlaintextBeyondLoopback(t *testing.T) {
	t.Parallel()
	secret := secure.NewSecret(secure.Driver).Reveal()
	for _, url := range []string{
		"nats://" + secret + "@10.255.255.1:4222/futures", // a join URL, plaintext
		"nats://" + secret + "@10.255.255.1:4222",         // a token in a plain URL
	} {
		start := time.Now()
		nc, err := Connect(url)
		if err == nil {
			nc.Close()
			t.Fatalf("Connect(%.30s…) = nil error; want a refusal", url)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Connect's error holds the secret: %v", err)
		}
		if !strings.Contains(err.Error(), "plaintext") {
			t.Errorf("Connect's error %q; want it to say why: plaintext", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("Connect took %v to refuse", time.Since(start))
		}
	}
}

// TestNoSecretInLogsCommandLinesOrEnvironments runs a cluster whose log
// is captured, through what it logs (workers joining, a stranger refused,
// a worker killed and replaced), and looks for its secrets in the log and
// in what other users of the machine can read of its worker processes:
// their command lines (and their environments, readable by the same user).
func TestNoSecretInLogsCommandLinesOrEnvironments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs syncBuffer
	l := startLocal(t, Workers(2), Logger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if goruntime.GOOS == "linux" {
		for _, pid := range l.pids() {
			for _, file := range []string{"cmdline", "environ"} {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
				if err != nil {
					t.Fatal(err)
				}
				noSecret(t, l, fmt.Sprintf("worker process %d's %s", pid, file), string(b))
			}
		}
	}
	if nc, err := nats.Connect(l.URL()); err == nil {
		nc.Close()
	}
	pids := l.pids()
	syscall.Kill(pids[0], syscall.SIGKILL)
	waitFor(t, "the killed worker is lost and replaced", func() bool {
		s := l.Executor().Stats()
		return len(l.pids()) == 2 && s.Workers == 2 && s.Lost == 1
	})
	if v, err := futuresimpl.SubmitTask(ctx, l.Executor(), taskDouble, 2).Result(ctx); v != 4 || err != nil {
		t.Errorf("after the restart: %v, %v", v, err)
	}
	for _, want := range []string{"refused a connection", "worker joined"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log has no %q: the test did not go through what it meant to", want)
		}
	}
	noSecret(t, l, "the log", logs.String())
	noSecret(t, l, "URL()", l.URL())
}
