package secure_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/cluster/internal/netns"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// hostDialer dials from inside a network namespace.
type hostDialer struct{ h *netns.Host }

func (d hostDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return d.h.DialContext(ctx, network, addr)
}

// TestBeyondLoopback runs servers in one network namespace, listening on
// a veth address, and connects to them from another, as a host on a
// network would: the join URLs work, with TLS by default and with
// insecure=1 on a server told Insecure; no credentials and a wrong secret
// are refused; Connect will not send a secret in plaintext there unless
// the URL says insecure=1. Skipped unless root.
func TestBeyondLoopback(t *testing.T) {
	n := netns.New(t) // skips with the reason when it cannot run
	srvHost, cliHost := n.Host("srv"), n.Host("cli")
	link := n.Connect(srvHost, cliHost)
	dial := nats.SetCustomDialer(hostDialer{cliHost})
	log, logs := newLog()

	// The embedded server itself refuses to listen there in plaintext.
	addr := netip.AddrPortFrom(link.AddrA, 4222).String()
	if _, err := embedded.Start(embedded.Config{Listen: addr}); err == nil || !strings.Contains(err.Error(), "beyond loopback") {
		t.Fatalf("Start listening on %s without TLS: %v; want a refusal", addr, err)
	}

	for _, tc := range []struct {
		name string
		cfg  embedded.Config
	}{
		{"TLS", embedded.Config{Listen: addr, GenerateTLS: true}},
		{"insecure", embedded.Config{Listen: netip.AddrPortFrom(link.AddrA, 4223).String(), Insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := embeddedtest.StartIn(t, srvHost, embeddedtest.ChildConfig{Config: tc.cfg, AuthNamespace: ns})
			wj, err := secure.ParseJoin(srv.WorkerURL)
			if err != nil {
				t.Fatal(err)
			}
			if wj.TLS != tc.cfg.GenerateTLS || wj.Insecure == tc.cfg.GenerateTLS || wj.Addr != tc.cfg.Listen {
				t.Fatalf("worker join URL %s; want TLS %v on %s", wj, tc.cfg.GenerateTLS, tc.cfg.Listen)
			}
			// The join URLs work from the other namespace.
			w, _, err := secure.Connect(srv.WorkerURL, log, dial)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			d, _, err := secure.Connect(srv.DriverURL, log, dial)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			wid, did := secure.Identity(w), secure.Identity(d)
			calls, err := w.SubscribeSync(ns + ".w." + wid + ".>")
			if err != nil {
				t.Fatal(err)
			}
			w.Flush()
			d.Publish(subjW(wid, "s", "e", did), []byte("call"))
			if m, err := calls.NextMsg(wait); err != nil || string(m.Data) != "call" {
				t.Fatalf("a call across the link: %v, %v", m, err)
			}

			// Refused: no credentials, a wrong secret.
			noCreds := []nats.Option{dial, nats.NoReconnect()}
			if tc.cfg.GenerateTLS {
				noCreds = append(noCreds, nats.Secure(secure.PinnedTLS(wj.Pin)))
			}
			if nc, err := nats.Connect(srv.URL, noCreds...); !errors.Is(err, nats.ErrAuthorization) {
				if nc != nil {
					nc.Close()
				}
				t.Errorf("no credentials: %v; want nats.ErrAuthorization", err)
			}
			bad := wj
			bad.Secret = secure.NewSecret(secure.Worker)
			if nc, _, err := secure.Connect(bad.Reveal(), log, dial, nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
				if nc != nil {
					nc.Close()
				}
				t.Errorf("a wrong secret: %v; want nats.ErrAuthorization", err)
			} else {
				noSecret(t, nil, "the error", err.Error())
			}
			if tc.cfg.Insecure {
				plain := wj
				plain.Insecure = false
				_, _, err := secure.Connect(plain.Reveal(), log, dial, nats.NoReconnect())
				if err == nil || !strings.Contains(err.Error(), "plaintext") {
					t.Errorf("a nats:// join URL without insecure=1 beyond loopback: %v; want refused", err)
				}
				if !strings.Contains(logs.String(), "insecure=1") {
					t.Errorf("the insecure connection was not logged as a warning")
				}
			}
		})
	}
	noSecret(t, nil, "the log", logs.String())
}
