package remote

import (
	"errors"
	"fmt"
	"testing"

	"github.com/futuresgen/futuresgen/internal/errs"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

var errNotFound = errors.New("not found")

func init() {
	registry.RegisterSentinel("github.com/futuresgen/futuresgen/internal/remote.errNotFound", errNotFound)
}

// TestDecodeDeepError rebuilds an error tree deeper than any a worker
// sends (EncodeError cuts at 64 errors), as a worker of another build
// might: every error in it is found, and rebuilding does not recurse.
func TestDecodeDeepError(t *testing.T) {
	const depth = 10000
	w := &wire.Error{Nodes: []wire.ErrNode{{Text: "top"}}}
	for i := 1; i < depth; i++ {
		w.Nodes = append(w.Nodes, wire.ErrNode{Text: fmt.Sprint("wrap ", i), Parent: i - 1})
	}
	w.Nodes = append(w.Nodes, wire.ErrNode{Text: "not found", Parent: depth - 1, Sentinel: "github.com/futuresgen/futuresgen/internal/remote.errNotFound"})
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	err := DecodeError("t", w)
	if err.Error() != "top" || !errors.Is(err, errNotFound) {
		t.Errorf("decoded %q, errors.Is(errNotFound) %v; want \"top\" and true", err, errors.Is(err, errNotFound))
	}
	n := 0
	for e := errors.Unwrap(errors.Unwrap(err.(*errs.Remote).Unwrap()[0])); e != nil; e = errors.Unwrap(e) {
		n++
	}
	if n != depth-2 {
		t.Errorf("unwrapped %d errors below the second; want %d", n, depth-2)
	}
}
