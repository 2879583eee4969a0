package runtime

import (
	"reflect"

	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// RemoteError is the error of a task that failed in a worker (a process
// of a ProcessPool, or a cluster worker), when that error is not itself a
// registered sentinel or a value of a registered error type. Error returns
// the task's message unchanged, and errors.Is and errors.As see what it
// wrapped as they would in-process: sentinels (the task package's
// exported ones, the standard library's common ones, and those given to
// RegisterError) are the same variables here, values of registered error
// types (the task package's exported ones, *fs.PathError and the like)
// are the same values, and anything else is an error with the text it had.
// RemoteError wraps through Unwrap() []error, as errors.Join does, so
// errors.Unwrap of it is nil: use errors.Is and errors.As, which see
// through it.
type RemoteError struct {
	// Task is the stable name of the task that failed.
	Task string
	// Message is the task's error message.
	Message string

	wrapped []error
}

// Error returns the task's error message, intact.
func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns what the task's error wrapped, rebuilt on this side.
func (e *RemoteError) Unwrap() []error { return e.wrapped }

// remoteNode is an error of a remote error tree whose type did not cross:
// its text, and what it wrapped, through Unwrap() error as the original
// did (so errors.Unwrap sees through it) or through Unwrap() []error
// (remoteJoin).
type remoteNode struct {
	text    string
	wrapped error
}

func (e *remoteNode) Error() string { return e.text }

func (e *remoteNode) Unwrap() error { return e.wrapped }

// remoteJoin is a remoteNode that wrapped several errors (errors.Join,
// fmt.Errorf with several %w).
type remoteJoin struct {
	text    string
	wrapped []error
}

func (e *remoteJoin) Error() string { return e.text }

func (e *remoteJoin) Unwrap() []error { return e.wrapped }

// decodeError rebuilds a task's error from its wire form. A registered
// sentinel at the top is returned as itself, and a value of a registered
// error type as that value, so that err == io.EOF and type assertions
// hold as they do in-process; anything else is a *RemoteError. The nodes
// are rebuilt from the last to the first, without recursion: a node's
// children come after it (wire.Error.Check).
func decodeError(task string, e *wire.Error) error {
	if e == nil || len(e.Nodes) == 0 {
		return &RemoteError{Task: task, Message: "futuresgen: a worker reported an error without a message"}
	}
	children := make([][]int, len(e.Nodes))
	for i := 1; i < len(e.Nodes); i++ {
		p := e.Nodes[i].Parent
		children[p] = append(children[p], i)
	}
	built := make([]error, len(e.Nodes))
	wrapped := func(i int) []error {
		var out []error
		for _, k := range children[i] {
			out = append(out, built[k])
		}
		return out
	}
	// whole rebuilds node i as a sentinel or a typed value, or returns
	// nil if it is neither here. A value whose message is not the one
	// that crossed (its type's Error reads what did not travel) is kept
	// under the message that did.
	whole := func(i int) error {
		n := e.Nodes[i]
		if n.Sentinel != "" {
			if s := registry.Sentinel(n.Sentinel); s != nil {
				return s
			}
		}
		if n.Type != "" {
			var cause error
			if k := children[i]; len(k) == 1 {
				cause = built[k[0]]
			}
			if v, ok := registry.DecodeErrorValue(n.Type, n.Value, cause); ok {
				if registry.ErrorText(v) != n.Text {
					return &remoteNode{text: n.Text, wrapped: v}
				}
				return v
			}
		}
		return nil
	}
	for i := len(e.Nodes) - 1; i > 0; i-- {
		if built[i] = whole(i); built[i] != nil {
			continue
		}
		n := e.Nodes[i]
		switch w := wrapped(i); {
		case n.Joined || len(w) > 1:
			built[i] = &remoteJoin{text: n.Text, wrapped: w}
		case len(w) == 1:
			built[i] = &remoteNode{text: n.Text, wrapped: w[0]}
		default:
			built[i] = &remoteNode{text: n.Text}
		}
	}
	if err := whole(0); err != nil {
		if n, ok := err.(*remoteNode); ok {
			return &RemoteError{Task: task, Message: n.text, wrapped: []error{n.wrapped}}
		}
		return err
	}
	return &RemoteError{Task: task, Message: e.Nodes[0].Text, wrapped: wrapped(0)}
}

// RegisterError registers err, a sentinel of another package (say
// sql.ErrNoRows), so that errors.Is finds it in a task's error that
// crossed from a worker. Call it at init, in every binary that runs the
// task (a worker is the same binary, so one init does). The sentinels of
// a task's own package, and the standard library's common ones, need no
// registration. RegisterError panics if err is nil or not comparable.
func RegisterError(err error) {
	if err == nil {
		panic("futuresgen: RegisterError(nil)")
	}
	registry.RegisterSentinel(registry.SentinelKey(err), err)
}

// RegisterSentinel registers err under name, the "<import path>.<Var>" of
// an exported error variable: a sentinel of a task's package, or of
// another package that its code names. It is for generated code, which
// calls it at init for every such variable. A variable that holds nil or
// an error that is not comparable (which errors.Is could not find by
// identity anyway) is left out.
func RegisterSentinel(name string, err error) {
	if err == nil || !reflect.TypeOf(err).Comparable() {
		return
	}
	registry.RegisterSentinel(name, err)
}

// RegisterErrorType registers E, an exported error type of a task's
// package (T or *T), under name, so that its values cross a process
// boundary as values and errors.As finds them. A struct's one exported
// field of type error, its wrapped cause, crosses with it. It is for
// generated code, which calls it at init.
func RegisterErrorType[E error](name string) {
	registry.RegisterErrorType(name, reflect.TypeFor[E]())
}

// SupportPackageIsVersion2 is referenced by generated code that registers
// errors (RegisterSentinel, RegisterErrorType), as SupportPackageIsVersion1
// is by the rest: a generated file that fails to compile because it is
// undefined was written for a newer runtime than the one in go.mod.
const SupportPackageIsVersion2 = true
