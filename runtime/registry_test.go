package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// taskDup is registered at init, in the parent and in the workers alike:
// registering a task after init would make the parent's dispatch table
// differ from its workers' (and the handshake would refuse them).
var taskDup = RegisterTask("test.dup", func(_ context.Context, x int) (int, error) { return x, nil })

func TestRegisterTaskRefusesDuplicates(t *testing.T) {
	t.Parallel()
	fn := func(_ context.Context, x int) (int, error) { return x, nil }
	defer func() {
		r := fmt.Sprint(recover())
		if !strings.Contains(r, `task name "test.dup" registered twice`) || strings.Count(r, "registry_test.go:") != 2 {
			t.Errorf("panic %q; want one naming both registrations", r)
		}
	}()
	RegisterTask("test.dup", fn)
}

func TestTasksDescribesTheDispatchTable(t *testing.T) {
	t.Parallel()
	var found bool
	for _, ti := range Tasks() {
		if ti.Name == "test.page" {
			found = true
			if want := "func(*github.com/futuresgen/futuresgen/runtime.page) *github.com/futuresgen/futuresgen/runtime.page"; ti.Signature != want {
				t.Errorf("Signature = %q; want %q", ti.Signature, want)
			}
		}
		if ti.Name == "test.local" && !ti.Local {
			t.Error("test.local is not marked local")
		}
	}
	if !found {
		t.Error("test.page is not registered")
	}
}
