package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// cardColumns is the select list that scanCard reads, for a card aliased k
// joined with its column aliased c.
const cardColumns = `k.id, k.board_id, k.column_id, c.name, k.title, k.description, k.labels,
	k.position, k.version, k.created_at, k.updated_at`

// scanCard reads one row selected with cardColumns, followed by extra
// destinations for whatever the query selects after them.
func scanCard(scan func(...any) error, extra ...any) (store.Card, error) {
	var (
		card             store.Card
		labels           string
		created, updated int64
	)
	dest := []any{&card.ID, &card.BoardID, &card.ColumnID, &card.ColumnName, &card.Title, &card.Description,
		&labels, &card.Position, &card.Version, &created, &updated}
	if err := scan(append(dest, extra...)...); err != nil {
		return store.Card{}, err
	}
	var err error
	if card.Labels, err = decodeJSONList(labels); err != nil {
		return store.Card{}, err
	}
	card.CreatedAt, card.UpdatedAt = store.TimeOfNanos(created), store.TimeOfNanos(updated)
	return card, nil
}

// ownedCard loads a card on a board that actor owns.
func ownedCard(ctx context.Context, tx *txn, actor store.Actor, id string) (store.Card, error) {
	const query = `SELECT ` + cardColumns + `
		FROM cards k
		JOIN columns c ON c.id = k.column_id
		JOIN boards b ON b.id = k.board_id
		WHERE k.id = ? AND b.owner_iss = ? AND b.owner_sub = ?`
	card, err := scanCard(tx.QueryRowContext(ctx, query, id, actor.Issuer, actor.Subject).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Card{}, store.CardNotOwned(id)
	}
	if err != nil {
		return store.Card{}, fmt.Errorf("load card: %w", err)
	}
	return card, nil
}

// GetCard returns a whole card on a board the viewer may read: a public
// board, or one of its own.
func (s *Store) GetCard(ctx context.Context, viewer store.Actor, cardID string) (*store.CardView, error) {
	if err := store.ValidateID("card", store.CardPrefix, cardID); err != nil {
		return nil, err
	}
	// The visibility rule of visibleBoard, in the same statement, so that a
	// card on someone else's private board is exactly as missing as a card
	// that does not exist.
	const query = `SELECT ` + cardColumns + `, b.title, b.owner_iss, b.owner_sub
		FROM cards k
		JOIN columns c ON c.id = k.column_id
		JOIN boards b ON b.id = k.board_id
		WHERE k.id = ?1 AND (b.visibility = 'public' OR (?3 <> '' AND b.owner_iss = ?2 AND b.owner_sub = ?3))`
	var view store.CardView
	err := s.read(ctx, "get card", func(tx *txn) error {
		var ownerIss, ownerSub string
		card, err := scanCard(tx.QueryRowContext(ctx, query, cardID, viewer.Issuer, viewer.Subject).Scan,
			&view.BoardTitle, &ownerIss, &ownerSub)
		if errors.Is(err, sql.ErrNoRows) {
			return store.CardNotVisible(cardID)
		}
		if err != nil {
			return err
		}
		view.Card, view.Owned = card, viewer.Is(ownerIss, ownerSub)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &view, nil
}

// columnOnBoard returns the name of column columnID when it is on board
// boardID.
func columnOnBoard(ctx context.Context, tx *txn, columnID, boardID string) (string, error) {
	var name string
	err := tx.QueryRowContext(ctx, `SELECT name FROM columns WHERE id = ? AND board_id = ?`, columnID, boardID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ColumnNotOnBoard(columnID, boardID)
	}
	if err != nil {
		return "", fmt.Errorf("load column: %w", err)
	}
	return name, nil
}

// countColumnCards returns how many cards column columnID holds, which is
// also the position just past its last card.
func countColumnCards(ctx context.Context, tx *txn, columnID string) (int, error) {
	var n int
	// Positions are dense (0 … n-1: every move and delete closes its gap),
	// so the highest plus one is the count, read from the index's end
	// instead of counting the column.
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(position) + 1, 0) FROM cards WHERE column_id = ?`, columnID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count cards in column: %w", err)
	}
	return n, nil
}

// touchBoard records that something on a board changed.
func touchBoard(ctx context.Context, tx *txn, boardID string, now int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE boards SET updated_at = ? WHERE id = ?`, now, boardID); err != nil {
		return fmt.Errorf("touch board: %w", err)
	}
	return nil
}

// shiftCards moves the positions of the cards that sh names.
func shiftCards(ctx context.Context, tx *txn, sh store.Shift) error {
	const shift = `UPDATE cards SET position = position + ? WHERE column_id = ? AND position >= ? AND position < ?`
	if _, err := tx.ExecContext(ctx, shift, sh.Delta, sh.ColumnID, sh.From, sh.To); err != nil {
		return fmt.Errorf("shift cards: %w", err)
	}
	return nil
}

