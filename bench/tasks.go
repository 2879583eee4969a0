package main

import "crypto/sha256"

//go:generate go tool futuresgen

// Double is the trivial task.
//
//futures:task
func Double(x int) int { return 2 * x }

// Hash is the payload task: a 64 KiB argument hashed with sha256.
//
//futures:task
func Hash(b []byte) [32]byte { return sha256.Sum256(b) }
