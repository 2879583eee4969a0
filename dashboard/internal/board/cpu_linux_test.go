package board

import (
	goruntime "runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU returns the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportThreadCPU locks b's goroutine to its thread and, when b ends,
// reports the thread's CPU time per op: on a machine shared with other
// work, a steadier measure than the wall clock.
func reportThreadCPU(b *testing.B) {
	goruntime.LockOSThread()
	start := threadCPU()
	b.Cleanup(func() {
		b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		goruntime.UnlockOSThread()
	})
}
