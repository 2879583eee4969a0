// Package cluster runs futuresgen tasks on worker processes spread over
// machines, over NATS. See API.md §4 for the contract; this module holds
// only test and transport helpers so far.
package cluster
