//go:build unix

package board

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used: on a machine
// shared with other work, a steadier measure than the wall clock.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
