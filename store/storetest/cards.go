package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

func testAddCard(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	todo := b.Columns[0]

	first, err := e.s.AddCard(t.Context(), Call(alice, "add_card"), store.NewCard{
		BoardID: b.ID, ColumnID: todo.ID, Title: "  Fix login  ", Description: "SSO breaks\n",
		Labels: []string{" bug ", "Bug", "urgent"},
	})
	if err != nil {
		t.Fatalf("AddCard: %v", err)
	}
	want := store.Card{
		ID: first.ID, BoardID: b.ID, ColumnID: todo.ID, ColumnName: "To do", Title: "Fix login",
		Description: "SSO breaks\n", Labels: []string{"bug", "urgent"}, Position: 0, Version: 1,
		CreatedAt: first.CreatedAt, UpdatedAt: first.CreatedAt,
	}
	Diff(t, "card", want, *first)
	if !strings.HasPrefix(first.ID, store.CardPrefix) || !first.CreatedAt.After(b.CreatedAt) {
		t.Errorf("card ID %q, created %v (board %v)", first.ID, first.CreatedAt, b.CreatedAt)
	}

	second := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "Write copy"})
	if second.Position != 1 || second.Labels == nil || len(second.Labels) != 0 {
		t.Errorf("second card: position %d, labels %#v; want 1 and an empty non-nil slice", second.Position, second.Labels)
	}
	read := MustGet(t, e.s, alice, b.ID)
	Diff(t, "cards read back", []store.Card{*first, *second}, read.Columns[0].Cards)
	if !read.UpdatedAt.Equal(second.CreatedAt) {
		t.Errorf("board UpdatedAt %v, want the last card's time %v", read.UpdatedAt, second.CreatedAt)
	}
	if read.Version != 1 {
		t.Errorf("board version %d after adding cards, want 1 (cards do not bump it)", read.Version)
	}

	other := MustBoard(t, e.s, alice, "Other")
	for _, tt := range []struct {
		name string
		in   store.NewCard
		code store.Code
	}{
		{"missing board ID", store.NewCard{ColumnID: todo.ID, Title: "x"}, store.Invalid},
		{"card ID as board ID", store.NewCard{BoardID: first.ID, ColumnID: todo.ID, Title: "x"}, store.Invalid},
		{"missing column ID", store.NewCard{BoardID: b.ID, Title: "x"}, store.Invalid},
		{"board ID as column ID", store.NewCard{BoardID: b.ID, ColumnID: b.ID, Title: "x"}, store.Invalid},
		{"empty title", store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: " "}, store.Invalid},
		{"title too long", store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: strings.Repeat("é", store.MaxTitleLen+1)}, store.Invalid},
		{"description too long", store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "x", Description: strings.Repeat("d", store.MaxDescriptionLen+1)}, store.Invalid},
		{"empty label", store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "x", Labels: []string{""}}, store.Invalid},
		{"label too long", store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "x", Labels: []string{strings.Repeat("l", store.MaxLabelLen+1)}}, store.Invalid},
		{"too many labels", store.NewCard{BoardID: b.ID, ColumnID: todo.ID, Title: "x", Labels: strings.Fields("a b c d e f g h i j k")}, store.Invalid},
		{"missing board", store.NewCard{BoardID: missingBoard, ColumnID: todo.ID, Title: "x"}, store.NotFound},
		{"missing column", store.NewCard{BoardID: b.ID, ColumnID: missingColumn, Title: "x"}, store.NotFound},
		{"column of another board", store.NewCard{BoardID: other.ID, ColumnID: todo.ID, Title: "x"}, store.NotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows := len(e.allActivity(t))
			_, err := e.s.AddCard(t.Context(), Call(alice, "add_card"), tt.in)
			WantCode(t, err, tt.code)
			if n := e.cardCount(t, alice); n != 2 {
				t.Errorf("%d cards after a refused add, want 2", n)
			}
			if n := len(e.allActivity(t)); n != rows {
				t.Errorf("a refused add wrote %d activity rows", n-rows)
			}
		})
	}
}

