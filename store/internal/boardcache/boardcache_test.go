package boardcache

import (
	"fmt"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
)

var (
	alice = store.Actor{Issuer: "https://id.example", Subject: "alice"}
	bob   = store.Actor{Issuer: "https://id.example", Subject: "bob"}
)

// cached reports whether board id is in c.
func cached(c *Cache, id string) bool {
	_, ok := c.Lookup(id)
	return ok
}

// TestRefusesAReadThatRacedAWrite plays the race step by step: a reader
// notes the generation and queries, a write commits and invalidates, then
// the reader stores what it read. That board is stale and must not be
// kept.
func TestRefusesAReadThatRacedAWrite(t *testing.T) {
	c := New(DefaultBytes)
	stale := &store.Board{ID: "b_race", Title: "before the write", Visibility: store.Private, Columns: []store.Column{}}
	gen := c.Generation(stale.ID)
	c.Invalidate(stale.ID) // the write's commit
	c.Put(stale, alice.Issuer, alice.Subject, 0, gen)
	if cached(c, stale.ID) {
		t.Fatal("a board read before a write was cached after the write's invalidation")
	}
	// Without a write in between, the same read is kept.
	gen = c.Generation(stale.ID)
	c.Put(stale, alice.Issuer, alice.Subject, 0, gen)
	e, ok := c.Lookup(stale.ID)
	if !ok {
		t.Fatal("a read without a write in between was not cached")
	}
	if got, visible := e.View(alice); !visible || got.Title != stale.Title || !got.Owned {
		t.Fatalf("View(owner) = %+v, visible %v; want the board, owned", got, visible)
	}
	// Forgetting everything bumps every generation.
	gen = c.Generation("b_other")
	c.Invalidate("")
	c.Put(&store.Board{ID: "b_other", Columns: []store.Column{}}, alice.Issuer, alice.Subject, 0, gen)
	if cached(c, "b_other") {
		t.Fatal("Invalidate(\"\") left an older read storable")
	}
}

// TestKeepsTheHighestVersion: of two reads of a board that finish out of
// order, the one labelled with the higher version stays, whichever Put
// comes last.
func TestKeepsTheHighestVersion(t *testing.T) {
	board := func(title string) *store.Board {
		return &store.Board{ID: "b_v", Title: title, Visibility: store.Public, Columns: []store.Column{}}
	}
	tests := []struct {
		name        string
		puts        []int64 // versions, in the order they are stored
		wantVersion int64
	}{
		{"newer after older", []int64{3, 4}, 4},
		{"older after newer", []int64{4, 3}, 4},
		{"same again", []int64{4, 4}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(DefaultBytes)
			gen := c.Generation("b_v") // both reads began before either Put
			for _, v := range tt.puts {
				c.Put(board(fmt.Sprintf("v%d", v)), alice.Issuer, alice.Subject, v, gen)
			}
			e, ok := c.Lookup("b_v")
			if !ok {
				t.Fatal("nothing cached")
			}
			got, _ := e.View(bob)
			if e.Version() != tt.wantVersion || got.Title != fmt.Sprintf("v%d", tt.wantVersion) {
				t.Errorf("cached version %d titled %q, want version %d", e.Version(), got.Title, tt.wantVersion)
			}
		})
	}
}

