package sqlite

import (
	"fmt"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// TestCreateBoardAnonymousStoresNothing: an anonymous create fails (the
// contract suite checks how) before anything reaches the database, where
// a board with no owner would be nobody's to see or delete.
func TestCreateBoardAnonymousStoresNothing(t *testing.T) {
	e := newEnv(t, Options{})
	if _, err := e.s.CreateBoard(t.Context(), storetest.Call(anon, "create_board"), "Nobody's", nil); err == nil {
		t.Fatal("an anonymous CreateBoard succeeded")
	}
	if n := e.count(t, `SELECT count(*) FROM boards`); n != 0 {
		t.Errorf("%d boards, want 0", n)
	}
}

// TestDeleteBoardDeletesItsRows: deleting a board deletes its columns and
// cards from the database, not only from sight, and nothing of another
// board. (What the interface shows of a delete is in the contract suite.)
func TestDeleteBoardDeletesItsRows(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Launch")
	keep := storetest.MustBoard(t, e.s, alice, "Keep")
	for i := range 3 {
		storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[i%3].ID, Title: fmt.Sprint("card ", i)})
	}
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: keep.ID, ColumnID: keep.Columns[0].ID, Title: "kept"})
	if _, err := e.s.DeleteBoard(t.Context(), storetest.Call(alice, "delete_board"), b.ID); err != nil {
		t.Fatalf("DeleteBoard: %v", err)
	}
	for table, wantN := range map[string]int{"boards": 1, "columns": 3, "cards": 1} {
		if n := e.count(t, `SELECT count(*) FROM `+table); n != wantN {
			t.Errorf("%d rows in %s after the delete, want %d (the other board's)", n, table, wantN)
		}
	}
}
