package store

import (
	"encoding/base64"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCursor(t *testing.T) {
	for _, c := range []struct {
		kind CursorKind
		c    Cursor
	}{
		{BoardCursor, Cursor{Key: 1772355600123456789, ID: "b_abc"}},
		{CardCursor, Cursor{Key: -5, ID: "c_x.y"}}, // a dot in the ID survives
		{ActivityCursor, Cursor{Key: 42}},
	} {
		s := encodeCursor(c.kind, c.c)
		got, ok, err := decodeCursor(c.kind, s)
		if err != nil || !ok {
			t.Fatalf("decodeCursor(%q): %v, %v", s, ok, err)
		}
		if got != c.c {
			t.Errorf("decodeCursor(encodeCursor(%+v)) = %+v", c.c, got)
		}
	}
	if _, ok, err := decodeCursor(BoardCursor, ""); ok || err != nil {
		t.Errorf("empty cursor: ok %v, err %v; want the first page", ok, err)
	}
	for _, bad := range []struct {
		kind CursorKind
		raw  string
	}{
		{BoardCursor, "b"},
		{BoardCursor, "b12"},                       // no ID
		{BoardCursor, "b12."},                      // empty ID
		{BoardCursor, "bx.b_1"},                    // key not a number
		{BoardCursor, "c12.c_1"},                   // a cards cursor
		{BoardCursor, "b99999999999999999999.b_1"}, // key overflows
		{ActivityCursor, "a12.x"},                  // activity cursors have no ID
		{ActivityCursor, "a."},
	} {
		_, _, err := decodeCursor(bad.kind, base64.RawURLEncoding.EncodeToString([]byte(bad.raw)))
		if ErrorCode(err) != Invalid {
			t.Errorf("decodeCursor(%q) = %v, want an Invalid error", bad.raw, err)
		}
	}
	if _, _, err := decodeCursor(BoardCursor, "not base64!"); ErrorCode(err) != Invalid {
		t.Errorf("a cursor that is not base64: %v, want an Invalid error", err)
	}
}

func TestPageArgs(t *testing.T) {
	tests := []struct {
		name      string
		kind      CursorKind
		page      Page
		wantLimit int
		wantAfter Cursor
	}{
		{"first page of boards", BoardCursor, Page{}, DefaultPageSize, Cursor{Key: math.MinInt64}},
		{"first page of cards", CardCursor, Page{Limit: 3}, 3, Cursor{Key: math.MinInt64}},
		{"first page of activity, newest first", ActivityCursor, Page{Limit: MaxPageSize}, MaxPageSize, Cursor{Key: math.MaxInt64}},
		{"a later page", BoardCursor, Page{Limit: 1, Cursor: encodeCursor(BoardCursor, Cursor{Key: 7, ID: "b_x"})}, 1, Cursor{Key: 7, ID: "b_x"}},
	}
	for _, tt := range tests {
		limit, after, err := PageArgs(tt.kind, tt.page)
		if err != nil || limit != tt.wantLimit || after != tt.wantAfter {
			t.Errorf("%s: PageArgs = %d, %+v, %v; want %d, %+v", tt.name, limit, after, err, tt.wantLimit, tt.wantAfter)
		}
	}
	for _, p := range []Page{{Limit: -1}, {Limit: MaxPageSize + 1}, {Cursor: "x"}, {Cursor: encodeCursor(CardCursor, Cursor{ID: "c_x"})}} {
		if _, _, err := PageArgs(BoardCursor, p); ErrorCode(err) != Invalid {
			t.Errorf("PageArgs(%+v) = %v, want an Invalid error", p, err)
		}
	}
}

func TestPages(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)
	boards := []BoardSummary{{ID: "b_1", CreatedAt: at}, {ID: "b_2", CreatedAt: at}, {ID: "b_3", CreatedAt: at.Add(time.Second)}}
	if diff := cmp.Diff(BoardList{Boards: boards[:2], NextCursor: encodeCursor(BoardCursor, Cursor{Key: at.UnixNano(), ID: "b_2"})}, BoardPage(boards, 2)); diff != "" {
		t.Errorf("BoardPage of a page and one more (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(BoardList{Boards: boards}, BoardPage(boards, 3)); diff != "" {
		t.Errorf("BoardPage of the last page (-want +got):\n%s", diff)
	}
	cards := []Card{{ID: "c_1", CreatedAt: at}, {ID: "c_2", CreatedAt: at}}
	if diff := cmp.Diff(CardList{Cards: cards[:1], NextCursor: encodeCursor(CardCursor, Cursor{Key: at.UnixNano(), ID: "c_1"})}, CardPage(cards, 1)); diff != "" {
		t.Errorf("CardPage (-want +got):\n%s", diff)
	}
	rows := []Activity{{ID: 9}, {ID: 8}, {ID: 7}}
	if diff := cmp.Diff(ActivityList{Activity: rows[:2], NextCursor: encodeCursor(ActivityCursor, Cursor{Key: 8})}, ActivityPage(rows, 2)); diff != "" {
		t.Errorf("ActivityPage (-want +got):\n%s", diff)
	}
	// Lists are never nil, even read from nothing.
	if got := ActivityPage(nil, 2); got.Activity == nil || len(got.Activity) != 0 || got.NextCursor != "" {
		t.Errorf("ActivityPage(nil) = %#v, want an empty last page", got)
	}
}
