package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// addReq is an AddCard call as a batch of the tests carries it.
func addReq(t *testing.T, a store.Actor, board, column, title string) *addRequest {
	return &addRequest{ctx: t.Context(), call: storetest.Call(a, "add_card"),
		in: store.NewCard{BoardID: board, ColumnID: column, Title: title, Labels: []string{}}}
}

// outcome is a batch request's outcome as the tests compare it: the card's
// column and position, or the error's code.
type outcome struct {
	Column   string
	Position int
	Code     store.Code
}

func outcomes(batch []*addRequest) []outcome {
	var got []outcome
	for _, r := range batch {
		switch {
		case r.err != nil:
			got = append(got, outcome{Code: store.ErrorCode(r.err)})
		case r.card != nil:
			got = append(got, outcome{Column: r.card.ColumnID, Position: r.card.Position})
		default:
			got = append(got, outcome{Code: "condition failed"})
		}
	}
	return got
}

// TestAddCardsBatch: one batch refuses the calls it must, each for its own
// reason, and adds the others in order, with dense positions, an activity
// row each and one revision for all. A call that the batch's earlier cards
// leave without room under the quota inserts nothing, and AddCard's next
// try refuses it.
func TestAddCardsBatch(t *testing.T) {
	e := newEnv(t, Options{Quotas: store.Quotas{CardsPerBoard: 4}})
	b := storetest.MustBoard(t, e.s, alice, "Batch", "Todo", "Done")
	todo, done := b.Columns[0].ID, b.Columns[1].ID
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: todo, Title: "before"})
	revision := e.count(t, `SELECT revision FROM boards WHERE id = $1`, b.ID)

	batch := []*addRequest{
		addReq(t, alice, b.ID, todo, "one"),
		addReq(t, alice, b.ID, "col_nosuchcolumn", "nowhere"),
		addReq(t, bob, b.ID, todo, "not bob's board"),
		addReq(t, alice, b.ID, done, "two"),
		addReq(t, alice, b.ID, todo, "three"),
		addReq(t, alice, b.ID, todo, "over the quota"),
	}
	if err := e.s.addCards(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	want := []outcome{
		{Column: todo, Position: 1},
		{Code: store.NotFound},
		{Code: store.NotFound},
		{Column: done, Position: 0},
		{Column: todo, Position: 2},
		{Code: "condition failed"},
	}
	if d := cmp.Diff(want, outcomes(batch)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	e.checkBoard(t, b.ID)
	if n := e.count(t, `SELECT count(*) FROM activity WHERE tool = 'add_card' AND board_id = $1`, b.ID); n != 4 {
		t.Errorf("%d add_card activity rows, want 4: one per card added", n)
	}
	if got := e.count(t, `SELECT revision FROM boards WHERE id = $1`, b.ID); got != revision+1 {
		t.Errorf("revision %d, want %d: one per batch", got, revision+1)
	}
	got := storetest.MustGet(t, e.s, alice, b.ID)
	var titles []string
	for _, c := range got.Columns {
		for _, card := range c.Cards {
			titles = append(titles, card.Title)
		}
	}
	if d := cmp.Diff([]string{"before", "one", "three", "two"}, titles); d != "" {
		t.Errorf("cards (-want +got):\n%s", d)
	}
	_, err := e.s.AddCard(t.Context(), storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: todo, Title: "over the quota"})
	storetest.WantCode(t, err, store.Quota)
}

