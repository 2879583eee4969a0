package futuresimpl_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/futuresgen/futuresgen/runtime/futuresimpl"
)

// test.dup is registered at init, as generated code registers its tasks.
var _ = futuresimpl.RegisterTask("test.dup", func(_ context.Context, x int) (int, error) { return x, nil })

func TestRegisterTaskRefusesDuplicates(t *testing.T) {
	t.Parallel()
	fn := func(_ context.Context, x int) (int, error) { return x, nil }
	defer func() {
		r := fmt.Sprint(recover())
		if !strings.Contains(r, `task name "test.dup" registered twice`) || strings.Count(r, "task_test.go:") != 2 {
			t.Errorf("panic %q; want one naming both registrations", r)
		}
	}()
	futuresimpl.RegisterTask("test.dup", fn)
}
