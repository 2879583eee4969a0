// Package bridge lets runtime.ServeWorker serve a process that a cluster
// started as its worker, without package runtime importing the cluster
// module: the cluster package's init fills ServeCluster, and ServeWorker
// calls it.
package bridge

// ServeCluster, set by the cluster package's init, serves this process as
// a cluster worker if it was started as one, and returns the exit status
// with ok true; otherwise it returns ok false at once. runtime.ServeWorker
// calls it first.
var ServeCluster func() (status int, ok bool)
