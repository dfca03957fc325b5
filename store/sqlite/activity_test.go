package sqlite

import (
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// TestWriteActivityAtomic makes the activity insert fail and checks that
// no write then happens, and that the error is an infrastructure error.
func TestWriteActivityAtomic(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Launch")
	card := storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "A", Labels: []string{"x"}})
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "B"})

	snapshot := func() (*store.Board, []int) {
		var counts []int
		for _, table := range []string{"boards", "columns", "cards", "activity"} {
			counts = append(counts, e.count(t, `SELECT count(*) FROM `+table))
		}
		return storetest.MustGet(t, e.s, alice, b.ID), counts
	}
	beforeBoard, beforeCounts := snapshot()

	if _, err := e.db.Writer.ExecContext(t.Context(),
		`CREATE TRIGGER audit_down BEFORE INSERT ON activity BEGIN SELECT RAISE(ABORT, 'audit down'); END`); err != nil {
		t.Fatal(err)
	}
	c := storetest.Call(alice, "tool")
	writes := []struct {
		name  string
		write func() error
	}{
		{"CreateBoard", func() error { _, err := e.s.CreateBoard(t.Context(), c, "New", nil); return err }},
		{"AddCard", func() error {
			_, err := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "C"})
			return err
		}},
		{"UpdateCard", func() error {
			_, err := e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: card.ID, Title: new("changed"), Labels: new([]string{})})
			return err
		}},
		{"MoveCard", func() error { _, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[2].ID, nil); return err }},
		{"MoveCard within", func() error { _, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[0].ID, nil); return err }},
		{"MoveCard no-op", func() error { _, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[0].ID, new(0)); return err }},
		{"DeleteCard", func() error { _, err := e.s.DeleteCard(t.Context(), c, card.ID); return err }},
		{"ShareBoard", func() error { _, err := e.s.ShareBoard(t.Context(), c, b.ID, store.Public); return err }},
		{"DeleteBoard", func() error { _, err := e.s.DeleteBoard(t.Context(), c, b.ID); return err }},
		{"RecordActivity", func() error {
			return e.s.RecordActivity(t.Context(), []store.Activity{{Tool: "get_board", Outcome: store.OutcomeOK, Actor: alice}})
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			err := w.write()
			storetest.WantInfraError(t, err)
			if !strings.Contains(err.Error(), "audit down") {
				t.Errorf("error %q does not carry the cause", err)
			}
			afterBoard, afterCounts := snapshot()
			storetest.Diff(t, "board", beforeBoard, afterBoard)
			storetest.Diff(t, "row counts (boards, columns, cards, activity)", beforeCounts, afterCounts)
		})
	}

	// With the trail back, writes work again: nothing was left half-done
	// on the writer connection.
	if _, err := e.db.Writer.ExecContext(t.Context(), `DROP TRIGGER audit_down`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[2].ID, nil); err != nil {
		t.Fatalf("MoveCard after the trail came back: %v", err)
	}
}
