package sqlite

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// TestBoardCacheReadsYourWrites reads a board (so that it is cached), makes
// one kind of change, and reads it again: every write must show at once.
func TestBoardCacheReadsYourWrites(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, e *env, b *store.Board, card *store.Card)
		check  func(t *testing.T, got *store.Board, card *store.Card)
	}{
		{"add card", func(t *testing.T, e *env, b *store.Board, _ *store.Card) {
			if _, err := e.s.AddCard(t.Context(), call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[2].ID, Title: "new"}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if n := len(got.Columns[2].Cards); n != 1 {
				t.Errorf("third column has %d cards, want the new one", n)
			}
		}},
		{"update card", func(t *testing.T, e *env, _ *store.Board, card *store.Card) {
			d := "changed"
			if _, err := e.s.UpdateCard(t.Context(), call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &d}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if d := got.Columns[0].Cards[0].Description; d != "changed" {
				t.Errorf("description %q, want the update", d)
			}
		}},
		{"move card", func(t *testing.T, e *env, b *store.Board, card *store.Card) {
			if _, err := e.s.MoveCard(t.Context(), call(alice, "move_card"), card.ID, b.Columns[1].ID, nil); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, card *store.Card) {
			if len(got.Columns[1].Cards) != 1 || got.Columns[1].Cards[0].ID != card.ID {
				t.Errorf("the card did not move to the second column: %+v", got.Columns)
			}
		}},
		{"delete card", func(t *testing.T, e *env, _ *store.Board, card *store.Card) {
			if _, err := e.s.DeleteCard(t.Context(), call(alice, "delete_card"), card.ID); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if n := len(got.Columns[0].Cards); n != 0 {
				t.Errorf("first column still has %d cards", n)
			}
		}},
		{"share", func(t *testing.T, e *env, b *store.Board, _ *store.Card) {
			if _, err := e.s.ShareBoard(t.Context(), call(alice, "share_board"), b.ID, store.Public); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if got.Visibility != store.Public {
				t.Errorf("visibility %q, want public", got.Visibility)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			b, card := boardWithCard(t, e)
			if _, err := e.s.GetBoard(t.Context(), alice, b.ID); err != nil {
				t.Fatal(err)
			}
			tt.change(t, e, b, card)
			got, err := e.s.GetBoard(t.Context(), alice, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got, card)
		})
	}

	t.Run("delete board", func(t *testing.T) {
		e := newEnv(t, Options{})
		b, _ := boardWithCard(t, e)
		if _, err := e.s.GetBoard(t.Context(), alice, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.DeleteBoard(t.Context(), call(alice, "delete_board"), b.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.s.GetBoard(t.Context(), alice, b.ID)
		wantCode(t, err, store.NotFound)
	})
}

// TestBoardCacheVisibility: a cached board is shown only to whom the SQL
// would show it, with Owned computed for each viewer.
func TestBoardCacheVisibility(t *testing.T) {
	e := newEnv(t, Options{})
	b, _ := boardWithCard(t, e)
	got, err := e.s.GetBoard(t.Context(), alice, b.ID) // cached now
	if err != nil || !got.Owned {
		t.Fatalf("owner's read: %v, owned %v", err, got != nil && got.Owned)
	}
	for _, viewer := range []store.Actor{anon, bob, mallory} {
		_, err := e.s.GetBoard(t.Context(), viewer, b.ID)
		wantCode(t, err, store.NotFound)
	}
	if _, err := e.s.ShareBoard(t.Context(), call(alice, "share_board"), b.ID, store.Public); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GetBoard(t.Context(), alice, b.ID); err != nil { // cached again, public
		t.Fatal(err)
	}
	for _, viewer := range []store.Actor{anon, bob, mallory} {
		got, err := e.s.GetBoard(t.Context(), viewer, b.ID)
		if err != nil || got.Owned {
			t.Errorf("viewer %+v of the public board: %v, owned %v", viewer, err, got != nil && got.Owned)
		}
	}
}

// TestBoardCacheHandsOutCopies: what a caller does to a board it got does
// not change what the next caller gets.
func TestBoardCacheHandsOutCopies(t *testing.T) {
	e := newEnv(t, Options{})
	b, _ := boardWithCard(t, e)
	for range 2 { // the first read fills the cache, the second comes from it
		got, err := e.s.GetBoard(t.Context(), alice, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Title = "scribbled"
		got.Columns[0].Name = "scribbled"
		got.Columns[0].Cards[0].Title = "scribbled"
		got.Columns[0].Cards[0].Labels[0] = "scribbled"
	}
	got, err := e.s.GetBoard(t.Context(), alice, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title == "scribbled" || got.Columns[0].Name == "scribbled" || got.Columns[0].Cards[0].Title == "scribbled" || got.Columns[0].Cards[0].Labels[0] == "scribbled" {
		t.Fatalf("a caller's change reached the cache: %+v", got)
	}
}

// TestBoardCacheUnderConcurrentWrites races readers against a writer. The
// writer changes a card's description again and again; after each change
// is acknowledged, a read must show it or a later one, and at the end the
// board must show the last — a stale board stored by a racing reader would
// survive and fail this.
func TestBoardCacheUnderConcurrentWrites(t *testing.T) {
	e := newEnv(t, Options{})
	b, card := boardWithCard(t, e)
	const writes = 200
	var acknowledged sync.Map // i → true once write i returned
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.s.GetBoard(t.Context(), alice, b.ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		d := fmt.Sprintf("v%04d", i)
		if _, err := e.s.UpdateCard(t.Context(), call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &d}); err != nil {
			t.Fatal(err)
		}
		acknowledged.Store(i, true)
		got, err := e.s.GetBoard(t.Context(), alice, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if seen := got.Columns[0].Cards[0].Description; seen < d {
			t.Fatalf("after write %d was acknowledged, a read shows %q", i, seen)
		}
	}
	close(stop)
	readers.Wait()
	got, err := e.s.GetBoard(t.Context(), alice, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("v%04d", writes); got.Columns[0].Cards[0].Description != want {
		t.Fatalf("final read shows %q, want %q", got.Columns[0].Cards[0].Description, want)
	}
}

// boardWithCard makes alice a private board with one labelled card in its
// first column.
func boardWithCard(t *testing.T, e *env) (*store.Board, *store.Card) {
	t.Helper()
	b, err := e.s.CreateBoard(t.Context(), call(alice, "create_board"), "Cached", nil)
	if err != nil {
		t.Fatal(err)
	}
	card, err := e.s.AddCard(t.Context(), call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "card", Labels: []string{"x"}})
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

// TestBoardCacheOff: a negative budget caches nothing, and reads still work.
func TestBoardCacheOff(t *testing.T) {
	e := newEnv(t, Options{BoardCacheBytes: -1})
	b, _ := boardWithCard(t, e)
	for range 2 {
		if got := e.mustGet(t, alice, b.ID); len(got.Columns[0].Cards) != 1 {
			t.Fatalf("board %+v, want its card", got)
		}
	}
	if n, _ := e.s.boards.usage(); n != 0 {
		t.Errorf("%d boards cached with the cache off", n)
	}
}