func testAddCardQuota(t *testing.T, be backend) {
	e := be.newEnv(t, Options{Quotas: store.Quotas{BoardsPerUser: 2, CardsPerBoard: 3}})
	b := MustBoard(t, e.s, alice, "Small")
	other := MustBoard(t, e.s, alice, "Other")
	var cards []*store.Card
	for i := range 3 {
		cards = append(cards, MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[i].ID, Title: fmt.Sprint(i)}))
	}
	_, err := e.s.AddCard(t.Context(), Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "one too many"})
	WantCode(t, err, store.Quota)
	if !strings.Contains(err.Error(), "delete_card") {
		t.Errorf("quota message %q does not say how to get out of it", err)
	}
	// The quota is per board.
	MustCard(t, e.s, alice, store.NewCard{BoardID: other.ID, ColumnID: other.Columns[0].ID, Title: "fine"})
	// Deleting a card makes room.
	if _, err := e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), cards[0].ID); err != nil {
		t.Fatal(err)
	}
	MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "room again"})
}

func testUpdateCard(t *testing.T, be backend) {
	tests := []struct {
		name    string
		in      store.CardUpdate // CardID is filled in
		want    func(c *store.Card)
		summary string
	}{
		{
			name:    "title only",
			in:      store.CardUpdate{Title: new("  Fix sign-in ")},
			want:    func(c *store.Card) { c.Title = "Fix sign-in" },
			summary: "updated card 'Fix sign-in' (title), formerly 'Fix login'",
		},
		{
			name:    "description and labels",
			in:      store.CardUpdate{Description: new("new text"), Labels: new([]string{"p1", " P1 ", "ui"})},
			want:    func(c *store.Card) { c.Description, c.Labels = "new text", []string{"p1", "ui"} },
			summary: "updated card 'Fix login' (description, labels)",
		},
		{
			name:    "labels cleared",
			in:      store.CardUpdate{Labels: new([]string{})},
			want:    func(c *store.Card) { c.Labels = []string{} },
			summary: "updated card 'Fix login' (labels)",
		},
		{
			name:    "description cleared with the right version",
			in:      store.CardUpdate{Description: new(""), ExpectedVersion: new(int64(1))},
			want:    func(c *store.Card) { c.Description = "" },
			summary: "updated card 'Fix login' (description)",
		},
		{
			name:    "title changed, labels the same",
			in:      store.CardUpdate{Title: new("Fix SSO"), Labels: new([]string{"bug"})},
			want:    func(c *store.Card) { c.Title = "Fix SSO" },
			summary: "updated card 'Fix SSO' (title), formerly 'Fix login'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := be.newEnv(t, Options{})
			b := MustBoard(t, e.s, alice, "Launch")
			card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "Fix login",
				Description: "SSO", Labels: []string{"bug"}})
			in := tt.in
			in.CardID = card.ID
			got, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), in)
			if err != nil {
				t.Fatalf("UpdateCard: %v", err)
			}
			want := *card
			tt.want(&want)
			want.Version = 2
			want.UpdatedAt = got.UpdatedAt
			Diff(t, "card", want, *got)
			if !got.UpdatedAt.After(card.UpdatedAt) {
				t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, card.UpdatedAt)
			}
			read := MustGet(t, e.s, alice, b.ID)
			Diff(t, "card read back", []store.Card{*got}, read.Columns[1].Cards)
			if !read.UpdatedAt.Equal(got.UpdatedAt) || read.Version != 1 {
				t.Errorf("board UpdatedAt %v version %d, want %v and 1", read.UpdatedAt, read.Version, got.UpdatedAt)
			}
			if a := e.lastActivity(t, alice); a.Summary != tt.summary {
				t.Errorf("summary %q, want %q", a.Summary, tt.summary)
			}
		})
	}
}

