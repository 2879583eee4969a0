package main

import (
	"os"
	"os/exec"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster"
)

// natsEchoEnv makes this binary the other end of the NATS round trip: it
// answers every request on natsEchoSubject at the URL it names.
const (
	natsEchoEnv     = "FUTURESGEN_BENCH_NATS_ECHO"
	natsEchoSubject = "bench.echo"
)

// natsEcho answers requests until its standard input closes.
func natsEcho(url string) {
	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe(natsEchoSubject, func(m *nats.Msg) { m.Respond(m.Data) })
	if err != nil {
		panic(err)
	}
	sub.SetPendingLimits(-1, -1)
	nc.Flush()
	os.Stdout.Write([]byte("ready\n"))
	b := make([]byte, 1)
	os.Stdin.Read(b)
}

// natsRoundTrips sends n 8-byte requests, one at a time, through the
// NATS server without security (startOpenServer) to a child process
// that answers them: the floor of a cluster round trip.
func natsRoundTrips(n int) {
	ns := startOpenServer()
	defer ns.Shutdown()
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), natsEchoEnv+"="+ns.ClientURL())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	ready := make([]byte, 6)
	if _, err := stdout.Read(ready); err != nil {
		panic(err)
	}
	nc, err := cluster.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	b := make([]byte, 8)
	for range n {
		if _, err := nc.Request(natsEchoSubject, b, 10*time.Second); err != nil {
			panic(err)
		}
	}
}
