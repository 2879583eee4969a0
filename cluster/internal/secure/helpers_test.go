package secure_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
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
	handoverChild()           // the hand-over test runs it as a child
	goleak.VerifyTestMain(m)
}

// ns is the namespace of the tests' clusters.
const ns = "fg.test"

// The subjects of the cluster's scheme (see the package doc).
func subjAnnounce(s, w string) string { return ns + ".announce." + s + "." + w }
func subjDrivers(e, d string) string  { return ns + ".drivers." + e + "." + d }
func subjW(w, s, e, d string) string  { return ns + ".w." + w + "." + s + "." + e + "." + d }
func subjD(d, e, s, w string) string  { return ns + ".d." + d + "." + e + "." + s + "." + w }

// wait bounds every wait for something that must happen: generous, since
// the machine is shared; nothing passes or fails by how fast it is.
const wait = 10 * time.Second

// logBuf is a slog.Logger's output, for reading back.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// cluster is a server with Auth on 127.0.0.1, and the log both write to.
type cluster struct {
	srv  *embedded.Server
	auth *secure.Auth
	log  *slog.Logger
	logs *logBuf
}

func startCluster(t *testing.T, cfg embedded.Config) *cluster {
	t.Helper()
	return startClusterWith(t, cfg)
}

func startClusterWith(t *testing.T, cfg embedded.Config, opts ...secure.AuthOption) *cluster {
	t.Helper()
	log, logs := newLog()
	auth, err := secure.NewAuth(ns, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Auth = auth
	return &cluster{srv: embeddedtest.StartT(t, cfg), auth: auth, log: log, logs: logs}
}

// client is a connection with its asynchronous errors.
type client struct {
	*nats.Conn
	id   string
	errs *asyncErrs
}

// asyncErrs keeps a connection's asynchronous errors.
type asyncErrs struct {
	mu   sync.Mutex
	errs []error
	more chan struct{} // closed and replaced at each new error
}

func newAsyncErrs() *asyncErrs { return &asyncErrs{more: make(chan struct{})} }

// options collect a connection's asynchronous errors.
func (a *asyncErrs) options() []nats.Option {
	return []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.errs = append(a.errs, err)
			close(a.more)
			a.more = make(chan struct{})
		}),
		nats.PermissionErrOnSubscribe(true),
	}
}

// await waits for an error that contains want, and returns it.
func (a *asyncErrs) await(t *testing.T, want string) error {
	t.Helper()
	deadline := time.After(wait)
	seen := 0
	for {
		a.mu.Lock()
		errs, more := a.errs, a.more
		a.mu.Unlock()
		for ; seen < len(errs); seen++ {
			if strings.Contains(errs[seen].Error(), want) {
				return errs[seen]
			}
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no error with %s within %v; got %v", want, wait, errs)
		}
	}
}

// join connects as role through the cluster's join URL.
func (c *cluster) join(t *testing.T, role secure.Role) *client {
	t.Helper()
	errs := newAsyncErrs()
	nc, err := c.srv.ConnectAs(role, c.log, errs.options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &client{Conn: nc, id: secure.Identity(nc), errs: errs}
}

// expectViolation waits for the server's permissions violation for what
// ("Publish to" or "Subscription to") subject on c.
func (c *client) expectViolation(t *testing.T, what, subject string) {
	t.Helper()
	err := c.errs.await(t, fmt.Sprintf("Permissions Violation for %s %q", what, subject))
	if !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("%v is not a nats.ErrPermissionViolation", err)
	}
}

// secretRE matches secrets, and redacted ones: see findSecret.
var secretRE = regexp.MustCompile(`fg[wd]_[A-Z2-7]{8,}`)

// findSecret returns the first secret in text that is not redacted, or "".
func findSecret(text string) string {
	for _, m := range secretRE.FindAllString(text, -1) {
		if m[4:] != "REDACTED" {
			return m
		}
	}
	return ""
}

// noSecret fails the test if text holds either of the auth's secrets, or
// anything that looks like a secret.
func noSecret(t *testing.T, auth *secure.Auth, where, text string) {
	t.Helper()
	for _, r := range []secure.Role{secure.Worker, secure.Driver} {
		if auth == nil {
			break
		}
		if s := auth.Secret(r).Reveal(); strings.Contains(text, s) {
			t.Errorf("%s holds the %s secret: %s", where, r, text)
		}
	}
	if m := findSecret(text); m != "" {
		t.Errorf("%s holds something like a secret, %s: %s", where, m, text)
	}
}
