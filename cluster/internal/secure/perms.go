package secure

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Response permission: a connection may publish once to the reply subject
// of each message it received, within this long (NATS's own defaults).
//
// One reply per delivery, counted per reply subject: a connection holding
// two subscriptions that both match a request uses the count up on the
// second delivery and cannot answer, and a requester that sends several
// requests with one reply subject before the answers come gets fewer
// answers than requests. So no two subscriptions of one connection may
// overlap on a subject that carries requests, and every request needs a
// reply subject of its own (nc.Request does this; blob.Fetch does too).
const (
	responseMaxMsgs = 1
	responseExpires = 2 * time.Minute
)

// Permissions returns what a connection of the role with identity id may
// do in namespace ns (see the package doc for the subjects):
//
//	worker X: subscribe ns.w.X.>, ns.drivers.>, ns.b.X.>, _INBOX.X.>
//	          publish   ns.announce.*.X, ns.d.*.*.*.X, ns.b.*.X.*
//	driver X: subscribe ns.announce.>, ns.d.X.>, ns.b.X.>, _INBOX.X.>
//	          publish   ns.drivers.*.X, ns.w.*.*.*.X, ns.b.*.X.*
//
// and, with responses, both may reply once to each message they receive
// (allow_responses). Anything else is refused by the server: a
// subscription with a permissions violation (nothing reaches it), a
// publish with one (nothing is delivered). It returns nil for NoRole,
// which Auth never admits.
//
// A reply may go to any subject: the sender of a message chooses its
// reply subject, and the server lets the receiver publish there once,
// whatever its own permissions say. So with responses a driver can make a
// worker that answers requests publish on another worker's call subject,
// with a third party's identity as the last token
// (TestAReplyGoesWhereverTheRequesterSays). Code that answers requests
// must check that the reply subject is under the requester's inbox; or,
// without responses, nothing is ever published on a subject that names
// someone else.
func Permissions(r Role, ns, id string, responses bool) *server.Permissions {
	var pub, sub []string
	switch r {
	case Worker:
		sub = []string{ns + ".w." + id + ".>", ns + ".drivers.>", ns + ".b." + id + ".>", InboxPrefix(id) + ".>"}
		pub = []string{ns + ".announce.*." + id, ns + ".d.*.*.*." + id, ns + ".b.*." + id + ".*"}
	case Driver:
		sub = []string{ns + ".announce.>", ns + ".d." + id + ".>", ns + ".b." + id + ".>", InboxPrefix(id) + ".>"}
		pub = []string{ns + ".drivers.*." + id, ns + ".w.*.*.*." + id, ns + ".b.*." + id + ".*"}
	default:
		return nil
	}
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
	if responses {
		p.Response = &server.ResponsePermission{MaxMsgs: responseMaxMsgs, Expires: responseExpires}
	}
	return p
}

// InboxPrefix returns the inbox prefix of identity id, "_INBOX.<id>": a
// connection's reply subjects start with it (nats.CustomInboxPrefix, and
// nc.NewInbox rather than the package-level nats.NewInbox, which ignores
// it).
func InboxPrefix(id string) string { return "_INBOX." + id }

// CheckNamespace returns an error unless ns is a namespace subjects can
// start with: one or more dot-separated tokens of letters, digits, '-' and
// '_' (no wildcards, no spaces, no empty token).
func CheckNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("secure: empty namespace")
	}
	for tok := range strings.SplitSeq(ns, ".") {
		if tok == "" {
			return fmt.Errorf("secure: namespace %q has an empty token", ns)
		}
		for _, c := range tok {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("secure: namespace %q: %q is not a letter, digit, '-' or '_'", ns, c)
			}
		}
	}
	return nil
}
