package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

func testCreateBoard(t *testing.T, be backend) {
	twenty := make([]string, store.MaxColumns)
	for i := range twenty {
		twenty[i] = fmt.Sprintf("Step %d", i+1)
	}
	tests := []struct {
		name        string
		title       string
		columns     []string
		wantTitle   string
		wantColumns []string
	}{
		{"nil columns get the defaults", "Launch", nil, "Launch", []string{"To do", "Doing", "Done"}},
		{"empty columns get the defaults", "Launch", []string{}, "Launch", []string{"To do", "Doing", "Done"}},
		{"names are trimmed", "  Plan  ", []string{" Backlog ", "Now"}, "Plan", []string{"Backlog", "Now"}},
		{"one column", "Solo", []string{"Only"}, "Solo", []string{"Only"}},
		{"the most columns allowed", "Wide", twenty, "Wide", twenty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := be.newEnv(t, Options{})
			b, err := e.s.CreateBoard(t.Context(), Call(alice, "create_board"), tt.title, tt.columns)
			if err != nil {
				t.Fatalf("CreateBoard: %v", err)
			}
			if !strings.HasPrefix(b.ID, store.BoardPrefix) {
				t.Errorf("ID %q lacks prefix %q", b.ID, store.BoardPrefix)
			}
			if b.Title != tt.wantTitle || b.Visibility != store.Private || !b.Owned || b.Version != 1 {
				t.Errorf("board = %q %s owned=%v v%d, want %q private owned v1", b.Title, b.Visibility, b.Owned, b.Version, tt.wantTitle)
			}
			if b.CreatedAt.IsZero() || !b.UpdatedAt.Equal(b.CreatedAt) {
				t.Errorf("CreatedAt %v, UpdatedAt %v: want equal and set", b.CreatedAt, b.UpdatedAt)
			}
			var names []string
			for i, col := range b.Columns {
				names = append(names, col.Name)
				if col.Position != i || !strings.HasPrefix(col.ID, store.ColumnPrefix) || col.Cards == nil || len(col.Cards) != 0 {
					t.Errorf("column %d = %+v, want position %d, a column ID and no cards", i, col, i)
				}
			}
			Diff(t, "column names", tt.wantColumns, names)
			// What the write returned is what a read returns, to the nanosecond.
			Diff(t, "board read back", b, MustGet(t, e.s, alice, b.ID))
		})
	}
}

func testCreateBoardInvalid(t *testing.T, be backend) {
	tooMany := make([]string, store.MaxColumns+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("C%d", i)
	}
	tests := []struct {
		name    string
		title   string
		columns []string
	}{
		{"empty title", "   ", nil},
		{"title too long", strings.Repeat("x", store.MaxTitleLen+1), nil},
		{"title not UTF-8", "bad \xff", nil},
		{"too many columns", "Board", tooMany},
		{"empty column name", "Board", []string{"A", "  "}},
		{"column name too long", "Board", []string{strings.Repeat("y", store.MaxTitleLen+1)}},
		{"duplicate column names ignoring case", "Board", []string{"Todo", "Doing", " TODO "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := be.newEnv(t, Options{})
			_, err := e.s.CreateBoard(t.Context(), Call(alice, "create_board"), tt.title, tt.columns)
			WantCode(t, err, store.Invalid)
			if n := len(e.mustListBoards(t, alice)); n != 0 {
				t.Errorf("%d boards after a refused create, want 0", n)
			}
			if n := len(e.allActivity(t)); n != 0 {
				t.Errorf("%d activity rows after a refused create, want 0", n)
			}
		})
	}
}

// testCreateBoardAnonymous: tools never write anonymously, so an anonymous
// create is the caller's bug, not a domain error. That no board was stored
// is invisible here (an anonymous owner's private board is nobody's to
// see); each backend checks it on its own database.
func testCreateBoardAnonymous(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	_, err := e.s.CreateBoard(t.Context(), Call(anon, "create_board"), "Nobody's", nil)
	WantInfraError(t, err)
}

