package board

import (
	"cmp"
	"slices"
)

// APIVersion is the version of the JSON the board serves under api/v1/.
// A change that could break a reader of it gets a new version and path.
const APIVersion = 1

// encodeFull returns the whole view as the JSON of api/v1/state: every
// task, worker and failure group, and the calls of the task stream. c.mu
// is held.
func (c *collector) encodeFull(seq uint64) []byte {
	w := &jw{b: make([]byte, 0, 4096+len(c.calls)*120)}
	c.head(w, seq, true)
	w.arr("tasks")
	for _, t := range c.tasks {
		c.task(w, t)
	}
	w.close(']')
	w.arr("workers")
	for _, wv := range c.sortedWorkers(0) {
		c.worker(w, wv)
	}
	w.close(']')
	w.arr("calls")
	calls := make([]*callView, 0, len(c.calls))
	for _, cv := range c.calls {
		calls = append(calls, cv)
	}
	slices.SortFunc(calls, func(a, b *callView) int { return cmp.Compare(a.start, b.start) })
	for _, cv := range calls {
		c.call(w, cv)
	}
	w.close(']')
	w.arr("failures")
	for _, fv := range c.sortedFailures(0) {
		c.failure(w, fv, true)
	}
	w.close(']')
	w.close('}')
	return w.b
}

// changedSince reports whether a delta from collection since would carry
// anything. c.mu is held.
func (c *collector) changedSince(since uint64) bool {
	if len(c.changed) > 0 || len(c.removed) > 0 {
		return true
	}
	for _, t := range c.tasks {
		if t.ver > since {
			return true
		}
	}
	for _, wv := range c.workers {
		if wv.ver > since {
			return true
		}
	}
	for _, fv := range c.fails {
		if fv.version > since {
			return true
		}
	}
	return false
}

// encodeDelta returns what changed since the last delta, and starts the
// next one. c.mu is held.
func (c *collector) encodeDelta(seq uint64, since uint64) []byte {
	w := &jw{b: make([]byte, 0, 1024+len(c.changed)*120)}
	c.head(w, seq, false)
	w.arr("tasks")
	for _, t := range c.tasks {
		if t.ver > since {
			c.task(w, t)
		}
	}
	w.close(']')
	w.arr("workers")
	for _, wv := range c.sortedWorkers(since) {
		c.worker(w, wv)
	}
	w.close(']')
	w.arr("removedWorkers")
	for _, id := range c.removed {
		w.intv(int64(id))
	}
	w.close(']')
	c.removed = c.removed[:0]

	// Every change to a call a page has, every call running, and the
	// newest maxNewEnded calls that started and ended since the last delta.
	var fresh []*callView
	w.arr("calls")
	for _, cv := range c.changed {
		cv.queued = false
		if cv.ended && !cv.known {
			fresh = append(fresh, cv)
			continue
		}
		cv.known = true
		c.call(w, cv)
	}
	if len(fresh) > maxNewEnded {
		slices.SortFunc(fresh, func(a, b *callView) int { return cmp.Compare(b.end, a.end) })
		fresh = fresh[:maxNewEnded]
	}
	for _, cv := range fresh {
		cv.known = true
		c.call(w, cv)
	}
	w.close(']')
	clear(c.changed)
	c.changed = c.changed[:0]
	c.compactAt = 0

	w.arr("failures")
	for _, fv := range c.sortedFailures(since) {
		c.failure(w, fv, !fv.sentStack)
		fv.sentStack = true
	}
	w.close(']')
	w.close('}')
	return w.b
}

func (c *collector) head(w *jw, seq uint64, full bool) {
	w.open('{')
	w.int("version", APIVersion)
	w.int("seq", int64(seq))
	w.bool("full", full)
	w.millis("now", c.clk.wall(c.now))
	w.millis("since", c.clk.wall(0))
	var queued, running, done, failed, cancelled int64
	var rate float64
	for _, t := range c.tasks {
		queued += t.queued()
		running += t.running()
		done += t.ok
		failed += t.failed
		cancelled += t.cancelled
		rate += t.rate
	}
	var workers, slots int64
	for _, wv := range c.workers {
		if wv.state == stateJoined {
			workers++
			slots += int64(wv.slots)
		}
	}
	w.obj("totals")
	w.int("queued", queued)
	w.int("running", running)
	w.int("done", done)
	w.int("failed", failed)
	w.int("cancelled", cancelled)
	w.num("rate", rate, 2)
	w.int("workers", workers)
	w.int("slots", slots)
	w.close('}')
}

func (c *collector) task(w *jw, t *taskView) {
	w.open('{')
	w.int("id", int64(t.idx))
	w.str("name", t.name)
	w.int("queued", t.queued())
	w.int("running", t.running())
	w.int("done", t.ok)
	w.int("failed", t.failed)
	w.int("cancelled", t.cancelled)
	w.num("rate", t.rate, 2)
	w.num("meanMs", t.hist.mean()/1e6, 4)
	w.num("p95Ms", t.hist.percentile(95)/1e6, 4)
	w.int("timed", t.hist.n)
	w.close('}')
}

// sortedWorkers returns the workers changed after collection since, by id.
func (c *collector) sortedWorkers(since uint64) []*workerView {
	var ws []*workerView
	for _, wv := range c.workers {
		if wv.ver > since {
			ws = append(ws, wv)
		}
	}
	slices.SortFunc(ws, func(a, b *workerView) int { return cmp.Compare(a.id, b.id) })
	return ws
}

func (c *collector) worker(w *jw, wv *workerView) {
	w.open('{')
	w.int("id", int64(wv.id))
	w.str("name", wv.name)
	w.str("host", wv.host)
	w.int("pid", int64(wv.pid))
	w.int("slots", int64(wv.slots))
	w.str("state", wv.state.String())
	w.str("reason", wv.reason)
	w.millis("joined", c.clk.wall(wv.joined))
	if wv.gone != 0 {
		w.millis("gone", c.clk.wall(wv.gone))
	}
	w.millis("heard", c.clk.wall(wv.heard))
	w.int("running", wv.running)
	w.int("done", wv.done)
	w.int("failed", wv.fails)
	w.int("lanes", int64(max(len(wv.lanes), wv.slots, 1)))
	w.close('}')
}

func (c *collector) call(w *jw, cv *callView) {
	w.open('{')
	w.int("worker", int64(cv.key.worker))
	w.int("call", int64(cv.key.call))
	w.int("task", int64(cv.task))
	w.int("lane", int64(cv.lane))
	w.millis("start", c.clk.wall(cv.start))
	if cv.ended {
		w.millis("end", c.clk.wall(cv.end))
	}
	w.int("items", int64(cv.items))
	w.int("failed", int64(cv.failed))
	if cv.lost {
		w.bool("lost", true)
	}
	w.close('}')
}

// sortedFailures returns the groups changed after collection since, by id.
func (c *collector) sortedFailures(since uint64) []*failView {
	var fs []*failView
	for _, fv := range c.fails {
		if fv.version > since {
			fs = append(fs, fv)
		}
	}
	slices.SortFunc(fs, func(a, b *failView) int { return cmp.Compare(a.id, b.id) })
	return fs
}

func (c *collector) failure(w *jw, fv *failView, stack bool) {
	w.open('{')
	w.int("id", int64(fv.id))
	w.int("task", int64(fv.task))
	w.str("message", fv.msg)
	w.int("count", fv.count)
	w.millis("first", c.clk.wall(fv.first))
	w.millis("last", c.clk.wall(fv.last))
	if stack {
		w.str("stack", fv.stack)
	}
	w.close('}')
}