// AddCard appends a card to the end of a column of a board the actor owns.
func (s *Store) AddCard(ctx context.Context, c store.Call, in store.NewCard) (*store.Card, error) {
	in, err := store.CheckNewCard(in)
	if err != nil {
		return nil, err
	}
	labelsJSON, err := encodeJSONList(in.Labels)
	if err != nil {
		return nil, fmt.Errorf("add card: %w", err)
	}

	var card *store.Card
	err = s.write(ctx, "add card", c, func(tx *txn, now int64) (store.Change, error) {
		b, err := ownedBoard(ctx, tx, c.Actor, in.BoardID)
		if err != nil {
			return store.Change{}, err
		}
		columnName, err := columnOnBoard(ctx, tx, in.ColumnID, in.BoardID)
		if err != nil {
			return store.Change{}, err
		}
		var onBoard int
		if err := tx.QueryRowContext(ctx, `SELECT card_count FROM boards WHERE id = ?`, in.BoardID).Scan(&onBoard); err != nil {
			return store.Change{}, fmt.Errorf("count cards on board: %w", err)
		}
		if err := s.quotas.CheckCards(in.BoardID, onBoard); err != nil {
			return store.Change{}, err
		}
		position, err := countColumnCards(ctx, tx, in.ColumnID)
		if err != nil {
			return store.Change{}, err
		}

		var change store.Change
		card, change = store.AddedCard(in, b.Title, columnName, position, store.TimeOfNanos(now))
		const insert = `INSERT INTO cards (id, board_id, column_id, title, description, labels, position, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
		if _, err := tx.ExecContext(ctx, insert, card.ID, card.BoardID, card.ColumnID, card.Title, card.Description,
			labelsJSON, card.Position, card.Version, now, now); err != nil {
			return store.Change{}, fmt.Errorf("insert card: %w", err)
		}
		if err := touchBoard(ctx, tx, in.BoardID, now); err != nil {
			return store.Change{}, err
		}
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return card, nil
}

// UpdateCard changes the title, description and labels that in sets, on a
// card on a board the actor owns, and bumps the card's version.
func (s *Store) UpdateCard(ctx context.Context, c store.Call, in store.CardUpdate) (*store.Card, error) {
	in, err := store.CheckCardUpdate(in)
	if err != nil {
		return nil, err
	}

	var card store.Card
	err = s.write(ctx, "update card", c, func(tx *txn, now int64) (store.Change, error) {
		read, err := ownedCard(ctx, tx, c.Actor, in.CardID)
		if err != nil {
			return store.Change{}, err
		}
		var change store.Change
		if card, change, err = store.UpdatedCard(read, in, store.TimeOfNanos(now)); err != nil || change.Unchanged {
			return change, err
		}
		labelsJSON, err := encodeJSONList(card.Labels)
		if err != nil {
			return store.Change{}, err
		}
		const update = `UPDATE cards SET title = ?, description = ?, labels = ?, version = ?, updated_at = ? WHERE id = ?`
		if _, err := tx.ExecContext(ctx, update, card.Title, card.Description, labelsJSON, card.Version, now, card.ID); err != nil {
			return store.Change{}, fmt.Errorf("update card: %w", err)
		}
		if err := touchBoard(ctx, tx, card.BoardID, now); err != nil {
			return store.Change{}, err
		}
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return &card, nil
}

// MoveCard moves a card to a 0-based position in a column of its board,
// keeping positions dense in both columns.
func (s *Store) MoveCard(ctx context.Context, c store.Call, cardID, columnID string, position *int) (*store.CardMove, error) {
	if err := store.CheckCardMove(cardID, columnID, position); err != nil {
		return nil, err
	}

	var move store.CardMove
	err := s.write(ctx, "move card", c, func(tx *txn, now int64) (store.Change, error) {
		card, err := ownedCard(ctx, tx, c.Actor, cardID)
		if err != nil {
			return store.Change{}, err
		}
		toName, err := columnOnBoard(ctx, tx, columnID, card.BoardID)
		if err != nil {
			return store.Change{}, err
		}
		n, err := countColumnCards(ctx, tx, columnID)
		if err != nil {
			return store.Change{}, err
		}
		var change store.Change
		if move, change = store.MovedCard(card, columnID, toName, n, position, store.TimeOfNanos(now)); !move.Moved {
			return change, nil
		}
		// Close the gap and open the new slot. The moving card is in none
		// of the shifts, so it is stored on its own afterwards.
		for _, sh := range move.Shifts() {
			if err := shiftCards(ctx, tx, sh); err != nil {
				return store.Change{}, err
			}
		}
		moved := move.Card
		const update = `UPDATE cards SET column_id = ?, position = ?, version = ?, updated_at = ? WHERE id = ?`
		if _, err := tx.ExecContext(ctx, update, moved.ColumnID, moved.Position, moved.Version, now, moved.ID); err != nil {
			return store.Change{}, fmt.Errorf("move card: %w", err)
		}
		if err := touchBoard(ctx, tx, moved.BoardID, now); err != nil {
			return store.Change{}, err
		}
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return &move, nil
}

// DeleteCard deletes a card on a board the actor owns and closes the gap
// it leaves in its column.
func (s *Store) DeleteCard(ctx context.Context, c store.Call, cardID string) (*store.DeletedCard, error) {
	if err := store.ValidateID("card", store.CardPrefix, cardID); err != nil {
		return nil, err
	}
	var deleted *store.DeletedCard
	err := s.write(ctx, "delete card", c, func(tx *txn, now int64) (store.Change, error) {
		card, err := ownedCard(ctx, tx, c.Actor, cardID)
		if err != nil {
			return store.Change{}, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM cards WHERE id = ?`, cardID); err != nil {
			return store.Change{}, fmt.Errorf("delete card: %w", err)
		}
		if err := shiftCards(ctx, tx, store.LeftGap(card.ColumnID, card.Position)); err != nil {
			return store.Change{}, err
		}
		if err := touchBoard(ctx, tx, card.BoardID, now); err != nil {
			return store.Change{}, err
		}
		var change store.Change
		deleted, change = store.RemovedCard(card)
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// SearchCards finds cards whose title, description or labels contain
// in.Query, case-insensitively, oldest first by (created_at, id), each
// with a preview of its description.
//
// The text is matched in Go (store.CardSearch), not in SQL: SQLite's
// lower() and LIKE fold ASCII letters only, and LIKE would need its
// wildcards escaped. SQL narrows the scan to the searchable cards in
// keyset order; the loop stops once it has one match more than the page
// holds.
func (s *Store) SearchCards(ctx context.Context, viewer store.Actor, in store.CardQuery) (store.CardList, error) {
	q, err := store.CheckCardQuery(in)
	if err != nil {
		return store.CardList{}, err
	}

	list := store.CardList{Cards: []store.Card{}}
	if q.BoardID == "" && viewer.Anonymous() {
		return list, nil // an anonymous viewer has no boards of its own
	}

	// Both queries walk the searchable cards in keyset order after the
	// cursor; the column filter is skipped when it is ''.
	const onBoard = `SELECT ` + cardColumns + `
		FROM cards k JOIN columns c ON c.id = k.column_id
		WHERE k.board_id = ?1
			AND (?2 = '' OR k.column_id = ?2)
			AND (k.created_at > ?3 OR (k.created_at = ?3 AND k.id > ?4))
		ORDER BY k.created_at, k.id`
	const onOwnBoards = `SELECT ` + cardColumns + `
		FROM cards k JOIN columns c ON c.id = k.column_id
		WHERE k.board_id IN (SELECT id FROM boards WHERE owner_iss = ?1 AND owner_sub = ?2)
			AND (?3 = '' OR k.column_id = ?3)
			AND (k.created_at > ?4 OR (k.created_at = ?4 AND k.id > ?5))
		ORDER BY k.created_at, k.id`

	err = s.read(ctx, "search cards", func(tx *txn) error {
		sqlQuery, args := onOwnBoards, []any{viewer.Issuer, viewer.Subject, q.ColumnID, q.After.Key, q.After.ID}
		if q.BoardID != "" {
			if _, err := visibleBoard(ctx, tx, viewer, q.BoardID); err != nil {
				return err
			}
			sqlQuery, args = onBoard, []any{q.BoardID, q.ColumnID, q.After.Key, q.After.ID}
		}
		if q.ColumnID != "" {
			if err := searchableColumn(ctx, tx, viewer, q.ColumnID, q.BoardID); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, sqlQuery, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			card, err := scanCard(rows.Scan)
			if err != nil {
				return err
			}
			if !q.MatchesLabel(card) || !q.MatchesText(card) {
				continue
			}
			// Matched on the whole text; a page of results keeps only
			// previews, as a board does.
			card.Description, card.DescriptionTruncated = store.PreviewDescription(card.Description)
			list.Cards = append(list.Cards, card)
			if len(list.Cards) > q.Limit {
				break
			}
		}
		return rows.Err()
	})
	if err != nil {
		return store.CardList{}, err
	}
	return store.CardPage(list.Cards, q.Limit), nil
}

// searchableColumn checks that column columnID is on board boardID, or on
// one of the viewer's own boards when boardID is empty. The caller has
// already checked that boardID is visible.
func searchableColumn(ctx context.Context, tx *txn, viewer store.Actor, columnID, boardID string) error {
	if boardID != "" {
		_, err := columnOnBoard(ctx, tx, columnID, boardID)
		return err
	}
	const query = `SELECT count(*) FROM columns c JOIN boards b ON b.id = c.board_id
		WHERE c.id = ? AND b.owner_iss = ? AND b.owner_sub = ?`
	var n int
	if err := tx.QueryRowContext(ctx, query, columnID, viewer.Issuer, viewer.Subject).Scan(&n); err != nil {
		return fmt.Errorf("load column: %w", err)
	}
	if n == 0 {
		return store.ColumnNotOwned(columnID)
	}
	return nil
}
