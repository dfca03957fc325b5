package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// TestContract runs the contract suite that every backend passes on SQLite,
// each test on a new database file.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts storetest.Options) store.Store {
		s, _ := openStore(t, filepath.Join(t.TempDir(), "kanban.db"), Options{Quotas: opts.Quotas, Now: opts.Now})
		return s
	})
}
