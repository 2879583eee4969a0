// Package embedded runs a NATS server inside this process: for tests, and
// for the cluster's StartLocal, which needs a server with nothing
// installed.
//
// A server either listens on no port at all and is reached only through
// in-process connections (Config.Listen empty: nats.InProcessServer), or
// listens on a TCP address such as 127.0.0.1:0 (a free port). JetStream,
// when asked for, keeps its files under a directory of the caller's
// choosing or under a temporary one that Shutdown removes.
//
// With Config.Auth, every client authenticates (in-process ones too) and
// gets the permissions of its role (package secure). A server listening
// beyond loopback serves TLS, from Config.TLS or a certificate generated in
// memory (Config.GenerateTLS), unless Config.Insecure says otherwise.
//
// Start-up to the first round trip on this project's 2-core machine (see
// ../NOTES.md): about 1.5-2 ms in-process or on 127.0.0.1, 3 ms with
// JetStream.
package embedded

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// DefaultReadyTimeout bounds how long Start waits for the server to take
// connections when Config.ReadyTimeout is zero.
const DefaultReadyTimeout = 10 * time.Second

// Config says how to run a server. The zero Config is an in-process
// server without JetStream and with the NATS defaults.
type Config struct {
	// Listen is the TCP address to listen on, "host:port"; port 0 picks a
	// free port. Empty means no listener: only in-process connections.
	Listen string

	// JetStream enables JetStream. Its files go under StoreDir, or under a
	// new temporary directory that Shutdown removes when StoreDir is empty.
	JetStream bool
	StoreDir  string

	// MaxPayload is the largest message the server takes, headers
	// included; zero means the NATS default of 1 MiB.
	MaxPayload int32

	// PingInterval and MaxPingsOut tune how fast the server drops a
	// client it no longer hears from (NATS defaults: 2 minutes, 2).
	PingInterval time.Duration
	MaxPingsOut  int

	// ReadyTimeout bounds the wait for the server to be ready;
	// zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// Logs sends the server's own log to stderr (off by default).
	Logs bool

	// Auth, when set, authenticates every client, in-process ones
	// included, and gives each the permissions of its role; the server
	// also takes at most MaxConn connections and MaxSubs subscriptions on
	// each, and drops a client that has not authenticated within
	// AuthTimeout. Without Auth the server admits anyone.
	Auth *secure.Auth `json:"-"`

	// TLS, when set, makes the server serve TLS with this configuration
	// to every TCP client (in-process ones need none): a certificate of
	// one's own, and client certificates too when its ClientAuth says
	// so (mTLS). GenerateTLS serves TLS from a certificate made in memory
	// instead (Server.Pin is its pin). Listening beyond loopback needs
	// one or the other, or Insecure.
	TLS         *tls.Config `json:"-"`
	GenerateTLS bool

	// Insecure lets the server listen beyond loopback without TLS:
	// everything, secrets included, crosses the network in plaintext.
	Insecure bool

	// Limits, with Auth; zero means the default.
	MaxConn     int           // connections, authenticated or not: DefaultMaxConn
	MaxSubs     int           // subscriptions per connection: DefaultMaxSubs
	AuthTimeout time.Duration // from accepting to CONNECT: DefaultAuthTimeout
}

// Defaults of the limits a server with Auth has.
const (
	// DefaultMaxConn bounds connections, including those not yet
	// authenticated (each lasts at most the auth timeout): NATS's own
	// default is 64K.
	DefaultMaxConn = 4096
	// DefaultMaxSubs bounds the subscriptions of one connection. A worker
	// needs about ten, but a driver holds one per value it offers in
	// chunks (arguments over max_payload waiting for their worker).
	DefaultMaxSubs = 1 << 16
	// DefaultAuthTimeout bounds the time from accepting a connection to
	// its CONNECT, TLS handshake included.
	DefaultAuthTimeout = 3 * time.Second
)

// Server is a running embedded server.
type Server struct {
	// NS is the server itself, for what this package does not wrap.
	NS *server.Server
	// URL is the address clients on other processes use, nats://host:port
	// (tls://host:port with TLS), or "" for an in-process-only server. It
	// holds no secret.
	URL string
	// TLS says whether the server serves TLS to TCP clients; Pin is the
	// pin of its certificate, or zero when it cannot be known ahead (a
	// Config.TLS with GetCertificate).
	TLS bool
	Pin secure.Pin
	// Auth is Config.Auth.
	Auth *secure.Auth

	insecure bool   // Config.Insecure
	tempDir  string // a StoreDir made by Start, removed by Shutdown
}

