package runtime_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/runtime"
)

// TestMain serves as a ProcessPool worker when the test binary is started
// as one (except when TestProcessPoolBrokenStart starts it as a worker
// that forgets to), and otherwise fails the package's tests if any goroutine
// outlives them: every pool a test starts must be shut down, and no wait
// may leave a goroutine behind.
func TestMain(m *testing.M) {
	// A data race in a worker process must fail the test, not scroll by
	// on its standard error: under -race, workers (this binary) stop at
	// the first race, and the pool reports the death.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "halt_on_error=1")
	}
	switch {
	case strings.Contains(strings.Join(os.Args, " "), "TestProcessPoolForkBombGuard"):
		// A worker that forgets to call ServeWorker.
	case os.Getenv("FUTURESGEN_TEST_SETUP") != "":
		runtime.ServeWorker(runtime.WorkerSetup(func(context.Context) error {
			return errors.New("setup: " + os.Getenv("FUTURESGEN_TEST_SETUP"))
		}))
	default:
		runtime.ServeWorker()
	}
	if runHelperProgram() {
		return
	}
	goleak.VerifyTestMain(m)
}
