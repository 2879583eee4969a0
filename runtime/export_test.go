package runtime

// What the external tests (package runtime_test) look at inside.

// ShutdownBegun returns a channel closed once p's Shutdown has begun.
func ShutdownBegun(p *ThreadPool) <-chan struct{} { return p.p.Closing() }

// MaxWorkersOf returns how many workers p runs at most.
func MaxWorkersOf(p *ThreadPool) int { return p.p.MaxWorkers() }
