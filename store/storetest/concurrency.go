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
	b := e.mustBoard(t, alice, "Busy")
	const n = 32
	errs := make([]error, n)
	// Even goroutines write; odd ones read beside them and must not fail
	// either.
	concurrently(2*n, func(i int) {
		if i%2 == 0 {
			i /= 2
			_, errs[i] = e.s.AddCard(t.Context(), call(alice, "add_card"), store.NewCard{
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
	got := e.mustGet(t, alice, b.ID)
	if c0, c1 := len(got.Columns[0].Cards), len(got.Columns[1].Cards); c0+c1 != n {
		t.Errorf("%d + %d cards, want %d", c0, c1, n)
	}
	checkDense(t, got)
	if rows := countTool(e.allActivity(t), "add_card"); rows != n {
		t.Errorf("%d add_card activity rows, want %d", rows, n)
	}
}
