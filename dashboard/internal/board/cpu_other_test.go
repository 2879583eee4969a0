//go:build !unix

package board

import "time"

func processCPU() time.Duration { return 0 }