func testCreateBoardQuota(t *testing.T, be backend) {
	e := be.newEnv(t, Options{Quotas: store.Quotas{BoardsPerUser: 2, CardsPerBoard: 3}})
	first := MustBoard(t, e.s, alice, "One")
	MustBoard(t, e.s, alice, "Two")
	_, err := e.s.CreateBoard(t.Context(), Call(alice, "create_board"), "Three", nil)
	WantCode(t, err, store.Quota)
	if !strings.Contains(err.Error(), "delete_board") {
		t.Errorf("quota message %q does not say how to get out of it", err)
	}
	// The quota is per user, and mallory is not alice.
	MustBoard(t, e.s, bob, "Bob's")
	MustBoard(t, e.s, mallory, "Mallory's")
	// Deleting a board makes room again.
	if _, err := e.s.DeleteBoard(t.Context(), Call(alice, "delete_board"), first.ID); err != nil {
		t.Fatal(err)
	}
	MustBoard(t, e.s, alice, "Three")
}

func testGetBoard(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch", "To do", "Doing", "Done")
	todo, doing := b.Columns[0], b.Columns[1]
	c1 := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "Write copy", Labels: []string{"docs"}})
	c2 := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "Fix login", Description: "SSO breaks"})
	c3 := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: doing.ID, Title: "Deploy"})

	got := MustGet(t, e.s, alice, b.ID)
	want := *b
	want.UpdatedAt = c3.UpdatedAt // adding cards touches the board
	want.Columns = []store.Column{
		{ID: todo.ID, Name: "To do", Position: 0, Cards: []store.Card{*c1, *c2}},
		{ID: doing.ID, Name: "Doing", Position: 1, Cards: []store.Card{*c3}},
		{ID: b.Columns[2].ID, Name: "Done", Position: 2, Cards: []store.Card{}},
	}
	Diff(t, "board", &want, got)
	if got.Columns[0].Cards[1].ColumnName != "To do" || got.Columns[1].Cards[0].Position != 0 {
		t.Errorf("cards lack column names or positions: %+v", got.Columns)
	}

	for _, tt := range []struct {
		id   string
		code store.Code
	}{
		{"", store.Invalid},
		{todo.ID, store.Invalid}, // a column ID is not a board ID
		{"b_" + strings.Repeat("x", 80), store.Invalid},
		{missingBoard, store.NotFound},
	} {
		_, err := e.s.GetBoard(t.Context(), alice, tt.id)
		WantCode(t, err, tt.code)
	}
}

// sameMessage fails unless err's message, with id replaced, equals the one
// of missingErr with missingID replaced: an invisible thing must look
// exactly like a missing one.
func sameMessage(t *testing.T, err error, id string, missingErr error, missingID string) {
	t.Helper()
	WantCode(t, err, store.NotFound)
	WantCode(t, missingErr, store.NotFound)
	got := strings.ReplaceAll(err.Error(), id, "<id>")
	want := strings.ReplaceAll(missingErr.Error(), missingID, "<id>")
	if got != want {
		t.Errorf("message %q differs from the one for a missing ID, %q", got, want)
	}
}

