package storetest

import (
	"cmp"
	"slices"
	"sync"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// The people in the tests. Alice and Bob share an issuer; "mallory" has
// Alice's subject at another issuer, so she must not see Alice's boards.
// They are values, never changed.
var (
	alice   = store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "chatgpt"}
	bob     = store.Actor{Issuer: "https://id.example", Subject: "bob", ClientID: "claude"}
	mallory = store.Actor{Issuer: "https://evil.example", Subject: "alice", ClientID: "cli"}
	anon    = store.Actor{}
)

// IDs that are well formed but exist nowhere.
const (
	missingBoard  = "b_aaaaaaaaaaaaaaaaaaaa"
	missingColumn = "col_aaaaaaaaaaaaaaaaaaaa"
	missingCard   = "c_aaaaaaaaaaaaaaaaaaaa"
)

// mustShare changes a board's visibility or fails the test.
func (e *env) mustShare(t *testing.T, owner store.Actor, id string, v store.Visibility) {
	t.Helper()
	if _, err := e.s.ShareBoard(t.Context(), Call(owner, "share_board"), id, v); err != nil {
		t.Fatalf("ShareBoard(%s, %s): %v", id, v, err)
	}
}

// mustListBoards lists every board viewer may see, all pages, or fails the
// test.
func (e *env) mustListBoards(t *testing.T, viewer store.Actor) []store.BoardSummary {
	t.Helper()
	all := []store.BoardSummary{}
	page := store.Page{Limit: store.MaxPageSize}
	for range 1000 {
		list, err := e.s.ListBoards(t.Context(), viewer, page)
		if err != nil {
			t.Fatalf("ListBoards: %v", err)
		}
		all = append(all, list.Boards...)
		if list.NextCursor == "" {
			return all
		}
		page.Cursor = list.NextCursor
	}
	t.Fatal("ListBoards: pagination does not end")
	return nil
}

// cardCount is the number of cards on the boards viewer may see, as
// ListBoards counts them.
func (e *env) cardCount(t *testing.T, viewer store.Actor) int {
	t.Helper()
	n := 0
	for _, b := range e.mustListBoards(t, viewer) {
		n += b.CardCount
	}
	return n
}

// allActivity returns, oldest first, every activity row that a signed-in
// person of the tests may read. The suite sees the trail only as
// ListActivity shows it, so this is the whole trail of a test unless
// someone anonymous recorded a row about nobody's board.
func (e *env) allActivity(t *testing.T) []store.Activity {
	t.Helper()
	seen := map[int64]bool{}
	all := []store.Activity{}
	for _, viewer := range []store.Actor{alice, bob, mallory} {
		page := store.Page{Limit: store.MaxPageSize}
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatal("ListActivity: pagination does not end")
			}
			list, err := e.s.ListActivity(t.Context(), viewer, "", page)
			if err != nil {
				t.Fatalf("ListActivity: %v", err)
			}
			for _, a := range list.Activity {
				if !seen[a.ID] {
					seen[a.ID] = true
					all = append(all, a)
				}
			}
			if list.NextCursor == "" {
				break
			}
			page.Cursor = list.NextCursor
		}
	}
	slices.SortFunc(all, func(a, b store.Activity) int { return cmp.Compare(a.ID, b.ID) })
	return all
}

// lastActivity returns the newest activity row that viewer may read.
func (e *env) lastActivity(t *testing.T, viewer store.Actor) store.Activity {
	t.Helper()
	list, err := e.s.ListActivity(t.Context(), viewer, "", store.Page{Limit: 1})
	if err != nil {
		t.Fatalf("ListActivity: %v", err)
	}
	if len(list.Activity) == 0 {
		t.Fatal("no activity rows")
	}
	return list.Activity[0]
}

// countTool counts the rows of tool among rows.
func countTool(rows []store.Activity, tool string) int {
	n := 0
	for _, a := range rows {
		if a.Tool == tool {
			n++
		}
	}
	return n
}

// checkDense fails unless the cards of every column of b, a board as read,
// have the positions 0..n-1 exactly once each, in order.
func checkDense(t *testing.T, b *store.Board) {
	t.Helper()
	for _, col := range b.Columns {
		for i, c := range col.Cards {
			if c.Position != i {
				t.Errorf("column %s: card %s at position %d where %d was expected", col.ID, c.ID, c.Position, i)
			}
		}
	}
}

// titlesByColumn lists card titles column by column, in position order.
func titlesByColumn(b *store.Board) [][]string {
	out := make([][]string, len(b.Columns))
	for i, col := range b.Columns {
		out[i] = []string{}
		for _, c := range col.Cards {
			out[i] = append(out[i], c.Title)
		}
	}
	return out
}

// concurrently runs fn(0) … fn(n-1) on n goroutines that start together,
// and waits for them all.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}
