package board

import (
	"context"
	"errors"
	"sync"

	"github.com/futuresgen/futuresgen/runtime"
)

// The recorder is the board's side of runtime.Observer: it folds each
// event into bounded tables as cheaply as it can, for the collector to read
// four times a second. The fast path, per call:
//
//   - CallSubmitted: a cached task lookup and one atomic add on a counter
//     sharded by call number;
//   - CallStarted, CallEnded: cached task and worker lookups, then the
//     worker's own mutex (uncontended: a worker's events come one at a
//     time) around an append to its running calls, a ring write and a
//     counter. The coarse clock gives the time; one call per worker per
//     millisecond is also timed precisely, for durations.
//
// No allocation once a worker's slices have grown, no map lookup on a cache
// hit, no lock shared between workers. Everything else (workers joining,
// failures) takes slower paths. Costs, in CPU on one goroutine here
// (BenchmarkObserve): 11 ns for a submit, 68 for a start and an end, of
// which the two lock-unlock pairs are about 35 (an atomic operation costs
// 9 ns on this virtual machine).
//
// Tried and measured slower: a ring of pending events per worker with a
// single producer and one atomic store per event, folded under the mutex
// by the collector or when full (74–78 ns for a start and an end against
// 65–70): the copying in and out cost more than the atomic it saved.

// A worker's state, as the page shows it.
type wstate uint8

const (
	stateJoined wstate = iota
	stateLost
	stateRefused
	stateLeft
)

func (s wstate) String() string {
	return [...]string{"joined", "lost", "refused", "left"}[s]
}

const (
	endedRing  = 32 // a worker's recent ended calls, for the task stream
	sampleRing = 64 // a worker's recent precise durations
)

// rec is a call on a worker.
type rec struct {
	call   uint64
	start  int64 // clock time
	end    int64 // 0 while running
	task   int32
	items  int32
	failed int32
	flags  uint8
}

const (
	recPrecise uint8 = 1 << iota // start and end read from the system clock
	recLost                      // its worker was lost while it ran
)

// taskCount counts, in items, what one worker did with one task's calls.
// Running is started - ok - failed - requeued; a call interrupted by the
// loss of its worker is requeued until it ends there or starts elsewhere.
type taskCount struct {
	started, ok, failed, requeued int64
}

// sample is a precisely timed call's duration.
type sample struct {
	task int32
	d    int64
}

// workerRow is one worker: what it said about itself and what it did.
type workerRow struct {
	name string
	id   int32 // numbers rows from 1, never reused

	mu      sync.Mutex
	version uint64 // bumped by every change; the collector skips rows it has seen
	retired bool   // removed from the table: look the name up again
	host    string
	pid     int
	slots   int
	state   wstate
	reason  string
	joined  int64
	gone    int64 // when it was lost, refused or left
	heard   int64

	lastTask  string // the task of its last call, and its idx
	lastIdx   int32
	sampledAt int64 // the coarse time of its last precise reading
	last      int64 // the latest time it was given: its times never go back
	running   []rec
	lost      []rec // running when the worker was lost, not yet ended
	ended     [endedRing]rec
	endedN    uint64 // calls ever pushed to ended
	samples   [sampleRing]sample
	samplesN  uint64
	byTask    []taskCount // by task idx
}

// count returns w's counters for task idx; w.mu is held.
func (w *workerRow) count(idx int32) *taskCount {
	if int(idx) >= len(w.byTask) {
		n := make([]taskCount, idx+1, max(int(idx)+1, 2*len(w.byTask)))
		copy(n, w.byTask)
		w.byTask = n
	}
	return &w.byTask[idx]
}

func (w *workerRow) pushEnded(r rec) {
	w.ended[w.endedN%endedRing] = r
	w.endedN++
}

// recorder holds the tables that events update.
type recorder struct {
	clk     *clock
	tasks   taskTable
	workers workerTable
	fails   failureTable
}

func newRecorder(clk *clock) *recorder {
	r := &recorder{clk: clk}
	r.tasks.init()
	r.workers.init()
	r.fails.init()
	return r
}

// lockWorker returns the row of name, locked.
func (r *recorder) lockWorker(name string, now int64) *workerRow {
	for {
		w := r.workers.lookup(name, now)
		w.mu.Lock()
		if !w.retired {
			return w
		}
		w.mu.Unlock()
	}
}

func items(n int) int32 {
	if n <= 0 {
		return 1
	}
	return int32(min(n, 1<<30))
}

