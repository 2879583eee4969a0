package secure_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// TestTheExternalServerConfiguration starts nats-server from exactly
// testdata/external.conf (the README quotes it), on 127.0.0.1 instead of
// its listen line, and checks that each role can do its job and not the
// other's.
func TestTheExternalServerConfiguration(t *testing.T) {
	workerPass, driverPass := rand.Text(), rand.Text()
	t.Setenv("FUTURESGEN_WORKER_PASSWORD", workerPass)
	t.Setenv("FUTURESGEN_DRIVER_PASSWORD", driverPass)
	opts, err := server.ProcessConfigFile("testdata/external.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(wait) {
		t.Fatal("server not ready")
	}
	log, logs := newLog()
	connect := func(user, pass string) *client {
		errs := newAsyncErrs()
		nc, _, err := secure.Connect(srv.ClientURL(), log, append(errs.options(), nats.UserInfo(user, pass), nats.NoReconnect())...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		// No nkey on this server: each process picks its identity.
		return &client{Conn: nc, id: nuid.Next(), errs: errs}
	}
	for _, bad := range []nats.Option{nats.UserInfo("worker", driverPass), nats.UserInfo("driver", "x"), nil} {
		if nc, err := nats.Connect(srv.ClientURL(), bad, nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
			if nc != nil {
				nc.Close()
			}
			t.Errorf("a wrong password or none: %v; want nats.ErrAuthorization", err)
		}
	}
	w, d := connect("worker", workerPass), connect("driver", driverPass)
	const fgns = "futures"
	sub := func(c *client, subject string) *nats.Subscription {
		t.Helper()
		s, err := c.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("each role does its job", func(t *testing.T) {
		calls := sub(w, fgns+".w."+w.id+".>")
		beats := sub(w, fgns+".drivers.>")
		answers := sub(d, fgns+".d."+d.id+".>")
		announces := sub(d, fgns+".announce.>")
		w.Flush()
		d.Flush()
		for _, m := range []struct {
			from    *client
			subject string
			to      *nats.Subscription
		}{
			{d, fgns + ".w." + w.id + ".s.e." + d.id, calls},
			{d, fgns + ".drivers.e." + d.id, beats},
			{w, fgns + ".d." + d.id + ".e.s." + w.id, answers},
			{w, fgns + ".announce.s." + w.id, announces},
		} {
			m.from.Publish(m.subject, []byte("x"))
			if got, err := m.to.NextMsg(wait); err != nil || got.Subject != m.subject {
				t.Errorf("%s: %v, %v", m.subject, got, err)
			}
		}
		// Values over max_payload, both ways, as the cluster moves them:
		// asked for on futures.b.<owner>.<reader>.*, sent on
		// futures.b.<reader>.<owner>.* (no replies: the file allows none).
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
		for _, p := range []struct{ holder, reader *client }{{d, w}, {w, d}} {
			back := fgns + ".b." + p.reader.id + "." + p.holder.id
			ref, _, err := blob.OfferTo(p.holder.Conn, fgns+".b."+p.holder.id, blob.Reader{ID: p.reader.id, Inbox: back}, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := blob.Fetch(context.Background(), p.reader.Conn, ref, 64<<20, blob.FetchOptions{ChunkTimeout: 5 * time.Second, Reply: back + "." + nuid.Next()})
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("blob from %s: %d bytes, %v", p.holder.Opts.User, len(got), err)
			}
		}
	})

	t.Run("neither does the other's", func(t *testing.T) {
		for _, p := range []struct {
			from    *client
			subject string
		}{
			{w, fgns + ".w." + w.id + ".s.e." + d.id}, // a call
			{w, fgns + ".drivers.e." + d.id},
			{d, fgns + ".d." + d.id + ".e.s." + w.id}, // an answer
			{d, fgns + ".announce.s." + w.id},
			{w, "other.w.x.s.e.d"},
			{d, "$SYS.REQ.SERVER.PING"},
		} {
			p.from.Publish(p.subject, []byte("x"))
			p.from.expectViolation(t, "Publish to", p.subject)
		}
		for _, p := range []struct {
			from    *client
			subject string
		}{
			{w, ">"}, {w, fgns + ".d.>"}, {w, fgns + ".announce.>"},
			{d, ">"}, {d, fgns + ".w.>"}, {d, fgns + ".drivers.>"},
		} {
			sub(p.from, p.subject)
			p.from.expectViolation(t, "Subscription to", p.subject)
		}
	})
	noSecret(t, nil, "the log", logs.String())
	for _, pass := range []string{workerPass, driverPass} {
		if bytes.Contains([]byte(logs.String()), []byte(pass)) {
			t.Errorf("the log holds a password")
		}
	}
}
