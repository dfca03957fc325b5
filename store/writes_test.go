package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These test the backend-independent halves of the writes on their own;
// what a write does end to end, in every backend, is store/storetest's.

// testTime is the time of the writes in these tests, with nanoseconds.
func testTime() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC) }

func TestCheckNewBoard(t *testing.T) {
	alice := Actor{Issuer: "https://id.example", Subject: "alice"}
	title, columns, err := CheckNewBoard(alice, "  Launch ", nil)
	if err != nil || title != "Launch" || !cmp.Equal(columns, []string{"To do", "Doing", "Done"}) {
		t.Errorf("CheckNewBoard without columns = %q, %q, %v; want the trimmed title and the default columns", title, columns, err)
	}
	if _, columns, _ := CheckNewBoard(alice, "Launch", []string{" Ideas ", "Shipped"}); !cmp.Equal(columns, []string{"Ideas", "Shipped"}) {
		t.Errorf("columns = %q, want them trimmed", columns)
	}
	for name, columns := range map[string][]string{
		"too many columns":           make([]string, MaxColumns+1),
		"an empty column name":       {"To do", " "},
		"the same name twice":        {"To do", "TO  DO"},
		"the same name at any width": {"urgent", "ｕｒｇｅｎｔ"},
	} {
		if _, _, err := CheckNewBoard(alice, "Launch", columns); ErrorCode(err) != Invalid {
			t.Errorf("%s: %v, want an Invalid error", name, err)
		}
	}
	if _, _, err := CheckNewBoard(alice, "", nil); ErrorCode(err) != Invalid {
		t.Errorf("an empty title: %v, want an Invalid error", err)
	}
	// Anonymous is a bug of the caller, not a mistake it can fix; the
	// input is checked first.
	if _, _, err := CheckNewBoard(Actor{}, "Launch", nil); err == nil || ErrorCode(err) != "" {
		t.Errorf("an anonymous owner: %v, want an infrastructure error", err)
	}
	if _, _, err := CheckNewBoard(Actor{}, "", nil); ErrorCode(err) != Invalid {
		t.Errorf("an anonymous owner and an empty title: %v, want the Invalid error first", err)
	}
}

func TestCreatedBoard(t *testing.T) {
	board, change := CreatedBoard("Launch", []string{"A", "B"}, testTime())
	if !strings.HasPrefix(board.ID, BoardPrefix) || len(board.Columns) != 2 ||
		!strings.HasPrefix(board.Columns[0].ID, ColumnPrefix) || board.Columns[0].ID == board.Columns[1].ID {
		t.Fatalf("board %+v lacks new IDs", board)
	}
	want := &Board{ID: board.ID, Title: "Launch", Visibility: Private, Owned: true, Version: 1, CreatedAt: testTime(), UpdatedAt: testTime(),
		Columns: []Column{
			{ID: board.Columns[0].ID, Name: "A", Position: 0, Cards: []Card{}},
			{ID: board.Columns[1].ID, Name: "B", Position: 1, Cards: []Card{}},
		}}
	if d := cmp.Diff(want, board); d != "" {
		t.Errorf("board (-want +got):\n%s", d)
	}
	wantChange := Change{BoardID: board.ID, IDs: []string{board.ID, board.Columns[0].ID, board.Columns[1].ID}, Board: "Launch", Columns: 2}
	if d := cmp.Diff(wantChange, change); d != "" {
		t.Errorf("change (-want +got):\n%s", d)
	}
}

func TestBoardChanges(t *testing.T) {
	if err := CheckShareBoard("b_1", "everyone"); ErrorCode(err) != Invalid {
		t.Errorf("an unknown visibility: %v, want an Invalid error", err)
	}
	if err := CheckShareBoard("col_1", Public); ErrorCode(err) != Invalid {
		t.Errorf("a column ID: %v, want an Invalid error", err)
	}
	if err := CheckShareBoard("b_1", Public); err != nil {
		t.Errorf("CheckShareBoard: %v", err)
	}
	if ch := SharedBoard("b_1", "Launch", Private, Public); ch.Unchanged || ch.Visibility != Public {
		t.Errorf("sharing a private board: %+v", ch)
	}
	if ch := SharedBoard("b_1", "Launch", Public, Public); !ch.Unchanged {
		t.Errorf("sharing a public board again: %+v, want it Unchanged", ch)
	}
	got := DeletedBoard(BoardSummary{ID: "b_1", Title: "Launch", CardCount: 7, ColumnCount: 3})
	if d := cmp.Diff(Change{BoardID: "b_1", IDs: []string{"b_1"}, Board: "Launch", Cards: 7}, got); d != "" {
		t.Errorf("DeletedBoard (-want +got):\n%s", d)
	}
}

