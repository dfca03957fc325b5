package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// testAddCardConcurrent adds cards from many goroutines at once, with
// readers beside them: every add succeeds, once, at a position of its own.
func testAddCardConcurrent(t *testing.T, be backend) {
	e := be.newEnv(t, Options{Now: time.Now})
	b := MustBoard(t, e.s, alice, "Busy")
	const n = 32
	errs := make([]error, n)
	// Even goroutines write; odd ones read beside them and must not fail
	// either.
	concurrently(2*n, func(i int) {
		if i%2 == 0 {
			i /= 2
			_, errs[i] = e.s.AddCard(t.Context(), Call(alice, "add_card"), store.NewCard{
				BoardID: b.ID, ColumnID: b.Columns[i%2].ID, Title: fmt.Sprint("card ", i),
			})
			return
		}
		if _, err := e.s.GetBoard(t.Context(), alice, b.ID); err != nil {
			t.Errorf("GetBoard: %v", err)
		}
		if _, err := e.s.ListBoards(t.Context(), alice, store.Page{}); err != nil {
			t.Errorf("ListBoards: %v", err)
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("AddCard %d: %v", i, err)
		}
	}
	got := MustGet(t, e.s, alice, b.ID)
	if c0, c1 := len(got.Columns[0].Cards), len(got.Columns[1].Cards); c0+c1 != n {
		t.Errorf("%d + %d cards, want %d", c0, c1, n)
	}
	checkDense(t, got)
	if rows := countTool(e.allActivity(t), "add_card"); rows != n {
		t.Errorf("%d add_card activity rows, want %d", rows, n)
	}
}

// testConcurrentWriters has writers add, move and delete cards on one
// board at once, as concurrent tool calls do. Whatever order the
// writes take, each column's positions stay 0..n-1 without duplicates, the
// board's card count equals its cards, and each write records one row.
func testConcurrentWriters(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Crowded")
	const (
		writers   = 8
		adds      = 6  // cards each writer adds
		moves     = 10 // moves each writer makes, of its own cards
		deletions = 1  // cards each writer deletes again
	)
	errs := make([][]error, writers)
	concurrently(writers, func(w int) {
		// A fixed sequence per writer, so that a failure can be replayed.
		seed := uint32(w + 1)
		next := func(n int) int { seed = seed*1103515245 + 12345; return int(seed>>16) % n }
		var mine []string
		for i := range adds {
			c, err := e.s.AddCard(t.Context(), Call(alice, "add_card"), store.NewCard{
				BoardID: b.ID, ColumnID: b.Columns[next(len(b.Columns))].ID, Title: fmt.Sprintf("writer %d card %d", w, i),
			})
			if err != nil {
				errs[w] = append(errs[w], fmt.Errorf("AddCard: %w", err))
				continue
			}
			mine = append(mine, c.ID)
		}
		for range moves {
			if len(mine) == 0 {
				break
			}
			pos := next(adds * writers) // often past the end
			to := b.Columns[next(len(b.Columns))].ID
			if _, err := e.s.MoveCard(t.Context(), Call(alice, "move_card"), mine[next(len(mine))], to, &pos); err != nil {
				errs[w] = append(errs[w], fmt.Errorf("MoveCard: %w", err))
			}
		}
		for range min(deletions, len(mine)) {
			if _, err := e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), mine[0]); err != nil {
				errs[w] = append(errs[w], fmt.Errorf("DeleteCard: %w", err))
			}
			mine = mine[1:]
		}
	})
	for w, werrs := range errs {
		for _, err := range werrs {
			t.Errorf("writer %d: %v", w, err)
		}
	}

	got := MustGet(t, e.s, alice, b.ID)
	checkDense(t, got)
	cards := 0
	for _, col := range got.Columns {
		cards += len(col.Cards)
	}
	if want := writers * (adds - deletions); cards != want {
		t.Errorf("%d cards on the board, want %d", cards, want)
	}
	if n := e.cardCount(t, alice); n != cards {
		t.Errorf("ListBoards counts %d cards, the board shows %d", n, cards)
	}
	rows := e.allActivity(t)
	for tool, want := range map[string]int{"add_card": writers * adds, "move_card": writers * moves, "delete_card": writers * deletions} {
		if n := countTool(rows, tool); n != want {
			t.Errorf("%d %s activity rows, want %d", n, tool, want)
		}
	}
}