// testUpdateCardUnchanged: an update that changes nothing bumps neither the
// card's version nor its time, so that repeating a call is harmless and
// another client's expected_version stays valid. It is still recorded.
func testUpdateCardUnchanged(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "Fix login",
		Description: "SSO", Labels: []string{"bug"}})
	for _, in := range []store.CardUpdate{
		{Title: new(" Fix login ")},
		{Description: new("SSO"), Labels: new([]string{" bug "}), ExpectedVersion: new(int64(1))},
	} {
		in.CardID = card.ID
		got, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), in)
		if err != nil {
			t.Fatalf("UpdateCard: %v", err)
		}
		Diff(t, "unchanged card", *card, *got)
		Diff(t, "card read back", []store.Card{*card}, MustGet(t, e.s, alice, b.ID).Columns[1].Cards)
		if a := e.lastActivity(t, alice); a.Summary != "card 'Fix login' already as requested; nothing changed" || a.Outcome != store.OutcomeOK {
			t.Errorf("activity %q (%s), want the no-change summary with outcome ok", a.Summary, a.Outcome)
		}
	}
}

func testUpdateCardErrors(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Fix login"})
	for _, tt := range []struct {
		name string
		in   store.CardUpdate
		code store.Code
	}{
		{"nothing to update", store.CardUpdate{CardID: card.ID}, store.Invalid},
		{"only a version", store.CardUpdate{CardID: card.ID, ExpectedVersion: new(int64(1))}, store.Invalid},
		{"no card ID", store.CardUpdate{Title: new("x")}, store.Invalid},
		{"board ID as card ID", store.CardUpdate{CardID: b.ID, Title: new("x")}, store.Invalid},
		{"empty title", store.CardUpdate{CardID: card.ID, Title: new("")}, store.Invalid},
		{"description too long", store.CardUpdate{CardID: card.ID, Description: new(strings.Repeat("d", store.MaxDescriptionLen+1))}, store.Invalid},
		{"bad label", store.CardUpdate{CardID: card.ID, Labels: new([]string{" "})}, store.Invalid},
		{"missing card", store.CardUpdate{CardID: missingCard, Title: new("x")}, store.NotFound},
		{"stale version", store.CardUpdate{CardID: card.ID, Title: new("x"), ExpectedVersion: new(int64(0))}, store.Conflict},
		{"future version", store.CardUpdate{CardID: card.ID, Title: new("x"), ExpectedVersion: new(int64(2))}, store.Conflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), tt.in)
			WantCode(t, err, tt.code)
			Diff(t, "card", []store.Card{*card}, MustGet(t, e.s, alice, b.ID).Columns[0].Cards)
		})
	}
	_, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"),
		store.CardUpdate{CardID: card.ID, Title: new("x"), ExpectedVersion: new(int64(7))})
	want := fmt.Sprintf("card %s is at version 1, not 7: someone changed it since you read it; read it again with get_board and retry", card.ID)
	if err == nil || err.Error() != want {
		t.Errorf("conflict message %q, want %q", err, want)
	}
}

