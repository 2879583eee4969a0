package board

import (
	"cmp"
	"math"
	"slices"
	"sync"
)

// Bounds of the task stream the collector keeps: the calls running, plus
// the streamRing calls that ended last. A delta carries every change to a
// call the page has, and at most maxNewEnded calls it has not seen that
// already ended (at a million calls a second, the page draws a sample).
const (
	streamRing  = 2000
	maxNewEnded = 500
	maxLanes    = 256
	rateTau     = 2e9 // ns: the rate is an average over about this long
)

// collector turns the recorder's tables into the view the page shows: sums
// per task, rows per worker with their lanes, the task stream, failure
// groups. It runs four times a second while a page is open, and on each
// API request; it reads each worker's row only if it changed.
type collector struct {
	rec *recorder
	clk *clock

	mu        sync.Mutex
	ver       uint64 // collections so far
	now       int64  // time of the last collection
	tasks     []*taskView
	workers   map[int32]*workerView // by id
	retired   []taskCount           // by task idx: counts of workers removed
	calls     map[callKey]*callView // running and recent
	ring      [streamRing]*callView // ended calls, in the order collected
	ringN     uint64
	fails     map[int32]*failView
	failVer   uint64
	removed   []int32     // workers removed since the last delta
	changed   []*callView // calls changed since the last delta
	compactAt int         // compact changed when it grows past this (and maxChanged)
	scratch   []rec       // reused across collections
	newCall   []*callView // reused: calls new in one worker's collection
}

type taskView struct {
	idx                           int32
	name                          string
	submitted, cancelled          int64
	started, ok, failed, requeued int64
	hist                          hist
	rate                          float64 // items finished per second
	rateTotal                     int64   // ok+failed at rateAt
	rateAt                        int64
	ver                           uint64 // collection that last changed it
}

// queued and running derive from the counts; an observer attached while
// calls were in flight can see more ends than starts, hence the clamps.
func (t *taskView) queued() int64 {
	return max(0, t.submitted-t.cancelled-t.started+t.requeued)
}
func (t *taskView) running() int64 { return max(0, t.started-t.ok-t.failed-t.requeued) }

type workerView struct {
	id                   int32
	name, host           string
	pid, slots           int
	state                wstate
	reason               string
	joined, gone, heard  int64
	byTask               []taskCount
	running, done, fails int64
	lanes                []lane
	calls                []*callView // running on it, as last seen
	seenVersion          uint64
	seenEnded            uint64
	seenSamples          uint64
	ver                  uint64
	listed               uint64 // the last collection that found its row
}

// lane is one row of a worker's task stream; calls that overlap in time
// go on different lanes.
type lane struct {
	busy   bool
	freeAt int64
}

type callKey struct {
	worker int32
	call   uint64
}

type callView struct {
	key           callKey
	task, lane    int32
	start, end    int64
	items, failed int32
	lost          bool
	ended         bool
	queued        bool // in collector.changed
	known         bool // sent to pages while running
}

type failView struct {
	group
	sentStack bool
}

func newCollector(r *recorder) *collector {
	return &collector{
		rec:     r,
		clk:     r.clk,
		workers: map[int32]*workerView{},
		calls:   map[callKey]*callView{},
		fails:   map[int32]*failView{},
	}
}

// collect brings the view up to date with the recorder. c.mu is held.
func (c *collector) collect() {
	c.ver++
	c.now = c.clk.precise()
	rows := c.rec.tasks.all()
	for len(c.tasks) < len(rows) {
		r := rows[len(c.tasks)]
		c.tasks = append(c.tasks, &taskView{idx: r.idx, name: r.name, ver: c.ver, rateAt: c.now})
	}
	for i, r := range rows {
		t := c.tasks[i]
		var sub int64
		for j := range r.submitted {
			sub += r.submitted[j].n.Load()
		}
		canc := r.cancelled.n.Load()
		if sub != t.submitted || canc != t.cancelled {
			t.submitted, t.cancelled, t.ver = sub, canc, c.ver
		}
	}

	workersChanged := false
	list := c.rec.workers.list()
	for _, row := range list {
		if c.collectWorker(row) {
			workersChanged = true
		}
	}
	for _, wv := range c.workers {
		if wv.listed != c.ver {
			c.dropWorker(wv)
			workersChanged = true
		}
	}
	if workersChanged {
		c.sumTasks()
	}
	c.updateRates()
	c.collectFailures()
	c.prune(list)
}

