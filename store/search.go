package store

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// What every backend checks of a read before any query runs, and how
// SearchCards matches a card, written once so that a search finds the
// same cards in every backend.

// CardSearch is a CardQuery that CheckCardQuery accepted, ready to run.
//
// A card matches when it has a label whose NameKey is LabelKey (when a
// label filter is set: the key labels dedupe by, so the filter finds the
// label however it was spelled) and when strings.ToLower of its title,
// its whole description or one of its labels contains Lowered, byte for
// byte. That is Go's simple per-character lower-casing, the same on every
// machine, not a database's lower() or LIKE, which follow its locale or
// fold ASCII only: a backend that matches in SQL must find exactly the
// cards MatchesText finds.
type CardSearch struct {
	BoardID  string // only cards of this board, when set
	ColumnID string // only cards of this column, when set
	Lowered  string // the query, trimmed and lower-cased; "" matches every card
	LabelKey string // the NameKey of the label filter; "" when there is none
	Limit    int    // cards on a page
	After    Cursor // where the page starts (see PageArgs)
}

// CheckCardQuery checks SearchCards' input before any query runs: a
// query of at most MaxQueryLen characters, or at least a filter, and
// well-formed IDs and page.
func CheckCardQuery(q CardQuery) (CardSearch, error) {
	query := strings.TrimSpace(q.Query)
	label := strings.TrimSpace(q.Label)
	switch {
	case !utf8.ValidString(query):
		return CardSearch{}, Errorf(Invalid, "query must be valid UTF-8 text")
	case utf8.RuneCountInString(query) > MaxQueryLen:
		return CardSearch{}, Errorf(Invalid, "query is %d characters long; the limit is %d",
			utf8.RuneCountInString(query), MaxQueryLen)
	case query == "" && q.BoardID == "" && q.ColumnID == "" && label == "":
		return CardSearch{}, Errorf(Invalid, "give a query, or filter by board_id, column_id or label")
	}
	if q.BoardID != "" {
		if err := ValidateID("board", BoardPrefix, q.BoardID); err != nil {
			return CardSearch{}, err
		}
	}
	if q.ColumnID != "" {
		if err := ValidateID("column", ColumnPrefix, q.ColumnID); err != nil {
			return CardSearch{}, err
		}
	}
	limit, after, err := PageArgs(CardCursor, q.Page)
	if err != nil {
		return CardSearch{}, err
	}
	s := CardSearch{BoardID: q.BoardID, ColumnID: q.ColumnID, Lowered: strings.ToLower(query), Limit: limit, After: after}
	if label != "" {
		s.LabelKey = NameKey(label)
	}
	return s, nil
}

// MatchesLabel reports whether card passes the label filter of s: it has
// a label with the NameKey s.LabelKey, or s has no label filter.
func (s CardSearch) MatchesLabel(card Card) bool {
	return s.LabelKey == "" || slices.ContainsFunc(card.Labels, func(l string) bool { return NameKey(l) == s.LabelKey })
}

// MatchesText reports whether card contains the query of s, lower-cased,
// in its title, its description or a label (see CardSearch). It needs the
// whole description, not a preview.
func (s CardSearch) MatchesText(card Card) bool {
	if s.Lowered == "" {
		return true
	}
	contains := func(t string) bool { return strings.Contains(strings.ToLower(t), s.Lowered) }
	return contains(card.Title) || contains(card.Description) || slices.ContainsFunc(card.Labels, contains)
}

// CheckActivityQuery checks ListActivity's input before any query runs:
// a well-formed board ID, when one is given, and page. It returns the
// page's limit and the row ID to read on from, newest first.
func CheckActivityQuery(boardID string, p Page) (limit int, before Cursor, err error) {
	if boardID != "" {
		if err := ValidateID("board", BoardPrefix, boardID); err != nil {
			return 0, Cursor{}, err
		}
	}
	return PageArgs(ActivityCursor, p)
}
