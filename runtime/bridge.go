package runtime

import (
	"context"

	"github.com/futuresgen/futuresgen/internal/bridge"
)

// bridged is an executor built by another package of this module (the
// cluster) on the shared scheduler: see internal/bridge.
type bridged struct {
	eng      engine
	shutdown func(ctx context.Context, cancelPending bool) error
}

func (b *bridged) engine() *engine { return &b.eng }

// Shutdown reads opts and hands over to the executor's own shutdown.
func (b *bridged) Shutdown(ctx context.Context, opts ...ShutdownOption) error {
	var sc shutdownConfig
	for _, o := range opts {
		o(&sc)
	}
	return b.shutdown(ctx, sc.cancelPending)
}

// Close is Shutdown(context.Background()).
func (b *bridged) Close() error { return b.Shutdown(context.Background()) }

func init() {
	bridge.NewExecutor = func(cfg bridge.ExecutorConfig) any {
		return &bridged{
			eng: engine{remote: &remote{
				s:          cfg.Scheduler,
				buffer:     cfg.Buffer,
				refuse:     ErrShutdown,
				maxPayload: cfg.MaxPayload,
				where:      cfg.Where,
			}},
			shutdown: cfg.Shutdown,
		}
	}
	bridge.ReadOptions = func(opts any) bridge.Options {
		cfg := newConfig(opts.([]Option))
		return bridge.Options{MaxWorkers: cfg.maxWorkers, QueueLimit: cfg.queueLimit}
	}
}
