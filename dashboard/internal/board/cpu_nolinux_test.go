//go:build !linux

package board

import (
	"testing"
	"time"
)

func reportThreadCPU(*testing.B) {}

func threadCPU() time.Duration { return 0 }
