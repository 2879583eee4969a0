package board

import (
	"errors"
	"sync"

	"github.com/futuresgen/futuresgen/runtime"
)

// Caps on failure groups: a run with a million distinct messages keeps
// maxGroups groups and counts the rest per task under otherMessages.
const (
	maxGroups     = 256
	maxMessage    = 1024
	maxStack      = 16 << 10
	otherMessages = "(other messages)"
)

// failKey groups failures by task and message, so that a million items
// failing alike make one group (Dask's maintainers warned of exactly that
// when its exceptions page was added).
type failKey struct {
	task int32
	msg  string
}

// group is a failure group: how many items failed with one message.
type group struct {
	id      int32 // numbers groups from 1
	task    int32
	msg     string
	stack   string // of one of them, if one panicked
	count   int64
	first   int64
	last    int64
	version uint64
}

// failureTable holds the groups, under one mutex: failures take the slow
// path (their error's text must be read anyway).
type failureTable struct {
	mu      sync.Mutex
	groups  map[failKey]*group
	list    []*group
	version uint64
}

func (f *failureTable) init() { f.groups = map[failKey]*group{} }

// add counts n failed items of task t with err, at now.
func (f *failureTable) add(t *taskRow, err error, n int64, now int64) {
	msg := truncate(err.Error(), maxMessage)
	var stack string
	var pe *runtime.PanicError
	if errors.As(err, &pe) {
		stack = pe.Stack
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := failKey{t.idx, msg}
	g := f.groups[k]
	if g == nil && len(f.list) >= maxGroups {
		k.msg = otherMessages
		g = f.groups[k]
	}
	if g == nil {
		g = &group{id: int32(len(f.list) + 1), task: t.idx, msg: k.msg, first: now}
		f.groups[k] = g
		f.list = append(f.list, g)
	}
	if g.stack == "" && stack != "" {
		g.stack = truncate(stack, maxStack)
	}
	g.count += n
	g.last = now
	f.version++
	g.version = f.version
}

// changed returns copies of the groups changed after version since, and
// the table's version.
func (f *failureTable) changed(since uint64) ([]group, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []group
	if f.version == since {
		return nil, since
	}
	for _, g := range f.list {
		if g.version > since {
			out = append(out, *g)
		}
	}
	return out, f.version
}