// TestAddCardsQuotaCountsOnlyCardsAdded: a card of the batch whose column
// goes away before the batch's lock is not added, and so does not count
// against the quota of the call after it in the batch.
func TestAddCardsQuotaCountsOnlyCardsAdded(t *testing.T) {
	e := newEnv(t, Options{Quotas: store.Quotas{CardsPerBoard: 2}})
	b := storetest.MustBoard(t, e.s, alice, "Quota", "X", "Y")
	x, y := b.Columns[0].ID, b.Columns[1].ID
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: y, Title: "before"})

	batch := []*addRequest{addReq(t, alice, b.ID, x, "to X"), addReq(t, alice, b.ID, y, "to Y")}
	held := holdBoard(t, e, b.ID)
	done := make(chan error, 1)
	go func() { done <- e.s.addCards(t.Context(), batch) }()
	waitForLockWaiter(t, e)
	if _, err := held.Exec(t.Context(), `DELETE FROM columns WHERE id = $1`, x); err != nil {
		t.Fatal(err)
	}
	if err := held.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []outcome{{Code: "condition failed"}, {Column: y, Position: 1}}
	if d := cmp.Diff(want, outcomes(batch)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	e.checkBoard(t, b.ID)
}

// holdBoard locks board id's row in a transaction of its own, which the
// test ends; it is rolled back when the test does not.
func holdBoard(t *testing.T, e *env, id string) pgx.Tx {
	t.Helper()
	tx, err := e.raw.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(t.Context(), `SELECT FROM boards WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitForLockWaiter waits until a session of e's database waits for a
// lock: a batch that has read the board and waits for holdBoard's lock.
func waitForLockWaiter(t *testing.T, e *env) {
	t.Helper()
	pgtest.WaitFor(t, "a batch to wait for the board's lock", func() bool {
		return e.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 1
	})
}

// TestAddCardsRefusedAlone: a call that the database refuses (a NUL in a
// title, which CheckNewCard would have refused before) fails alone, and
// the rest of its batch is added.
func TestAddCardsRefusedAlone(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Refusals", "Todo")
	todo := b.Columns[0].ID
	batch := []*addRequest{
		addReq(t, alice, b.ID, todo, "one"),
		addReq(t, alice, b.ID, todo, "nul\x00"),
		addReq(t, alice, b.ID, todo, "two"),
	}
	e.s.runAdds(t.Context(), batch)
	if batch[1].err == nil || store.ErrorCode(batch[1].err) != "" || batch[1].card != nil {
		t.Errorf("the refused call: card %v, error %v; want an infrastructure error", batch[1].card, batch[1].err)
	}
	for _, i := range []int{0, 2} {
		if batch[i].err != nil || batch[i].card == nil {
			t.Errorf("call %d: card %v, error %v; want its card", i, batch[i].card, batch[i].err)
		}
	}
	e.checkBoard(t, b.ID)
	if n := e.count(t, `SELECT count(*) FROM activity WHERE tool = 'add_card'`); n != 2 {
		t.Errorf("%d add_card activity rows, want 2", n)
	}
}

// TestAddCardRaceWithRename: a board renamed between a batch's read and
// its lock fails the batch's condition, which writes nothing, and AddCard
// goes again: one card, and one activity row that names the new title.
func TestAddCardRaceWithRename(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Old title", "Todo")

	// Hold the board's lock so that the batch, once it has read the
	// board, waits for it; rename the board under that lock.
	ctx := t.Context()
	tx := holdBoard(t, e, b.ID)
	type added struct {
		card *store.Card
		err  error
	}
	out := make(chan added, 1)
	go func() {
		card, err := e.s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "raced"})
		out <- added{card, err}
	}()
	waitForLockWaiter(t, e)
	if _, err := tx.Exec(ctx, `UPDATE boards SET title = 'New title', revision = revision + 1 WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-out
	if a.err != nil {
		t.Fatalf("AddCard: %v", a.err)
	}
	if a.card.Position != 0 {
		t.Errorf("position %d, want 0", a.card.Position)
	}
	e.checkBoard(t, b.ID)
	var summaries []string
	rows, err := e.raw.Query(ctx, `SELECT summary FROM activity WHERE tool = 'add_card'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		summaries = append(summaries, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(summaries) != 1 || !strings.Contains(summaries[0], "New title") {
		t.Errorf("add_card activity rows %q, want one that names the board's new title", summaries)
	}
}