// observe takes e into the tables. The call events' fields go on as
// arguments, in registers, as the Event came.
func (r *recorder) observe(e runtime.Event) {
	switch e.Kind {
	case runtime.CallSubmitted:
		t := r.tasks.lookup(e.Task)
		t.submitted[e.Call%submitShards].n.Add(int64(items(e.Items)))
	case runtime.CallStarted:
		r.started(e.Call, e.Task, e.Items, e.Worker)
	case runtime.CallEnded:
		r.ended(e.Call, e.Task, e.Items, e.Worker, e.Detail)
	case runtime.CallCancelled:
		t := r.tasks.lookup(e.Task)
		t.cancelled.n.Add(int64(items(e.Items)))
		if err := e.Err(); err != nil && !errors.Is(err, runtime.ErrCancelled) && !errors.Is(err, context.Canceled) {
			r.fails.add(t, err, int64(items(e.Items)), r.clk.precise())
		}
	default:
		r.workerEvent(e)
	}
}

// started takes a CallStarted. The first call a worker starts in each
// millisecond of the coarse clock is timed precisely, start and end.
func (r *recorder) started(call uint64, task string, n int, worker string) {
	coarse := r.clk.now()
	w := r.lockWorker(worker, coarse)
	if task != w.lastTask {
		// A worker mostly runs one task after another: compared by
		// pointer, the name is found without a lookup.
		w.lastTask, w.lastIdx = task, r.tasks.lookup(task).idx
	}
	c := rec{call: call, start: max(coarse, w.last), task: w.lastIdx, items: items(n)}
	if w.sampledAt != coarse {
		w.sampledAt = coarse
		c.start = max(r.clk.precise(), w.last)
		c.flags = recPrecise
	}
	w.running = append(w.running, c)
	w.count(c.task).started += int64(c.items)
	w.heard, w.last = c.start, c.start
	w.version++
	w.mu.Unlock()
}

func (r *recorder) ended(call uint64, task string, n int, worker string, d *runtime.EventDetail) {
	coarse := r.clk.now()
	var failed int32
	var err error
	if d != nil {
		failed, err = int32(min(max(d.Failed, 0), 1<<30)), d.Err
		if failed == 0 && err != nil {
			failed = 1
		}
	}
	w := r.lockWorker(worker, coarse)
	now := max(coarse, w.last)
	var c rec
	found := false
	for i := range w.running {
		if w.running[i].call == call {
			c, found = w.running[i], true
			last := len(w.running) - 1
			w.running[i] = w.running[last]
			w.running = w.running[:last]
			break
		}
	}
	if !found {
		for i := range w.lost {
			if w.lost[i].call == call {
				c, found = w.lost[i], true
				last := len(w.lost) - 1
				w.lost[i] = w.lost[last]
				w.lost = w.lost[:last]
				w.count(c.task).requeued -= int64(c.items)
				c.flags &^= recLost
				break
			}
		}
	}
	var t *taskRow
	if !found {
		// A call this board did not see start (it started before the board
		// was attached): count it, and draw it from now.
		t = r.tasks.lookup(task)
		c = rec{call: call, start: now, task: t.idx, items: items(n)}
		w.count(t.idx).started += int64(c.items)
	}
	c.end = now
	if c.flags&recPrecise != 0 {
		c.end = max(r.clk.precise(), c.start)
		w.samples[w.samplesN%sampleRing] = sample{task: c.task, d: c.end - c.start}
		w.samplesN++
	}
	c.failed = min(failed, c.items)
	k := w.count(c.task)
	k.ok += int64(c.items - c.failed)
	k.failed += int64(c.failed)
	w.pushEnded(c)
	w.heard, w.last = c.end, c.end
	w.version++
	w.mu.Unlock()
	if err != nil {
		if t == nil {
			t = r.tasks.all()[c.task]
		}
		r.fails.add(t, err, int64(c.failed), c.end)
	}
}

// workerEvent handles the events of workers themselves: rare, so plain.
func (r *recorder) workerEvent(e runtime.Event) {
	now := r.clk.precise()
	w := r.lockWorker(e.Worker, now)
	defer w.mu.Unlock()
	now = max(now, w.last)
	w.heard, w.last = now, now
	w.version++
	d := e.Detail
	if d == nil {
		d = &runtime.EventDetail{}
	}
	switch e.Kind {
	case runtime.WorkerJoined:
		w.host, w.pid, w.slots = d.Host, d.PID, d.Slots
		if w.state != stateJoined {
			w.state, w.reason, w.gone = stateJoined, "", 0
		}
	case runtime.WorkerLost:
		w.state, w.gone = stateLost, now
		w.reason = reason(d.Err, "lost")
		for _, c := range w.running {
			w.count(c.task).requeued += int64(c.items)
			c.flags |= recLost
			c.end = now
			w.lost = append(w.lost, c)
			w.pushEnded(c)
		}
		w.running = w.running[:0]
	case runtime.WorkerRefused:
		w.state, w.gone = stateRefused, now
		w.reason = reason(d.Err, "refused")
	case runtime.WorkerLeft:
		w.state, w.gone = stateLeft, now
		w.reason = reason(d.Err, "")
	}
}

// maxReason bounds the text kept for why a worker was lost or refused.
const maxReason = 1024

func reason(err error, none string) string {
	if err == nil {
		return none
	}
	return truncate(err.Error(), maxReason)
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}