// collectWorker reads row if it changed since the last collection, and
// reports whether it did.
func (c *collector) collectWorker(row *workerRow) bool {
	wv := c.workers[row.id]
	if wv == nil {
		wv = &workerView{id: row.id, name: row.name}
		c.workers[row.id] = wv
	}
	wv.listed = c.ver
	row.mu.Lock()
	if row.version == wv.seenVersion {
		row.mu.Unlock()
		return false
	}
	wv.seenVersion = row.version
	wv.host, wv.pid, wv.slots = row.host, row.pid, row.slots
	wv.state, wv.reason = row.state, row.reason
	wv.joined, wv.gone, wv.heard = row.joined, row.gone, row.heard
	wv.byTask = append(wv.byTask[:0], row.byTask...)
	running := append(c.scratch[:0], row.running...)
	nRunning := len(running)
	from := max(wv.seenEnded, row.endedN-min(row.endedN, endedRing))
	for i := from; i < row.endedN; i++ {
		running = append(running, row.ended[i%endedRing])
	}
	wv.seenEnded = row.endedN
	var samples [sampleRing]sample
	nSamples := 0
	for i := max(wv.seenSamples, row.samplesN-min(row.samplesN, sampleRing)); i < row.samplesN; i++ {
		samples[nSamples] = row.samples[i%sampleRing]
		nSamples++
	}
	wv.seenSamples = row.samplesN
	row.mu.Unlock()
	c.scratch = running

	wv.ver = c.ver
	wv.running, wv.done, wv.fails = 0, 0, 0
	for _, k := range wv.byTask {
		wv.running += max(0, k.started-k.ok-k.failed-k.requeued)
		wv.done += k.ok
		wv.fails += k.failed
	}
	for _, s := range samples[:nSamples] {
		if int(s.task) < len(c.tasks) {
			c.tasks[s.task].hist.add(s.d)
			c.tasks[s.task].ver = c.ver
		}
	}
	c.stream(wv, running[:nRunning], running[nRunning:])
	return true
}

// stream updates the task stream with a worker's running calls and the
// calls it ended since the last collection, and packs them into lanes:
// first the lanes of calls that ended are freed, then new calls take, in
// the order they started, the lowest lane free since their start.
func (c *collector) stream(wv *workerView, running, ended []rec) {
	newCalls := c.newCall[:0]
	for _, r := range running {
		k := callKey{wv.id, r.call}
		if c.calls[k] != nil {
			continue
		}
		cv := &callView{key: k, task: r.task, start: r.start, items: r.items, lane: -1}
		c.calls[k] = cv
		newCalls = append(newCalls, cv)
	}
	for _, r := range ended {
		k := callKey{wv.id, r.call}
		cv := c.calls[k]
		switch {
		case cv == nil:
			cv = &callView{key: k, task: r.task, start: r.start, items: r.items, lane: -1}
			c.calls[k] = cv
			newCalls = append(newCalls, cv)
		case cv.ended && cv.lost && !r.isLost():
			// It ended on its lost worker after all: no longer drawn as lost.
			cv.end, cv.failed, cv.lost = r.end, r.failed, false
			c.mark(cv)
			continue
		case cv.ended:
			continue
		}
		c.endCall(wv, cv, r.end, r.failed, r.isLost())
	}
	// Calls that were running and are neither running nor among the ended
	// ones read: their end fell out of the worker's ring between two
	// collections. They ended by the time the worker was last heard.
	kept := wv.calls[:0]
	for _, cv := range wv.calls {
		if cv.ended {
			continue
		}
		if !slices.ContainsFunc(running, func(r rec) bool { return r.call == cv.key.call }) {
			c.endCall(wv, cv, max(wv.heard, cv.start), 0, false)
			continue
		}
		kept = append(kept, cv)
	}
	wv.calls = kept
	slices.SortFunc(newCalls, func(a, b *callView) int { return cmp.Compare(a.start, b.start) })
	for _, cv := range newCalls {
		cv.lane = wv.takeLane(cv.start, cv.end, cv.ended)
		if !cv.ended {
			wv.calls = append(wv.calls, cv)
		}
		c.mark(cv)
	}
	clear(newCalls)
	c.newCall = newCalls[:0]
}

