// Package runtime runs futuresgen tasks: Python's concurrent.futures for
// Go, with typed futures.
//
// A Future[T] is the eventual result of a task. Executors run tasks:
// ThreadPool on goroutines in this process, ProcessPool in worker
// processes. AsCompleted yields futures as they finish, Wait waits for all,
// the first, or the first failure, and Map runs a function over a sequence
// lazily, yielding (result, error) per input in input order.
//
// Closures run on a ThreadPool with Submit and Map:
//
//	pool := runtime.NewThreadPool()
//	defer pool.Close()
//	f := runtime.Submit(ctx, pool, func(ctx context.Context) (int, error) {
//		return 6 * 7, nil
//	})
//	v, err := f.Result(ctx)
//
// Functions marked //futures:task get generated SubmitX and MapX wrappers
// (see the futuresgen command) that run on any Executor, including a
// ProcessPool, and are checked by the compiler. What the generated code
// calls is in package runtime/futuresimpl, for generated code only.
//
// A ProcessPool runs those tasks in worker processes: this same binary,
// started again. Call ServeWorker first in main (and in TestMain): it
// returns at once in an ordinary run and serves tasks in a worker:
//
//	func main() {
//		runtime.ServeWorker()
//		pool := runtime.NewProcessPool()
//		defer pool.Close()
//		for ok, err := range shop.MapIsPrime(ctx, pool, numbers, runtime.ChunkSize(256)) { … }
//	}
//
// A worker that crashes fails only the task it was running, with
// ErrWorkerDied; a task that ignores its context past GracePeriod has its
// worker killed. Workers start as calls wait for them and run one task at
// a time, so N slow tasks on N workers run side by side; a future is
// Running only once its task has started in a worker. Choose a ProcessPool
// for that isolation, a ThreadPool otherwise. The cluster package runs
// the same tasks on workers on other machines.
//
// Contexts: every submit takes a context. If it ends before the task
// starts, the task never runs and its future fails with ctx.Err(); once the
// task runs, the task's own context ends with it. Waits take a context
// too: a wait that gives up returns ctx.Err() and leaves the task running.
//
// Errors: a task's error reaches Result unchanged; a panic becomes a
// *PanicError with the stack; ErrCancelled, ErrShutdown, ErrBrokenPool and
// ErrWorkerDied say why a future did not run to the end. Test them with
// errors.Is. From a worker, a task's error keeps its message and its
// identity: registered sentinels (the task package's, the standard
// library's common ones, RegisterError's) and values of registered error
// types arrive as themselves, so errors.Is and errors.As answer as
// in-process; anything else is a *RemoteError.
//
// The package is named runtime, like the standard library's; import it
// under another name if a file needs both:
//
//	import futures "github.com/futuresgen/futuresgen/runtime"
package runtime
