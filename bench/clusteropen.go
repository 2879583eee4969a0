package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster"
)

// What security costs: futuresgen-cluster-open is the cluster with it off
// (a NATS server with neither authentication nor TLS, as one would run
// on a network of one's own, and workers that Serve on it), and
// futuresgen-cluster-tls the cluster with TLS on loopback too, as every
// connection beyond loopback is. Both have StartLocal's shape: worker
// processes of this binary of one slot each, tasks in child processes,
// and a driver connected in-process.

// benchServeEnv makes this binary a worker that Serves on the NATS
// server at the URL it names, until its standard input closes.
const benchServeEnv = "FUTURESGEN_BENCH_SERVE"

// startOpenServer starts a NATS server on 127.0.0.1 without
// authentication or TLS, pinging as the cluster's own server does.
func startOpenServer() *server.Server {
	ns, err := server.NewServer(&server.Options{
		Host:         "127.0.0.1",
		Port:         server.RANDOM_PORT,
		NoLog:        true,
		NoSigs:       true,
		PingInterval: 2 * time.Second,
		MaxPingsOut:  3,
	})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(time.Minute) {
		panic("bench: the open NATS server did not start in a minute")
	}
	return ns
}

// startOpenCluster starts an open server, workers processes that Serve
// on it with one slot each, and a driver, and waits until the workers
// joined.
func startOpenCluster(workers int) *startedCluster {
	ns := startOpenServer()
	nc, err := cluster.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		panic(err)
	}
	ex, err := cluster.NewExecutor(nc)
	if err != nil {
		panic(err)
	}
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	type proc struct {
		cmd   *exec.Cmd
		stdin interface{ Close() error }
	}
	var procs []proc
	for range workers {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), benchServeEnv+"="+ns.ClientURL())
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			panic(err)
		}
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		procs = append(procs, proc{cmd, stdin})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ex.WaitForWorkers(ctx, workers); err != nil {
		panic(fmt.Sprintf("bench: open cluster: %v", err))
	}
	return &startedCluster{ex: ex, close: func() {
		ex.Close()
		for _, p := range procs {
			p.stdin.Close()
		}
		for _, p := range procs {
			p.cmd.Wait()
		}
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	}}
}

// serveOpen is a worker of an open cluster: it Serves on url, one slot,
// until its standard input closes (or an interrupt comes).
func serveOpen(url string) {
	nc, err := cluster.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench worker:", err)
		os.Exit(1)
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		bufio.NewReader(os.Stdin).ReadByte() // EOF: the bench is done with us
		cancel()
	}()
	if err := cluster.Serve(ctx, nc, cluster.Slots(1)); err != nil {
		fmt.Fprintln(os.Stderr, "bench worker:", err)
		os.Exit(1)
	}
}

// benchTLS returns a TLS configuration with a self-signed certificate
// for 127.0.0.1, made once: cluster.TLS pins it in the join URLs.
var benchTLS = sync.OnceValue(func() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "futuresgen bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
})
