package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// The people in the tests of what only SQLite shows; the contract suite
// (store/storetest) has its own, and checks the wording of activity rows.
var (
	alice = store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "chatgpt"}
	bob   = store.Actor{Issuer: "https://id.example", Subject: "bob", ClientID: "claude"}
	anon  = store.Actor{}
)

// env is a Store on a fresh database file, with the raw database for
// looking behind the Store's back.
type env struct {
	s    *Store
	db   *sqlitedb.DB
	path string
}

// newEnv opens a Store on a new file in t.TempDir().
func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kanban.db")
	s, db := openStore(t, path, opts)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{s: s, db: db, path: path}
}

// openStore opens path and a Store on it; the caller closes it.
func openStore(t testing.TB, path string, opts Options) (*Store, *sqlitedb.DB) {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), path, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatalf("sqlitedb.Open: %v", err)
	}
	s, err := New(t.Context(), db, opts)
	if err != nil {
		db.Close()
		t.Fatalf("New: %v", err)
	}
	return s, db
}

// count runs a count query on the raw database.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Reader.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
