// Package cluster runs futuresgen tasks on worker processes spread over
// machines, over NATS.
package cluster
