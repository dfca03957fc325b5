package postgres

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// TestContract runs the contract suite that every backend passes on
// PostgreSQL, each test on a new database of the shared cluster.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts storetest.Options) store.Store {
		url := pgtest.Shared(t).NewDatabase(t)
		s, err := Open(t.Context(), url, Options{Quotas: opts.Quotas, Now: opts.Now})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
