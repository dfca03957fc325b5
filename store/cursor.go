package store

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Page cursors live here, not in each backend: every backend hands out
// the same opaque cursors, base64url of a kind letter and the sort key of
// the last item of the page, and checks a page request the same way
// before any query runs, so the format and its rules are written once.

// CursorKind says which list a cursor pages through: a cursor of one
// list is rejected by another.
type CursorKind byte

// The lists that are read page by page.
const (
	BoardCursor    CursorKind = 'b' // ListBoards: oldest first by (CreatedAt, ID)
	CardCursor     CursorKind = 'c' // SearchCards: oldest first by (CreatedAt, ID)
	ActivityCursor CursorKind = 'a' // ListActivity: newest first by row ID
)

// Cursor is the sort key of the last item of a page: for boards and
// cards, CreatedAt in unix nanoseconds (Key) and the ID; for activity, the
// row ID in Key, with ID empty.
type Cursor struct {
	Key int64
	ID  string
}

// errBadCursor is returned for any cursor that does not decode.
func errBadCursor() error {
	return Errorf(Invalid, "cursor is not valid; pass the next_cursor from the previous page unchanged")
}

// encodeCursor makes the opaque cursor of a list of the given kind.
func encodeCursor(kind CursorKind, c Cursor) string {
	raw := fmt.Appendf(nil, "%c%d.%s", kind, c.Key, c.ID)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor reads a cursor made by encodeCursor for the same kind. ok
// is false for an empty cursor (the first page).
func decodeCursor(kind CursorKind, s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 2 || CursorKind(raw[0]) != kind {
		return Cursor{}, false, errBadCursor()
	}
	key, id, found := strings.Cut(string(raw[1:]), ".")
	if !found {
		return Cursor{}, false, errBadCursor()
	}
	c.Key, err = strconv.ParseInt(key, 10, 64)
	if err != nil {
		return Cursor{}, false, errBadCursor()
	}
	c.ID = id
	if (kind == ActivityCursor) != (id == "") {
		return Cursor{}, false, errBadCursor()
	}
	return c, true, nil
}

// PageArgs checks a page request of a list of the given kind before any
// query runs: it returns the page's limit and the key to read on from,
// which is the cursor's or, on the first page, one before every item (a
// Key of math.MinInt64 for the lists read oldest first, math.MaxInt64
// for the activity trail, read newest first). The cursor's ID is as the
// caller sent it: a backend that cannot hold any bytes in a query cleans
// it.
func PageArgs(kind CursorKind, p Page) (limit int, after Cursor, err error) {
	limit, err = PageLimit(p.Limit)
	if err != nil {
		return 0, Cursor{}, err
	}
	after, ok, err := decodeCursor(kind, p.Cursor)
	switch {
	case err != nil:
		return 0, Cursor{}, err
	case ok:
		return limit, after, nil
	case kind == ActivityCursor:
		return limit, Cursor{Key: math.MaxInt64}, nil
	}
	return limit, Cursor{Key: math.MinInt64}, nil
}

// BoardPage makes a page of ListBoards from boards, read with at most
// limit+1 of them: the one past limit, when there is one, only says that
// another page follows, and NextCursor points past the page's last board.
func BoardPage(boards []BoardSummary, limit int) BoardList {
	page, next := endPage(BoardCursor, boards, limit, func(b BoardSummary) Cursor {
		return Cursor{Key: b.CreatedAt.UnixNano(), ID: b.ID}
	})
	return BoardList{Boards: page, NextCursor: next}
}

// CardPage makes a page of SearchCards from cards, as BoardPage does.
func CardPage(cards []Card, limit int) CardList {
	page, next := endPage(CardCursor, cards, limit, func(c Card) Cursor {
		return Cursor{Key: c.CreatedAt.UnixNano(), ID: c.ID}
	})
	return CardList{Cards: page, NextCursor: next}
}

// ActivityPage makes a page of ListActivity from rows, as BoardPage does.
func ActivityPage(rows []Activity, limit int) ActivityList {
	page, next := endPage(ActivityCursor, rows, limit, func(a Activity) Cursor { return Cursor{Key: a.ID} })
	return ActivityList{Activity: page, NextCursor: next}
}

// endPage cuts items to limit and returns the cursor of the next page,
// made from the last item kept, or "" when items held no more than limit.
// A nil items is an empty page: lists are never nil.
func endPage[T any](kind CursorKind, items []T, limit int, key func(T) Cursor) ([]T, string) {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(kind, key(items[limit-1]))
}