func (r rec) isLost() bool { return r.flags&recLost != 0 }

// endCall records that cv ended at end; a lane it held is freed.
func (c *collector) endCall(wv *workerView, cv *callView, end int64, failed int32, lost bool) {
	cv.end, cv.failed, cv.lost, cv.ended = end, failed, lost, true
	if cv.lane >= 0 && int(cv.lane) < len(wv.lanes) {
		l := &wv.lanes[cv.lane]
		l.busy = false
		l.freeAt = max(l.freeAt, end)
	}
	slot := &c.ring[c.ringN%streamRing]
	if old := *slot; old != nil && c.calls[old.key] == old {
		// The oldest ended call leaves the stream; the page keeps its own.
		delete(c.calls, old.key)
	}
	*slot, c.ringN = cv, c.ringN+1
	c.mark(cv)
}

// mark queues cv for the next delta.
func (c *collector) mark(cv *callView) {
	if !cv.queued {
		cv.queued = true
		c.changed = append(c.changed, cv)
		if len(c.changed) > max(maxChanged, c.compactAt) {
			c.compactChanged()
		}
	}
}

// maxChanged bounds the calls queued for the next delta when collections
// come faster than deltas (API requests between two frames).
const maxChanged = 4 * streamRing

// compactChanged drops from the next delta the calls it would drop anyway:
// all but the maxNewEnded newest of those that started and ended unseen.
func (c *collector) compactChanged() {
	var fresh []*callView
	kept := c.changed[:0]
	for _, cv := range c.changed {
		if cv.ended && !cv.known {
			fresh = append(fresh, cv)
		} else {
			kept = append(kept, cv)
		}
	}
	if len(fresh) > maxNewEnded {
		slices.SortFunc(fresh, func(a, b *callView) int { return cmp.Compare(b.end, a.end) })
		for _, cv := range fresh[maxNewEnded:] {
			cv.queued = false
		}
		fresh = fresh[:maxNewEnded]
	}
	c.changed = append(kept, fresh...)
	clear(c.changed[len(c.changed):cap(c.changed)])
	// What is left is what a delta must carry (every running call, say):
	// compact again only once the list has doubled.
	c.compactAt = 2 * len(c.changed)
}

// forgetChanges drops what the next delta would carry: with no page open,
// the next page starts from the whole view anyway.
func (c *collector) forgetChanges() {
	for _, cv := range c.changed {
		cv.queued = false
	}
	clear(c.changed)
	c.changed = c.changed[:0]
	c.removed = c.removed[:0]
	c.compactAt = 0
}

// takeLane returns the lowest lane free since start and takes it until
// end (or, if the call is running, until it ends). Past maxLanes, calls
// share the last lane.
func (wv *workerView) takeLane(start, end int64, ended bool) int32 {
	i := slices.IndexFunc(wv.lanes, func(l lane) bool { return !l.busy && l.freeAt <= start })
	if i < 0 {
		if len(wv.lanes) >= maxLanes {
			return maxLanes - 1
		}
		wv.lanes = append(wv.lanes, lane{})
		i = len(wv.lanes) - 1
	}
	if ended {
		wv.lanes[i].freeAt = end
	} else {
		wv.lanes[i].busy = true
	}
	return int32(i)
}