func testIsolation(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Secret plans")
	col := b.Columns[0]
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: col.ID, Title: "Secret card", Labels: []string{"hush"}})
	bobBoard := MustBoard(t, e.s, bob, "Bob's board")
	bobCard := MustCard(t, e.s, bob, store.NewCard{BoardID: bobBoard.ID, ColumnID: bobBoard.Columns[0].ID, Title: "Bob's card"})
	before := MustGet(t, e.s, alice, b.ID)

	// Writes by anyone but alice fail alike whether the board is private
	// or public, and change nothing.
	checkWrites := func(t *testing.T, who store.Actor) {
		t.Helper()
		c := Call(who, "tool")
		_, err := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: col.ID, Title: "Intruder"})
		_, missErr := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: missingBoard, ColumnID: col.ID, Title: "Intruder"})
		sameMessage(t, err, b.ID, missErr, missingBoard)

		_, err = e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: card.ID, Title: new("Mine now")})
		_, missErr = e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: missingCard, Title: new("Mine now")})
		sameMessage(t, err, card.ID, missErr, missingCard)

		_, err = e.s.MoveCard(t.Context(), c, card.ID, col.ID, nil)
		_, missErr = e.s.MoveCard(t.Context(), c, missingCard, col.ID, nil)
		sameMessage(t, err, card.ID, missErr, missingCard)

		_, err = e.s.DeleteCard(t.Context(), c, card.ID)
		_, missErr = e.s.DeleteCard(t.Context(), c, missingCard)
		sameMessage(t, err, card.ID, missErr, missingCard)

		_, err = e.s.ShareBoard(t.Context(), c, b.ID, store.Public)
		_, missErr = e.s.ShareBoard(t.Context(), c, missingBoard, store.Public)
		sameMessage(t, err, b.ID, missErr, missingBoard)

		_, err = e.s.DeleteBoard(t.Context(), c, b.ID)
		_, missErr = e.s.DeleteBoard(t.Context(), c, missingBoard)
		sameMessage(t, err, b.ID, missErr, missingBoard)

		if who == bob {
			// Bob's own card into alice's column, and a card onto his own
			// board in alice's column: her column is not on his board.
			_, err = e.s.MoveCard(t.Context(), c, bobCard.ID, col.ID, nil)
			_, missErr = e.s.MoveCard(t.Context(), c, bobCard.ID, missingColumn, nil)
			sameMessage(t, err, col.ID, missErr, missingColumn)
			_, err = e.s.AddCard(t.Context(), c, store.NewCard{BoardID: bobBoard.ID, ColumnID: col.ID, Title: "Sneaky"})
			_, missErr = e.s.AddCard(t.Context(), c, store.NewCard{BoardID: bobBoard.ID, ColumnID: missingColumn, Title: "Sneaky"})
			sameMessage(t, err, col.ID, missErr, missingColumn)
		}
	}

	// Reads of a private board fail alike for everyone but alice.
	checkHidden := func(t *testing.T, who store.Actor) {
		t.Helper()
		_, err := e.s.GetBoard(t.Context(), who, b.ID)
		_, missErr := e.s.GetBoard(t.Context(), who, missingBoard)
		sameMessage(t, err, b.ID, missErr, missingBoard)

		_, err = e.s.GetCard(t.Context(), who, card.ID)
		_, missErr = e.s.GetCard(t.Context(), who, missingCard)
		sameMessage(t, err, card.ID, missErr, missingCard)

		_, err = e.s.SearchCards(t.Context(), who, store.CardQuery{BoardID: b.ID})
		_, missErr = e.s.SearchCards(t.Context(), who, store.CardQuery{BoardID: missingBoard})
		sameMessage(t, err, b.ID, missErr, missingBoard)

		if !who.Anonymous() {
			_, err = e.s.SearchCards(t.Context(), who, store.CardQuery{ColumnID: col.ID})
			_, missErr = e.s.SearchCards(t.Context(), who, store.CardQuery{ColumnID: missingColumn})
			sameMessage(t, err, col.ID, missErr, missingColumn)
		}

		found, err := e.s.SearchCards(t.Context(), who, store.CardQuery{Query: "secret"})
		if err != nil {
			t.Fatalf("SearchCards: %v", err)
		}
		if len(found.Cards) != 0 {
			t.Errorf("search found %d of alice's cards", len(found.Cards))
		}
		list, err := e.s.ListBoards(t.Context(), who, store.Page{})
		if err != nil {
			t.Fatalf("ListBoards: %v", err)
		}
		for _, s := range list.Boards {
			if s.ID == b.ID {
				t.Errorf("ListBoards shows alice's private board")
			}
		}
	}

	t.Run("private", func(t *testing.T) {
		for _, who := range []store.Actor{bob, mallory, anon} {
			checkHidden(t, who)
			checkWrites(t, who)
		}
	})

	t.Run("public", func(t *testing.T) {
		e.mustShare(t, alice, b.ID, store.Public)
		defer e.mustShare(t, alice, b.ID, store.Private)
		for _, who := range []store.Actor{bob, mallory, anon} {
			got, err := e.s.GetBoard(t.Context(), who, b.ID)
			if err != nil {
				t.Fatalf("GetBoard as %q: %v", who.Subject, err)
			}
			if got.Owned || got.Columns[0].Cards[0].ID != card.ID {
				t.Errorf("public board as %q: owned=%v, cards %+v", who.Subject, got.Owned, got.Columns[0].Cards)
			}
			view, err := e.s.GetCard(t.Context(), who, card.ID)
			if err != nil || view.Owned || view.Card.ID != card.ID {
				t.Errorf("GetCard on the public board as %q: %v, %+v", who.Subject, err, view)
			}
			list, err := e.s.ListBoards(t.Context(), who, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(list.Boards, func(s store.BoardSummary) bool { return s.ID == b.ID && !s.Owned }) {
				t.Errorf("ListBoards as %q lacks alice's public board", who.Subject)
			}
			found, err := e.s.SearchCards(t.Context(), who, store.CardQuery{BoardID: b.ID, ColumnID: col.ID, Query: "secret"})
			if err != nil || len(found.Cards) != 1 {
				t.Errorf("search on the public board as %q: %v, %d cards", who.Subject, err, len(found.Cards))
			}
			// Without board_id, only one's own boards are searched.
			found, err = e.s.SearchCards(t.Context(), who, store.CardQuery{Query: "secret"})
			if err != nil || len(found.Cards) != 0 {
				t.Errorf("search of own boards as %q: %v, %d cards", who.Subject, err, len(found.Cards))
			}
			checkWrites(t, who)
		}
	})

	t.Run("anonymous sees public boards only", func(t *testing.T) {
		e.mustShare(t, bob, bobBoard.ID, store.Public)
		defer e.mustShare(t, bob, bobBoard.ID, store.Private)
		list, err := e.s.ListBoards(t.Context(), anon, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range list.Boards {
			ids = append(ids, s.ID)
		}
		Diff(t, "anonymous board list", []string{bobBoard.ID}, ids)
	})

	after := MustGet(t, e.s, alice, b.ID)
	after.Version, after.UpdatedAt = before.Version, before.UpdatedAt // sharing back and forth
	Diff(t, "alice's board after all the attempts", before, after)
}

func testShareBoard(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch", "A", "B")
	MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "x"})

	for i, v := range []store.Visibility{store.Public, store.Private, store.Public} {
		got, err := e.s.ShareBoard(t.Context(), Call(alice, "share_board"), b.ID, v)
		if err != nil {
			t.Fatalf("ShareBoard(%s): %v", v, err)
		}
		want := store.BoardSummary{
			ID: b.ID, Title: "Launch", Visibility: v, Owned: true, Version: int64(i + 2),
			ColumnCount: 2, CardCount: 1, CreatedAt: b.CreatedAt, UpdatedAt: got.UpdatedAt,
		}
		Diff(t, "summary", want, *got)
		if !got.UpdatedAt.After(b.CreatedAt) {
			t.Errorf("UpdatedAt %v not after creation %v", got.UpdatedAt, b.CreatedAt)
		}
		read := MustGet(t, e.s, alice, b.ID)
		if read.Visibility != v || read.Version != want.Version {
			t.Errorf("read back %s v%d, want %s v%d", read.Visibility, read.Version, v, want.Version)
		}
	}

	// Sharing it the way it already is changes nothing, not even the
	// version, and is still recorded.
	before := MustGet(t, e.s, alice, b.ID)
	again, err := e.s.ShareBoard(t.Context(), Call(alice, "share_board"), b.ID, store.Public)
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != before.Version || !again.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("repeated share: version %d at %v, want unchanged %d at %v", again.Version, again.UpdatedAt, before.Version, before.UpdatedAt)
	}
	if a := e.lastActivity(t, alice); a.Summary != "board 'Launch' already public; nothing changed" {
		t.Errorf("activity summary %q", a.Summary)
	}

	for _, tt := range []struct {
		name string
		id   string
		v    store.Visibility
		code store.Code
	}{
		{"unknown visibility", b.ID, "friends", store.Invalid},
		{"empty visibility", b.ID, "", store.Invalid},
		{"bad ID", "x", store.Public, store.Invalid},
		{"missing board", missingBoard, store.Public, store.NotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.s.ShareBoard(t.Context(), Call(alice, "share_board"), tt.id, tt.v)
			WantCode(t, err, tt.code)
		})
	}
}