// TestView: a private board is shown to its owner only, a public one to
// everyone, with Owned computed per viewer; what a caller does to its copy
// does not reach the cache.
func TestView(t *testing.T) {
	c := New(DefaultBytes)
	for _, v := range []store.Visibility{store.Private, store.Public} {
		b := &store.Board{ID: "b_" + string(v), Visibility: v, Columns: []store.Column{{ID: "col", Cards: []store.Card{{ID: "c", Labels: []string{"x"}}}}}}
		c.Put(b, alice.Issuer, alice.Subject, 1, c.Generation(b.ID))
	}
	tests := []struct {
		board       string
		viewer      store.Actor
		wantVisible bool
		wantOwned   bool
	}{
		{"b_private", alice, true, true},
		{"b_private", bob, false, false},
		{"b_private", store.Actor{}, false, false},
		{"b_public", alice, true, true},
		{"b_public", bob, true, false},
		{"b_public", store.Actor{}, true, false},
	}
	for _, tt := range tests {
		e, ok := c.Lookup(tt.board)
		if !ok {
			t.Fatalf("%s not cached", tt.board)
		}
		got, visible := e.View(tt.viewer)
		if visible != tt.wantVisible || (visible && got.Owned != tt.wantOwned) {
			t.Errorf("%s viewed by %q: visible %v, board %+v; want visible %v, owned %v", tt.board, tt.viewer.Subject, visible, got, tt.wantVisible, tt.wantOwned)
		}
		if visible {
			got.Columns[0].Cards[0].Labels[0] = "scribbled"
		}
	}
	e, _ := c.Lookup("b_public")
	if got, _ := e.View(bob); got.Columns[0].Cards[0].Labels[0] != "x" {
		t.Error("a caller's change to its copy reached the cache")
	}
}

// TestIsBoundedByBytes: the cache never holds more than its budget,
// forgets the boards used longest ago first, and does not keep a board
// larger than the whole budget.
func TestIsBoundedByBytes(t *testing.T) {
	board := func(id string, cards int) *store.Board {
		b := &store.Board{ID: id, Title: "Board " + id, Visibility: store.Public, Columns: []store.Column{{ID: "col_" + id, Name: "To do"}}}
		for i := range cards {
			b.Columns[0].Cards = append(b.Columns[0].Cards, store.Card{ID: fmt.Sprintf("c_%s%04d", id, i), Title: "card", Description: "some words", Labels: []string{"x"}})
		}
		return b
	}
	one := boardSize(board("b_x", 10), alice.Issuer, alice.Subject) // IDs of the same length as below
	c := New(3*one + one/2)                                         // room for three 10-card boards
	put := func(b *store.Board) { c.Put(b, alice.Issuer, alice.Subject, 0, c.Generation(b.ID)) }
	checkUsage := func(t *testing.T, wantBoards int) {
		t.Helper()
		n, bytes := c.Usage()
		if n != wantBoards || bytes != int64(n)*one || bytes > c.maxBytes {
			t.Errorf("cache holds %d boards, %d bytes; want %d boards of %d bytes each, within %d", n, bytes, wantBoards, one, c.maxBytes)
		}
	}

	for _, id := range []string{"b_a", "b_b", "b_c"} {
		put(board(id, 10))
	}
	checkUsage(t, 3)
	cached(c, "b_a") // b_b is now the one used longest ago
	put(board("b_d", 10))
	checkUsage(t, 3)
	for id, want := range map[string]bool{"b_a": true, "b_b": false, "b_c": true, "b_d": true} {
		if cached(c, id) != want {
			t.Errorf("board %s cached = %v, want %v", id, !want, want)
		}
	}

	put(board("b_d", 10)) // storing a board again replaces it
	checkUsage(t, 3)
	c.Invalidate("b_d")
	checkUsage(t, 2)

	put(board("b_huge", 100)) // larger than the whole budget
	if cached(c, "b_huge") {
		t.Error("a board larger than the cache's budget was cached")
	}
	checkUsage(t, 2)

	c.Invalidate("")
	checkUsage(t, 0)
}

// TestBytes: the store option's zero is the default, a negative value
// caches nothing.
func TestBytes(t *testing.T) {
	for option, want := range map[int64]int64{0: DefaultBytes, -1: -1, 1 << 20: 1 << 20} {
		if got := Bytes(option); got != want {
			t.Errorf("Bytes(%d) = %d, want %d", option, got, want)
		}
	}
	c := New(Bytes(-1))
	c.Put(&store.Board{ID: "b_off", Columns: []store.Column{}}, alice.Issuer, alice.Subject, 0, c.Generation("b_off"))
	if cached(c, "b_off") {
		t.Error("a cache turned off kept a board")
	}
}
