package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// TestOnANATSServerOfYourOwn runs a worker and a driver on a nats-server
// started from exactly the configuration the README gives for a server
// of your own (internal/secure/testdata/external.conf), on 127.0.0.1
// instead of its listen line: tasks run, values over max_payload cross
// both ways, and neither role's password serves the other role.
func TestOnANATSServerOfYourOwn(t *testing.T) {
	ctx := context.Background()
	workerPass, driverPass := rand.Text(), rand.Text()
	t.Setenv("FUTURESGEN_WORKER_PASSWORD", workerPass)
	t.Setenv("FUTURESGEN_DRIVER_PASSWORD", driverPass)
	opts, err := natsserver.ProcessConfigFile("internal/secure/testdata/external.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port = "127.0.0.1", natsserver.RANDOM_PORT
	opts.NoSigs, opts.NoLog = true, true
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("the server is not ready")
	}
	connect := func(user, pass string) *nats.Conn {
		nc, err := Connect(srv.ClientURL(), nats.UserInfo(user, pass))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- Serve(sctx, connect("worker", workerPass), InProcess(), Slots(2)) }()
	t.Cleanup(func() {
		stop()
		<-served
	})
	ex, err := NewExecutor(connect("driver", driverPass))
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ex.WaitForWorkers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21).Result(ctx); v != 42 || err != nil {
		t.Errorf("a task: %v, %v", v, err)
	}
	big := pattern(3 << 20)
	if sum, err := futuresimpl.SubmitTask(ctx, ex, taskHash, big).Result(ctx); err != nil || sum != sha256.Sum256(big) {
		t.Errorf("an argument of 3 MiB: %x, %v", sum, err)
	}
	if got, err := futuresimpl.SubmitTask(ctx, ex, taskBytes, len(big)).Result(ctx); err != nil || !bytes.Equal(got, big) {
		t.Errorf("a result of 3 MiB: %d bytes, %v", len(got), err)
	}
	// The worker's password does not make a driver that gets workers.
	wd, err := NewExecutor(connect("worker", workerPass))
	if err != nil {
		t.Fatal(err)
	}
	defer wd.Shutdown(ctx)
	c2, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if err := wd.WaitForWorkers(c2, 1); err == nil {
		t.Errorf("a driver with the worker's password got workers")
	}
}
