package main

import (
	"bytes"
	"io"
	"regexp"
	"testing"

	"github.com/futuresgen/futuresgen/runtime"
)

// TestMain lets the test binary serve as the ProcessPool's worker.
func TestMain(m *testing.M) {
	runtime.ServeWorker()
	m.Run()
}

func TestPrimes(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Times vary from run to run.
	got := regexp.MustCompile(`(?m)^(time +)\S+ +\S+ *$`).ReplaceAllString(out.String(), "${1}T T")
	want := `== Python's prime example, on each executor
number             ThreadPool ProcessPool
112272535095293    true       true       
112582705942171    true       true       
112272535095293    true       true       
115280095190773    true       true       
115797848077099    true       true       
1099726899285419   false      false      
time               T T
== Primes below 1,000,000, in chunks of 1,000 inputs
78498 primes below 1000000
== A task that crashes its worker fails alone
Explode(1) = 1
Explode(2) = 2
Explode(3): the worker died (ErrWorkerDied); the pool replaced it
Explode(4) = 4
Explode(5) = 5
`
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
