package secure

import (
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Auth authenticates the clients of an embedded nats-server for one
// cluster (server.Options.CustomClientAuthentication; Configure sets it
// up). A client is admitted when it presents one of the cluster's two
// role secrets as its token, compared in constant time, and signs the
// server's nonce with an nkey; the nkey's public key becomes its identity,
// and the server then enforces Permissions for its role and identity.
// Identities given to Revoke are refused from then on.
//
// Check costs 0.1-0.13 ms (mostly an Ed25519 verification;
// BenchmarkCheck on this project's loaded 2-core machine) once per
// connection, at its CONNECT; nothing is checked per message but the
// permissions, which the server caches per subject.
// An Auth is safe for concurrent use.
type Auth struct {
	ns             string
	worker, driver Secret
	log            *slog.Logger
	responses      bool // allow_responses in Permissions

	checks, accepted atomic.Int64

	mu       sync.Mutex
	revoked  map[string]bool
	logged   time.Time // start of the refusal log's current window
	inWindow int       // refusals logged in it
	dropped  int       // refusals not logged since the last one logged
}

// Refusals logged per refusalWindow at most: a flood of bad connections
// must not flood the log too.
const (
	refusalWindow = 10 * time.Second
	refusalBurst  = 10
)

// AuthOption configures NewAuth.
type AuthOption func(*Auth)

// WithoutResponses gives connections no allow_responses: a connection
// publishes only where its permissions say, replies included, so that the
// last token of every subject anyone publishes on is the publisher's
// identity without exception (see Permissions). nc.Request and
// Msg.Respond then work only where the responder may publish anyway; blob
// fetches need FetchOptions.Reply (chunks on ns.b.<reader>.<owner>.<nuid>).
func WithoutResponses() AuthOption { return func(a *Auth) { a.responses = false } }

// NewAuth returns an Auth for namespace ns with two new random secrets,
// logging refusals to log (slog.Default() when nil). Connections may
// reply once to each message they receive unless WithoutResponses.
func NewAuth(ns string, log *slog.Logger, opts ...AuthOption) (*Auth, error) {
	if err := CheckNamespace(ns); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	a := &Auth{ns: ns, worker: NewSecret(Worker), driver: NewSecret(Driver), log: log, responses: true, revoked: map[string]bool{}}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Namespace returns the namespace the Auth's permissions are for.
func (a *Auth) Namespace() string { return a.ns }

// Secret returns the role's secret, or the zero Secret for NoRole.
func (a *Auth) Secret(r Role) Secret {
	switch r {
	case Worker:
		return a.worker
	case Driver:
		return a.driver
	}
	return Secret{}
}

// Configure makes opts authenticate every client with a: the hook, the
// nonce it needs (without it nats.go refuses to sign: "nkeys not
// supported by the server"), and no user admitted without credentials.
func (a *Auth) Configure(opts *server.Options) {
	opts.CustomClientAuthentication = a
	opts.AlwaysEnableNonce = true
	opts.NoAuthUser = ""
	opts.Authorization, opts.Username, opts.Password = "", "", ""
	opts.Users, opts.Nkeys = nil, nil
}

// Check admits or refuses a client connection; the server calls it at the
// client's CONNECT, in-process connections included. See Auth.
func (a *Auth) Check(c server.ClientAuthentication) bool {
	a.checks.Add(1)
	if c.Kind() != server.CLIENT {
		a.refuse(c, "not a client connection", "")
		return false
	}
	o := c.GetOpts()
	// Both comparisons always run: the time taken says nothing of which
	// secret came close. (A length mismatch returns at once, but the
	// length of a secret is no secret.)
	isWorker := subtle.ConstantTimeCompare([]byte(o.Token), []byte(a.worker.s)) == 1
	isDriver := subtle.ConstantTimeCompare([]byte(o.Token), []byte(a.driver.s)) == 1
	role := NoRole
	switch {
	case isWorker:
		role = Worker
	case isDriver:
		role = Driver
	}
	if role == NoRole {
		a.refuse(c, "no secret, or a wrong one", "")
		return false
	}
	id := o.Nkey
	if !nkeys.IsValidPublicUserKey(id) {
		a.refuse(c, "no nkey (a "+role.String()+" secret alone is not enough)", "")
		return false
	}
	pk, err := nkeys.FromPublicKey(id)
	if err != nil {
		a.refuse(c, "bad nkey", "")
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(o.Sig)
	nonce := c.GetNonce()
	if err != nil || len(nonce) == 0 || pk.Verify(nonce, sig) != nil {
		a.refuse(c, "nonce not signed by its nkey", id)
		return false
	}
	if a.Revoked(id) {
		a.refuse(c, "revoked identity", id)
		return false
	}
	c.RegisterUser(&server.User{Username: role.String() + ":" + id, Permissions: Permissions(role, a.ns, id, a.responses)})
	a.accepted.Add(1)
	return true
}

// refuse logs a refused connection, with its address and the reason, but
// at most refusalBurst lines per refusalWindow; the next line logged says
// how many were left out.
func (a *Auth) refuse(c server.ClientAuthentication, reason, id string) {
	a.mu.Lock()
	now := time.Now()
	if now.Sub(a.logged) > refusalWindow {
		a.logged, a.inWindow = now, 0
	}
	if a.inWindow >= refusalBurst {
		a.dropped++
		a.mu.Unlock()
		return
	}
	a.inWindow++
	dropped := a.dropped
	a.dropped = 0
	a.mu.Unlock()
	attrs := []any{"reason", reason}
	if addr := c.RemoteAddress(); addr != nil {
		attrs = append(attrs, "from", addr.String())
	} else {
		attrs = append(attrs, "from", "in-process")
	}
	if id != "" {
		attrs = append(attrs, "identity", id)
	}
	if dropped > 0 {
		attrs = append(attrs, "not logged before this", dropped)
	}
	a.log.Warn("futuresgen cluster: refused a connection", attrs...)
}

// Revoke refuses every future connection with identity id. Connections
// already open stay open: close them with the server (embedded's
// Server.Revoke does both).
func (a *Auth) Revoke(id string) {
	a.mu.Lock()
	a.revoked[id] = true
	a.mu.Unlock()
}

// Revoked reports whether id was revoked.
func (a *Auth) Revoked(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.revoked[id]
}

// AuthStats counts Check's calls.
type AuthStats struct {
	Checks   int64 // connections that presented credentials (or none)
	Accepted int64
}

// Stats returns how many connections Check saw and admitted so far.
func (a *Auth) Stats() AuthStats {
	return AuthStats{Checks: a.checks.Load(), Accepted: a.accepted.Load()}
}
