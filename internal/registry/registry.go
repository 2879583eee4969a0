// Package registry holds what a process registered for its workers: every
// task of the generated dispatch tables, type-erased, and the errors that
// keep their identity across a process boundary. Package runtime/futuresimpl fills
// it (its RegisterTask builds the typed closures); the worker loop and the
// cluster read it.
package registry

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// Entry is a registered task as a worker runs it, whatever its types.
type Entry struct {
	Name      string
	Signature string // "func(A) R" with full import paths, to compare tables
	Site      string // file:line of the registration
	Local     bool   // runs only in the process that submits it
	Args      reflect.Type
	Result    reflect.Type
	Labels    context.Context // the pprof labels the task runs under

	// NewCall decodes the payload of a Call or Batch message m into a
	// call to run. It runs in the goroutine reading the connection, in
	// the order of the messages, because payload streams must be decoded
	// in order even when a call is later dropped.
	NewCall func(s *wire.Streams, m *wire.Msg) (Call, error)
}

// Call is a received call (or batch) of a task, ready to run.
type Call interface {
	// Run runs the task (every item of a batch, one after another),
	// recovering panics. If the task calls runtime.Goexit, Run records
	// that and the goroutine then ends, as Goexit demands: the caller
	// must still answer for the call.
	Run(ctx context.Context)
	// Ran reports whether Run began running the task.
	Ran() bool
	// Answer fills m (kind, payload, failures) with the outcome, encoding
	// results on s with payloads of at most max bytes. A result that
	// cannot be encoded fails its call (or item) with an error naming
	// the task and the type; the stream stays usable.
	Answer(s *wire.Streams, max int, m *wire.Msg)
}

var tasks = struct {
	sync.Mutex
	byName map[string]*Entry
}{byName: map[string]*Entry{}}

// Add registers e. It panics if the name is taken, naming both
// registrations: two tasks would answer to one name in a worker.
func Add(e *Entry) {
	tasks.Lock()
	defer tasks.Unlock()
	if old, dup := tasks.byName[e.Name]; dup {
		panic(fmt.Sprintf("futuresgen: task name %q registered twice: at %s and at %s; give one a different name= in its //futures:task directive", e.Name, old.Site, e.Site))
	}
	tasks.byName[e.Name] = e
}

// Lookup returns the task registered as name, or nil.
func Lookup(name string) *Entry {
	tasks.Lock()
	defer tasks.Unlock()
	return tasks.byName[name]
}

// All returns every registered task, sorted by name.
func All() []*Entry {
	tasks.Lock()
	defer tasks.Unlock()
	out := make([]*Entry, 0, len(tasks.byName))
	for _, e := range tasks.byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Table returns this process's dispatch table, as a worker's hello
// carries it.
func Table() []wire.TaskSig {
	all := All()
	sigs := make([]wire.TaskSig, len(all))
	for i, e := range all {
		sigs[i] = wire.TaskSig{Name: e.Name, Signature: e.Signature}
	}
	return sigs
}

// CompareTables names the first task whose registration differs between
// this process (mine) and a worker (theirs), or returns nil.
func CompareTables(mine, theirs []wire.TaskSig) error {
	i, j := 0, 0
	for i < len(mine) || j < len(theirs) {
		switch {
		case j == len(theirs) || i < len(mine) && mine[i].Name < theirs[j].Name:
			return fmt.Errorf("the worker's dispatch table differs from this process's: the worker has no task %q (%s); rebuild the worker binary", mine[i].Name, mine[i].Signature)
		case i == len(mine) || mine[i].Name > theirs[j].Name:
			return fmt.Errorf("the worker's dispatch table differs from this process's: this process has no task %q (%s); rebuild the worker binary", theirs[j].Name, theirs[j].Signature)
		case mine[i].Signature != theirs[j].Signature:
			return fmt.Errorf("the worker's dispatch table differs from this process's: task %q is %s here and %s in the worker; rebuild the worker binary", mine[i].Name, mine[i].Signature, theirs[j].Signature)
		}
		i++
		j++
	}
	return nil
}

// TypeName writes t with full import paths, so that two tables compare
// equal only when their types are the same.
func TypeName(t reflect.Type) string {
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + TypeName(t.Elem())
	case reflect.Slice:
		return "[]" + TypeName(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), TypeName(t.Elem()))
	case reflect.Map:
		return "map[" + TypeName(t.Key()) + "]" + TypeName(t.Elem())
	}
	return t.String()
}