func testUpdateCardConcurrentConflict(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Race")
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Contended"})

	const n = 20
	errs := make([]error, n)
	concurrently(n, func(i int) {
		_, errs[i] = e.s.UpdateCard(t.Context(), Call(alice, "update_card"), store.CardUpdate{
			CardID: card.ID, Title: new(fmt.Sprint("writer ", i)), ExpectedVersion: new(card.Version),
		})
	})

	winner, conflicts := -1, 0
	for i, err := range errs {
		switch store.ErrorCode(err) {
		case "":
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			} else if winner >= 0 {
				t.Errorf("writers %d and %d both succeeded", winner, i)
			} else {
				winner = i
			}
		case store.Conflict:
			conflicts++
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if winner < 0 || conflicts != n-1 {
		t.Fatalf("winner %d, %d conflicts; want one winner and %d conflicts", winner, conflicts, n-1)
	}
	got := MustGet(t, e.s, alice, b.ID).Columns[0].Cards[0]
	if got.Version != 2 || got.Title != fmt.Sprint("writer ", winner) {
		t.Errorf("card = %q v%d, want the winner's title at v2", got.Title, got.Version)
	}
	if n := countTool(e.allActivity(t), "update_card"); n != 1 {
		t.Errorf("%d update activity rows, want 1", n)
	}
}

func testMoveCard(t *testing.T, be backend) {
	// The board starts as To do: A B C D, Doing: E F, Done: (empty).
	type want struct {
		columns [][]string
		moved   bool
		from    string // FromColumnName
		fromPos int
		summary string
	}
	tests := []struct {
		name     string
		card     string
		column   int // index of the target column
		position *int
		want     want
	}{
		{"up within a column", "C", 0, new(0), want{[][]string{{"C", "A", "B", "D"}, {"E", "F"}, {}}, true, "To do", 2,
			"moved card 'C' in To do from position 2 to 0"}},
		{"down within a column", "A", 0, new(2), want{[][]string{{"B", "C", "A", "D"}, {"E", "F"}, {}}, true, "To do", 0,
			"moved card 'A' in To do from position 0 to 2"}},
		{"to the end of its column", "B", 0, nil, want{[][]string{{"A", "C", "D", "B"}, {"E", "F"}, {}}, true, "To do", 1,
			"moved card 'B' in To do from position 1 to 3"}},
		{"past the end of its column is clamped", "A", 0, new(99), want{[][]string{{"B", "C", "D", "A"}, {"E", "F"}, {}}, true, "To do", 0,
			"moved card 'A' in To do from position 0 to 3"}},
		{"to the top of another column", "B", 1, new(0), want{[][]string{{"A", "C", "D"}, {"B", "E", "F"}, {}}, true, "To do", 1,
			"moved card 'B' from To do to Doing"}},
		{"into the middle of another column", "D", 1, new(1), want{[][]string{{"A", "B", "C"}, {"E", "D", "F"}, {}}, true, "To do", 3,
			"moved card 'D' from To do to Doing"}},
		{"to the end of another column", "E", 0, nil, want{[][]string{{"A", "B", "C", "D", "E"}, {"F"}, {}}, true, "Doing", 0,
			"moved card 'E' from Doing to To do"}},
		{"past the end of another column is clamped", "A", 1, new(99), want{[][]string{{"B", "C", "D"}, {"E", "F", "A"}, {}}, true, "To do", 0,
			"moved card 'A' from To do to Doing"}},
		{"into an empty column", "F", 2, new(5), want{[][]string{{"A", "B", "C", "D"}, {"E"}, {"F"}}, true, "Doing", 1,
			"moved card 'F' from Doing to Done"}},
		{"to where it is", "C", 0, new(2), want{[][]string{{"A", "B", "C", "D"}, {"E", "F"}, {}}, false, "To do", 2,
			"card 'C' already in To do at position 2"}},
		{"last card to the end of its column", "F", 1, nil, want{[][]string{{"A", "B", "C", "D"}, {"E", "F"}, {}}, false, "Doing", 1,
			"card 'F' already in Doing at position 1"}},
		{"last card past the end of its column", "D", 0, new(10), want{[][]string{{"A", "B", "C", "D"}, {"E", "F"}, {}}, false, "To do", 3,
			"card 'D' already in To do at position 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := be.newEnv(t, Options{})
			b := MustBoard(t, e.s, alice, "Launch")
			cards := map[string]*store.Card{}
			for i, col := range [][]string{{"A", "B", "C", "D"}, {"E", "F"}} {
				for _, title := range col {
					cards[title] = MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[i].ID, Title: title})
				}
			}
			card := cards[tt.card]
			before := MustGet(t, e.s, alice, b.ID)

			got, err := e.s.MoveCard(t.Context(), Call(alice, "move_card"), card.ID, b.Columns[tt.column].ID, tt.position)
			if err != nil {
				t.Fatalf("MoveCard: %v", err)
			}
			after := MustGet(t, e.s, alice, b.ID)
			Diff(t, "columns", tt.want.columns, titlesByColumn(after))
			checkDense(t, after)

			if got.Moved != tt.want.moved || got.FromColumnName != tt.want.from || got.FromPosition != tt.want.fromPos ||
				got.FromColumnID != card.ColumnID {
				t.Errorf("move = moved %v from %s (%s) at %d; want moved %v from %s at %d",
					got.Moved, got.FromColumnName, got.FromColumnID, got.FromPosition, tt.want.moved, tt.want.from, tt.want.fromPos)
			}
			// The card returned is the card as it now is.
			var read store.Card
			for _, col := range after.Columns {
				for _, c := range col.Cards {
					if c.ID == card.ID {
						read = c
					}
				}
			}
			Diff(t, "returned card", read, got.Card)
			if tt.want.moved {
				if read.Version != 2 || !after.UpdatedAt.Equal(read.UpdatedAt) {
					t.Errorf("moved card v%d updated %v, board updated %v; want v2 and equal times", read.Version, read.UpdatedAt, after.UpdatedAt)
				}
			} else {
				Diff(t, "board after a no-op move", before, after)
			}
			a := e.lastActivity(t, alice)
			if a.Summary != tt.want.summary || a.Tool != "move_card" {
				t.Errorf("activity %q by %s, want %q", a.Summary, a.Tool, tt.want.summary)
			}
		})
	}
}

