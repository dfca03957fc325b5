package store

import (
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// What every backend does with the input of a write before any query
// runs (Check…), and with what it read inside the write's transaction
// (the result of each write and the Change its activity row records),
// apart from the SQL. It lives here, once, so that the limits, the
// normalization, the idempotent no-ops and what a Change holds are the
// same in every backend by construction rather than by copying.

// defaultColumns are the columns of a board created without any.
func defaultColumns() []string { return []string{"To do", "Doing", "Done"} }

// CheckNewBoard checks CreateBoard's input and returns the title and the
// column names trimmed; no columns means "To do", "Doing", "Done". Two
// column names with the same NameKey are refused. An anonymous owner is
// refused last, and not with a domain error: tools never write
// anonymously, so it is a bug of the caller.
func CheckNewBoard(owner Actor, title string, columns []string) (string, []string, error) {
	if err := ValidateTitle("board title", title); err != nil {
		return "", nil, err
	}
	title = strings.TrimSpace(title)
	if len(columns) == 0 {
		columns = defaultColumns()
	}
	if len(columns) > MaxColumns {
		return "", nil, Errorf(Invalid, "a board can have at most %d columns; got %d", MaxColumns, len(columns))
	}
	names := make([]string, len(columns))
	seen := make(map[string]bool, len(columns))
	for i, name := range columns {
		if err := ValidateTitle("column name", name); err != nil {
			return "", nil, err
		}
		name = strings.TrimSpace(name)
		key := NameKey(name)
		if seen[key] {
			return "", nil, Errorf(Invalid, "column name %q is given twice (names that differ only in case, width or spacing count as the same); column names on a board must differ", name)
		}
		seen[key] = true
		names[i] = name
	}
	if owner.Anonymous() {
		// There is no board to be "not found" here: this is a bug in the
		// caller, not a domain error.
		return "", nil, errors.New("create board: an anonymous caller cannot own boards")
	}
	return title, names, nil
}

// CreatedBoard returns the board that CreateBoard stores, with the title
// and column names that CheckNewBoard returned: new IDs, private, owned
// by the caller, at version 1 and created at at; and the Change that
// records it.
func CreatedBoard(title string, columns []string, at time.Time) (*Board, Change) {
	board := &Board{
		ID:         NewID(BoardPrefix),
		Title:      title,
		Visibility: Private,
		Owned:      true,
		Version:    1,
		CreatedAt:  at,
		UpdatedAt:  at,
		Columns:    make([]Column, len(columns)),
	}
	ids := []string{board.ID}
	for i, name := range columns {
		board.Columns[i] = Column{ID: NewID(ColumnPrefix), Name: name, Position: i, Cards: []Card{}}
		ids = append(ids, board.Columns[i].ID)
	}
	return board, Change{BoardID: board.ID, IDs: ids, Board: board.Title, Columns: len(columns)}
}

// CheckShareBoard checks ShareBoard's input.
func CheckShareBoard(boardID string, v Visibility) error {
	if err := ValidateID("board", BoardPrefix, boardID); err != nil {
		return err
	}
	if v != Private && v != Public {
		return Errorf(Invalid, "visibility must be %q or %q; got %q", Private, Public, v)
	}
	return nil
}

// SharedBoard returns the Change that records ShareBoard setting the
// visibility of board boardID, titled title, from was to v. Sharing a
// board the way it already is changes nothing, not even the version
// (share_board is idempotent): the Change is then Unchanged, and the
// backend stores nothing.
func SharedBoard(boardID, title string, was, v Visibility) Change {
	return Change{BoardID: boardID, IDs: []string{boardID}, Board: title, Visibility: v, Unchanged: was == v}
}

// DeletedBoard returns the Change that records DeleteBoard deleting the
// board b describes, as it was. It names only the board's ID: listing
// every card of a big board would make one enormous row, and the cards
// went with the board anyway.
func DeletedBoard(b BoardSummary) Change {
	return Change{BoardID: b.ID, IDs: []string{b.ID}, Board: b.Title, Cards: b.CardCount}
}

// CheckNewCard checks AddCard's input and returns it with the title
// trimmed and the labels as NormalizeLabels returns them.
func CheckNewCard(in NewCard) (NewCard, error) {
	if err := ValidateID("board", BoardPrefix, in.BoardID); err != nil {
		return NewCard{}, err
	}
	if err := ValidateID("column", ColumnPrefix, in.ColumnID); err != nil {
		return NewCard{}, err
	}
	if err := ValidateTitle("card title", in.Title); err != nil {
		return NewCard{}, err
	}
	if err := ValidateDescription(in.Description); err != nil {
		return NewCard{}, err
	}
	labels, err := NormalizeLabels(in.Labels)
	if err != nil {
		return NewCard{}, err
	}
	in.Title, in.Labels = strings.TrimSpace(in.Title), labels
	return in, nil
}

// AddedCard returns the card that AddCard stores for in, as CheckNewCard
// returned it, at position in column columnName: a new ID, version 1,
// created at at; and the Change that records it on the board titled
// boardTitle.
func AddedCard(in NewCard, boardTitle, columnName string, position int, at time.Time) (*Card, Change) {
	card := &Card{
		ID:          NewID(CardPrefix),
		BoardID:     in.BoardID,
		ColumnID:    in.ColumnID,
		ColumnName:  columnName,
		Title:       in.Title,
		Description: in.Description,
		Labels:      in.Labels,
		Position:    position,
		Version:     1,
		CreatedAt:   at,
		UpdatedAt:   at,
	}
	return card, Change{
		BoardID: in.BoardID,
		IDs:     []string{in.BoardID, in.ColumnID, card.ID},
		Board:   boardTitle, Card: card.Title, Column: columnName,
	}
}

// CheckCardUpdate checks UpdateCard's input, which must set a field, and
// returns it with the title trimmed and the labels as NormalizeLabels
// returns them.
func CheckCardUpdate(in CardUpdate) (CardUpdate, error) {
	if err := ValidateID("card", CardPrefix, in.CardID); err != nil {
		return CardUpdate{}, err
	}
	if in.Title == nil && in.Description == nil && in.Labels == nil {
		return CardUpdate{}, Errorf(Invalid, "nothing to update: give title, description or labels")
	}
	if in.Title != nil {
		if err := ValidateTitle("card title", *in.Title); err != nil {
			return CardUpdate{}, err
		}
		in.Title = new(strings.TrimSpace(*in.Title))
	}
	if in.Description != nil {
		if err := ValidateDescription(*in.Description); err != nil {
			return CardUpdate{}, err
		}
	}
	if in.Labels != nil {
		labels, err := NormalizeLabels(*in.Labels)
		if err != nil {
			return CardUpdate{}, err
		}
		in.Labels = &labels
	}
	return in, nil
}

// UpdatedCard applies in, as CheckCardUpdate returned it, to card, the
// whole card as the write read it, and returns the card to store and the
// Change that records it. A card whose version is not in.ExpectedVersion
// (when set) is a Conflict.
//
// Only fields whose value really changes count, so that repeating an
// update changes nothing (update_card is idempotent): no version bump
// that would break another client's expected_version. The Change is then
// Unchanged, and the backend stores nothing. A card that changed gets the
// next version, updated at at.
func UpdatedCard(card Card, in CardUpdate, at time.Time) (Card, Change, error) {
	if in.ExpectedVersion != nil && *in.ExpectedVersion != card.Version {
		return Card{}, Change{}, Errorf(Conflict,
			"card %s is at version %d, not %d: someone changed it since you read it; read it again with get_board and retry",
			in.CardID, card.Version, *in.ExpectedVersion)
	}
	oldTitle := card.Title
	var changed []string // field names, for the summary
	if in.Title != nil && *in.Title != card.Title {
		card.Title = *in.Title
		changed = append(changed, "title")
	}
	if in.Description != nil && *in.Description != card.Description {
		// Boards and searches show a preview; written back, it would
		// silently drop the rest of the description.
		if preview, cut := PreviewDescription(card.Description); cut && *in.Description == preview {
			return Card{}, Change{}, Errorf(Invalid,
				"description is the cut preview that get_board and search_cards show, not the whole description; read it with get_card and change that")
		}
		card.Description = *in.Description
		changed = append(changed, "description")
	}
	if in.Labels != nil && !slices.Equal(*in.Labels, card.Labels) {
		card.Labels = *in.Labels
		changed = append(changed, "labels")
	}
	change := Change{BoardID: card.BoardID, IDs: []string{card.BoardID, card.ColumnID, card.ID}, Card: card.Title, Fields: changed}
	if len(changed) == 0 {
		change.Unchanged = true
		return card, change, nil
	}
	card.Version++
	card.UpdatedAt = at
	if card.Title != oldTitle {
		change.FormerCard = oldTitle
	}
	return card, change, nil
}

// CheckCardMove checks MoveCard's input.
func CheckCardMove(cardID, columnID string, position *int) error {
	if err := ValidateID("card", CardPrefix, cardID); err != nil {
		return err
	}
	if err := ValidateID("column", ColumnPrefix, columnID); err != nil {
		return err
	}
	if position != nil && *position < 0 {
		return Errorf(Invalid, "position must be 0 or more; got %d", *position)
	}
	return nil
}

// MovedCard works out MoveCard of card, as the write read it, to column
// columnID of its board, named columnName and holding cards cards (the
// moving card among them when it is that column already), at position
// (nil: the end; past the end is clamped to it). It returns the result,
// whose Card is the card to store (in its new column and position, at
// the next version, updated at at), and the Change that records it.
//
// When the card already is where it would go, nothing changes: Moved is
// false, the card is as read and the Change is Unchanged, so the backend
// stores nothing. Otherwise the backend applies the result's Shifts and
// stores the card.
func MovedCard(card Card, columnID, columnName string, cards int, position *int, at time.Time) (CardMove, Change) {
	from, to := card.Position, cards // to: the end of the target column
	if columnID == card.ColumnID {
		to = cards - 1 // the card itself is one of them
	}
	if position != nil && *position < to {
		to = *position
	}
	move := CardMove{
		FromColumnID:   card.ColumnID,
		FromColumnName: card.ColumnName,
		FromPosition:   from,
	}
	ids := []string{card.BoardID, card.ID, card.ColumnID}
	if columnID != card.ColumnID {
		ids = append(ids, columnID)
	}
	change := Change{BoardID: card.BoardID, IDs: ids, Card: card.Title, Column: columnName, From: from, To: to}
	if columnID == card.ColumnID && to == from {
		move.Card, change.Unchanged = card, true
		return move, change
	}
	card.ColumnID, card.ColumnName, card.Position = columnID, columnName, to
	card.Version++
	card.UpdatedAt = at
	move.Card, move.Moved = card, true
	if columnID != move.FromColumnID {
		change.FromColumn = move.FromColumnName
	}
	return move, change
}

// Shift is a run of cards in one column whose positions a write moves by
// Delta, to close the gap a card leaves or to open the slot it takes:
// the cards at positions From ≤ position < To.
type Shift struct {
	ColumnID string
	From, To int
	Delta    int
}

// EndOfColumn is the To of a Shift that runs to the end of its column:
// past every position a column holds (and within a 32-bit integer, which
// is what a database stores positions in).
const EndOfColumn = math.MaxInt32

// Shifts returns the shifts that a move (as MovedCard returned it) makes
// around the moving card, which lies in none of them, so that positions
// stay 0…n-1 in both columns once the card itself is stored at its new
// place. A card that did not move shifts nothing.
func (m CardMove) Shifts() []Shift {
	from, to, column := m.FromPosition, m.Card.Position, m.Card.ColumnID
	switch {
	case !m.Moved:
		return nil
	case column != m.FromColumnID:
		return []Shift{LeftGap(m.FromColumnID, from), {ColumnID: column, From: to, To: EndOfColumn, Delta: +1}}
	case to < from: // up: the cards from its new place to its old one go down
		return []Shift{{ColumnID: column, From: to, To: from, Delta: +1}}
	default: // down: the cards after its old place up to its new one go up
		return []Shift{{ColumnID: column, From: from + 1, To: to + 1, Delta: -1}}
	}
}

// LeftGap returns the shift that closes the gap a card leaves at position
// in column columnID, moving away or deleted: every card after it moves
// up one.
func LeftGap(columnID string, position int) Shift {
	return Shift{ColumnID: columnID, From: position + 1, To: EndOfColumn, Delta: -1}
}

// RemovedCard returns what DeleteCard reports of card, as the write read
// it before deleting it, and the Change that records it.
func RemovedCard(card Card) (*DeletedCard, Change) {
	deleted := &DeletedCard{
		CardID:     card.ID,
		BoardID:    card.BoardID,
		ColumnID:   card.ColumnID,
		Title:      card.Title,
		ColumnName: card.ColumnName,
	}
	return deleted, Change{
		BoardID: card.BoardID,
		IDs:     []string{card.BoardID, card.ColumnID, card.ID},
		Card:    card.Title, Column: card.ColumnName,
	}
}

// Activity returns the activity row of a write that c made and that
// changed ch, at at: the row every backend commits in the write's own
// transaction.
func (c Call) Activity(ch Change, at time.Time) Activity {
	return Activity{
		At:      at,
		Tool:    c.Tool,
		Outcome: OutcomeOK,
		Actor:   c.Actor,
		BoardID: ch.BoardID,
		IDs:     ch.IDs,
		Summary: c.Describe(ch),
		// Writes touch only the actor's own boards, so the owner is the
		// actor.
		BoardOwner: Actor{Issuer: c.Actor.Issuer, Subject: c.Actor.Subject},
	}
}
