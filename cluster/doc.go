// Package cluster runs futuresgen tasks on worker processes spread over
// machines, over NATS: Dask distributed's shape, for the same generated
// SubmitX and MapX wrappers that run on a ThreadPool or a ProcessPool.
//
// On one machine, with nothing installed, StartLocal starts an embedded
// NATS server on 127.0.0.1 and worker processes of this program, and its
// Executor is a runtime.Executor:
//
//	func main() {
//		runtime.ServeWorker() // first: the workers are this binary again
//		local, err := cluster.StartLocal(ctx)
//		...
//		defer local.Close()
//		n, err := SubmitCountPrimes(ctx, local.Executor(), 0, 1_000_000).Result(ctx)
//	}
//
// To add other hosts, change one line on each side: StartLocal(ctx,
// Listen(":4222")) on the first, and on the others the same binary
// serving it:
//
//	nc, err := cluster.Connect("nats://hostA:4222")
//	...
//	err = cluster.Serve(ctx, nc)
//
// Any program with a NATS connection can be a driver (NewExecutor), and
// several drivers share the workers of their Namespace. Calls wait in the
// driver until a worker has room; a worker lost mid-task fails its task
// with runtime.ErrWorkerDied within seconds (or runs it again under
// Retries), and nothing it had not started is lost. See the README's
// "Cluster" section for what else holds, and its benchmarks beside Dask.
package cluster
