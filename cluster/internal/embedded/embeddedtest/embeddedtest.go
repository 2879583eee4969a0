// Package embeddedtest runs embedded NATS servers for tests: in the test
// process (StartT) or in a child process inside a network namespace
// (StartIn, with ServeChild in TestMain).
package embeddedtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/netns"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// childEnv carries a ChildConfig, as JSON, to a child server process.
const childEnv = "FUTURESGEN_EMBEDDED_CHILD"

// ChildConfig says how a child process runs its server.
type ChildConfig struct {
	embedded.Config
	// Respond, when set, is a subject on which the child answers every
	// request with the request's own data (an echo service).
	Respond string
	// Print, when set, is a subject whose messages the child prints, one
	// "msg DATA" line each, in arrival order.
	Print string
	// AuthNamespace, when set, makes the child's server authenticate
	// every client with new secrets for that namespace (embedded.Config's
	// Auth, which cannot travel as JSON); Child.WorkerURL and
	// Child.DriverURL are then its join URLs. Respond and Print need an
	// unauthenticated server.
	AuthNamespace string
}

// ServeChild makes this process a child server when StartIn started it,
// and otherwise returns at once. Call it first in TestMain.
//
// A child server prints "ready URL" ("ready URL WORKERURL DRIVERURL" with
// AuthNamespace), then "clients N" whenever its number
// of client connections changes (its own in-process one counts), and the
// lines ChildConfig.Print asks for. It shuts down and exits when its
// standard input closes; it exits 1 with a message on stderr if its
// server cannot start.
func ServeChild() {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Exit(serveChild(raw))
}

func serveChild(raw string) int {
	var cfg ChildConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "embedded child: bad %s: %v\n", childEnv, err)
		return 1
	}
	if cfg.AuthNamespace != "" {
		if cfg.Respond != "" || cfg.Print != "" {
			fmt.Fprintln(os.Stderr, "embedded child: Respond and Print need a server without AuthNamespace")
			return 1
		}
		auth, err := secure.NewAuth(cfg.AuthNamespace, nil, secure.WithoutResponses())
		if err != nil {
			fmt.Fprintln(os.Stderr, "embedded child:", err)
			return 1
		}
		cfg.Auth = auth
	}
	s, err := embedded.Start(cfg.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedded child:", err)
		return 1
	}
	defer s.Shutdown()
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	if cfg.Auth != nil {
		say("ready %s %s %s", s.URL, s.Join(secure.Worker, "").Reveal(), s.Join(secure.Driver, "").Reveal())
		return waitStdin(s, say)
	}
	nc, err := nats.Connect("", nats.InProcessServer(s.NS))
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedded child: in-process connection:", err)
		return 1
	}
	defer nc.Close()
	if cfg.Respond != "" {
		if _, err := nc.Subscribe(cfg.Respond, func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
			fmt.Fprintln(os.Stderr, "embedded child:", err)
			return 1
		}
	}
	if cfg.Print != "" {
		if _, err := nc.Subscribe(cfg.Print, func(m *nats.Msg) { say("msg %s", m.Data) }); err != nil {
			fmt.Fprintln(os.Stderr, "embedded child:", err)
			return 1
		}
	}
	if err := nc.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "embedded child:", err)
		return 1
	}
	say("ready %s", s.URL)
	return waitStdin(s, say)
}

// waitStdin prints "clients N" whenever the number of clients changes,
// until standard input closes.
func waitStdin(s *embedded.Server, say func(string, ...any)) int {
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last := -1
	for {
		select {
		case <-stdinClosed:
			return 0
		case <-tick.C:
			if n := s.NS.NumClients(); n != last {
				last = n
				say("clients %d", n)
			}
		}
	}
}

// Line is one line a child printed, with the time the parent read it.
type Line struct {
	At   time.Time
	Text string
}

// Child is a server running in a child process.
type Child struct {
	// URL is where clients in the child's namespace, or linked to it,
	// connect.
	URL string
	// WorkerURL and DriverURL are the join URLs of a child started with
	// AuthNamespace, secrets included.
	WorkerURL, DriverURL string
	// Lines carries what the child prints after "ready"; it is closed
	// when the child's output ends. Read it, or lines are dropped once
	// its buffer of 4096 fills.
	Lines <-chan Line

	stdin io.Closer
	cmd   *exec.Cmd
}

// StartIn runs a server in a child process inside h (the test binary
// again, whose TestMain calls ServeChild) and returns once it is ready.
// cfg.Listen must be set, e.g. to one of h's addresses and port 4222.
// The child is stopped at the test's cleanup.
func StartIn(tb testing.TB, h *netns.Host, cfg ChildConfig) *Child {
	tb.Helper()
	if cfg.Listen == "" {
		tb.Fatal("embedded: StartIn needs cfg.Listen, an address inside the namespace")
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := h.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("embedded: starting a child server in %s: %v", h.Name, err)
	}
	lines := make(chan Line, 4096)
	ready := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			text := sc.Text()
			if first {
				first = false
				ready <- text
				continue
			}
			select {
			case lines <- Line{At: time.Now(), Text: text}:
			default:
			}
		}
		if first {
			close(ready)
		}
	}()
	c := &Child{Lines: lines, stdin: stdin, cmd: cmd}
	tb.Cleanup(func() { c.stop() })
	select {
	case text, ok := <-ready:
		rest, found := strings.CutPrefix(text, "ready ")
		fields := strings.Fields(rest)
		if !ok || !found || len(fields) != 1 && len(fields) != 3 {
			tb.Fatalf("embedded: child server in %s said %q instead of ready (its stderr is above)", h.Name, secure.Scrub(text))
		}
		c.URL = fields[0]
		if len(fields) == 3 {
			c.WorkerURL, c.DriverURL = fields[1], fields[2]
		}
	case <-time.After(embedded.DefaultReadyTimeout):
		tb.Fatalf("embedded: child server in %s not ready after %v", h.Name, embedded.DefaultReadyTimeout)
	}
	return c
}

// stopGrace bounds how long a child may take to shut down once asked.
const stopGrace = 10 * time.Second

// stop closes the child's input, which shuts its server down, and waits
// for it, killing it if it takes longer than stopGrace.
func (c *Child) stop() {
	if c.stdin == nil {
		return
	}
	c.stdin.Close()
	c.stdin = nil
	done := make(chan struct{})
	go func() {
		c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopGrace):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// StartT starts a server in this process for a test and shuts it down at
// the test's cleanup; it fails the test if the server does not start.
func StartT(tb testing.TB, cfg embedded.Config) *embedded.Server {
	tb.Helper()
	s, err := embedded.Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}
