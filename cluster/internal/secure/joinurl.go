package secure

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Join is a parsed join URL: what a process needs to join a cluster in one
// string, to copy to another host.
//
//	tls://fgw_<secret>@host:port/<namespace>?pin=sha256:<base64url>
//	nats://fgd_<secret>@127.0.0.1:port/<namespace>
//	nats://fgw_<secret>@10.0.0.5:4222/<namespace>?insecure=1
//
// The secret's prefix says the role (fgw_ worker, fgd_ driver). tls://
// connects with TLS: to exactly the server whose certificate has the pin,
// or without a pin to a server whose chain verifies against the system's
// roots (a certificate of one's own, see embedded.Config.TLS). nats://
// sends everything in plaintext, secret included: Connect allows that to
// a loopback address, and beyond only with insecure=1. The namespace may
// be empty: the cluster's default then.
//
// A Join formats and logs redacted (String); Reveal gives the URL to hand
// over. Treat that URL as a password.
type Join struct {
	TLS       bool   // tls:// rather than nats://
	Addr      string // host:port, an IPv6 host in brackets
	Namespace string
	Secret    Secret
	Pin       Pin  // zero: no pin
	Insecure  bool // insecure=1: plaintext beyond loopback, knowingly
}

// Role returns the role of the join URL's secret.
func (j Join) Role() Role { return j.Secret.Role() }

// ServerURL returns the server's address as nats.go takes it, with no
// secret: tls://host:port or nats://host:port.
func (j Join) ServerURL() string {
	if j.TLS {
		return "tls://" + j.Addr
	}
	return "nats://" + j.Addr
}

// url builds the join URL with user as its user information.
func (j Join) url(user string) string {
	u := url.URL{Scheme: "nats", User: url.User(user), Host: j.Addr}
	if j.TLS {
		u.Scheme = "tls"
	}
	if j.Namespace != "" {
		u.Path = "/" + j.Namespace
	}
	// By hand: url.Values would escape the pin's ':'.
	var q []string
	if !j.Pin.IsZero() {
		q = append(q, "pin="+j.Pin.String())
	}
	if j.Insecure {
		q = append(q, "insecure=1")
	}
	u.RawQuery = strings.Join(q, "&")
	return u.String()
}

// Reveal returns the join URL, secret included: what a worker or driver
// on another host passes to Connect.
func (j Join) Reveal() string { return j.url(j.Secret.Reveal()) }

// String returns the join URL with its secret redacted: for logs, errors
// and display.
func (j Join) String() string { return Scrub(j.url(j.Secret.String())) }

// LogValue makes slog log String.
func (j Join) LogValue() slog.Value { return slog.StringValue(j.String()) }

// MarshalText marshals String: a Join never leaves in JSON or text by
// mistake. Carry Reveal's text where a join URL must travel.
func (j Join) MarshalText() ([]byte, error) { return []byte(j.String()), nil }

// IsJoin reports whether s looks like a join URL (its user information is
// a secret's prefix and more), as opposed to a plain NATS URL. ParseJoin
// says what is wrong with one that does not parse.
func IsJoin(s string) bool {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return false
	}
	return strings.HasPrefix(rest, Worker.prefix()) || strings.HasPrefix(rest, Driver.prefix())
}

// ParseJoin parses a join URL. Its errors name the URL redacted, never the
// secret.
func ParseJoin(s string) (Join, error) {
	// Nothing of s but Redact(s) goes into an error; the reasons quote
	// only what cannot hold user information (the scheme, the port, a
	// query key of lowercase letters).
	bad := func(format string, args ...any) (Join, error) {
		return Join{}, fmt.Errorf("secure: join URL %s: %s", Redact(s), fmt.Sprintf(format, args...))
	}
	// url.Parse's errors quote the input: never return them.
	u, err := url.Parse(s)
	if err != nil {
		return bad("not a URL")
	}
	var j Join
	switch u.Scheme {
	case "tls":
		j.TLS = true
	case "nats":
	default:
		return bad("scheme %q; want tls:// or nats://", u.Scheme)
	}
	if u.Opaque != "" || u.Fragment != "" || u.RawFragment != "" {
		return bad("want a scheme, a secret, host:port, a namespace and a query, no more")
	}
	if u.User == nil {
		return bad("no secret before the host")
	}
	if _, has := u.User.Password(); has {
		return bad("a secret before the host, not a name and password")
	}
	if j.Secret, err = ParseSecret(u.User.Username()); err != nil {
		return bad("%v", strings.TrimPrefix(err.Error(), "secure: "))
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return bad("want host:port after the secret")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return bad("port %q; want 1-65535", port)
	}
	j.Addr = u.Host
	if u.RawPath != "" {
		return bad("escaped characters in the namespace")
	}
	if ns := strings.TrimPrefix(u.Path, "/"); ns != "" {
		if CheckNamespace(ns) != nil {
			return bad("the namespace is not dot-separated tokens of letters, digits, '-' and '_'")
		}
		j.Namespace = ns
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("bad query")
	}
	for key, vals := range q {
		if !plainKey(key) {
			return bad("unknown parameter; want pin or insecure")
		}
		if len(vals) != 1 {
			return bad("%s given %d times", key, len(vals))
		}
		switch key {
		case "pin":
			if !j.TLS {
				return bad("a pin, but nats:// (plaintext); want tls://")
			}
			if j.Pin, err = ParsePin(vals[0]); err != nil {
				return bad("%v", strings.TrimPrefix(err.Error(), "secure: "))
			}
		case "insecure":
			if j.TLS {
				return bad("insecure=1 with tls://")
			}
			if vals[0] != "1" {
				return bad("want insecure=1")
			}
			j.Insecure = true
		default:
			return bad("unknown parameter %q; want pin or insecure", key)
		}
	}
	return j, nil
}

// schemePattern matches a URL's scheme.
var schemePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// plainKey reports whether a query key is 1-16 lowercase letters: safe
// to quote in an error.
func plainKey(k string) bool {
	if k == "" || len(k) > 16 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 'a' || k[i] > 'z' {
			return false
		}
	}
	return true
}

// Redact returns s, a URL or a comma-separated list of them as nats.go
// takes, with the user information of each (a token, user:password, a
// join URL's secret) replaced by "REDACTED" or a secret's prefix and
// "REDACTED"; secrets anywhere else in s are replaced too (Scrub). It
// never fails: what it cannot parse it redacts more, never less.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	// A part with an '@' but no scheme may be the rest of a password that
	// held a comma: hide it together with the part before.
	var merged []string
	for _, p := range parts {
		if n := len(merged); n > 0 && strings.Contains(p, "@") && !strings.Contains(p, "://") {
			merged[n-1] += "," + p
			continue
		}
		merged = append(merged, p)
	}
	for i, p := range merged {
		merged[i] = redactUserinfo(p)
	}
	return Scrub(strings.Join(merged, ","))
}

// redactUserinfo replaces what lies between "scheme://" (or the start)
// and the last '@' of p.
func redactUserinfo(p string) string {
	at := strings.LastIndex(p, "@")
	if at < 0 {
		return p
	}
	start := 0 // without a scheme, everything before the '@' goes
	if i := strings.Index(p, "://"); i > 0 && i < at && schemePattern.MatchString(p[:i]) {
		start = i + len("://")
	}
	user := p[start:at]
	repl := redacted
	if strings.HasPrefix(user, Worker.prefix()) || strings.HasPrefix(user, Driver.prefix()) {
		repl = user[:len(Worker.prefix())] + redacted
	}
	return p[:start] + repl + p[at:]
}
