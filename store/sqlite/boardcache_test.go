package sqlite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// boardWithCard makes alice a private board with one labelled card in its
// first column.
func boardWithCard(t *testing.T, e *env) (*store.Board, *store.Card) {
	t.Helper()
	b, err := e.s.CreateBoard(t.Context(), storetest.Call(alice, "create_board"), "Cached", nil)
	if err != nil {
		t.Fatal(err)
	}
	card, err := e.s.AddCard(t.Context(), storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "card", Labels: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	return b, card
}

// TestBoardCacheRefusesAReadThatRacedAWrite plays the race step by step:
// a reader notes the generation and queries, a write commits and
// invalidates, then the reader stores what it read. That board is stale
// and must not be kept.
func TestBoardCacheRefusesAReadThatRacedAWrite(t *testing.T) {
	c := newBoardCache(DefaultBoardCacheBytes)
	stale := &store.Board{ID: "b_race", Title: "before the write", Visibility: store.Private, Columns: []store.Column{}}
	gen := c.generation(stale.ID)
	c.invalidate(stale.ID) // the write's commit
	c.put(stale, alice.Issuer, alice.Subject, gen)
	if _, cached, _ := c.get(stale.ID, alice); cached {
		t.Fatal("a board read before a write was cached after the write's invalidation")
	}
	// Without a write in between, the same read is kept.
	gen = c.generation(stale.ID)
	c.put(stale, alice.Issuer, alice.Subject, gen)
	if got, cached, visible := c.get(stale.ID, alice); !cached || !visible || got.Title != stale.Title || !got.Owned {
		t.Fatalf("get = %+v, cached %v, visible %v; want the board, owned", got, cached, visible)
	}
	// Forgetting everything bumps every generation.
	gen = c.generation("b_other")
	c.invalidate("")
	c.put(&store.Board{ID: "b_other", Columns: []store.Column{}}, alice.Issuer, alice.Subject, gen)
	if _, cached, _ := c.get("b_other", alice); cached {
		t.Fatal("invalidate(\"\") left an older read storable")
	}
}

// TestBoardCacheIsBoundedByBytes: the cache never holds more than its
// budget, forgets the boards used longest ago first, and does not keep a
// board larger than the whole budget.
func TestBoardCacheIsBoundedByBytes(t *testing.T) {
	board := func(id string, cards int) *store.Board {
		b := &store.Board{ID: id, Title: "Board " + id, Visibility: store.Public, Columns: []store.Column{{ID: "col_" + id, Name: "To do"}}}
		for i := range cards {
			b.Columns[0].Cards = append(b.Columns[0].Cards, store.Card{ID: fmt.Sprintf("c_%s%04d", id, i), Title: "card", Description: "some words", Labels: []string{"x"}})
		}
		return b
	}
	one := boardSize(board("b_x", 10), alice.Issuer, alice.Subject) // IDs of the same length as below
	c := newBoardCache(3*one + one/2)                               // room for three 10-card boards
	put := func(b *store.Board) { c.put(b, alice.Issuer, alice.Subject, c.generation(b.ID)) }
	cached := func(id string) bool {
		_, ok, _ := c.get(id, alice)
		return ok
	}
	checkUsage := func(t *testing.T, wantBoards int) {
		t.Helper()
		n, bytes := c.usage()
		if n != wantBoards || bytes != int64(n)*one || bytes > c.maxBytes {
			t.Errorf("cache holds %d boards, %d bytes; want %d boards of %d bytes each, within %d", n, bytes, wantBoards, one, c.maxBytes)
		}
	}

	for _, id := range []string{"b_a", "b_b", "b_c"} {
		put(board(id, 10))
	}
	checkUsage(t, 3)
	cached("b_a") // b_b is now the one used longest ago
	put(board("b_d", 10))
	checkUsage(t, 3)
	for id, want := range map[string]bool{"b_a": true, "b_b": false, "b_c": true, "b_d": true} {
		if cached(id) != want {
			t.Errorf("board %s cached = %v, want %v", id, !want, want)
		}
	}

	put(board("b_d", 10)) // storing a board again replaces it
	checkUsage(t, 3)
	c.invalidate("b_d")
	checkUsage(t, 2)

	put(board("b_huge", 100)) // larger than the whole budget
	if cached("b_huge") {
		t.Error("a board larger than the cache's budget was cached")
	}
	checkUsage(t, 2)

	c.invalidate("")
	checkUsage(t, 0)
}

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
	if n, bytes := e.s.boards.usage(); n != 1 || bytes > 4<<10 {
		t.Errorf("the cache holds %d boards in %d bytes; want the two-card board of previews, in far less than its %d-byte description", n, bytes, len(long))
	}
}

// TestBoardCacheOff: a negative budget caches nothing, and reads still work.
func TestBoardCacheOff(t *testing.T) {
	e := newEnv(t, Options{BoardCacheBytes: -1})
	b, _ := storetest.BoardWithCard(t, e.s, alice)
	for range 2 {
		if got := storetest.MustGet(t, e.s, alice, b.ID); len(got.Columns[0].Cards) != 1 {
			t.Fatalf("board %+v, want its card", got)
		}
	}
	if n, _ := e.s.boards.usage(); n != 0 {
		t.Errorf("%d boards cached with the cache off", n)
	}
}
