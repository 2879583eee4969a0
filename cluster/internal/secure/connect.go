package secure

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// PingInterval and MaxPingsOut are the NATS pings of the cluster's
// connections, and of the servers it starts: a client or server that has
// had no pong for MaxPingsOut intervals takes its peer for gone, so that
// a dead peer is noticed in about 8 seconds instead of minutes. Not
// sooner: a pong waits behind what the server has queued for the client,
// and megabytes of a large value take seconds to a loaded worker. A lost
// worker is noticed by the cluster's own heartbeats, in 4 seconds.
const (
	PingInterval = 2 * time.Second
	MaxPingsOut  = 3
)

// clusterOptions are the options every cluster connection starts with:
// the pings above, and reconnecting for ever.
func clusterOptions() []nats.Option {
	return []nats.Option{
		nats.PingInterval(PingInterval),
		nats.MaxPingsOutstanding(MaxPingsOut),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(2 * time.Second),
	}
}

// ClientOptions returns the options that authenticate a connection with
// secret: the secret as its token, a new nkey made for this connection
// alone (its public key is the connection's identity; the private key
// never leaves this process), and an inbox prefix under that identity
// (InboxPrefix), the only one its permissions let it subscribe to. Use it
// as is for an in-process connection (nats.InProcessServer); Connect adds
// it to the other options of a join URL.
func ClientOptions(secret Secret) ([]nats.Option, error) {
	if secret.IsZero() {
		return nil, errors.New("secure: no secret")
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("secure: making an nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("secure: making an nkey: %w", err)
	}
	return []nats.Option{
		nats.Token(secret.Reveal()),
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix(InboxPrefix(pub)),
	}, nil
}

// Identity returns the identity the server vouches for on a connection
// made with ClientOptions (or Connect and a join URL): its nkey's public
// key. It returns "" for a connection without an nkey; a process then
// picks an identity of its own, which a server of its own may or may not
// enforce (see testdata/external.conf).
func Identity(nc *nats.Conn) string {
	if nkeys.IsValidPublicUserKey(nc.Opts.Nkey) {
		return nc.Opts.Nkey
	}
	return ""
}

// LogOptions route what nats.go reports asynchronously to log instead of
// its default, which writes lines such as "write tcp …: broken pipe on
// connection [6]" to standard error without saying whose they are
// (nats.go's defaultErrHandler): asynchronous errors (permission
// violations, slow consumers) and closing on error at Warn, disconnects
// and reconnects at Info. Messages are scrubbed of secrets. Options given
// after these replace them.
func LogOptions(log *slog.Logger) []nats.Option {
	if log == nil {
		log = slog.Default()
	}
	attrs := func(nc *nats.Conn, err error) []any {
		var a []any
		if nc != nil && nc.Opts.Name != "" {
			a = append(a, "conn", nc.Opts.Name)
		}
		if err != nil {
			a = append(a, "err", Scrub(err.Error()))
		}
		return a
	}
	return []nats.Option{
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			a := attrs(nc, err)
			if sub != nil {
				a = append(a, "subject", sub.Subject)
			}
			log.Warn("futuresgen cluster: NATS error", a...)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				log.Info("futuresgen cluster: disconnected from the NATS server; reconnecting", attrs(nc, err)...)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("futuresgen cluster: reconnected to the NATS server", append(attrs(nc, nil), "server", Redact(nc.ConnectedUrl()))...)
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				log.Warn("futuresgen cluster: the connection to the NATS server closed", attrs(nc, err)...)
			}
		}),
	}
}

// connectError is Connect's error: its text is scrubbed of secrets, and it
// unwraps to nats.go's (errors.Is(err, nats.ErrAuthorization) holds).
type connectError struct {
	what string // the URL, redacted
	err  error
}

func (e *connectError) Error() string {
	return "secure: connecting to " + e.what + ": " + Scrub(e.err.Error())
}

func (e *connectError) Unwrap() error { return e.err }

