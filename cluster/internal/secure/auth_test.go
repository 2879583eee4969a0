package secure_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// wrong returns s with its last character changed.
func wrong(s string) string {
	last := s[len(s)-1]
	if last == 'A' {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

func TestClientsWithoutTheRightCredentialsAreRefused(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	worker := c.auth.Secret(secure.Worker).Reveal()
	otherKey, _ := nkeys.CreateUser()
	otherPub, _ := otherKey.PublicKey()
	signer, _ := nkeys.CreateUser()
	for _, tc := range []struct {
		name string
		url  string
		opts []nats.Option
	}{
		{"no credentials", c.srv.URL, nil},
		{"no credentials, in-process", "", []nats.Option{nats.InProcessServer(c.srv.NS)}},
		{"a wrong secret in the URL", "nats://" + wrong(worker) + "@" + strings.TrimPrefix(c.srv.URL, "nats://"), nil},
		{"a wrong secret and an nkey", c.srv.URL, []nats.Option{nats.Token(wrong(worker)), nats.Nkey(otherPub, otherKey.Sign)}},
		{"the other cluster's secret", c.srv.URL, []nats.Option{nats.Token(secure.NewSecret(secure.Worker).Reveal()), nats.Nkey(otherPub, otherKey.Sign)}},
		{"the right secret without an nkey", c.srv.URL, []nats.Option{nats.Token(worker)}},
		{"the right secret, an nkey signed by another key", c.srv.URL, []nats.Option{nats.Token(worker), nats.Nkey(otherPub, signer.Sign)}},
		{"an nkey without a secret", c.srv.URL, []nats.Option{nats.Nkey(otherPub, otherKey.Sign)}},
		{"the secret as a user name", c.srv.URL, []nats.Option{nats.UserInfo(worker, "x"), nats.Nkey(otherPub, otherKey.Sign)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(tc.url, append(tc.opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
				t.Fatal("connected; want refused")
			}
			// In-process, the server may close its end of the pipe
			// before the client reads the -ERR.
			if !errors.Is(err, nats.ErrAuthorization) && !(tc.url == "" && errors.Is(err, io.ErrClosedPipe)) {
				t.Fatalf("err = %v; want nats.ErrAuthorization", err)
			}
		})
	}
	if got := c.auth.Stats().Accepted; got != 0 {
		t.Errorf("Auth admitted %d connections; want 0", got)
	}
	// Positive control: the same server admits the right credentials.
	c.join(t, secure.Worker)
	noSecret(t, c.auth, "the log", c.logs.String())
	if !strings.Contains(c.logs.String(), "refused a connection") {
		t.Errorf("the log says nothing of the refusals:\n%s", c.logs.String())
	}
}

// rawSession dials the server, reads its INFO, writes lines and returns
// what the server said until it closed the connection.
func rawSession(t *testing.T, addr string, lines ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(wait))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("first line %q, %v; want INFO", info, err)
	}
	if !strings.Contains(info, `"auth_required":true`) {
		t.Errorf("INFO does not ask for authentication: %s", info)
	}
	for _, l := range lines {
		if _, err := conn.Write([]byte(l)); err != nil {
			break // the server may have closed already
		}
	}
	var said strings.Builder
	for {
		line, err := r.ReadString('\n')
		said.WriteString(line)
		if err != nil {
			break // EOF: closed by the server (a deadline fails below)
		}
	}
	return said.String()
}

func TestRawProtocolBeforeAuthenticatingIsRefused(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	addr := strings.TrimPrefix(c.srv.URL, "nats://")
	driver := c.join(t, secure.Driver)
	sub, err := driver.SubscribeSync(ns + ".d." + driver.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	driver.Flush()
	for _, tc := range []struct {
		name  string
		lines []string
	}{
		{"SUB > first", []string{"SUB > 1\r\n"}},
		{"PUB first", []string{"PUB " + subjD(driver.id, "e", "s", "w") + " 1\r\nx\r\n"}},
		{"CONNECT without credentials, then SUB", []string{"CONNECT {\"verbose\":false}\r\n", "SUB > 1\r\n"}},
		{"CONNECT with a wrong token, then PUB", []string{
			"CONNECT {\"auth_token\":\"" + wrong(c.auth.Secret(secure.Worker).Reveal()) + "\"}\r\n",
			"PUB " + subjD(driver.id, "e", "s", "w") + " 1\r\nx\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			said := rawSession(t, addr, tc.lines...)
			if !strings.Contains(said, "-ERR 'Authorization Violation'") {
				t.Errorf("server said %q; want -ERR 'Authorization Violation'", said)
			}
		})
	}
	driver.Flush()
	if n, _, _ := sub.Pending(); n != 0 {
		t.Errorf("the driver received %d messages from unauthenticated clients", n)
	}
}

func TestAWorkerSeesOnlyItsOwnSessionsSubjects(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	w1, w2, d := c.join(t, secure.Worker), c.join(t, secure.Worker), c.join(t, secure.Driver)
	own, err := w1.SubscribeSync(ns + ".w." + w1.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	control, err := w2.SubscribeSync(ns + ".w." + w2.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]*nats.Subscription{}
	for _, subject := range []string{
		">", ns + ".>", ns + ".w.>", ns + ".w.*.>", ns + ".w." + w2.id + ".>",
		ns + ".d.>", ns + ".d." + d.id + ".>", ns + ".announce.>", ns + ".b." + w2.id + ".>",
		"_INBOX.>", secure.InboxPrefix(w2.id) + ".>", secure.InboxPrefix(d.id) + ".>",
	} {
		sub, err := w1.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		refused[subject] = sub
	}
	for subject := range refused {
		w1.expectViolation(t, "Subscription to", subject)
	}
	// Calls with a marker for w2 and w1 (positive controls) while w1's
	// refused subscriptions wait.
	const marker = "marker-7c1f"
	if err := d.Publish(subjW(w2.id, "s2", "e", d.id), []byte(marker)); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(subjW(w1.id, "s1", "e", d.id), []byte(marker)); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []*nats.Subscription{control, own} {
		if m, err := sub.NextMsg(wait); err != nil || string(m.Data) != marker {
			t.Fatalf("positive control on %s: %v; want the marker", sub.Subject, err)
		}
	}
	// Whatever the server sent w1 before this round trip has arrived.
	if err := w1.Flush(); err != nil {
		t.Fatal(err)
	}
	for subject, sub := range refused {
		if m, err := sub.NextMsg(0); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("refused subscription to %s: NextMsg = %v, %v; want only the permissions violation", subject, m, err)
		}
	}
}

func TestNoOneCanPublishAsAnotherOrOutsideItsRole(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	w1, w2, d, d2 := c.join(t, secure.Worker), c.join(t, secure.Worker), c.join(t, secure.Driver), c.join(t, secure.Driver)
	// What the driver d hears, and what the worker w2 hears.
	dHears, err := d.SubscribeSync(ns + ".d." + d.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	dAnnounces, err := d.SubscribeSync(ns + ".announce.>")
	if err != nil {
		t.Fatal(err)
	}
	w2Hears, err := w2.SubscribeSync(ns + ".w." + w2.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	w2Drivers, err := w2.SubscribeSync(ns + ".drivers.>")
	if err != nil {
		t.Fatal(err)
	}
	for _, nc := range []*client{d, w2} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		from    *client
		subject string
	}{
		{"a worker sends a call as the driver", w1, subjW(w2.id, "s", "e", d.id)},
		{"a worker sends a call as itself", w1, subjW(w2.id, "s", "e", w1.id)},
		{"a worker answers as another worker", w1, subjD(d.id, "e", "s", w2.id)},
		{"a worker announces another worker", w1, subjAnnounce("s", w2.id)},
		{"a worker beats as a driver", w1, subjDrivers("e", d.id)},
		{"a worker answers with its identity before the last token", w1, subjD(d.id, "e", w1.id, w2.id)},
		{"a driver answers as a worker", d2, subjD(d.id, "e", "s", w2.id)},
		{"a driver answers as itself", d2, subjD(d.id, "e", "s", d2.id)},
		{"a driver announces itself as a worker", d2, subjAnnounce("s", d2.id)},
		{"a driver sends a call as another driver", d2, subjW(w2.id, "s", "e", d.id)},
		{"a driver beats as another driver", d2, subjDrivers("e", d.id)},
		{"a worker publishes into a driver's inbox", w1, secure.InboxPrefix(d.id) + ".x"},
		{"a driver publishes into a worker's inbox", d2, secure.InboxPrefix(w2.id) + ".x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.from.Publish(tc.subject, []byte("forged")); err != nil {
				t.Fatal(err)
			}
			tc.from.expectViolation(t, "Publish to", tc.subject)
		})
	}
	// Positive controls, sent after the forgeries on the same connections:
	// each arrives, and nothing forged came before it.
	for _, p := range []struct {
		from    *client
		subject string
		sub     *nats.Subscription
	}{
		{w1, subjD(d.id, "e", "s", w1.id), dHears},
		{w1, subjAnnounce("s", w1.id), dAnnounces},
		{d2, subjW(w2.id, "s", "e", d2.id), w2Hears},
		{d2, subjDrivers("e", d2.id), w2Drivers},
	} {
		if err := p.from.Publish(p.subject, []byte("real")); err != nil {
			t.Fatal(err)
		}
		m, err := p.sub.NextMsg(wait)
		if err != nil || string(m.Data) != "real" {
			t.Fatalf("on %s: %v, %v; want the real message first", p.subject, m, err)
		}
	}
}

func TestRequestsGetOneReplyThroughTheRequestersInbox(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	w, d := c.join(t, secure.Worker), c.join(t, secure.Driver)
	// The worker answers requests on its own subjects, the driver on its.
	for _, tc := range []struct {
		responder *client
		subject   string
		requester *client
		to        string
	}{
		{w, ns + ".w." + w.id + ".>", d, subjW(w.id, "s", "e", d.id)},
		{d, ns + ".d." + d.id + ".>", w, subjD(d.id, "e", "s", w.id)},
	} {
		sub, err := tc.responder.Subscribe(tc.subject, func(m *nats.Msg) {
			m.Respond(m.Data)
			m.Respond(m.Data) // a second reply is refused
		})
		if err != nil {
			t.Fatal(err)
		}
		tc.responder.Flush()
		for i := range 3 {
			m, err := tc.requester.Request(tc.to, []byte{byte('a' + i)}, wait)
			if err != nil || string(m.Data) != string(rune('a'+i)) {
				t.Fatalf("request %d to %s: %v, %v", i, tc.to, m, err)
			}
			if !strings.HasPrefix(m.Subject, secure.InboxPrefix(tc.requester.id)+".") {
				t.Errorf("reply on %s; want the requester's inbox", m.Subject)
			}
		}
		// The second reply to each request was refused.
		tc.responder.errs.await(t, `Permissions Violation for Publish to "`+secure.InboxPrefix(tc.requester.id)+".")
		sub.Unsubscribe()
	}
}

func TestARevokedIdentityIsClosedAndRefused(t *testing.T) {
	c := startCluster(t, embedded.Config{})
	w := c.join(t, secure.Worker)
	closed := make(chan struct{})
	w.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if n := c.srv.Revoke(w.id); n != 1 {
		t.Fatalf("Revoke closed %d connections; want 1", n)
	}
	// nats.go reconnects with the same nkey, is refused, and gives up
	// after the second refusal.
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("the revoked connection did not give up reconnecting")
	}
	if err := w.LastError(); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("last error %v; want nats.ErrAuthorization", err)
	}
	c.join(t, secure.Worker) // a new identity is welcome
}