func testMoveCardErrors(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	other := MustBoard(t, e.s, alice, "Other")
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "A"})
	for _, tt := range []struct {
		name     string
		card     string
		column   string
		position *int
		code     store.Code
	}{
		{"negative position", card.ID, b.Columns[1].ID, new(-1), store.Invalid},
		{"column ID as card ID", b.Columns[0].ID, b.Columns[1].ID, nil, store.Invalid},
		{"card ID as column ID", card.ID, card.ID, nil, store.Invalid},
		{"missing card", missingCard, b.Columns[1].ID, nil, store.NotFound},
		{"missing column", card.ID, missingColumn, nil, store.NotFound},
		{"column of another of one's boards", card.ID, other.Columns[1].ID, nil, store.NotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.s.MoveCard(t.Context(), Call(alice, "move_card"), tt.card, tt.column, tt.position)
			WantCode(t, err, tt.code)
			Diff(t, "columns", [][]string{{"A"}, {}, {}}, titlesByColumn(MustGet(t, e.s, alice, b.ID)))
		})
	}
}

// testMoveCardShuffle makes many random-ish moves and checks after each
// that positions stay dense and that the order matches a model.
func testMoveCardShuffle(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Shuffle")
	model := make([][]string, len(b.Columns))
	for i := range 9 {
		col := i % len(b.Columns)
		c := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[col].ID, Title: fmt.Sprint("card ", i)})
		model[col] = append(model[col], c.ID)
	}
	seed := uint32(7)
	next := func(n int) int { seed = seed*1103515245 + 12345; return int(seed>>16) % n }
	for step := range 60 {
		from := next(3)
		if len(model[from]) == 0 {
			continue
		}
		idx := next(len(model[from]))
		id := model[from][idx]
		to := next(3)
		pos := next(6) // sometimes past the end
		if _, err := e.s.MoveCard(t.Context(), Call(alice, "move_card"), id, b.Columns[to].ID, &pos); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		model[from] = slices.Delete(model[from], idx, idx+1)
		model[to] = slices.Insert(model[to], min(pos, len(model[to])), id)

		got := MustGet(t, e.s, alice, b.ID)
		for i, col := range got.Columns {
			var ids []string
			for j, c := range col.Cards {
				ids = append(ids, c.ID)
				if c.Position != j {
					t.Fatalf("step %d: column %d card %d has position %d", step, i, j, c.Position)
				}
			}
			if !slices.Equal(ids, model[i]) {
				t.Fatalf("step %d: column %d = %v, model %v", step, i, ids, model[i])
			}
		}
	}
}

func testDeleteCard(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	var cards []*store.Card
	for _, title := range []string{"A", "B", "C", "D"} {
		cards = append(cards, MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[2].ID, Title: title}))
	}
	got, err := e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), cards[1].ID)
	if err != nil {
		t.Fatalf("DeleteCard: %v", err)
	}
	Diff(t, "deleted card", store.DeletedCard{CardID: cards[1].ID, BoardID: b.ID, ColumnID: b.Columns[2].ID, Title: "B", ColumnName: "Done"}, *got)
	read := MustGet(t, e.s, alice, b.ID)
	Diff(t, "columns", [][]string{{}, {}, {"A", "C", "D"}}, titlesByColumn(read))
	checkDense(t, read)
	if !read.UpdatedAt.After(cards[3].UpdatedAt) {
		t.Errorf("board UpdatedAt %v not bumped by the delete", read.UpdatedAt)
	}
	// The card after the gap moves up, without a version bump: only its
	// position changed, as a side effect.
	if c := read.Columns[2].Cards[1]; c.ID != cards[2].ID || c.Position != 1 {
		t.Errorf("card after the gap = %+v", c)
	}

	_, err = e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), cards[1].ID)
	WantCode(t, err, store.NotFound)
	_, err = e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), b.ID)
	WantCode(t, err, store.Invalid)
	_, err = e.s.DeleteCard(t.Context(), Call(alice, "delete_card"), "")
	WantCode(t, err, store.Invalid)
}

