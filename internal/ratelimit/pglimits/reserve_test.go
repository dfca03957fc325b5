package pglimits

import (
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// TestReserveRunsTwice: the reservation statement, run again with its
// token (pgdb.Retry after a connection broke under the first run, which
// the server may have applied), finds its attempt and does not take a
// second slot.
func TestReserveRunsTwice(t *testing.T) {
	pool, err := pgdb.Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b, err := New(t.Context(), pool, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	bo := b.Backoff("b", ratelimit.BackoffOptions{Base: time.Second, Max: time.Minute, Forget: time.Hour,
		Now: func() time.Time { return now }}).(*backoff)
	for run := range 2 {
		if a, wait, err := bo.reserve(t.Context(), "k", "token"); a == nil || err != nil {
			t.Fatalf("run %d of one reservation = %v, %v, %v; want the attempt", run+1, a, wait, err)
		}
	}
	if a, wait, err := bo.reserve(t.Context(), "k", "another"); a != nil || wait != time.Second || err != nil {
		t.Errorf("another attempt = %v, %v, %v; want nil, 1s (the first holds the one slot)", a, wait, err)
	}
}
