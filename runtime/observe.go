package runtime

import "strconv"

// Observer is told what happens to an executor's calls and workers; the
// dashboard (package dashboard) is one. Attach it with Observe.
//
// Observe runs in the goroutine where the event happened, as it happens,
// sometimes under the executor's lock: it must return quickly, must not
// block, and must not call into the executor. An executor with no observer
// pays one nil check per event.
//
// Events carry no time: an observer that needs one reads the clock in
// Observe, which runs when the executor sees the event. Reading the clock
// costs 25–55 ns on a virtual machine, a sixth of a trivial ThreadPool
// task each, so an executor does not read it for an observer that may not
// want it (the dashboard times one call per worker per millisecond).
//
// The events of one call reach Observe in the order they happen (a
// happens-before edge between them), and so do the events of one worker.
type Observer interface{ Observe(e Event) }

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event, and the fields each one sets besides Kind. Every
// event of a call sets Call, Task and Items, and those of a call on a
// worker set Worker; every event of a worker sets Worker, and Detail when
// it says more.
const (
	// CallSubmitted: the executor took a call; it waits for a worker.
	CallSubmitted EventKind = iota + 1
	// CallStarted: the call started on Worker. A call whose worker was lost
	// starts again, on another worker, when the executor retries it; it
	// then has no CallEnded on the lost worker.
	CallStarted
	// CallEnded: the call ended after it started, on Worker. Without
	// Detail it succeeded; Detail.Failed is the number of its items that
	// failed, Detail.Err the first failure (a *PanicError carries the
	// stack). A call running on a worker that died ends there with an
	// error that errors.Is ErrWorkerDied.
	CallEnded
	// CallCancelled: the call ended without starting; Detail.Err says why:
	// ErrCancelled, its context's error, ErrShutdown, ErrBrokenPool, or
	// arguments that did not encode.
	CallCancelled
	// WorkerJoined: Worker, on Detail.Host, process Detail.PID, runs up to
	// Detail.Slots calls at once. A WorkerJoined for a worker already
	// joined updates those.
	WorkerJoined
	// WorkerLost: the worker died or went silent; Detail.Err says why
	// (errors.Is ErrWorkerDied, with details). What it was running either
	// ends there (CallEnded) or starts again elsewhere (CallStarted).
	WorkerLost
	// WorkerRefused: the executor will not give work to the worker;
	// Detail.Err says why (another protocol, another dispatch table).
	WorkerRefused
	// WorkerLeft: the worker was let go: idle at shutdown, after
	// MaxTasksPerWorker tasks, or it drained.
	WorkerLeft
	// WorkerHeard: the worker showed it is alive (a heartbeat). Executors
	// without heartbeats never send it; a worker's call events count as
	// hearing from it too.
	WorkerHeard
)

// String returns the kind's name, "CallSubmitted" to "WorkerHeard".
func (k EventKind) String() string {
	switch k {
	case CallSubmitted:
		return "CallSubmitted"
	case CallStarted:
		return "CallStarted"
	case CallEnded:
		return "CallEnded"
	case CallCancelled:
		return "CallCancelled"
	case WorkerJoined:
		return "WorkerJoined"
	case WorkerLost:
		return "WorkerLost"
	case WorkerRefused:
		return "WorkerRefused"
	case WorkerLeft:
		return "WorkerLeft"
	case WorkerHeard:
		return "WorkerHeard"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing that happened to an executor's call or worker. It is
// passed by value: an observer may keep it.
//
// It is eight machine words, so that it travels in registers: a call
// through Observer costs 3.5 ns here where a struct of 14 words, passed on
// the stack, costs 9.5 (and a trivial task has three events).
// What only some events carry is in Detail, nil on the fast path.
type Event struct {
	Kind EventKind
	// Call numbers a submitted call within its executor, from 1; every
	// event of the call carries it.
	Call uint64
	// Task is the task's stable name (the dispatch table's); for a closure
	// given to Submit, its function's name, as under LabelTask.
	Task string
	// Items is the number of futures the call carries: 1, or the inputs
	// of a chunk (ChunkSize).
	Items int
	// Worker names the worker: "thread 3", "pid 1234", a cluster worker's
	// name. Every event of one worker carries the same string value (an
	// observer may compare it by pointer first, as == does).
	Worker string
	// Detail is nil for the events of a call that succeeded; it is set for
	// a CallEnded that failed, a CallCancelled, and WorkerJoined,
	// WorkerLost and WorkerRefused.
	Detail *EventDetail
}

// EventDetail is what an Event carries beyond its call and worker.
type EventDetail struct {
	// Failed is, in CallEnded, the number of the call's items that
	// failed; 0 (or no Detail) means success.
	Failed int
	// Err is, in CallEnded, the first failure (a *PanicError carries the
	// stack); in CallCancelled, WorkerLost and WorkerRefused, why.
	Err error
	// Host, PID and Slots describe the worker, in WorkerJoined: the host
	// it runs on, its process, and how many calls it runs at once.
	Host  string
	PID   int
	Slots int
}

// Err returns e.Detail.Err, or nil without Detail.
func (e Event) Err() error {
	if e.Detail == nil {
		return nil
	}
	return e.Detail.Err
}

// Observe attaches o to ex until stop is called. o first receives, before
// any event as it happens, a WorkerJoined for each worker ex has, then a
// CallSubmitted for each call ex holds that has not ended, and a
// CallStarted for each of those running; then every event as it happens.
// stop detaches o: once it returns, o receives nothing more. Calling stop
// again does nothing.
func Observe(ex Executor, o Observer) (stop func()) {
	panic("futuresgen: Observe is not wired to the executors yet")
}
