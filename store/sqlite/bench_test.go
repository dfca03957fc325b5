package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// BenchmarkStore measures each store operation on a real database file
// (WAL, synchronous=NORMAL, as served), one operation at a time. The
// board under test has 50 cards in 3 columns, the load harness's shape.
func BenchmarkStore(b *testing.B) {
	e := newEnv(b, Options{Now: time.Now, Quotas: store.Quotas{BoardsPerUser: 1_000_000, CardsPerBoard: 10_000_000}})
	ctx := b.Context()
	board, cards := storetest.BenchBoard(b, e.s, alice)
	// A second board receives the cards that the write benchmarks add, so
	// the read benchmarks keep their 50.
	sink, err := e.s.CreateBoard(ctx, storetest.Call(alice, "create_board"), "Sink", nil)
	if err != nil {
		b.Fatal(err)
	}

	// The calls are made once, outside the timed loops, worded as the tools
	// word their activity rows.
	var (
		addCard        = storetest.Call(alice, "add_card")
		deleteCard     = storetest.Call(alice, "delete_card")
		moveCard       = storetest.Call(alice, "move_card")
		shareBoard     = storetest.Call(alice, "share_board")
		updateCard     = storetest.Call(alice, "update_card")
		bobCreateBoard = storetest.Call(bob, "create_board")
		bobDeleteBoard = storetest.Call(bob, "delete_board")
	)
	run := func(name string, op func(i int) error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := op(i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	run("GetBoard50", func(int) error { _, err := e.s.GetBoard(ctx, alice, board.ID); return err })
	run("ListBoards", func(int) error { _, err := e.s.ListBoards(ctx, alice, store.Page{Limit: 50}); return err })
	run("SearchCards", func(int) error {
		_, err := e.s.SearchCards(ctx, alice, store.CardQuery{Query: "Card 4", Page: store.Page{Limit: 20}})
		return err
	})
	run("ListActivity", func(int) error { _, err := e.s.ListActivity(ctx, alice, board.ID, store.Page{Limit: 50}); return err })
	run("AddCard", func(i int) error {
		_, err := e.s.AddCard(ctx, addCard, store.NewCard{
			BoardID: sink.ID, ColumnID: sink.Columns[i%3].ID, Title: fmt.Sprintf("Added %d", i),
		})
		return err
	})
	run("UpdateCard", func(i int) error {
		d := fmt.Sprintf("Update %d", i)
		_, err := e.s.UpdateCard(ctx, updateCard, store.CardUpdate{CardID: cards[i%50].ID, Description: &d})
		return err
	})
	run("MoveCard", func(i int) error {
		pos := 0
		_, err := e.s.MoveCard(ctx, moveCard, cards[i%50].ID, board.Columns[(i+1)%3].ID, &pos)
		return err
	})
	run("RecordActivity16", func(i int) error {
		rows := make([]store.Activity, 16)
		for j := range rows {
			rows[j] = store.Activity{At: time.Now(), Tool: "get_board", Actor: alice, Outcome: store.OutcomeOK, BoardID: board.ID, Summary: "viewed"}
		}
		return e.s.RecordActivity(ctx, rows)
	})
	run("AddAndDeleteCard", func(i int) error {
		c, err := e.s.AddCard(ctx, addCard, store.NewCard{BoardID: sink.ID, ColumnID: sink.Columns[0].ID, Title: "Short-lived"})
		if err != nil {
			return err
		}
		_, err = e.s.DeleteCard(ctx, deleteCard, c.ID)
		return err
	})
	run("ShareBoard", func(i int) error {
		v := store.Public
		if i%2 == 1 {
			v = store.Private
		}
		_, err := e.s.ShareBoard(ctx, shareBoard, board.ID, v)
		return err
	})
	run("CreateAndDeleteBoard", func(i int) error {
		nb, err := e.s.CreateBoard(ctx, bobCreateBoard, fmt.Sprintf("Tmp %d", i), nil)
		if err != nil {
			return err
		}
		_, err = e.s.DeleteBoard(ctx, bobDeleteBoard, nb.ID)
		return err
	})
}
