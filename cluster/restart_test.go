package cluster

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// TestStartLocalKeepsItsWorkers kills one of StartLocal's worker
// processes: a new one takes its place, and the cluster is back to its
// size within seconds, as Dask's nanny and the ProcessPool do.
func TestStartLocalKeepsItsWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLocal(t, Workers(2))
	ex := l.Executor()
	pids := l.pids()
	syscall.Kill(pids[0], syscall.SIGKILL)
	waitFor(t, "a new worker process replaces the one killed, joins, and the driver lost the killed one", func() bool {
		now := l.pids()
		s := ex.Stats()
		return len(now) == 2 && !slices.Contains(now, pids[0]) && s.Workers == 2 && s.Lost == 1
	})
	if v, err := futuresimpl.SubmitTask(ctx, ex, taskDouble, 21).Result(ctx); v != 42 || err != nil {
		t.Errorf("after the restart: %v, %v", v, err)
	}
}

// TestAWorkerThatDiesAtStartIsNotRestartedForEver: a worker process that
// dies before it joins, again and again, is given up on after a few
// tries, with an error in the driver's log that says why.
func TestAWorkerThatDiesAtStartIsNotRestartedForEver(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	l := startLocal(t, Workers(1), Logger(slog.New(slog.NewTextHandler(&logs, nil))))
	l.mu.Lock()
	l.extraEnv = []string{"FUTURESGEN_TEST_DIE_AT_START=1"} // what starts from now on dies at once
	started := l.seq
	l.mu.Unlock()
	syscall.Kill(l.pids()[0], syscall.SIGKILL)
	waitFor(t, "the driver's log says it gave up restarting the worker", func() bool {
		return strings.Contains(logs.String(), "gave up")
	})
	l.mu.Lock()
	tries := l.seq - started
	l.mu.Unlock()
	if tries != maxLocalStartFailures {
		t.Errorf("%d worker processes were started after the kill; want %d, then none", tries, maxLocalStartFailures)
	}
	if !strings.Contains(logs.String(), "ServeWorker") || !strings.Contains(logs.String(), "exit status 5") {
		t.Errorf("the driver logged:\n%s\nwant the last worker's exit status and a hint about ServeWorker", logs.String())
	}
}
