package authserver

import (
	"context"
	"log/slog"
	"time"
)

// Housekeep prunes expired codes, refresh tokens and sign-in sessions
// and removes registered clients that were never used, hourly until ctx
// ends. Run it in its own goroutine.
func Housekeep(ctx context.Context, st *Store, grants *Grants, unusedClient time.Duration, log *slog.Logger) {
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	for {
		if _, err := grants.PruneExpired(ctx); err != nil && ctx.Err() == nil {
			log.Error("pruning expired authorization codes and refresh tokens failed", "err", err)
		}
		if _, err := st.ExpireUnusedClients(ctx, unusedClient); err != nil && ctx.Err() == nil {
			log.Error("expiring unused clients failed", "err", err)
		}
		if _, err := st.PruneSessions(ctx); err != nil && ctx.Err() == nil {
			log.Error("pruning expired sign-in sessions failed", "err", err)
		}
		if _, err := st.PruneUpstreamLogins(ctx); err != nil && ctx.Err() == nil {
			log.Error("pruning abandoned upstream sign-ins failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