func testDeleteBoard(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	keep := MustBoard(t, e.s, alice, "Keep")
	for i := range 3 {
		MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[i%3].ID, Title: fmt.Sprint("card ", i)})
	}
	MustCard(t, e.s, alice, store.NewCard{BoardID: keep.ID, ColumnID: keep.Columns[0].ID, Title: "kept"})
	before := MustGet(t, e.s, alice, b.ID)

	got, err := e.s.DeleteBoard(t.Context(), Call(alice, "delete_board"), b.ID)
	if err != nil {
		t.Fatalf("DeleteBoard: %v", err)
	}
	want := store.BoardSummary{
		ID: b.ID, Title: "Launch", Visibility: store.Private, Owned: true, Version: 1,
		ColumnCount: 3, CardCount: 3, CreatedAt: before.CreatedAt, UpdatedAt: before.UpdatedAt,
	}
	Diff(t, "deleted board", want, *got)

	_, err = e.s.GetBoard(t.Context(), alice, b.ID)
	WantCode(t, err, store.NotFound)
	// What is left is the other board, whole. That the deleted board's
	// columns and cards are gone from the database, not merely hidden, is
	// each backend's own test.
	list := e.mustListBoards(t, alice)
	if len(list) != 1 || list[0].ID != keep.ID || list[0].ColumnCount != 3 || list[0].CardCount != 1 {
		t.Errorf("boards after the delete = %+v, want only %s with 3 columns and 1 card", list, keep.ID)
	}
	// The trail of the deleted board stays readable by its owner.
	acts, err := e.s.ListActivity(t.Context(), alice, b.ID, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.Activity) != 5 { // create, 3 cards, delete
		t.Errorf("%d activity rows for the deleted board, want 5", len(acts.Activity))
	}

	_, err = e.s.DeleteBoard(t.Context(), Call(alice, "delete_board"), b.ID)
	WantCode(t, err, store.NotFound)
	_, err = e.s.DeleteBoard(t.Context(), Call(alice, "delete_board"), "col_x")
	WantCode(t, err, store.Invalid)
}

