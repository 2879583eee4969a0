package runtime

import (
	"reflect"

	"github.com/futuresgen/futuresgen/internal/registry"
)

// TaskInfo describes a registered task.
type TaskInfo struct {
	Name      string       // the stable name
	Args      reflect.Type // the argument value's type
	Result    reflect.Type // the result value's type
	Local     bool         // runs only in this process
	Signature string       // the types, as "func(A) R", for comparing registries
	Site      string       // file:line of the registration
}

// Tasks returns every task registered in this program, sorted by name:
// what its worker processes answer to, as a cluster driver compares it
// with a worker's when it refuses one for a different dispatch table.
func Tasks() []TaskInfo {
	all := registry.All()
	out := make([]TaskInfo, len(all))
	for i, e := range all {
		out[i] = TaskInfo{Name: e.Name, Args: e.Args, Result: e.Result, Local: e.Local, Signature: e.Signature, Site: e.Site}
	}
	return out
}