// searchTitles runs a search and returns the titles found, failing on error.
func searchTitles(t *testing.T, s store.Store, viewer store.Actor, q store.CardQuery) []string {
	t.Helper()
	list, err := s.SearchCards(t.Context(), viewer, q)
	if err != nil {
		t.Fatalf("SearchCards(%+v): %v", q, err)
	}
	titles := []string{}
	for _, c := range list.Cards {
		titles = append(titles, c.Title)
	}
	return titles
}

func testSearchCards(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	other := MustBoard(t, e.s, alice, "Other")
	add := func(board *store.Board, col int, title, desc string, labels ...string) {
		MustCard(t, e.s, alice, store.NewCard{BoardID: board.ID, ColumnID: board.Columns[col].ID, Title: title, Description: desc, Labels: labels})
	}
	add(b, 0, "Fix LOGIN page", "", "bug")
	add(b, 1, "Write docs", "explain the login flow", "docs")
	add(b, 2, "Ärger mit Umlauten", "", "BugFix")
	add(b, 0, "100% done", "")
	add(b, 0, "snake_case names", "")
	add(b, 1, "plain", "nothing special", "Urgent")
	add(other, 0, "Other login", "", "bug")
	add(b, 0, "Stra\u00DFe", "", "Stra\u00DFe", "\u2764\uFE0F")
	bobBoard := MustBoard(t, e.s, bob, "Bob's")
	MustCard(t, e.s, bob, store.NewCard{BoardID: bobBoard.ID, ColumnID: bobBoard.Columns[0].ID, Title: "Bob's login"})

	tests := []struct {
		name   string
		viewer store.Actor
		q      store.CardQuery
		want   []string
	}{
		{"title, any case, all own boards", alice, store.CardQuery{Query: "login"}, []string{"Fix LOGIN page", "Write docs", "Other login"}},
		{"query is trimmed", alice, store.CardQuery{Query: "  LoGiN  "}, []string{"Fix LOGIN page", "Write docs", "Other login"}},
		{"one board", alice, store.CardQuery{Query: "login", BoardID: b.ID}, []string{"Fix LOGIN page", "Write docs"}},
		{"one column", alice, store.CardQuery{Query: "login", ColumnID: b.Columns[1].ID}, []string{"Write docs"}},
		{"label text matches the query", alice, store.CardQuery{Query: "urg"}, []string{"plain"}},
		{"non-ASCII case folding", alice, store.CardQuery{Query: "ärger"}, []string{"Ärger mit Umlauten"}},
		{"label filter is exact and ignores case", alice, store.CardQuery{Label: "BUG"}, []string{"Fix LOGIN page", "Other login"}},
		{"label filter with query", alice, store.CardQuery{Label: "bug", Query: "other"}, []string{"Other login"}},
		{"label filter in full width", alice, store.CardQuery{Label: "\uFF35\uFF52\uFF47\uFF45\uFF4E\uFF54"}, []string{"plain"}},
		{"label filter folds case fully", alice, store.CardQuery{Label: "STRASSE"}, []string{"Stra\u00DFe"}},
		{"label filter ignores a variation selector", alice, store.CardQuery{Label: "\u2764"}, []string{"Stra\u00DFe"}},
		{"label filter matches whole labels only", alice, store.CardQuery{Label: "bu"}, []string{}},
		{"label filter with board", alice, store.CardQuery{Label: "bugfix", BoardID: b.ID}, []string{"Ärger mit Umlauten"}},
		{"board filter alone", alice, store.CardQuery{BoardID: other.ID}, []string{"Other login"}},
		{"column filter alone", alice, store.CardQuery{ColumnID: b.Columns[2].ID}, []string{"Ärger mit Umlauten"}},
		{"percent is literal", alice, store.CardQuery{Query: "%"}, []string{"100% done"}},
		{"underscore is literal", alice, store.CardQuery{Query: "_"}, []string{"snake_case names"}},
		{"percent pattern is literal", alice, store.CardQuery{Query: "f%x"}, []string{}},
		{"no match", alice, store.CardQuery{Query: "zebra"}, []string{}},
		{"bob sees his own only", bob, store.CardQuery{Query: "login"}, []string{"Bob's login"}},
		{"anonymous without a board finds nothing", anon, store.CardQuery{Query: "login"}, []string{}},
		{"longest query", alice, store.CardQuery{Query: strings.Repeat("q", store.MaxQueryLen)}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Diff(t, "titles", tt.want, searchTitles(t, e.s, tt.viewer, tt.q))
		})
	}

	t.Run("cards are complete", func(t *testing.T) {
		list, err := e.s.SearchCards(t.Context(), alice, store.CardQuery{BoardID: b.ID, Query: "write"})
		if err != nil || len(list.Cards) != 1 {
			t.Fatalf("SearchCards: %v, %d cards", err, len(list.Cards))
		}
		Diff(t, "card", MustGet(t, e.s, alice, b.ID).Columns[1].Cards[0], list.Cards[0])
	})

	for _, tt := range []struct {
		name string
		q    store.CardQuery
		code store.Code
	}{
		{"empty query without filters", store.CardQuery{Query: "   "}, store.Invalid},
		{"query too long", store.CardQuery{Query: strings.Repeat("q", store.MaxQueryLen+1)}, store.Invalid},
		{"query not UTF-8", store.CardQuery{Query: "\xff"}, store.Invalid},
		{"bad board ID", store.CardQuery{Query: "x", BoardID: "nope"}, store.Invalid},
		{"bad column ID", store.CardQuery{Query: "x", ColumnID: b.ID}, store.Invalid},
		{"missing board", store.CardQuery{Query: "x", BoardID: missingBoard}, store.NotFound},
		{"missing column", store.CardQuery{Query: "x", ColumnID: missingColumn}, store.NotFound},
		{"column not on the board", store.CardQuery{Query: "x", BoardID: b.ID, ColumnID: other.Columns[0].ID}, store.NotFound},
		{"bob's board is private", store.CardQuery{Query: "x", BoardID: bobBoard.ID}, store.NotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.s.SearchCards(t.Context(), alice, tt.q)
			WantCode(t, err, tt.code)
		})
	}
}