// Connect connects to a cluster's NATS server at raw: a join URL (see Join)
// or a plain NATS URL, or comma-separated list, as nats.Connect takes. It
// starts from the cluster's options (a ping every 2 seconds, three
// outstanding; reconnecting for ever, every 250 ms; a 2 s dial timeout) and
// LogOptions to log; opts apply after them.
//
// With a join URL it authenticates as ClientOptions does, with TLS when
// the URL says tls:// (checking the pin, if any, before the secret
// leaves), and ignores the servers the server tells it about (the secret
// goes to the join URL's address only). It returns the parsed join URL;
// the zero Join for a plain URL.
//
// It never sends a secret in plaintext beyond loopback: a nats:// join
// URL, a plain URL with a token or user:password, or a nats.Token or
// nats.UserInfo option, to a host that is not a loopback address, fails
// at once with an error saying what to do, unless TLS is on (tls://,
// nats.Secure) or the join URL says insecure=1 (logged as a warning).
// No error it returns holds a secret.
func Connect(raw string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, Join, error) {
	if log == nil {
		log = slog.Default()
	}
	o := nats.GetDefaultOptions()
	var (
		j     Join
		base  = append(clusterOptions(), LogOptions(log)...)
		shown = Redact(raw)
	)
	if IsJoin(raw) {
		var err error
		if j, err = ParseJoin(raw); err != nil {
			return nil, Join{}, err
		}
		shown = j.String()
		if !j.TLS && !isLoopback(j.Addr) {
			if !j.Insecure {
				return nil, Join{}, fmt.Errorf("secure: connecting to %s: refusing to send its secret in plaintext to %s, beyond loopback: "+
					"use the cluster's tls:// join URL (StartLocal serves TLS beyond loopback unless told Insecure), "+
					"or add insecure=1 to the URL to send everything in plaintext knowingly", shown, j.Addr)
			}
			log.Warn("futuresgen cluster: sending a secret and all traffic in plaintext, as the join URL says (insecure=1)", "server", j.Addr)
		}
		auth, err := ClientOptions(j.Secret)
		if err != nil {
			return nil, Join{}, err
		}
		base = append(base, auth...)
		base = append(base, nats.IgnoreDiscoveredServers())
		if j.TLS {
			if j.Pin.IsZero() {
				base = append(base, nats.Secure()) // the chain, against the system's roots
			} else {
				base = append(base, nats.Secure(PinnedTLS(j.Pin)))
			}
		}
		o.Servers = []string{j.ServerURL()}
	} else {
		o.Servers = splitURLs(raw)
	}
	for _, opt := range append(base, opts...) {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, Join{}, &connectError{what: shown, err: err}
		}
	}
	if j == (Join{}) {
		if err := checkPlaintext(&o, shown); err != nil {
			return nil, Join{}, err
		}
	} else if !j.Pin.IsZero() {
		// A TLS configuration among opts (client certificates, say)
		// replaced ours: the pin holds all the same.
		o.TLSConfig = withPin(o.TLSConfig, j.Pin)
	}
	nc, err := o.Connect()
	if err != nil {
		return nil, Join{}, &connectError{what: shown, err: err}
	}
	return nc, j, nil
}

// splitURLs splits a list of URLs as nats.Connect does.
func splitURLs(raw string) []string {
	var urls []string
	for u := range strings.SplitSeq(raw, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// checkPlaintext fails when o would send a secret in plaintext to a server
// beyond loopback; otherwise, when it sends one at all without TLS, it
// keeps o from following the servers a server names (they may be beyond
// loopback).
func checkPlaintext(o *nats.Options, shown string) error {
	if o.InProcessServer != nil {
		return nil // no network at all
	}
	secure := o.Secure || o.TLSHandshakeFirst
	secret := o.Token != "" || o.TokenHandler != nil || o.Password != "" || o.UserInfo != nil
	var far []string
	for _, s := range o.Servers {
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			far = append(far, Redact(s)) // it will not connect; say nothing of it
			continue
		}
		if u.User != nil {
			secret = true
		}
		if u.Scheme == "tls" || u.Scheme == "wss" {
			secure = true // nats.go then uses TLS with every server of the list
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "4222")
		}
		if !isLoopback(host) {
			far = append(far, host)
		}
	}
	if !secret || secure {
		return nil
	}
	if len(far) > 0 {
		return fmt.Errorf("secure: connecting to %s: refusing to send a secret in plaintext to %s, beyond loopback: "+
			"use a tls:// URL (or nats.Secure) or a join URL", shown, strings.Join(far, ", "))
	}
	o.IgnoreDiscoveredServers = true
	return nil
}

// isLoopback reports whether host:port names this machine's loopback: an
// address in 127.0.0.0/8, ::1, or "localhost".
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
