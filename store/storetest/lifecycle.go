package storetest

import (
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

func testPingAndClose(t *testing.T, be backend) {
	s := be.openUnclosed(t, Options{})
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

// testCallsAfterClose: a closed store fails every call with an
// infrastructure error, never a domain error that would blame the caller.
func testCallsAfterClose(t *testing.T, be backend) {
	s := be.openUnclosed(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Well-formed IDs, so that every call gets past its checks of the
	// input to the database.
	c := Call(alice, "tool")
	errs := map[string]error{}
	_, errs["ListBoards"] = s.ListBoards(t.Context(), alice, store.Page{})
	_, errs["GetBoard"] = s.GetBoard(t.Context(), alice, missingBoard)
	_, errs["GetCard"] = s.GetCard(t.Context(), alice, missingCard)
	_, errs["SearchCards"] = s.SearchCards(t.Context(), alice, store.CardQuery{Query: "x"})
	_, errs["ListActivity"] = s.ListActivity(t.Context(), alice, "", store.Page{})
	_, errs["CreateBoard"] = s.CreateBoard(t.Context(), c, "x", nil)
	_, errs["AddCard"] = s.AddCard(t.Context(), c, store.NewCard{BoardID: missingBoard, ColumnID: missingColumn, Title: "x"})
	_, errs["UpdateCard"] = s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: missingCard, Title: new("x")})
	_, errs["MoveCard"] = s.MoveCard(t.Context(), c, missingCard, missingColumn, nil)
	_, errs["DeleteCard"] = s.DeleteCard(t.Context(), c, missingCard)
	_, errs["ShareBoard"] = s.ShareBoard(t.Context(), c, missingBoard, store.Public)
	_, errs["DeleteBoard"] = s.DeleteBoard(t.Context(), c, missingBoard)
	errs["RecordActivity"] = s.RecordActivity(t.Context(), []store.Activity{{Tool: "x"}})
	_, errs["PruneActivity"] = s.PruneActivity(t.Context(), time.Now())
	for name, err := range errs {
		t.Run(name, func(t *testing.T) { WantInfraError(t, err) })
	}
}
