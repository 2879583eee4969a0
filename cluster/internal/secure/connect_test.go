package secure_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// noDial is a dialer that never dials: tests whose URLs name addresses
// beyond loopback use it, so that nothing leaves the machine whatever
// Connect decides; Dial records the address it was asked for.
type noDial struct {
	mu    sync.Mutex
	asked []string
}

var errNoDial = errors.New("test dialer: not dialling")

func (d *noDial) Dial(_, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, addr)
	return nil, errNoDial
}

func (d *noDial) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked
}

func TestConnectNeverSendsASecretInPlaintextBeyondLoopback(t *testing.T) {
	log, logs := newLog()
	w := secure.NewSecret(secure.Worker)
	far := "192.0.2.1:4222" // TEST-NET-1: never dialled (noDial), never routed
	for _, tc := range []struct {
		name    string
		url     string
		opts    []nats.Option
		refused bool
	}{
		{"a nats:// join URL", "nats://" + w.Reveal() + "@" + far + "/ns", nil, true},
		{"a token in a URL", "nats://tok@" + far, nil, true},
		{"a token in a URL without a scheme", "tok@" + far, nil, true},
		{"a token option", "nats://" + far, []nats.Option{nats.Token("tok")}, true},
		{"a user and password", "nats://" + far, []nats.Option{nats.UserInfo("u", "p")}, true},
		{"a secret in the second URL of a list", "nats://127.0.0.1:1,nats://u:p@" + far, nil, true},
		{"a token with a loopback first and a far second", "nats://127.0.0.1:1," + far, []nats.Option{nats.Token("tok")}, true},
		{"a tls:// join URL", "tls://" + w.Reveal() + "@" + far + "/ns?pin=" + secure.Pin(sha256.Sum256([]byte("k"))).String(), nil, false},
		{"a nats:// join URL with insecure=1", "nats://" + w.Reveal() + "@" + far + "/ns?insecure=1", nil, false},
		{"a token over tls://", "tls://tok@" + far, nil, false},
		{"a token with nats.Secure", "nats://" + far, []nats.Option{nats.Token("tok"), nats.Secure()}, false},
		{"no secret at all", "nats://" + far, nil, false},
		{"a nats:// join URL to loopback", "nats://" + w.Reveal() + "@127.0.0.1:4222/ns", nil, false},
		{"a token to localhost", "nats://tok@localhost:4222", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &noDial{}
			opts := append([]nats.Option{nats.SetCustomDialer(d), nats.NoReconnect(), nats.RetryOnFailedConnect(false)}, tc.opts...)
			nc, _, err := secure.Connect(tc.url, log, opts...)
			if nc != nil {
				nc.Close()
			}
			if err == nil {
				t.Fatal("connected through a dialer that does not dial")
			}
			noSecret(t, nil, "Connect's error", err.Error())
			if strings.Contains(err.Error(), "tok") || strings.Contains(err.Error(), ":p@") {
				t.Errorf("Connect's error holds a secret: %v", err)
			}
			if tc.refused {
				if len(d.dialled()) != 0 {
					t.Errorf("dialled %v before refusing", d.dialled())
				}
				if !strings.Contains(err.Error(), "refusing to send") || !strings.Contains(err.Error(), "plaintext") {
					t.Errorf("err = %v; want a refusal to send a secret in plaintext", err)
				}
				return
			}
			if !errors.Is(err, errNoDial) {
				t.Errorf("err = %v; want the test dialer's (Connect should have dialled)", err)
			}
		})
	}
	if !strings.Contains(logs.String(), "insecure=1") {
		t.Errorf("the insecure=1 connection was not logged as a warning:\n%s", logs.String())
	}
	noSecret(t, nil, "the log", logs.String())
}

// tlsCluster starts a server serving TLS from a generated certificate.
func tlsCluster(t *testing.T) *cluster {
	return startCluster(t, embedded.Config{GenerateTLS: true})
}

