package runtime_test

import (
	"testing"

	"github.com/futuresgen/futuresgen/runtime"
)

func TestTasksDescribesTheDispatchTable(t *testing.T) {
	t.Parallel()
	var found bool
	for _, ti := range runtime.Tasks() {
		if ti.Name == "test.page" {
			found = true
			if want := "func(*github.com/futuresgen/futuresgen/runtime_test.page) *github.com/futuresgen/futuresgen/runtime_test.page"; ti.Signature != want {
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
