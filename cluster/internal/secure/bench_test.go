package secure_test

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// benchModes are the servers the benchmarks compare, all on 127.0.0.1:
// no authentication; the cluster's (a secret, an nkey, per-identity
// permissions); and the same with TLS 1.3 from a generated certificate.
var benchModes = []struct {
	name string
	cfg  embedded.Config
	auth bool
}{
	{"off", embedded.Config{Listen: "127.0.0.1:0"}, false},
	{"auth", embedded.Config{Listen: "127.0.0.1:0"}, true},
	{"auth+tls", embedded.Config{Listen: "127.0.0.1:0", GenerateTLS: true}, true},
}

// benchConnect returns a connection to s as role: with the role's join
// URL when s has Auth, plainly otherwise.
func benchConnect(b *testing.B, s *embedded.Server, role secure.Role) *nats.Conn {
	b.Helper()
	var (
		nc  *nats.Conn
		err error
	)
	if s.Auth != nil {
		nc, err = s.ConnectAs(role, nil)
	} else {
		nc, err = s.Connect()
	}
	if err != nil {
		b.Fatal(err)
	}
	return nc
}

// BenchmarkRequestReply measures one request and its reply, one at a
// time, between a driver and a worker on separate loopback connections,
// on the cluster's subjects: the driver asks on ns.w.<W>.s.e.<D>, the
// worker answers through the driver's inbox (allow_responses under
// Auth). One op is one round trip. -count repeats each mode in a row: to
// interleave them, run the test binary several times instead.
func BenchmarkRequestReply(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		for _, m := range benchModes {
			b.Run(fmt.Sprintf("%dB/%s", size, m.name), func(b *testing.B) {
				cfg := m.cfg
				if m.auth {
					auth, err := secure.NewAuth(ns, nil)
					if err != nil {
						b.Fatal(err)
					}
					cfg.Auth = auth
				}
				s, err := embedded.Start(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Shutdown()
				d, w := benchConnect(b, s, secure.Driver), benchConnect(b, s, secure.Worker)
				defer d.Close()
				defer w.Close()
				did, wid := secure.Identity(d), secure.Identity(w)
				if !m.auth {
					did, wid = "D", "W"
				}
				sub, err := w.Subscribe(ns+".w."+wid+".>", func(msg *nats.Msg) { msg.Respond(msg.Data) })
				if err != nil {
					b.Fatal(err)
				}
				defer sub.Unsubscribe()
				w.Flush()
				payload := make([]byte, size)
				subject := subjW(wid, "s", "e", did)
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := d.Request(subject, payload, wait); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkConnect measures a new connection to a loopback server up to
// its first round trip, then its close: TCP, TLS handshake, INFO,
// CONNECT (the auth hook: a secret compared, a signature verified,
// permissions registered), PING/PONG. With Auth the client also makes
// its nkey.
func BenchmarkConnect(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			cfg := m.cfg
			if m.auth {
				auth, err := secure.NewAuth(ns, nil)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Auth = auth
			}
			s, err := embedded.Start(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown()
			for b.Loop() {
				nc := benchConnect(b, s, secure.Worker)
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
				nc.Close()
			}
		})
	}
}

// fakeClient is a connection as Auth.Check sees it.
type fakeClient struct {
	opts  server.ClientOpts
	nonce []byte
	user  *server.User
}

func (c *fakeClient) GetOpts() *server.ClientOpts                 { return &c.opts }
func (c *fakeClient) GetTLSConnectionState() *tls.ConnectionState { return nil }
func (c *fakeClient) RegisterUser(u *server.User)                 { c.user = u }
func (c *fakeClient) RemoteAddress() net.Addr                     { return nil }
func (c *fakeClient) GetNonce() []byte                            { return c.nonce }
func (c *fakeClient) Kind() int                                   { return server.CLIENT }
func (c *fakeClient) GetID() uint64                               { return 1 }

// BenchmarkCheck measures Auth.Check admitting a worker: two constant-time
// comparisons, an Ed25519 verification, the permissions built.
func BenchmarkCheck(b *testing.B) {
	auth, err := secure.NewAuth(ns, nil)
	if err != nil {
		b.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	nonce := []byte("0123456789abcdefghij")
	sig, _ := kp.Sign(nonce)
	c := &fakeClient{nonce: nonce, opts: server.ClientOpts{
		Token: auth.Secret(secure.Worker).Reveal(), Nkey: pub, Sig: base64.RawURLEncoding.EncodeToString(sig),
	}}
	for b.Loop() {
		if !auth.Check(c) {
			b.Fatal("refused")
		}
	}
}
