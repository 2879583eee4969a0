// Package secure holds the cluster's security building blocks: who may
// connect to a cluster's NATS server, what each connection may do there,
// and how a worker on another host reaches the server without anything
// readable on the network.
//
// # Roles and identities
//
// A cluster has two random secrets, one per role (Secret): a connection
// that presents the worker secret may serve tasks, one that presents the
// driver secret may submit them. Every connection also signs the server's
// nonce with an nkey of its own, made fresh per process (ClientOptions);
// the nkey's public key is the connection's identity. Auth, the server's
// CustomClientAuthentication, checks both and gives the connection the
// permissions of its role for its identity (Permissions), so that the last
// token of every subject a connection publishes on is its identity,
// vouched for by the server:
//
//	ns.announce.<S>.<W>        worker W announces session S to every driver
//	ns.drivers.<E>.<D>         driver D's executor E, to every worker
//	ns.w.<W>.<S>.<E>.<D>       driver D's executor E to worker W's session S
//	ns.d.<D>.<E>.<S>.<W>       worker W's session S to driver D's executor E
//	ns.b.<O>.<R>.<nuid>        reader R asks owner O for chunks of a value
//	_INBOX.<X>.<nuid>…         X's inbox: replies only
//
// Tokens before the last are the sender's own choice: a receiver keys what
// it learns by the pair (token, identity), never by the token alone. A
// reply (allow_responses) is the exception: it goes to whatever subject the
// requester named, so a responder checks the reply subject, or the Auth
// allows none (WithoutResponses; see Permissions).
//
// # Join URLs
//
// A join URL carries what a process needs to join, as kubeadm's join
// command does (see Join):
//
//	tls://fgw_<secret>@host:port/<namespace>?pin=sha256:<base64url>
//
// The pin is the SHA-256 of the server certificate's SubjectPublicKeyInfo
// (GenerateTLS makes one in memory); Connect checks it before it sends the
// secret, so no CA file needs copying. nats:// instead of tls:// sends
// everything in plaintext, which Connect allows only to a loopback address
// or with insecure=1 in the query.
//
// Secrets never print: Secret and Join format, log and marshal as
// "fgw_REDACTED"; Reveal is the only way to the text, and Redact and Scrub
// clean any URL or text that may hold one.
//
// # Costs
//
// On this project's 2-core machine, shared and loaded (BenchmarkRequestReply
// and BenchmarkConnect, best of 30 runs in three interleaved sessions; see
// ../NOTES.md), a request and its reply between two loopback connections
// take 70-78 µs at 16 B-1 KiB without authentication, as long (0.93-1.04×)
// with the secret, nkey and permissions, and 1.01-1.11× at 16 B,
// 1.28-1.42× at 1 KiB and 1.23-1.76× at 64 KiB with TLS 1.3 on top. A new
// connection takes 0.35-0.42 ms without authentication, 0.63-0.69 ms with
// it, 1.55-1.68 ms with TLS.
package secure