// walkBoards lists all pages of boards for viewer, limit at a time.
func walkBoards(t *testing.T, s store.Store, viewer store.Actor, limit int) []string {
	t.Helper()
	var ids []string
	page := store.Page{Limit: limit}
	for range 1000 {
		list, err := s.ListBoards(t.Context(), viewer, page)
		if err != nil {
			t.Fatalf("ListBoards: %v", err)
		}
		if len(list.Boards) > limit {
			t.Fatalf("page of %d boards, limit %d", len(list.Boards), limit)
		}
		for _, b := range list.Boards {
			ids = append(ids, b.ID)
		}
		if list.NextCursor == "" {
			return ids
		}
		if len(list.Boards) != limit {
			t.Fatalf("short page of %d with a next cursor", len(list.Boards))
		}
		page.Cursor = list.NextCursor
	}
	t.Fatal("pagination does not end")
	return nil
}

func testListBoardsPagination(t *testing.T, be backend) {
	for _, step := range []time.Duration{0, time.Microsecond} {
		t.Run(fmt.Sprintf("clock step %v", step), func(t *testing.T) {
			e := be.newEnv(t, Options{Now: NewClock(step).Now})
			type made struct {
				id      string
				created time.Time
			}
			var aliceSees, bobSees, anonSees []made
			for i := range 7 {
				b := MustBoard(t, e.s, alice, fmt.Sprint("alice ", i))
				m := made{b.ID, b.CreatedAt}
				aliceSees = append(aliceSees, m)
				if i%3 == 0 {
					e.mustShare(t, alice, b.ID, store.Public)
					bobSees, anonSees = append(bobSees, m), append(anonSees, m)
				}
				b = MustBoard(t, e.s, bob, fmt.Sprint("bob ", i))
				m = made{b.ID, b.CreatedAt}
				bobSees = append(bobSees, m)
				if i%2 == 0 {
					e.mustShare(t, bob, b.ID, store.Public)
					aliceSees, anonSees = append(aliceSees, m), append(anonSees, m)
				}
			}
			order := func(ms []made) []string {
				slices.SortFunc(ms, func(a, b made) int {
					if c := a.created.Compare(b.created); c != 0 {
						return c
					}
					return strings.Compare(a.id, b.id)
				})
				var ids []string
				for _, m := range ms {
					ids = append(ids, m.id)
				}
				return ids
			}
			for _, tt := range []struct {
				name   string
				viewer store.Actor
				want   []string
			}{
				{"alice", alice, order(aliceSees)},
				{"bob", bob, order(bobSees)},
				{"anonymous", anon, order(anonSees)},
				{"mallory", mallory, order(anonSees)},
			} {
				for _, limit := range []int{1, 2, 3, 200} {
					t.Run(fmt.Sprintf("%s limit %d", tt.name, limit), func(t *testing.T) {
						Diff(t, "boards", tt.want, walkBoards(t, e.s, tt.viewer, limit))
					})
				}
			}
		})
	}
}

