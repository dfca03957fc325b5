package postgres

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The people in the tests. Alice and Bob share an issuer; "mallory" has
// Alice's subject at another issuer, so she must not see Alice's boards.
var (
	alice   = store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "chatgpt"}
	bob     = store.Actor{Issuer: "https://id.example", Subject: "bob", ClientID: "claude"}
	mallory = store.Actor{Issuer: "https://evil.example", Subject: "alice", ClientID: "cli"}
	anon    = store.Actor{}
)

// call is the Call of a write by a through tool, with a plain wording.
func call(a store.Actor, tool string) store.Call {
	return store.Call{Actor: a, Tool: tool, Describe: func(ch store.Change) string { return tool + " " + ch.BoardID }}
}

// testClock is a fake clock that moves by step on every reading.
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

// env is a Store on a fresh database, with a pool of its own on the same
// database for looking behind the Store's back.
type env struct {
	s   *Store
	raw *pgxpool.Pool
	url string
}

// newEnv opens a Store on a new database of the shared cluster. A nil Now
// gets a testClock stepping one millisecond.
func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	url := pgtest.Shared(t).NewDatabase(t)
	return envOn(t, url, opts)
}

// envOn opens a Store and a raw pool on url; both close when t ends.
func envOn(t testing.TB, url string, opts Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = newClock(time.Millisecond).Now
	}
	s, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	raw, err := pgdb.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("pgdb.Open: %v", err)
	}
	t.Cleanup(raw.Close)
	return &env{s: s, raw: raw, url: url}
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

// wantInfraError fails unless err is an infrastructure error.
func wantInfraError(t *testing.T, err error) {
	t.Helper()
	var se *store.Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("got error %v, want an infrastructure error", err)
	}
}

func (e *env) mustBoard(t *testing.T, owner store.Actor, title string, columns ...string) *store.Board {
	t.Helper()
	b, err := e.s.CreateBoard(t.Context(), call(owner, "create_board"), title, columns)
	if err != nil {
		t.Fatalf("CreateBoard(%q): %v", title, err)
	}
	return b
}

func (e *env) mustCard(t *testing.T, owner store.Actor, in store.NewCard) *store.Card {
	t.Helper()
	c, err := e.s.AddCard(t.Context(), call(owner, "add_card"), in)
	if err != nil {
		t.Fatalf("AddCard(%q): %v", in.Title, err)
	}
	return c
}

func (e *env) mustGet(t *testing.T, viewer store.Actor, id string) *store.Board {
	t.Helper()
	b, err := e.s.GetBoard(t.Context(), viewer, id)
	if err != nil {
		t.Fatalf("GetBoard(%s): %v", id, err)
	}
	return b
}

// count runs a count query on the raw pool.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.raw.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkBoard fails unless the cards of every column of board have the
// positions 0..n-1 exactly once each, and the board's card_count is its
// number of cards.
func (e *env) checkBoard(t *testing.T, boardID string) {
	t.Helper()
	rows, err := e.raw.Query(t.Context(),
		`SELECT column_id, position FROM cards WHERE board_id = $1 ORDER BY column_id, position`, boardID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	next := map[string]int{}
	cards := 0
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
		cards++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT card_count FROM boards WHERE id = $1`, boardID); n != cards {
		t.Errorf("card_count %d, but the board has %d cards", n, cards)
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

func ptr[T any](v T) *T { return &v }

func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