func TestLimitsHold(t *testing.T) {
	c := startCluster(t, embedded.Config{AuthTimeout: 200 * time.Millisecond, MaxSubs: 3})
	// A connection that never authenticates is dropped.
	said := rawSession(t, strings.TrimPrefix(c.srv.URL, "nats://"))
	if !strings.Contains(said, "Authentication Timeout") {
		t.Errorf("a silent connection was told %q; want Authentication Timeout", said)
	}
	// A connection holds at most MaxSubs subscriptions.
	w := c.join(t, secure.Worker)
	for i := range 4 {
		if _, err := w.SubscribeSync(ns + ".w." + w.id + "." + string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	w.errs.await(t, "maximum subscriptions exceeded")
}

// TestAReplyGoesWhereverTheRequesterSays pins down what allow_responses
// means for the subject scheme: a driver sends a worker that answers
// requests a request whose reply subject is another worker's call
// subject, naming a third party, a driver, as its sender; the answer
// arrives there as if that driver had sent it. WithoutResponses refuses
// the answer.
func TestAReplyGoesWhereverTheRequesterSays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []secure.AuthOption
		laundered bool
	}{
		{"with responses", nil, true},
		{"without responses", []secure.AuthOption{secure.WithoutResponses()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startClusterWith(t, embedded.Config{}, tc.opts...)
			w, w2, d1, d2 := c.join(t, secure.Worker), c.join(t, secure.Worker), c.join(t, secure.Driver), c.join(t, secure.Driver)
			calls, err := w2.SubscribeSync(ns + ".w." + w2.id + ".>")
			if err != nil {
				t.Fatal(err)
			}
			w2.Flush()
			if _, err := w.Subscribe(ns+".w."+w.id+".>", func(m *nats.Msg) { m.Respond([]byte("answer")) }); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			forged := subjW(w2.id, "s2", "e", d2.id)
			req := nats.NewMsg(subjW(w.id, "s", "e", d1.id))
			req.Reply = forged
			if err := d1.PublishMsg(req); err != nil {
				t.Fatal(err)
			}
			if tc.laundered {
				m, err := calls.NextMsg(wait)
				if err != nil || string(m.Data) != "answer" || m.Subject != forged {
					t.Fatalf("w2 got %v, %v; want w's answer on %s", m, err, forged)
				}
				return
			}
			w.expectViolation(t, "Publish to", forged)
			// The refused answer was never delivered: d2's own call, sent
			// after the refusal, is the first thing w2 gets.
			d2.Publish(subjW(w2.id, "s2", "e", d2.id), []byte("real"))
			if m, err := calls.NextMsg(wait); err != nil || string(m.Data) != "real" {
				t.Fatalf("w2 got %v, %v; want d2's call first", m, err)
			}
		})
	}
}