func testSearchCardsPagination(t *testing.T, be backend) {
	for _, step := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("clock step %v", step), func(t *testing.T) {
			e := be.newEnv(t, Options{Now: NewClock(step).Now})
			b1 := MustBoard(t, e.s, alice, "One")
			b2 := MustBoard(t, e.s, alice, "Two")
			var want []string
			for i := range 11 {
				board := b1
				if i%2 == 1 {
					board = b2
				}
				title := fmt.Sprintf("match %02d", i)
				c := MustCard(t, e.s, alice, store.NewCard{BoardID: board.ID, ColumnID: board.Columns[i%3].ID, Title: title})
				want = append(want, c.ID)
				// Cards that do not match, in between, must not end pages early.
				MustCard(t, e.s, alice, store.NewCard{BoardID: board.ID, ColumnID: board.Columns[0].ID, Title: fmt.Sprint("other ", i)})
			}
			if step == 0 { // all timestamps equal: the order is by ID
				slices.Sort(want)
			}
			for _, limit := range []int{1, 2, 4, 11, 50} {
				var got []string
				page := store.Page{Limit: limit}
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatal("pagination does not end")
					}
					list, err := e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: "MATCH", Page: page})
					if err != nil {
						t.Fatal(err)
					}
					if len(list.Cards) > limit || (list.NextCursor != "" && len(list.Cards) != limit) {
						t.Fatalf("page of %d cards with cursor %q at limit %d", len(list.Cards), list.NextCursor, limit)
					}
					for _, c := range list.Cards {
						got = append(got, c.ID)
					}
					if list.NextCursor == "" {
						break
					}
					page.Cursor = list.NextCursor
				}
				Diff(t, fmt.Sprintf("cards at limit %d", limit), want, got)
			}
		})
	}
}