func testListBoardsSummary(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Counted", "A", "B", "C", "D")
	for range 2 {
		MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "x"})
	}
	list, err := e.s.ListBoards(t.Context(), alice, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	read := MustGet(t, e.s, alice, b.ID)
	want := store.BoardList{Boards: []store.BoardSummary{{
		ID: b.ID, Title: "Counted", Visibility: store.Private, Owned: true, Version: 1,
		ColumnCount: 4, CardCount: 2, CreatedAt: b.CreatedAt, UpdatedAt: read.UpdatedAt,
	}}}
	Diff(t, "list", want, list)

	empty, err := e.s.ListBoards(t.Context(), bob, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Boards == nil || len(empty.Boards) != 0 || empty.NextCursor != "" {
		t.Errorf("empty list = %#v, want a non-nil empty slice and no cursor", empty)
	}
}

func testPageErrors(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	for i := range 3 {
		MustBoard(t, e.s, alice, fmt.Sprint("b", i))
	}
	list, err := e.s.ListBoards(t.Context(), alice, store.Page{Limit: 1})
	if err != nil || list.NextCursor == "" {
		t.Fatalf("ListBoards: %v, cursor %q", err, list.NextCursor)
	}
	boardCursor := list.NextCursor
	acts, err := e.s.ListActivity(t.Context(), alice, "", store.Page{Limit: 1})
	if err != nil || acts.NextCursor == "" {
		t.Fatalf("ListActivity: %v, cursor %q", err, acts.NextCursor)
	}
	activityCursor := acts.NextCursor

	pages := []struct {
		name string
		page store.Page
	}{
		{"limit too big", store.Page{Limit: store.MaxPageSize + 1}},
		{"negative limit", store.Page{Limit: -1}},
		{"cursor not base64", store.Page{Cursor: "not a cursor!"}},
		{"cursor of nothing", store.Page{Cursor: "eA"}},
		{"truncated cursor", store.Page{Cursor: boardCursor[:len(boardCursor)/2]}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			_, err := e.s.ListBoards(t.Context(), alice, p.page)
			WantCode(t, err, store.Invalid)
			_, err = e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: "x", Page: p.page})
			WantCode(t, err, store.Invalid)
			_, err = e.s.ListActivity(t.Context(), alice, "", p.page)
			WantCode(t, err, store.Invalid)
		})
	}
	t.Run("cursor of another list", func(t *testing.T) {
		_, err := e.s.ListBoards(t.Context(), alice, store.Page{Cursor: activityCursor})
		WantCode(t, err, store.Invalid)
		_, err = e.s.ListActivity(t.Context(), alice, "", store.Page{Cursor: boardCursor})
		WantCode(t, err, store.Invalid)
		_, err = e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: "x", Page: store.Page{Cursor: boardCursor}})
		WantCode(t, err, store.Invalid)
	})
	t.Run("largest limit", func(t *testing.T) {
		if _, err := e.s.ListBoards(t.Context(), alice, store.Page{Limit: store.MaxPageSize}); err != nil {
			t.Errorf("limit %d: %v", store.MaxPageSize, err)
		}
	})
}
