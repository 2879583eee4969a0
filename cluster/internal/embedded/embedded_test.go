package embedded_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

func TestMain(m *testing.M) {
	embeddedtest.ServeChild() // the netns tests run this binary as a server
	goleak.VerifyTestMain(m)
}

// roundTrip checks that a message published on nc comes back to a
// subscriber on nc.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.SubscribeSync("rt")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Publish("rt", []byte("ping")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if string(msg.Data) != "ping" {
		t.Fatalf("round trip gave %q; want ping", msg.Data)
	}
}

func TestServersStartTakeConnectionsAndLeaveNothingBehind(t *testing.T) {
	store := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  embedded.Config
	}{
		{"in-process only", embedded.Config{}},
		{"on a free loopback port", embedded.Config{Listen: "127.0.0.1:0"}},
		{"in-process with JetStream in a temp dir", embedded.Config{JetStream: true}},
		{"on loopback with JetStream in a given dir", embedded.Config{Listen: "127.0.0.1:0", JetStream: true, StoreDir: store}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			start := time.Now()
			s, err := embedded.Start(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ready := time.Since(start)
			if tc.cfg.Listen != "" && !strings.HasPrefix(s.URL, "nats://127.0.0.1:") {
				t.Errorf("URL = %q; want nats://127.0.0.1:port", s.URL)
			}
			nc, err := s.Connect()
			if err != nil {
				s.Shutdown()
				t.Fatal(err)
			}
			roundTrip(t, nc)
			if tc.cfg.JetStream {
				if _, err := nc.JetStream(); err != nil {
					t.Errorf("JetStream: %v", err)
				}
			}
			firstMsg := time.Since(start)
			nc.Close()
			s.Shutdown()
			t.Logf("ready in %v, first round trip done at %v", ready, firstMsg)
		})
	}
	// The given store dir holds JetStream's files; nothing else is needed.
	entries, _ := os.ReadDir(store)
	if len(entries) == 0 {
		t.Errorf("JetStream wrote nothing under StoreDir %s", store)
	}
}

func TestTempStoreDirIsRemovedAtShutdown(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := embeddedtest.StartT(t, embedded.Config{JetStream: true})
	if got, _ := filepath.Glob(filepath.Join(tmp, "futuresgen-nats-*")); len(got) != 1 {
		t.Fatalf("temp store dirs under TMPDIR = %v; want one", got)
	}
	s.Shutdown()
	if got, _ := filepath.Glob(filepath.Join(tmp, "futuresgen-nats-*")); len(got) != 0 {
		t.Errorf("after Shutdown, temp store dirs = %v; want none", got)
	}
}

func TestBadListenAddressNamesTheAddress(t *testing.T) {
	_, err := embedded.Start(embedded.Config{Listen: "127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), `"127.0.0.1"`) {
		t.Errorf("Start with a port-less address: err = %v; want one naming the address", err)
	}
}

// BenchmarkStart measures start-up to the first round trip.
func BenchmarkStart(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  embedded.Config
	}{
		{"inprocess", embedded.Config{}},
		{"loopback", embedded.Config{Listen: "127.0.0.1:0"}},
		{"inprocess-jetstream", embedded.Config{JetStream: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := embedded.Start(bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				nc, err := s.Connect()
				if err != nil {
					b.Fatal(err)
				}
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				nc.Close()
				s.Shutdown()
				b.StartTimer()
			}
		})
	}
}

func TestListeningBeyondLoopbackNeedsTLSOrInsecure(t *testing.T) {
	// Each fails before listening: nothing is bound beyond loopback.
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "10.231.0.1:4222", "myhost:4222"} {
		_, err := embedded.Start(embedded.Config{Listen: addr})
		if err == nil || !strings.Contains(err.Error(), "beyond loopback") || !strings.Contains(err.Error(), "Insecure") {
			t.Errorf("Start listening on %q without TLS: err = %v; want a refusal naming Insecure", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0", "localhost:0"} {
		s, err := embedded.Start(embedded.Config{Listen: addr})
		if err != nil {
			t.Errorf("Start on %q: %v", addr, err)
			continue
		}
		s.Shutdown()
	}
}

func TestAnAuthenticatingServerTakesItsRolesInProcessAndOverTCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	auth, err := secure.NewAuth("ns", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []embedded.Config{
		{Auth: auth},
		{Auth: auth, Listen: "127.0.0.1:0"},
		{Auth: auth, Listen: "127.0.0.1:0", GenerateTLS: true},
	} {
		s, err := embedded.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.GenerateTLS != strings.HasPrefix(s.URL, "tls://") || cfg.GenerateTLS == s.Pin.IsZero() {
			t.Errorf("URL %s, pin %v; want tls:// and a pin exactly with TLS", s.URL, s.Pin)
		}
		for _, connect := range []func(secure.Role, *slog.Logger, ...nats.Option) (*nats.Conn, error){s.ConnectAs, s.ConnectInProcess} {
			nc, err := connect(secure.Driver, nil)
			if err != nil {
				t.Fatal(err)
			}
			if secure.Identity(nc) == "" {
				t.Errorf("no identity")
			}
			nc.Close()
		}
		if _, err := s.Connect(nats.NoReconnect()); err == nil {
			t.Errorf("a connection without credentials was admitted")
		}
		s.Shutdown()
	}
}
