package board

import (
	"sync"
	"sync/atomic"
)

// Caps on what the board keeps, whatever the number of calls. Beyond
// maxTasks task names, calls count under otherTask; beyond maxWorkers
// workers at once, under otherWorker.
const (
	maxTasks    = 256
	maxWorkers  = 4096
	keepGone    = 256 // workers lost, refused or left that stay listed
	otherTask   = "(other tasks)"
	otherWorker = "(other workers)"
	cacheSize   = 64 // direct-mapped name caches; a power of two
)

// cacheSlot maps a name to a cache slot cheaply: the length and three of
// its bytes, mixed. Worker and task names differ in their last bytes
// ("thread 3", "pid 1234", "example.com/shop.Fetch"); a collision costs a
// map lookup, never a wrong answer.
func cacheSlot(s string) uint32 {
	n := len(s)
	if n == 0 {
		return 0
	}
	h := uint32(n) ^ uint32(s[n-1])<<8 ^ uint32(s[n/2])<<16 ^ uint32(s[0])<<24
	if n > 1 {
		h ^= uint32(s[n-2]) << 4
	}
	return (h * 0x9E3779B1) >> (32 - 6)
}

// padded keeps a counter on a cache line of its own, so that two cores
// adding to neighbouring counters do not fight over one line.
type padded struct {
	n atomic.Int64
	_ [56]byte
}

const submitShards = 4

// taskRow is one task name. Its counters are the ones kept per call
// submitted or cancelled, which happen where the caller is; what happens
// on workers is counted per worker (workerRow.byTask).
type taskRow struct {
	name      string
	idx       int32
	_         [44]byte             // name and idx, read by every event, on a line of their own (384 bytes in all: a size class of 64-byte multiples)
	submitted [submitShards]padded // items, sharded by call number
	cancelled padded               // items
}

// taskTable maps task names to rows. Rows are never removed: a program has
// as many task names as it has tasks and closures, and maxTasks bounds
// them anyway.
type taskTable struct {
	cache  [cacheSize]atomic.Pointer[taskRow]
	byName atomic.Pointer[map[string]*taskRow] // copied on write

	mu   sync.Mutex
	rows atomic.Pointer[[]*taskRow] // by idx; copied on write
}

func (t *taskTable) init() {
	m := map[string]*taskRow{}
	t.byName.Store(&m)
	rows := []*taskRow{}
	t.rows.Store(&rows)
}

// lookup returns the row of name, adding it if it is new. On a hit it
// costs an atomic load and a string comparison (the executor passes the
// same string each time, so the comparison is a pointer one).
func (t *taskTable) lookup(name string) *taskRow {
	slot := cacheSlot(name)
	if r := t.cache[slot].Load(); r != nil && r.name == name {
		return r
	}
	r := (*t.byName.Load())[name]
	if r == nil {
		r = t.add(name)
	}
	t.cache[slot].Store(r)
	return r
}

func (t *taskTable) add(name string) *taskRow {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.byName.Load()
	if r := old[name]; r != nil {
		return r
	}
	rows := *t.rows.Load()
	if len(rows) >= maxTasks {
		if r := old[otherTask]; r != nil {
			return r
		}
		name = otherTask
	}
	r := &taskRow{name: name, idx: int32(len(rows))}
	m := make(map[string]*taskRow, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = r
	t.byName.Store(&m)
	rows = append(rows[:len(rows):len(rows)], r)
	t.rows.Store(&rows)
	return r
}

// all returns the rows, by idx.
func (t *taskTable) all() []*taskRow { return *t.rows.Load() }

// workerTable maps worker names to rows. Rows of workers gone (lost,
// refused, left) are removed beyond keepGone, their counts folded into the
// board's totals.
type workerTable struct {
	cache  [cacheSize]atomic.Pointer[workerRow]
	byName atomic.Pointer[map[string]*workerRow] // copied on write

	mu     sync.Mutex
	rows   []*workerRow // in the order they joined; under mu
	nextID int32
	other  *workerRow
}

func (t *workerTable) init() {
	m := map[string]*workerRow{}
	t.byName.Store(&m)
}

// lookup returns the row of name, adding it, as a worker that joined
// without saying so, if it is new. Beyond maxWorkers+keepGone rows, a new
// name gets the shared otherWorker row (through the slow path each time).
func (t *workerTable) lookup(name string, now int64) *workerRow {
	slot := cacheSlot(name)
	if r := t.cache[slot].Load(); r != nil && r.name == name {
		return r
	}
	r := (*t.byName.Load())[name]
	if r == nil {
		r = t.add(name, now)
	}
	t.cache[slot].Store(r)
	return r
}

func (t *workerTable) add(name string, now int64) *workerRow {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.byName.Load()
	if r := old[name]; r != nil {
		return r
	}
	if len(t.rows) >= maxWorkers+keepGone {
		if t.other == nil {
			t.other = t.newRow(otherWorker, now)
		}
		return t.other
	}
	r := t.newRow(name, now)
	m := make(map[string]*workerRow, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = r
	t.byName.Store(&m)
	return r
}

// newRow makes and lists a row; t.mu is held.
func (t *workerTable) newRow(name string, now int64) *workerRow {
	t.nextID++
	r := &workerRow{name: name, id: t.nextID, joined: now, heard: now, version: 1, sampledAt: -1}
	t.rows = append(t.rows, r)
	return r
}

// list returns the rows, in the order they joined.
func (t *workerTable) list() []*workerRow {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*workerRow(nil), t.rows...)
}

// remove takes r out of the table; the caller then retires it under r.mu,
// so that an event that found r before it went looks it up again.
func (t *workerTable) remove(r *workerRow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.rows {
		if x == r {
			t.rows = append(t.rows[:i], t.rows[i+1:]...)
			break
		}
	}
	if r == t.other {
		t.other = nil
	}
	old := *t.byName.Load()
	if old[r.name] == r {
		m := make(map[string]*workerRow, len(old))
		for k, v := range old {
			if v != r {
				m[k] = v
			}
		}
		t.byName.Store(&m)
	}
	for i := range t.cache {
		t.cache[i].CompareAndSwap(r, nil)
	}
}
