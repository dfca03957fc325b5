package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// testGetBoardReadsYourWrites reads a board (so that a backend with a
// cache has it cached), makes one kind of change, and reads it again:
// every write must show at once.
func testGetBoardReadsYourWrites(t *testing.T, be backend) {
	tests := []struct {
		name   string
		change func(t *testing.T, e *env, b *store.Board, card *store.Card)
		check  func(t *testing.T, got *store.Board, card *store.Card)
	}{
		{"add card", func(t *testing.T, e *env, b *store.Board, _ *store.Card) {
			if _, err := e.s.AddCard(t.Context(), Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[2].ID, Title: "new"}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if n := len(got.Columns[2].Cards); n != 1 {
				t.Errorf("third column has %d cards, want the new one", n)
			}
		}},
		{"update card", func(t *testing.T, e *env, _ *store.Board, card *store.Card) {
			d := "changed"
			if _, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &d}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if d := got.Columns[0].Cards[0].Description; d != "changed" {
				t.Errorf("description %q, want the update", d)
			}
		}},
		{"move card", func(t *testing.T, e *env, b *store.Board, card *store.Card) {
			if _, err := e.s.MoveCard(t.Context(), Call(alice, "move_card"), card.ID, b.Columns[1].ID, nil); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, card *store.Card) {
			if len(got.Columns[1].Cards) != 1 || got.Columns[1].Cards[0].ID != card.ID {
				t.Errorf("the card did not move to the second column: %+v", got.Columns)
			}
		}},
		{"delete card", func(t *testing.T, e *env, _ *store.Board, card *store.Card) {
			if _, err := e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), card.ID); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, _ *store.Card) {
			if n := len(got.Columns[0].Cards); n != 0 {
				t.Errorf("first column still has %d cards", n)
			}
		}},
		{"share", func(t *testing.T, e *env, b *store.Board, _ *store.Card) {
			if _, err := e.s.ShareBoard(t.Context(), Call(alice, "share_board"), b.ID, store.Public); err != nil {
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
			e := be.newEnv(t, Options{})
			b, card := BoardWithCard(t, e.s, alice)
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
		e := be.newEnv(t, Options{})
		b, _ := BoardWithCard(t, e.s, alice)
		if _, err := e.s.GetBoard(t.Context(), alice, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.DeleteBoard(t.Context(), Call(alice, "delete_board"), b.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.s.GetBoard(t.Context(), alice, b.ID)
		WantCode(t, err, store.NotFound)
	})
}

// testGetBoardVisibilityAfterOwnersRead: a board the owner has just read
// (and a backend may have cached) is shown only to whom it is visible,
// with Owned computed for each viewer.
func testGetBoardVisibilityAfterOwnersRead(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b, _ := BoardWithCard(t, e.s, alice)
	got, err := e.s.GetBoard(t.Context(), alice, b.ID) // cached now
	if err != nil || !got.Owned {
		t.Fatalf("owner's read: %v, owned %v", err, got != nil && got.Owned)
	}
	for _, viewer := range []store.Actor{anon, bob, mallory} {
		_, err := e.s.GetBoard(t.Context(), viewer, b.ID)
		WantCode(t, err, store.NotFound)
	}
	if _, err := e.s.ShareBoard(t.Context(), Call(alice, "share_board"), b.ID, store.Public); err != nil {
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

// testGetBoardHandsOutCopies: what a caller does to a board it got does
// not change what the next caller gets.
func testGetBoardHandsOutCopies(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b, _ := BoardWithCard(t, e.s, alice)
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

// testGetBoardReadsBesideWrites races readers against a writer. The
// writer changes a card's description again and again; after each change
// is acknowledged, a read must show it or a later one, and at the end the
// board must show the last — a stale board kept by a racing reader (in a
// cache, say) would survive and fail this.
func testGetBoardReadsBesideWrites(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b, card := BoardWithCard(t, e.s, alice)
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
		if _, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &d}); err != nil {
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
