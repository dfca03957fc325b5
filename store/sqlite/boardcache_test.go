package sqlite

import (
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// TestBoardCacheHoldsPreviews: the cache keeps a board as GetBoard returns
// it, with previews of long descriptions, so that a cached board costs
// little however long its descriptions are. (That GetBoard returns
// previews, cached or not, is in the contract suite.)
func TestBoardCacheHoldsPreviews(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Launch")
	long := strings.Repeat("long words ", store.MaxDescriptionLen/len("long words "))
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Long", Description: long})
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Short", Description: "short"})
	storetest.MustGet(t, e.s, alice, b.ID) // cached now
	if n, bytes := e.s.boards.Usage(); n != 1 || bytes > 4<<10 {
		t.Errorf("the cache holds %d boards in %d bytes; want the two-card board of previews, in far less than its %d-byte description", n, bytes, len(long))
	}
}

// TestBoardCacheOff: a negative budget caches nothing, and reads still
// work.
func TestBoardCacheOff(t *testing.T) {
	e := newEnv(t, Options{BoardCacheBytes: -1})
	storetest.WantNothingCached(t, e.s, alice, func() int { n, _ := e.s.boards.Usage(); return n })
}