// Start starts a server and returns once it takes connections, or an
// error naming what failed (bad address, JetStream store, not ready in
// time). On error nothing is left running.
func Start(cfg Config) (*Server, error) {
	opts := &server.Options{
		NoSigs:       true, // never touch the process's signal handlers
		NoLog:        !cfg.Logs,
		DontListen:   cfg.Listen == "",
		MaxPayload:   cfg.MaxPayload,
		PingInterval: cfg.PingInterval,
		MaxPingsOut:  cfg.MaxPingsOut,
		// No HTTP monitoring, cluster, gateway or leaf ports: none is
		// opened unless asked for, and we never ask.
	}
	s := &Server{Auth: cfg.Auth, insecure: cfg.Insecure}
	if cfg.Listen != "" {
		host, portText, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded: listen address %q: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("embedded: listen address %q: bad port", cfg.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT // nats-server reads 0 as "the default, 4222"
		}
		opts.Host, opts.Port = host, port
		if cfg.TLS == nil && !cfg.GenerateTLS && !cfg.Insecure && !loopbackHost(host) {
			return nil, fmt.Errorf("embedded: listening on %q, beyond loopback, without TLS: "+
				"give a TLS configuration or GenerateTLS, or Insecure to send everything, secrets included, in plaintext", cfg.Listen)
		}
	}
	switch {
	case cfg.TLS != nil:
		opts.TLSConfig = cfg.TLS // its ClientAuth asks clients for certificates, or not
		s.Pin, _ = secure.PinOfConfig(cfg.TLS)
	case cfg.GenerateTLS:
		tc, pin, err := secure.GenerateTLS()
		if err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		opts.TLSConfig, s.Pin = tc, pin
	}
	s.TLS = opts.TLSConfig != nil
	if s.TLS {
		opts.TLSTimeout = DefaultAuthTimeout.Seconds()
	}
	if cfg.Auth != nil {
		cfg.Auth.Configure(opts)
		opts.MaxConn = cmp.Or(cfg.MaxConn, DefaultMaxConn)
		opts.MaxSubs = cmp.Or(cfg.MaxSubs, DefaultMaxSubs)
		opts.AuthTimeout = cmp.Or(cfg.AuthTimeout, DefaultAuthTimeout).Seconds()
		if s.TLS {
			opts.TLSTimeout = opts.AuthTimeout
		}
	}
	if cfg.JetStream {
		opts.JetStream = true
		opts.StoreDir = cfg.StoreDir
		if opts.StoreDir == "" {
			dir, err := os.MkdirTemp("", "futuresgen-nats-")
			if err != nil {
				return nil, fmt.Errorf("embedded: JetStream store directory: %w", err)
			}
			s.tempDir, opts.StoreDir = dir, dir
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("embedded: configuring nats-server: %w", err)
	}
	if cfg.Logs {
		ns.ConfigureLogger()
	}
	s.NS = ns
	ns.Start() // returns once the accept loop runs; JetStream is enabled before that
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	if !ns.ReadyForConnections(timeout) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded: nats-server not ready for connections after %v", timeout)
	}
	if cfg.Listen != "" {
		s.URL = ns.ClientURL() // tls:// with TLS
	}
	return s, nil
}

// loopbackHost reports whether a listen address's host is a loopback one:
// an address in 127.0.0.0/8, ::1, or "localhost". "" and 0.0.0.0 listen on
// every interface: not loopback.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Connect returns a client connection: in-process when the server does not
// listen, otherwise to URL. opts add to (and may override) the defaults.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	url := s.URL
	if url == "" {
		opts = append([]nats.Option{nats.InProcessServer(s.NS)}, opts...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded: connecting to the embedded server: %w", err)
	}
	return nc, nil
}

// Join returns the join URL of role for processes that reach the server at
// addr, host:port (the server's own address when empty). It panics
// without Config.Auth or a listener.
func (s *Server) Join(role secure.Role, addr string) secure.Join {
	if s.Auth == nil || s.URL == "" {
		panic("embedded: Join needs a server with Auth and a listener")
	}
	if addr == "" {
		_, addr, _ = strings.Cut(s.URL, "://")
	}
	host, _, _ := net.SplitHostPort(addr)
	return secure.Join{
		TLS:       s.TLS,
		Addr:      addr,
		Namespace: s.Auth.Namespace(),
		Secret:    s.Auth.Secret(role),
		Pin:       s.Pin,
		Insecure:  !s.TLS && s.insecure && !loopbackHost(host),
	}
}

// ConnectAs returns a client connection authenticated for role, with
// options as secure.Connect gives them (log gets nats.go's reports):
// over TCP through the server's join URL when it listens, otherwise
// in-process. opts add to the defaults.
func (s *Server) ConnectAs(role secure.Role, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	if s.URL == "" {
		return s.ConnectInProcess(role, log, opts...)
	}
	if s.Auth == nil {
		return nil, errors.New("embedded: ConnectAs needs a server with Auth")
	}
	nc, _, err := secure.Connect(s.Join(role, "").Reveal(), log, opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded: connecting to the embedded server as a %s: %w", role, err)
	}
	return nc, nil
}

// ConnectInProcess returns an in-process connection authenticated for
// role, whether or not the server listens: no TCP and no TLS (the server
// offers none to in-process clients), and the cluster's options with log
// for nats.go's reports. opts add to them.
func (s *Server) ConnectInProcess(role secure.Role, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	if s.Auth == nil {
		return nil, errors.New("embedded: ConnectInProcess needs a server with Auth")
	}
	auth, err := secure.ClientOptions(s.Auth.Secret(role))
	if err != nil {
		return nil, err
	}
	all := append(append(secure.LogOptions(log), auth...), nats.InProcessServer(s.NS))
	nc, err := nats.Connect("", append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded: connecting in-process as a %s: %w", role, err)
	}
	return nc, nil
}

// Revoke refuses identity id from now on and closes its open
// connections; it returns how many it closed. It panics without
// Config.Auth.
func (s *Server) Revoke(id string) int {
	if s.Auth == nil {
		panic("embedded: Revoke needs a server with Auth")
	}
	s.Auth.Revoke(id)
	closed := 0
	// Connz's user filter matches a client's nkey when it has one.
	cz, err := s.NS.Connz(&server.ConnzOptions{User: id, Limit: 1 << 20})
	if err != nil {
		return 0
	}
	for _, c := range cz.Conns {
		if s.NS.DisconnectClientByID(c.Cid) == nil {
			closed++
		}
	}
	return closed
}

// Shutdown stops the server, waits until all its goroutines have ended,
// and removes the temporary JetStream directory if Start made one.
// Connections still open see the server go away (and try to reconnect, as
// their options say). A second call does nothing.
func (s *Server) Shutdown() {
	if s.NS != nil {
		s.NS.Shutdown()
		s.NS.WaitForShutdown()
	}
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
		s.tempDir = ""
	}
}
