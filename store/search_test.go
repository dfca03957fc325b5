package store

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckCardQuery(t *testing.T) {
	got, err := CheckCardQuery(CardQuery{Query: "  Ärger ", BoardID: "b_1", ColumnID: "col_1", Label: " ＵＲＧＥＮＴ ", Page: Page{Limit: 5}})
	if err != nil {
		t.Fatal(err)
	}
	want := CardSearch{BoardID: "b_1", ColumnID: "col_1", Lowered: "ärger", LabelKey: "urgent", Limit: 5, After: Cursor{Key: math.MinInt64}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CheckCardQuery (-want +got):\n%s", d)
	}
	if got, err := CheckCardQuery(CardQuery{Label: "x"}); err != nil || got.Lowered != "" || got.Limit != DefaultPageSize {
		t.Errorf("a label filter alone: %+v, %v", got, err)
	}
	for name, q := range map[string]CardQuery{
		"no query and no filter":  {Query: "  "},
		"a query too long":        {Query: strings.Repeat("é", MaxQueryLen+1)},
		"a query not UTF-8":       {Query: "\xff"},
		"a board ID that is not":  {Query: "x", BoardID: "col_1"},
		"a column ID that is not": {Query: "x", ColumnID: "b_1"},
		"a bad page":              {Query: "x", Page: Page{Limit: -1}},
		"another list's cursor":   {Query: "x", Page: Page{Cursor: encodeCursor(BoardCursor, Cursor{ID: "b_1"})}},
	} {
		if _, err := CheckCardQuery(q); ErrorCode(err) != Invalid {
			t.Errorf("%s: %v, want an Invalid error", name, err)
		}
	}
}

func TestCardSearchMatches(t *testing.T) {
	card := Card{Title: "Ärger im Büro", Description: "Call the 50% team", Labels: []string{"Urgent", "ops"}}
	for _, tt := range []struct {
		query, label        string
		wantLabel, wantText bool
	}{
		{"ärger", "", true, true},
		{"ÄRGER", "", true, true},
		{"50%", "", true, true},
		{"OPS", "", true, true}, // a label's text matches too
		{"missing", "", true, false},
		{"", "URGENT", true, true},
		{"", "ｕｒｇｅｎｔ", true, true},
		{"büro", "blocked", false, true},
	} {
		s, err := CheckCardQuery(CardQuery{Query: tt.query, Label: tt.label, BoardID: "b_1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.MatchesLabel(card); got != tt.wantLabel {
			t.Errorf("query %q, label %q: MatchesLabel = %v, want %v", tt.query, tt.label, got, tt.wantLabel)
		}
		if got := s.MatchesText(card); got != tt.wantText {
			t.Errorf("query %q, label %q: MatchesText = %v, want %v", tt.query, tt.label, got, tt.wantText)
		}
	}
}

func TestCheckActivityQuery(t *testing.T) {
	limit, before, err := CheckActivityQuery("", Page{})
	if err != nil || limit != DefaultPageSize || before != (Cursor{Key: math.MaxInt64}) {
		t.Errorf("CheckActivityQuery of everything = %d, %+v, %v", limit, before, err)
	}
	if _, _, err := CheckActivityQuery("b_1", Page{Limit: 3}); err != nil {
		t.Errorf("CheckActivityQuery of a board: %v", err)
	}
	if _, _, err := CheckActivityQuery("c_1", Page{}); ErrorCode(err) != Invalid {
		t.Errorf("a card ID as the board: %v, want an Invalid error", err)
	}
	if _, _, err := CheckActivityQuery("", Page{Cursor: encodeCursor(CardCursor, Cursor{ID: "c_1"})}); ErrorCode(err) != Invalid {
		t.Errorf("a cards cursor: %v, want an Invalid error", err)
	}
}
