package audit

import (
	"context"
	"log/slog"
	"time"
)

// Pruner deletes activity rows older than a cutoff (store.Store satisfies
// it).
type Pruner interface {
	PruneActivity(ctx context.Context, cutoff time.Time) (int64, error)
}

// EnforceRetention deletes activity older than retention now and then
// every hour, until ctx ends. Run it in its own goroutine.
func EnforceRetention(ctx context.Context, p Pruner, retention time.Duration, log *slog.Logger) {
	prune := func() {
		n, err := p.PruneActivity(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("pruning old activity failed", "err", err)
		case n > 0:
			log.Info("pruned old activity", "rows", n, "retention", retention.String())
		}
	}
	prune()
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			prune()
		}
	}
}
