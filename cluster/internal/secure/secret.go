package secure

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Role is what a connection may do on a cluster.
type Role int

const (
	// NoRole is the zero Role: a connection that may do nothing.
	NoRole Role = iota
	// Worker serves tasks: it hears its own session's subjects and
	// answers drivers.
	Worker
	// Driver submits tasks: it hears announcements and its own answers,
	// and sends calls to workers.
	Driver
)

// String returns "worker", "driver" or "none".
func (r Role) String() string {
	switch r {
	case Worker:
		return "worker"
	case Driver:
		return "driver"
	}
	return "none"
}

// prefix starts every secret of the role: it makes a leaked secret easy to
// find with grep or a secret scanner, and says which role it gives.
func (r Role) prefix() string {
	switch r {
	case Worker:
		return "fgw_"
	case Driver:
		return "fgd_"
	}
	return ""
}

// Secret is a role's secret: "fgw_" (worker) or "fgd_" (driver) and 26
// base32 characters, 130 random bits. It formats, logs and marshals as its
// prefix and "REDACTED", whatever the verb: only Reveal gives the text, so
// that a Secret printed by mistake leaks nothing. The zero Secret is none.
type Secret struct{ s string }

// redacted stands for a secret in everything this package prints.
const redacted = "REDACTED"

// NewSecret returns a new random secret for the role. It panics for
// NoRole.
func NewSecret(r Role) Secret {
	if r != Worker && r != Driver {
		panic("secure: NewSecret needs Worker or Driver")
	}
	return Secret{r.prefix() + rand.Text()}
}

// secretPattern matches the secrets NewSecret makes (and longer ones, so
// that a secret with characters added is still scrubbed whole).
var secretPattern = regexp.MustCompile(`fg[wd]_[A-Za-z0-9_-]+`)

// ParseSecret returns the secret s, which must look like one NewSecret
// makes: a role's prefix and at least 16 characters of [A-Z2-7]. Its error
// never contains s.
func ParseSecret(s string) (Secret, error) {
	var role Role
	switch {
	case strings.HasPrefix(s, Worker.prefix()):
		role = Worker
	case strings.HasPrefix(s, Driver.prefix()):
		role = Driver
	default:
		return Secret{}, fmt.Errorf("secure: a secret starts with fgw_ (worker) or fgd_ (driver)")
	}
	body := s[len(role.prefix()):]
	if len(body) < 16 || len(body) > 128 {
		return Secret{}, fmt.Errorf("secure: a %s secret has 16 to 128 characters after its prefix, not %d", role, len(body))
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return Secret{}, fmt.Errorf("secure: a %s secret has only A-Z and 2-7 after its prefix", role)
		}
	}
	return Secret{s}, nil
}

// Reveal returns the secret's text: for a join URL, a token on the wire,
// or a comparison. Never log it.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether s is no secret.
func (s Secret) IsZero() bool { return s.s == "" }

// Role returns the role the secret's prefix names. The server does not
// trust the prefix: Auth compares whole secrets.
func (s Secret) Role() Role {
	switch {
	case strings.HasPrefix(s.s, Worker.prefix()):
		return Worker
	case strings.HasPrefix(s.s, Driver.prefix()):
		return Driver
	}
	return NoRole
}

// String returns the secret's prefix and "REDACTED", or "" for the zero
// Secret.
func (s Secret) String() string {
	if s.s == "" {
		return ""
	}
	return s.Role().prefix() + redacted
}

// Format prints String for every verb, %#v and %x included.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue makes slog log String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText marshals String: a Secret never leaves in JSON or text by
// mistake. Carry Reveal's text where a secret must travel.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Scrub replaces every secret in text with its prefix and "REDACTED", and
// the user information of every URL in it (user:password@ or token@) with
// "REDACTED@". Use it on any text that may hold a secret before it is
// logged or returned in an error: a message from nats.go, a URL a user
// gave.
func Scrub(text string) string {
	text = secretPattern.ReplaceAllStringFunc(text, func(m string) string { return m[:4] + redacted })
	return userinfoPattern.ReplaceAllStringFunc(text, func(m string) string {
		scheme, user, _ := strings.Cut(m, "://")
		if strings.HasPrefix(user, Worker.prefix()+redacted+"@") || strings.HasPrefix(user, Driver.prefix()+redacted+"@") {
			return scheme + "://" + user[:4] + redacted + "@" // a secret, redacted above: keep its role
		}
		return scheme + "://" + redacted + "@"
	})
}

// userinfoPattern matches the user information of a URL inside text:
// from "scheme://" to the last "@" before a space. Greedy on purpose: a
// password may hold '/', '?' or ',' unescaped, and hiding a host too is
// better than showing part of a password.
var userinfoPattern = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)\S*@`)
