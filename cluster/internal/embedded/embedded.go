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
// Start-up to the first round trip on this project's 2-core machine (see
// ../NOTES.md): about 1.5-2 ms in-process or on 127.0.0.1, 3 ms with
// JetStream.
package embedded

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
}

// Server is a running embedded server.
type Server struct {
	// NS is the server itself, for what this package does not wrap.
	NS *server.Server
	// URL is the address clients on other processes use, nats://host:port,
	// or "" for an in-process-only server.
	URL string

	tempDir string // a StoreDir made by Start, removed by Shutdown
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
	}
	s := &Server{}
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
		s.URL = ns.ClientURL()
	}
	return s, nil
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