func TestQuotas(t *testing.T) {
	q := Quotas{CardsPerBoard: 2}.OrDefaults()
	if q != (Quotas{BoardsPerUser: DefaultQuotas().BoardsPerUser, CardsPerBoard: 2}) {
		t.Errorf("OrDefaults = %+v", q)
	}
	if (Quotas{BoardsPerUser: -1}).OrDefaults() != DefaultQuotas() {
		t.Error("a negative quota is not defaulted")
	}
	if err := q.CheckCards("b_1", 1); err != nil {
		t.Errorf("CheckCards below the quota: %v", err)
	}
	if err := q.CheckCards("b_1", 2); ErrorCode(err) != Quota {
		t.Errorf("CheckCards at the quota: %v", err)
	}
	if err := q.CheckBoards(q.BoardsPerUser - 1); err != nil {
		t.Errorf("CheckBoards below the quota: %v", err)
	}
	if err := q.CheckBoards(q.BoardsPerUser); ErrorCode(err) != Quota {
		t.Errorf("CheckBoards at the quota: %v", err)
	}
}

func TestCheckNewCard(t *testing.T) {
	in := NewCard{BoardID: "b_1", ColumnID: "col_1", Title: " Fix it ", Description: "why", Labels: []string{" bug ", "BUG"}}
	got, err := CheckNewCard(in)
	if err != nil {
		t.Fatal(err)
	}
	want := NewCard{BoardID: "b_1", ColumnID: "col_1", Title: "Fix it", Description: "why", Labels: []string{"bug"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CheckNewCard (-want +got):\n%s", d)
	}
	for name, bad := range map[string]NewCard{
		"a board ID that is not one":  {BoardID: "col_1", ColumnID: "col_1", Title: "x"},
		"a column ID that is not one": {BoardID: "b_1", ColumnID: "b_1", Title: "x"},
		"no title":                    {BoardID: "b_1", ColumnID: "col_1"},
		"a description with NUL":      {BoardID: "b_1", ColumnID: "col_1", Title: "x", Description: "\x00"},
		"too many labels":             {BoardID: "b_1", ColumnID: "col_1", Title: "x", Labels: strings.Fields("a b c d e f g h i j k")},
	} {
		if _, err := CheckNewCard(bad); ErrorCode(err) != Invalid {
			t.Errorf("%s: %v, want an Invalid error", name, err)
		}
	}

	card, change := AddedCard(got, "Launch", "To do", 3, testTime())
	wantCard := &Card{ID: card.ID, BoardID: "b_1", ColumnID: "col_1", ColumnName: "To do", Title: "Fix it", Description: "why",
		Labels: []string{"bug"}, Position: 3, Version: 1, CreatedAt: testTime(), UpdatedAt: testTime()}
	if d := cmp.Diff(wantCard, card); d != "" || !strings.HasPrefix(card.ID, CardPrefix) {
		t.Errorf("AddedCard (-want +got):\n%s", d)
	}
	wantChange := Change{BoardID: "b_1", IDs: []string{"b_1", "col_1", card.ID}, Board: "Launch", Card: "Fix it", Column: "To do"}
	if d := cmp.Diff(wantChange, change); d != "" {
		t.Errorf("AddedCard's change (-want +got):\n%s", d)
	}
}

func TestCheckCardUpdate(t *testing.T) {
	title, labels := " New ", []string{" a ", "A", "b"}
	in := CardUpdate{CardID: "c_1", Title: &title, Labels: &labels}
	got, err := CheckCardUpdate(in)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Title != "New" || !cmp.Equal(*got.Labels, []string{"a", "b"}) {
		t.Errorf("CheckCardUpdate = title %q, labels %q; want them normalized", *got.Title, *got.Labels)
	}
	if title != " New " || !cmp.Equal(labels, []string{" a ", "A", "b"}) {
		t.Errorf("the caller's input changed: title %q, labels %q", title, labels)
	}
	for name, bad := range map[string]CardUpdate{
		"a board ID":               {CardID: "b_1", Title: new("x")},
		"nothing to update":        {CardID: "c_1"},
		"an empty title":           {CardID: "c_1", Title: new(" ")},
		"a description with NUL":   {CardID: "c_1", Description: new("\x00")},
		"a label with a newline":   {CardID: "c_1", Labels: new([]string{"a\nb"})},
		"only an expected version": {CardID: "c_1", ExpectedVersion: new(int64(1))},
	} {
		if _, err := CheckCardUpdate(bad); ErrorCode(err) != Invalid {
			t.Errorf("%s: %v, want an Invalid error", name, err)
		}
	}
}

func TestUpdatedCard(t *testing.T) {
	long := strings.Repeat("word ", 100)
	card := Card{ID: "c_1", BoardID: "b_1", ColumnID: "col_1", Title: "Old", Description: long, Labels: []string{"a"}, Version: 4, UpdatedAt: testTime().Add(-time.Hour)}
	ids := []string{"b_1", "col_1", "c_1"}

	got, change, err := UpdatedCard(card, CardUpdate{CardID: "c_1", Title: new("New"), Labels: new([]string{"a"}), ExpectedVersion: new(int64(4))}, testTime())
	if err != nil {
		t.Fatal(err)
	}
	want := card
	want.Title, want.Version, want.UpdatedAt = "New", 5, testTime()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("renamed card (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Change{BoardID: "b_1", IDs: ids, Card: "New", FormerCard: "Old", Fields: []string{"title"}}, change); d != "" {
		t.Errorf("rename's change (-want +got):\n%s", d)
	}

	got, change, err = UpdatedCard(card, CardUpdate{CardID: "c_1", Description: new("short"), Labels: new([]string{})}, testTime())
	if err != nil || got.Description != "short" || len(got.Labels) != 0 || got.Version != 5 || change.FormerCard != "" ||
		!cmp.Equal(change.Fields, []string{"description", "labels"}) {
		t.Errorf("description and labels: %+v, %+v, %v", got, change, err)
	}

	// The same values again change nothing, not even the version.
	got, change, err = UpdatedCard(card, CardUpdate{CardID: "c_1", Title: new("Old"), Description: new(long), Labels: new([]string{"a"})}, testTime())
	if err != nil || !change.Unchanged || len(change.Fields) != 0 {
		t.Errorf("a repeated update: %+v, %v; want it Unchanged", change, err)
	}
	if d := cmp.Diff(card, got); d != "" {
		t.Errorf("a repeated update changed the card (-want +got):\n%s", d)
	}

	_, _, err = UpdatedCard(card, CardUpdate{CardID: "c_1", Title: new("New"), ExpectedVersion: new(int64(3))}, testTime())
	if ErrorCode(err) != Conflict {
		t.Errorf("an old expected version: %v, want a Conflict", err)
	}
	preview, _ := PreviewDescription(long)
	_, _, err = UpdatedCard(card, CardUpdate{CardID: "c_1", Description: &preview}, testTime())
	if ErrorCode(err) != Invalid {
		t.Errorf("the preview written back: %v, want an Invalid error", err)
	}
}

func TestMovedCard(t *testing.T) {
	card := Card{ID: "c_1", BoardID: "b_1", ColumnID: "col_a", ColumnName: "A", Title: "Card", Position: 1, Version: 2}
	tests := []struct {
		name           string
		column, named  string
		cards          int
		position       *int
		wantMoved      bool
		wantTo         int
		wantFromColumn string
		wantIDs        []string
	}{
		{"up in its column", "col_a", "A", 4, new(0), true, 0, "", []string{"b_1", "c_1", "col_a"}},
		{"to the end of its column", "col_a", "A", 4, nil, true, 3, "", []string{"b_1", "c_1", "col_a"}},
		{"past the end of its column", "col_a", "A", 4, new(9), true, 3, "", []string{"b_1", "c_1", "col_a"}},
		{"to where it is", "col_a", "A", 4, new(1), false, 1, "", []string{"b_1", "c_1", "col_a"}},
		{"the last card to the end", "col_a", "A", 2, nil, false, 1, "", []string{"b_1", "c_1", "col_a"}},
		{"to the end of another column", "col_b", "B", 2, nil, true, 2, "A", []string{"b_1", "c_1", "col_a", "col_b"}},
		{"to the top of another column", "col_b", "B", 2, new(0), true, 0, "A", []string{"b_1", "c_1", "col_a", "col_b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			move, change := MovedCard(card, tt.column, tt.named, tt.cards, tt.position, testTime())
			want := card
			if tt.wantMoved {
				want.ColumnID, want.ColumnName, want.Position, want.Version, want.UpdatedAt = tt.column, tt.named, tt.wantTo, 3, testTime()
			}
			wantMove := CardMove{Card: want, FromColumnID: "col_a", FromColumnName: "A", FromPosition: 1, Moved: tt.wantMoved}
			if d := cmp.Diff(wantMove, move); d != "" {
				t.Errorf("move (-want +got):\n%s", d)
			}
			wantChange := Change{BoardID: "b_1", IDs: tt.wantIDs, Unchanged: !tt.wantMoved, Card: "Card", Column: tt.named,
				FromColumn: tt.wantFromColumn, From: 1, To: tt.wantTo}
			if d := cmp.Diff(wantChange, change); d != "" {
				t.Errorf("change (-want +got):\n%s", d)
			}
		})
	}
	for name, err := range map[string]error{
		"a column ID as the card": CheckCardMove("col_a", "col_b", nil),
		"a card ID as the column": CheckCardMove("c_1", "c_2", nil),
		"a negative position":     CheckCardMove("c_1", "col_b", new(-1)),
	} {
		if ErrorCode(err) != Invalid {
			t.Errorf("%s: %v, want an Invalid error", name, err)
		}
	}
	if err := CheckCardMove("c_1", "col_b", new(0)); err != nil {
		t.Errorf("CheckCardMove: %v", err)
	}
}

func TestRemovedCard(t *testing.T) {
	deleted, change := RemovedCard(Card{ID: "c_1", BoardID: "b_1", ColumnID: "col_a", ColumnName: "A", Title: "Card", Position: 2})
	if d := cmp.Diff(&DeletedCard{CardID: "c_1", BoardID: "b_1", ColumnID: "col_a", Title: "Card", ColumnName: "A"}, deleted); d != "" {
		t.Errorf("deleted card (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Change{BoardID: "b_1", IDs: []string{"b_1", "col_a", "c_1"}, Card: "Card", Column: "A"}, change); d != "" {
		t.Errorf("change (-want +got):\n%s", d)
	}
}

func TestCallActivity(t *testing.T) {
	alice := Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "cli"}
	c := Call{Actor: alice, Tool: "add_card", Describe: func(ch Change) string { return "added " + ch.Card }}
	got := c.Activity(Change{BoardID: "b_1", IDs: []string{"b_1", "c_1"}, Card: "Card"}, testTime())
	want := Activity{At: testTime(), Tool: "add_card", Outcome: OutcomeOK, Actor: alice, BoardID: "b_1", IDs: []string{"b_1", "c_1"},
		Summary: "added Card", BoardOwner: Actor{Issuer: alice.Issuer, Subject: alice.Subject}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("activity (-want +got):\n%s", d)
	}
}

// TestShifts moves every card of two small columns to every place, and
// deletes each, applying the shifts to the positions as a backend's SQL
// does: each column must end as the same move or deletion of a plain
// list leaves it, at positions 0…n-1.
func TestShifts(t *testing.T) {
	const a, b = "col_a", "col_b"
	for _, sizes := range [][2]int{{1, 0}, {3, 0}, {4, 2}, {2, 3}} {
		for from := range sizes[0] {
			for _, column := range []string{a, b} {
				for _, position := range []*int{nil, new(0), new(1), new(2), new(3), new(9)} {
					name := fmt.Sprintf("%v: card %d of %s to %s at %v", sizes, from, a, column, derefOr(position, -1))
					t.Run(name, func(t *testing.T) {
						columns := shiftColumns(sizes)
						card := Card{ID: columns[a][from], BoardID: "b_1", ColumnID: a, ColumnName: "A", Position: from}
						want := map[string][]string{a: slices.Delete(slices.Clone(columns[a]), from, from+1), b: slices.Clone(columns[b])}
						at := len(want[column])
						if position != nil {
							at = min(*position, at)
						}
						want[column] = slices.Insert(want[column], at, card.ID)

						move, _ := MovedCard(card, column, "", len(columns[column]), position, testTime())
						positions := positionsOf(columns)
						for _, sh := range move.Shifts() {
							if sh.ColumnID == a && sh.From <= from && from < sh.To {
								t.Errorf("shift %+v moves the moving card", sh)
							}
							applyShift(positions, sh)
						}
						positions[card.ID] = shiftPlace{move.Card.ColumnID, move.Card.Position}
						if d := cmp.Diff(want, columnsOf(positions)); d != "" {
							t.Errorf("columns (-want +got):\n%s", d)
						}
					})
				}
			}
			t.Run(fmt.Sprintf("%v: delete card %d", sizes, from), func(t *testing.T) {
				columns := shiftColumns(sizes)
				positions := positionsOf(columns)
				id := columns[a][from]
				delete(positions, id)
				applyShift(positions, LeftGap(a, from))
				want := map[string][]string{a: slices.Delete(slices.Clone(columns[a]), from, from+1), b: columns[b]}
				if d := cmp.Diff(want, columnsOf(positions)); d != "" {
					t.Errorf("columns (-want +got):\n%s", d)
				}
			})
		}
	}
}

// shiftPlace is where a card is in TestShifts.
type shiftPlace struct {
	column   string
	position int
}

// shiftColumns makes columns col_a and col_b with sizes[0] and sizes[1]
// cards, named after their column and first position.
func shiftColumns(sizes [2]int) map[string][]string {
	columns := map[string][]string{}
	for i, column := range []string{"col_a", "col_b"} {
		columns[column] = []string{}
		for p := range sizes[i] {
			columns[column] = append(columns[column], fmt.Sprintf("c_%s%d", column[len("col_"):], p))
		}
	}
	return columns
}

func positionsOf(columns map[string][]string) map[string]shiftPlace {
	positions := map[string]shiftPlace{}
	for column, cards := range columns {
		for p, id := range cards {
			positions[id] = shiftPlace{column, p}
		}
	}
	return positions
}

// applyShift does what a backend's UPDATE of sh does.
func applyShift(positions map[string]shiftPlace, sh Shift) {
	for id, at := range positions {
		if at.column == sh.ColumnID && sh.From <= at.position && at.position < sh.To {
			positions[id] = shiftPlace{at.column, at.position + sh.Delta}
		}
	}
}

// columnsOf lists each column's cards in position order, failing (with a
// card "missing N") where a position is skipped or taken twice.
func columnsOf(positions map[string]shiftPlace) map[string][]string {
	columns := map[string][]string{"col_a": {}, "col_b": {}}
	byPlace := map[shiftPlace][]string{}
	for id, at := range positions {
		byPlace[at] = append(byPlace[at], id)
	}
	for column := range columns {
		n := 0
		for _, at := range positions {
			if at.column == column {
				n++
			}
		}
		for p := range n {
			ids := byPlace[shiftPlace{column, p}]
			if len(ids) != 1 {
				columns[column] = append(columns[column], fmt.Sprintf("%d cards at %d", len(ids), p))
				continue
			}
			columns[column] = append(columns[column], ids[0])
		}
	}
	return columns
}

func derefOr(p *int, none int) int {
	if p == nil {
		return none
	}
	return *p
}
