package board

import (
	"cmp"
	"slices"
	"strconv"
)

// trace returns the task stream as a Chrome trace (the JSON Object Format
// of the Trace Event Format): a process per worker, a thread per lane, a
// complete event ("X") per call, running ones up to now. Perfetto
// (ui.perfetto.dev) and chrome://tracing open it. Times are microseconds
// since the board started.
func (b *Board) trace() []byte {
	c := b.col
	c.mu.Lock()
	defer c.mu.Unlock()
	c.collect()
	b.hub.idleCollected()
	w := &jw{b: make([]byte, 0, 4096+len(c.calls)*160)}
	w.open('{')
	w.str("displayTimeUnit", "ms")
	w.arr("traceEvents")
	for _, wv := range c.sortedWorkers(0) {
		w.open('{')
		w.str("name", "process_name")
		w.str("ph", "M")
		w.int("pid", int64(wv.id))
		w.obj("args")
		name := wv.name
		if wv.host != "" {
			name += " on " + wv.host
		}
		w.str("name", name)
		w.close('}')
		w.close('}')
		for lane := range max(len(wv.lanes), 1) {
			w.open('{')
			w.str("name", "thread_name")
			w.str("ph", "M")
			w.int("pid", int64(wv.id))
			w.int("tid", int64(lane))
			w.obj("args")
			w.str("name", "slot "+strconv.Itoa(lane+1))
			w.close('}')
			w.close('}')
		}
	}
	calls := make([]*callView, 0, len(c.calls))
	for _, cv := range c.calls {
		calls = append(calls, cv)
	}
	slices.SortFunc(calls, func(a, b *callView) int { return cmp.Compare(a.start, b.start) })
	for _, cv := range calls {
		end := cv.end
		if !cv.ended {
			end = c.now
		}
		w.open('{')
		name := "?"
		if int(cv.task) < len(c.tasks) {
			name = c.tasks[cv.task].name
		}
		w.str("name", name)
		w.str("cat", "call")
		w.str("ph", "X")
		w.num("ts", float64(cv.start)/1e3, 3)
		w.num("dur", float64(max(end-cv.start, 0))/1e3, 3)
		w.int("pid", int64(cv.key.worker))
		w.int("tid", int64(max(cv.lane, 0)))
		w.obj("args")
		w.int("call", int64(cv.key.call))
		w.int("items", int64(cv.items))
		w.int("failed", int64(cv.failed))
		if !cv.ended {
			w.bool("running", true)
		}
		if cv.lost {
			w.bool("lost", true)
		}
		w.close('}')
		w.close('}')
	}
	w.close(']')
	w.close('}')
	return w.b
}
