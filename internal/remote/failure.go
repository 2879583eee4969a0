package remote

import (
	"context"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// failureErr turns a failure a worker reported into the error a future
// carries: an *errs.Panic for a panic, and otherwise the task's error,
// rebuilt (see DecodeError).
func failureErr(ctx context.Context, task string, f wire.Failure) error {
	if f.Panic {
		pe := &errs.Panic{Value: f.Text, Stack: f.Stack}
		if f.Err != nil {
			pe.Cause = DecodeError(task, f.Err)
		}
		return pe
	}
	if f.Err == nil {
		return &errs.Remote{Task: task, Message: f.Text}
	}
	err := DecodeError(task, f.Err)
	// A task that returned its context's bare error because the submit
	// context ended returns the submit context's own error, as in-process.
	if cerr := ctx.Err(); cerr != nil && (err == context.Canceled || err == context.DeadlineExceeded) {
		return cerr
	}
	return err
}

// node is an error of a remote error tree whose type did not cross: its
// text, and what it wrapped, through Unwrap() error as the original did
// (so errors.Unwrap sees through it) or through Unwrap() []error (join).
type node struct {
	text    string
	wrapped error
}

func (e *node) Error() string { return e.text }

func (e *node) Unwrap() error { return e.wrapped }

// join is a node that wrapped several errors (errors.Join, fmt.Errorf
// with several %w).
type join struct {
	text    string
	wrapped []error
}

func (e *join) Error() string { return e.text }

func (e *join) Unwrap() []error { return e.wrapped }

// DecodeError rebuilds a task's error from its wire form. A registered
// sentinel at the top is returned as itself, and a value of a registered
// error type as that value, so that err == io.EOF and type assertions
// hold as they do in-process; anything else is an *errs.Remote (a
// *runtime.RemoteError to users). The nodes are rebuilt from the last to
// the first, without recursion: a node's children come after it
// (wire.Error.Check).
func DecodeError(task string, e *wire.Error) error {
	if e == nil || len(e.Nodes) == 0 {
		return &errs.Remote{Task: task, Message: "futuresgen: a worker reported an error without a message"}
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
					return &node{text: n.Text, wrapped: v}
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
			built[i] = &join{text: n.Text, wrapped: w}
		case len(w) == 1:
			built[i] = &node{text: n.Text, wrapped: w[0]}
		default:
			built[i] = &node{text: n.Text}
		}
	}
	if err := whole(0); err != nil {
		if n, ok := err.(*node); ok {
			return &errs.Remote{Task: task, Message: n.text, Wrapped: []error{n.wrapped}}
		}
		return err
	}
	return &errs.Remote{Task: task, Message: e.Nodes[0].Text, Wrapped: wrapped(0)}
}
