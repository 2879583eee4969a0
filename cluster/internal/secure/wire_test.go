package secure_test

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// relay forwards TCP connections from a listener on 127.0.0.1 to a server
// and records every byte either way.
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
	go r.accept()
	t.Cleanup(r.stop)
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", r.target)
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
}

// pipe copies src to dst, recording, until either closes.
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

func (r *relay) stop() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *relay) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// TestTheWireShowsNothingWithTLS runs a call and its answer, with a marker
// in each, between a driver and a worker that reach the server through a
// recording relay on 127.0.0.1, and looks for the marker, the secrets and
// the subjects in the recorded bytes: all there without TLS (the positive
// control: the recording works), none with it.
func TestTheWireShowsNothingWithTLS(t *testing.T) {
	const callMarker, answerMarker = "call-marker-51f0e2", "answer-marker-9ac3d7"
	for _, tc := range []struct {
		name string
		cfg  embedded.Config
		tls  bool
	}{
		{"plaintext on loopback", embedded.Config{}, false},
		{"TLS", embedded.Config{GenerateTLS: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, tc.cfg)
			_, addr, _ := strings.Cut(c.srv.URL, "://")
			r := startRelay(t, addr)
			connect := func(role secure.Role) *nats.Conn {
				nc, _, err := secure.Connect(c.srv.Join(role, r.addr()).Reveal(), c.log)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(nc.Close)
				return nc
			}
			d, w := connect(secure.Driver), connect(secure.Worker)
			did, wid := secure.Identity(d), secure.Identity(w)
			calls, err := w.SubscribeSync(ns + ".w." + wid + ".>")
			if err != nil {
				t.Fatal(err)
			}
			answers, err := d.SubscribeSync(ns + ".d." + did + ".>")
			if err != nil {
				t.Fatal(err)
			}
			w.Flush()
			d.Flush()
			if err := d.Publish(subjW(wid, "s", "e", did), []byte(callMarker)); err != nil {
				t.Fatal(err)
			}
			if m, err := calls.NextMsg(wait); err != nil || string(m.Data) != callMarker {
				t.Fatalf("the call: %v, %v", m, err)
			}
			if err := w.Publish(subjD(did, "e", "s", wid), []byte(answerMarker)); err != nil {
				t.Fatal(err)
			}
			if m, err := answers.NextMsg(wait); err != nil || string(m.Data) != answerMarker {
				t.Fatalf("the answer: %v, %v", m, err)
			}
			seen := r.bytes()
			for _, what := range []struct{ name, text string }{
				{"the call's marker", callMarker},
				{"the answer's marker", answerMarker},
				{"the worker secret", c.auth.Secret(secure.Worker).Reveal()},
				{"the driver secret", c.auth.Secret(secure.Driver).Reveal()},
				{"a subject", ns + ".w."},
				{"the worker's identity", wid},
			} {
				if got := bytes.Contains(seen, []byte(what.text)); got == tc.tls {
					t.Errorf("%s on the wire: %v; want %v (%d bytes recorded)", what.name, got, !tc.tls, len(seen))
				}
			}
		})
	}
}
