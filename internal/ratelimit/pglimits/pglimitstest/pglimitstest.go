// Package pglimitstest opens pglimits backends for the tests of packages
// whose limits replicas share: each as a replica of the server would have
// it, on a pool of its own.
package pglimitstest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits"
)

// Replica opens a pool of its own on the database url and a Backend on
// it with options o; the pool, returned for looking behind the Backend's
// back, is closed when t ends.
func Replica(t testing.TB, url string, o pglimits.Options) (*pglimits.Backend, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgdb.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("pgdb.Open: %v", err)
	}
	t.Cleanup(pool.Close)
	b, err := pglimits.New(t.Context(), pool, o)
	if err != nil {
		t.Fatalf("pglimits.New: %v", err)
	}
	return b, pool
}
