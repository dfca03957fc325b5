package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The people in the tests of what only PostgreSQL shows; the contract
// suite (store/storetest) has its own.
var (
	alice = store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "chatgpt"}
	bob   = store.Actor{Issuer: "https://id.example", Subject: "bob", ClientID: "claude"}
)

// env is a Store on a fresh database, with a pool of its own on the same
// database for looking behind the Store's back.
type env struct {
	s   *Store
	raw *pgxpool.Pool
	url string
}

// newEnv opens a Store on a new database of the shared cluster. A nil Now
// gets a storetest.Clock stepping one millisecond.
func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	url := pgtest.Shared(t).NewDatabase(t)
	return envOn(t, url, opts)
}

// envOn opens a Store and a raw pool on url; both close when t ends.
func envOn(t testing.TB, url string, opts Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = storetest.NewClock(time.Millisecond).Now
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
