package main

import (
	"context"
	"crypto/sha256"
	"time"
)

//go:generate go tool futuresgen

// Double is the trivial task.
//
//futures:task
func Double(x int) int { return 2 * x }

// Hash is the payload task: a 64 KiB argument hashed with sha256.
//
//futures:task
func Hash(b []byte) [32]byte { return sha256.Sum256(b) }

// Sleep is the slow task: it sleeps for d, or until its context ends.
//
//futures:task
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
