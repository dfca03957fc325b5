package sqlite

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// The people in the tests. Alice and Bob share an issuer; "mallory" has
// Alice's subject at another issuer, so she must not see Alice's boards.
var (
	alice   = store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "chatgpt"}
	bob     = store.Actor{Issuer: "https://id.example", Subject: "bob", ClientID: "claude"}
	mallory = store.Actor{Issuer: "https://evil.example", Subject: "alice", ClientID: "cli"}
	anon    = store.Actor{}
)

// call is the Call of a write by a through tool, worded as that tool's
// declaration words its activity rows (a tool name no declaration has
// gets a plain wording, for the store's own tests).
func call(a store.Actor, tool string) store.Call {
	describe := func(ch store.Change) string { return tool + " " + ch.BoardID }
	for _, d := range tools.All() {
		if d.Name == tool && d.Describe != nil {
			describe = d.Describe
		}
	}
	return store.Call{Actor: a, Tool: tool, Describe: describe}
}

// testClock is a fake clock that moves by step on every reading; step 0
// gives every write the same timestamp, which exercises ID tie-breaking.
type testClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC), step: step}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// env is a Store on a fresh database file, with the raw database for
// looking behind the Store's back.
type env struct {
	s    *Store
	db   *sqlitedb.DB
	path string
}

// newEnv opens a Store on a new file in t.TempDir(). A nil Now gets a
// testClock stepping one millisecond.
func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = newClock(time.Millisecond).Now
	}
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

// mustShare changes a board's visibility or fails the test.
func (e *env) mustShare(t *testing.T, owner store.Actor, id string, v store.Visibility) {
	t.Helper()
	if _, err := e.s.ShareBoard(t.Context(), call(owner, "share_board"), id, v); err != nil {
		t.Fatalf("ShareBoard(%s, %s): %v", id, v, err)
	}
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

// allActivity returns every activity row, oldest first, whoever may see it.
func (e *env) allActivity(t *testing.T) []store.Activity {
	t.Helper()
	rows, err := e.db.Reader.QueryContext(t.Context(), `SELECT id, at, tool, outcome, actor_iss, actor_sub, client_id,
		board_id, ids, summary, owner_iss, owner_sub FROM activity ORDER BY id`)
	if err != nil {
		t.Fatalf("read activity: %v", err)
	}
	defer rows.Close()
	var all []store.Activity
	for rows.Next() {
		var (
			a            store.Activity
			at           int64
			outcome, ids string
		)
		if err := rows.Scan(&a.ID, &at, &a.Tool, &outcome, &a.Actor.Issuer, &a.Actor.Subject, &a.Actor.ClientID,
			&a.BoardID, &ids, &a.Summary, &a.BoardOwner.Issuer, &a.BoardOwner.Subject); err != nil {
			t.Fatalf("read activity: %v", err)
		}
		a.At, a.Outcome = timeOf(at), store.Outcome(outcome)
		if a.IDs, err = decodeJSONList(ids); err != nil {
			t.Fatal(err)
		}
		all = append(all, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read activity: %v", err)
	}
	return all
}

// lastActivity returns the newest activity row.
func (e *env) lastActivity(t *testing.T) store.Activity {
	t.Helper()
	all := e.allActivity(t)
	if len(all) == 0 {
		t.Fatal("no activity rows")
	}
	return all[len(all)-1]
}

// checkDense fails unless the cards of every column of board have the
// positions 0..n-1 exactly once each.
func (e *env) checkDense(t *testing.T, boardID string) {
	t.Helper()
	rows, err := e.db.Reader.QueryContext(t.Context(),
		`SELECT column_id, position FROM cards WHERE board_id = ? ORDER BY column_id, position`, boardID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	next := map[string]int{}
	for rows.Next() {
		var col string
		var pos int
		if err := rows.Scan(&col, &pos); err != nil {
			t.Fatal(err)
		}
		if pos != next[col] {
			t.Errorf("column %s: position %d where %d was expected", col, pos, next[col])
		}
		next[col] = pos + 1
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// titlesByColumn lists card titles column by column, in position order.
func titlesByColumn(b *store.Board) [][]string {
	out := make([][]string, len(b.Columns))
	for i, col := range b.Columns {
		out[i] = []string{}
		for _, c := range col.Cards {
			out[i] = append(out[i], c.Title)
		}
	}
	return out
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
