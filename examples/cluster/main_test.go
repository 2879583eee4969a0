package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/futuresgen/futuresgen/runtime"
)

// TestMain lets the test binary serve as the cluster's worker processes
// and their children.
func TestMain(m *testing.M) {
	runtime.ServeWorker()
	os.Exit(m.Run())
}

func TestCluster(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, "127.0.0.1:0", 2, 0); err != nil {
		t.Fatalf("%v; output so far:\n%s", err, out.String())
	}
	// The URL changes from run to run.
	got := regexp.MustCompile(`-join '\S+'`).ReplaceAllString(out.String(), "-join 'URL'")
	got = regexp.MustCompile(`at nats://\S+;`).ReplaceAllString(got, "at ADDR;")
	got = regexp.MustCompile(`http://\S+/missing.txt`).ReplaceAllString(got, "BASE/missing.txt")
	want := `== A cluster of 2 workers at ADDR; more join with (a password: copy it whole):
   -join 'URL'
== SubmitFetch + AsCompleted, on whichever worker is free
data.csv     8 bytes  sha256 492d5ea49605
failed: BASE/missing.txt: 404 Not Found
notes.txt   17 bytes  sha256 0057061a4f16
photo.jpg   17 bytes  sha256 43df64d0be97
report.pdf  23 bytes  sha256 1396a53919cf
== Primes below 2,000,000, in 40 ranges, in input order (MapCountPrimes)
148933 primes below 2000000
== A task that crashes fails alone; its worker stays
Crash: ErrWorkerDied (its child process died; its panic is on stderr)
then CountPrimes(0, 100) = 25
== Stats: 2 workers, 45 completed, 2 failed
`
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
