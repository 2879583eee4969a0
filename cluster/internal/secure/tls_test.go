package secure_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

func TestGenerateTLSMakesAP256TLS13ConfigAndItsPin(t *testing.T) {
	cfg, pin, err := secure.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || len(cfg.Certificates) != 1 {
		t.Fatalf("MinVersion %x, %d certificates; want TLS 1.3 and one", cfg.MinVersion, len(cfg.Certificates))
	}
	leaf := cfg.Certificates[0].Leaf
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("key %T; want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.IsCA {
		t.Error("the certificate is a CA")
	}
	if sha256.Sum256(leaf.RawSubjectPublicKeyInfo) != pin || secure.PinOf(leaf) != pin {
		t.Error("the pin is not the SHA-256 of the SubjectPublicKeyInfo")
	}
	if got, ok := secure.PinOfConfig(cfg); !ok || got != pin {
		t.Errorf("PinOfConfig = %v, %v", got, ok)
	}
	if _, ok := secure.PinOfConfig(&tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }}); ok {
		t.Error("PinOfConfig pinned a certificate given by GetCertificate")
	}
	back, err := secure.ParsePin(pin.String())
	if err != nil || back != pin || !strings.HasPrefix(pin.String(), "sha256:") {
		t.Errorf("ParsePin(%s) = %v, %v", pin, back, err)
	}
	for _, bad := range []string{"", "sha256:", "md5:" + pin.String()[7:], pin.String() + "AA", "sha256:" + strings.Repeat("A", 43)} {
		if _, err := secure.ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q): no error", bad)
		}
	}
}

// TestPinnedTLSAcceptsExactlyThePinnedKey runs TLS handshakes over
// loopback TCP (a net.Pipe would deadlock: it holds no bytes, and the
// server writes its session tickets while the client writes its Finished).
func TestPinnedTLSAcceptsExactlyThePinnedKey(t *testing.T) {
	server, pin, err := secure.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := secure.GenerateTLS()
	for _, tc := range []struct {
		name string
		pin  secure.Pin
		ok   bool
	}{{"its pin", pin, true}, {"another key's pin", other, false}, {"no pin", secure.Pin{}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				if c, err := ln.Accept(); err == nil {
					tls.Server(c, server).Handshake()
					c.Close()
				}
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			err = tls.Client(c, secure.PinnedTLS(tc.pin)).Handshake()
			c.Close()
			<-served
			if (err == nil) != tc.ok {
				t.Errorf("handshake: %v; want ok = %v", err, tc.ok)
			}
			if !tc.ok && err != nil && !strings.Contains(err.Error(), "pin") {
				t.Errorf("handshake error %v does not name the pin", err)
			}
		})
	}
}
