package sqlite

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// call is the Call of a write by a through tool, plainly worded: these
// tests look at rows, not at their wording.
func call(a store.Actor, tool string) store.Call {
	return store.Call{Actor: a, Tool: tool, Describe: func(ch store.Change) string { return tool + " " + ch.BoardID }}
}

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

// wantCode fails unless err is a store error with code want.
func wantCode(t *testing.T, err error, want store.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one with code %q", want)
	}
	if got := store.ErrorCode(err); got != want {
		t.Fatalf("error %q has code %q, want %q", err, got, want)
	}
}

// wantInfraError fails unless err is an infrastructure error, that is, not
// nil and not a store error.
func wantInfraError(t *testing.T, err error) {
	t.Helper()
	var se *store.Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("got error %v, want an infrastructure error", err)
	}
}

// mustBoard creates a board or fails the test.
func (e *env) mustBoard(t *testing.T, owner store.Actor, title string, columns ...string) *store.Board {
	t.Helper()
	b, err := e.s.CreateBoard(t.Context(), call(owner, "create_board"), title, columns)
	if err != nil {
		t.Fatalf("CreateBoard(%q): %v", title, err)
	}
	return b
}

// mustCard adds a card or fails the test.
func (e *env) mustCard(t *testing.T, owner store.Actor, in store.NewCard) *store.Card {
	t.Helper()
	c, err := e.s.AddCard(t.Context(), call(owner, "add_card"), in)
	if err != nil {
		t.Fatalf("AddCard(%q): %v", in.Title, err)
	}
	return c
}

// mustGet reads a board or fails the test.
func (e *env) mustGet(t *testing.T, viewer store.Actor, id string) *store.Board {
	t.Helper()
	b, err := e.s.GetBoard(t.Context(), viewer, id)
	if err != nil {
		t.Fatalf("GetBoard(%s): %v", id, err)
	}
	return b
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

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// diff reports a cmp.Diff as (-want +got).
func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
