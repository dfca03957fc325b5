package httpapi_test

import (
	"path/filepath"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
)

// discard drops activity rows; these tests are not about the audit.
type discard struct{}

func (discard) Record(store.Activity)                  {}
func (discard) RecordAnonymous(string, store.Activity) {}

// openStore opens a store on a fresh database file.
func openStore(t testing.TB) store.Store {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