// sumTasks sums the workers' counts per task.
func (c *collector) sumTasks() {
	sums := make([]taskCount, len(c.tasks))
	copy(sums, c.retired)
	for _, wv := range c.workers {
		for i, k := range wv.byTask {
			if i < len(sums) {
				s := &sums[i]
				s.started += k.started
				s.ok += k.ok
				s.failed += k.failed
				s.requeued += k.requeued
			}
		}
	}
	for i, t := range c.tasks {
		s := sums[i]
		if s.started != t.started || s.ok != t.ok || s.failed != t.failed || s.requeued != t.requeued {
			t.started, t.ok, t.failed, t.requeued = s.started, s.ok, s.failed, s.requeued
			t.ver = c.ver
		}
	}
}

// updateRates moves each task's rate towards the items it finished per
// second since the last update, an average over about rateTau.
func (c *collector) updateRates() {
	for _, t := range c.tasks {
		dt := c.now - t.rateAt
		if dt < 50e6 {
			continue
		}
		total := t.ok + t.failed
		inst := float64(total-t.rateTotal) / (float64(dt) / 1e9)
		alpha := 1 - math.Exp(-float64(dt)/rateTau)
		rate := t.rate + alpha*(inst-t.rate)
		if rate < 0.01 && total == t.rateTotal {
			rate = 0
		}
		if rate != t.rate {
			t.rate, t.ver = rate, c.ver
		}
		t.rateTotal, t.rateAt = total, c.now
	}
}

func (c *collector) collectFailures() {
	gs, ver := c.rec.fails.changed(c.failVer)
	c.failVer = ver
	for _, g := range gs {
		fv := c.fails[g.id]
		if fv == nil {
			fv = &failView{}
			c.fails[g.id] = fv
		}
		fv.group = g
		fv.version = c.ver
	}
}

// pruneAfter is how long a worker must have been gone, and silent, before
// its row may go.
const pruneAfter = int64(10e9)

// prune removes the rows of workers gone beyond keepGone, oldest first,
// once nothing of theirs can still end; their counts stay in the totals.
func (c *collector) prune(list []*workerRow) {
	var gone []*workerView
	for _, wv := range c.workers {
		if wv.state != stateJoined && c.now-max(wv.gone, wv.heard) > pruneAfter {
			gone = append(gone, wv)
		}
	}
	if len(gone) <= keepGone {
		return
	}
	slices.SortFunc(gone, func(a, b *workerView) int { return cmp.Compare(a.gone, b.gone) })
	pruned := false
	defer func() {
		if pruned {
			c.sumTasks()
		}
	}()
	byID := make(map[int32]*workerRow, len(list))
	for _, row := range list {
		byID[row.id] = row
	}
	for _, wv := range gone[:len(gone)-keepGone] {
		row := byID[wv.id]
		if row == nil {
			continue
		}
		row.mu.Lock()
		if len(row.running) > 0 || len(row.lost) > 0 || row.state == stateJoined {
			row.mu.Unlock() // it may still have calls end, or it came back
			continue
		}
		// An event that finds the row retired looks its name up again,
		// and gets a new row once remove has run.
		row.retired = true
		counts := append([]taskCount(nil), row.byTask...)
		row.mu.Unlock()
		c.rec.workers.remove(row)
		for len(c.retired) < len(counts) {
			c.retired = append(c.retired, taskCount{})
		}
		for i, k := range counts {
			r := &c.retired[i]
			r.started += k.started
			r.ok += k.ok
			r.failed += k.failed
			r.requeued += k.requeued
		}
		c.dropWorker(wv)
		pruned = true
	}
}

// dropWorker forgets a worker's view once its row is gone.
func (c *collector) dropWorker(wv *workerView) {
	delete(c.workers, wv.id)
	c.removed = append(c.removed, wv.id)
}