func TestAWrongPinIsRefusedBeforeTheSecretLeaves(t *testing.T) {
	c := tlsCluster(t)
	if !c.srv.TLS || c.srv.Pin.IsZero() || !strings.HasPrefix(c.srv.URL, "tls://") {
		t.Fatalf("server TLS %v, pin %v, URL %s; want TLS with a pin", c.srv.TLS, c.srv.Pin, c.srv.URL)
	}
	right := c.srv.Join(secure.Worker, "")
	_, otherPin, err := secure.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		join secure.Join
		opts []nats.Option
		want error
	}{
		{"another cluster's pin", withPin(right, otherPin), nil, secure.ErrPinMismatch},
		{"another pin, with a TLS config of one's own", withPin(right, otherPin),
			[]nats.Option{nats.Secure(&tls.Config{InsecureSkipVerify: true})}, secure.ErrPinMismatch},
		{"no pin: the system's roots", withPin(right, secure.Pin{}), nil, nil},
		{"nats:// to a TLS server", secure.Join{Addr: right.Addr, Namespace: ns, Secret: right.Secret}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, _, err := secure.Connect(tc.join.Reveal(), c.log, append(tc.opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
				t.Fatal("connected; want refused")
			}
			if !errors.Is(err, nats.ErrTLS) && !strings.Contains(err.Error(), "tls:") {
				t.Errorf("err = %v; want a TLS error", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v; want %v", err, tc.want)
			}
			noSecret(t, c.auth, "Connect's error", err.Error())
		})
	}
	if n := c.auth.Stats().Checks; n != 0 {
		t.Fatalf("the server's auth hook saw %d connections: a secret left before the pin was checked", n)
	}
	// Positive control: the right join URL, and a TLS config of one's own
	// with the right pin, connect.
	for _, opts := range [][]nats.Option{nil, {nats.Secure(&tls.Config{InsecureSkipVerify: true})}} {
		nc, _, err := secure.Connect(right.Reveal(), c.log, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if cs, err := nc.TLSConnectionState(); err != nil || cs.Version != tls.VersionTLS13 {
			t.Errorf("TLS state %v, %v; want TLS 1.3", cs.Version, err)
		}
		nc.Close()
	}
	if n := c.auth.Stats().Accepted; n != 2 {
		t.Errorf("the right join URL was admitted %d times; want 2", n)
	}
	noSecret(t, c.auth, "the log", c.logs.String())
}

func withPin(j secure.Join, p secure.Pin) secure.Join { j.Pin = p; return j }

func TestAJoinURLConnectsAsItsRoleWithAnInboxOfItsOwn(t *testing.T) {
	for _, cfg := range []embedded.Config{{}, {GenerateTLS: true}} {
		c := startCluster(t, cfg)
		for _, role := range []secure.Role{secure.Worker, secure.Driver} {
			join := c.srv.Join(role, "")
			nc, j, err := secure.Connect(join.Reveal(), c.log)
			if err != nil {
				t.Fatal(err)
			}
			if j != join || j.Role() != role {
				t.Errorf("Connect returned %v; want %v", j, join)
			}
			id := secure.Identity(nc)
			if id == "" || nc.Opts.InboxPrefix != secure.InboxPrefix(id) || !strings.HasPrefix(nc.NewInbox(), secure.InboxPrefix(id)+".") {
				t.Errorf("identity %q, inbox prefix %q; want the nkey and _INBOX.<nkey>", id, nc.Opts.InboxPrefix)
			}
			if strings.Contains(nc.ConnectedUrl(), "@") {
				t.Errorf("ConnectedUrl() = %s; want no user information", nc.ConnectedUrl())
			}
			nc.Close()
		}
	}
}

func TestClientCertificatesWhenTheServersConfigAsksForThem(t *testing.T) {
	ca, caKey := newCA(t)
	serverCert := leafCert(t, ca, caKey, x509.ExtKeyUsageServerAuth)
	clientCert := leafCert(t, ca, caKey, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c := startCluster(t, embedded.Config{TLS: &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}})
	join := c.srv.Join(secure.Worker, "")
	if join.Pin.IsZero() {
		t.Fatal("no pin for a configuration with a certificate")
	}
	// Without a client certificate: refused in the handshake.
	if nc, _, err := secure.Connect(join.Reveal(), c.log, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("connected without a client certificate")
	}
	if n := c.auth.Stats().Checks; n != 0 {
		t.Fatalf("the auth hook saw %d connections without a client certificate", n)
	}
	// With one: the pin still holds, and the secret and nkey still count.
	withCert := nats.ClientTLSConfig(func() (tls.Certificate, error) { return clientCert, nil }, nil)
	nc, _, err := secure.Connect(join.Reveal(), c.log, withCert)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	wrongSecret := join
	wrongSecret.Secret = secure.NewSecret(secure.Worker)
	if nc, _, err := secure.Connect(wrongSecret.Reveal(), c.log, withCert, nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("a client certificate and a wrong secret: %v; want nats.ErrAuthorization", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func leafCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "test leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestNatsReportsGoToTheLoggerNotStandardError: nats.go's default error
// handler writes "... on connection [N]" lines to os.Stderr; a connection
// made with Connect (LogOptions) logs them instead, scrubbed. Not
// parallel: it swaps os.Stderr.
func TestNatsReportsGoToTheLoggerNotStandardError(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	stderr := captureStderr(t)

	// Positive control: a connection with nats.go's defaults writes there.
	auth, err := secure.ClientOptions(c.auth.Secret(secure.Worker))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := nats.Connect(c.srv.URL, auth...)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Subscribe(">", func(*nats.Msg) {})
	plain.Flush()

	log, logs := newLog()
	nc, _, err := secure.Connect(c.srv.Join(secure.Worker, "").Reveal(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Subscribe("not.mine", func(*nats.Msg) {})
	nc.Flush()

	deadline := time.Now().Add(wait)
	for !strings.Contains(logs.String(), "not.mine") || !strings.Contains(stderr(), "on connection [") {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: log %q, standard error %q", wait, logs.String(), stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(stderr(), "not.mine") {
		t.Errorf("Connect's connection wrote to standard error: %q", stderr())
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"futuresgen cluster: NATS error\"") {
		t.Errorf("log %q; want a warning", logs.String())
	}

	// A disconnect is logged too (the server goes away).
	c.srv.Shutdown()
	for !strings.Contains(logs.String(), "disconnected from the NATS server") {
		if time.Now().After(deadline) {
			t.Fatalf("no disconnect logged within %v: %q", wait, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	noSecret(t, c.auth, "the log", logs.String())
}

// captureStderr points os.Stderr at a pipe until the test ends and returns
// what was written to it so far.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	var (
		mu   sync.Mutex
		got  []byte
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			got = append(got, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		os.Stderr = old
		w.Close()
		<-done
		r.Close()
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return string(got)
	}
}
