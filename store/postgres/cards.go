package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// cardColumns is the select list that scanCard reads, for a card aliased k
// joined with its column aliased c.
const cardColumns = `k.id, k.board_id, k.column_id, c.name, k.title, k.description, k.labels,
	k.position, k.version, k.created_at, k.updated_at`

// scanCard reads one row selected with cardColumns, followed by extra
// destinations for whatever the query selects after them.
func scanCard(row pgx.Row, extra ...any) (store.Card, error) {
	var (
		card             store.Card
		created, updated int64
	)
	dest := []any{&card.ID, &card.BoardID, &card.ColumnID, &card.ColumnName, &card.Title, &card.Description,
		&card.Labels, &card.Position, &card.Version, &created, &updated}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return store.Card{}, err
	}
	card.Labels = nonNil(card.Labels)
	card.CreatedAt, card.UpdatedAt = store.TimeOfNanos(created), store.TimeOfNanos(updated)
	return card, nil
}

// lockCardBoard locks the row of the board that card id is on, when actor
// owns that board (see lockOwnedBoard). A card never changes boards, so
// the board found is the card's for as long as the card exists.
func lockCardBoard(ctx context.Context, tx *txn, actor store.Actor, id string) error {
	const query = `SELECT b.id
		FROM boards b
		WHERE b.id = (SELECT k.board_id FROM cards k WHERE k.id = $1) AND b.owner_iss = $2 AND b.owner_sub = $3
		FOR UPDATE`
	iss, sub := identity(actor.Issuer, actor.Subject)
	var boardID string
	err := tx.QueryRow(ctx, query, clean(id), iss, sub).Scan(&boardID)
	if isNoRows(err) {
		return store.CardNotOwned(id)
	}
	if err != nil {
		return fmt.Errorf("lock board: %w", err)
	}
	return nil
}

// lockOwnedCard locks the board of card id (lockCardBoard) and then loads
// the card, as it is now.
func lockOwnedCard(ctx context.Context, tx *txn, actor store.Actor, id string) (store.Card, error) {
	if err := lockCardBoard(ctx, tx, actor, id); err != nil {
		return store.Card{}, err
	}
	// Under READ COMMITTED this statement sees everything committed before
	// the lock was granted: a card deleted meanwhile is not found.
	const query = `SELECT ` + cardColumns + `
		FROM cards k
		JOIN columns c ON c.id = k.column_id
		WHERE k.id = $1`
	card, err := scanCard(tx.QueryRow(ctx, query, clean(id)))
	if isNoRows(err) {
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
		WHERE k.id = $1 AND (b.visibility = 'public' OR ($3::text <> '' AND b.owner_iss = $2 AND b.owner_sub = $3))`
	iss, sub := identity(viewer.Issuer, viewer.Subject)
	var (
		view               store.CardView
		ownerIss, ownerSub string
	)
	var card store.Card
	err := s.retry.Retry(ctx, func() error {
		var err error
		card, err = scanCard(s.pool.QueryRow(ctx, query, clean(cardID), iss, sub), &view.BoardTitle, &ownerIss, &ownerSub)
		return err
	})
	if isNoRows(err) {
		return nil, store.CardNotVisible(cardID)
	}
	if err != nil {
		return nil, wrap("get card", err)
	}
	view.Card, view.Owned = card, viewer.Is(ownerIss, ownerSub)
	return &view, nil
}

// columnOnBoard returns the name of column columnID when it is on board
// boardID.
func columnOnBoard(ctx context.Context, tx pgx.Tx, columnID, boardID string) (string, error) {
	var name string
	err := tx.QueryRow(ctx, `SELECT name FROM columns WHERE id = $1 AND board_id = $2`, clean(columnID), clean(boardID)).Scan(&name)
	if isNoRows(err) {
		return "", store.ColumnNotOnBoard(columnID, boardID)
	}
	if err != nil {
		return "", fmt.Errorf("load column: %w", err)
	}
	return name, nil
}

// columnForAppend returns the name of column columnID of board boardID and
// the position just past its last card, in one round trip. Positions are
// dense (0 … n-1: every move and delete closes its gap, and a unique
// constraint checks it), so the highest plus one is the card count, read
// from the index's end. The caller holds the board's lock, taken by an
// earlier statement: the count must see every write that committed before
// the lock was granted, which a statement that waited for the lock itself
// would not (READ COMMITTED takes a statement's snapshot when it starts).
func columnForAppend(ctx context.Context, tx pgx.Tx, columnID, boardID string) (name string, next int, err error) {
	const query = `SELECT name, (SELECT coalesce(max(position) + 1, 0) FROM cards WHERE column_id = columns.id)
		FROM columns WHERE id = $1 AND board_id = $2`
	err = tx.QueryRow(ctx, query, clean(columnID), clean(boardID)).Scan(&name, &next)
	if isNoRows(err) {
		return "", 0, store.ColumnNotOnBoard(columnID, boardID)
	}
	if err != nil {
		return "", 0, fmt.Errorf("load column: %w", err)
	}
	return name, next, nil
}

// shiftCardsSQL moves the positions of column $2's cards in [$3, $4) by $1.
const shiftCardsSQL = `UPDATE cards SET position = position + $1 WHERE column_id = $2 AND position >= $3 AND position < $4`

// UpdateCard changes the title, description and labels that in sets, on a
// card on a board the actor owns, and bumps the card's version. The
// version is compared with in.ExpectedVersion under the board's lock, so
// that of two writers that read the same version, on any replicas, the
// second gets Conflict.
func (s *Store) UpdateCard(ctx context.Context, c store.Call, in store.CardUpdate) (*store.Card, error) {
	in, err := store.CheckCardUpdate(in)
	if err != nil {
		return nil, err
	}

	var card store.Card
	err = s.write(ctx, "update card", c, func(tx *txn) (store.Change, error) {
		read, err := lockOwnedCard(ctx, tx, c.Actor, in.CardID)
		if err != nil {
			return store.Change{}, err
		}
		now := tx.now()
		var change store.Change
		if card, change, err = store.UpdatedCard(read, in, store.TimeOfNanos(now)); err != nil || change.Unchanged {
			return change, err
		}
		const update = `UPDATE cards SET title = $1, description = $2, labels = $3, version = $4, updated_at = $5 WHERE id = $6`
		tx.queue(update, card.Title, card.Description, card.Labels, card.Version, now, card.ID)
		tx.touch()
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
	err := s.write(ctx, "move card", c, func(tx *txn) (store.Change, error) {
		card, err := lockOwnedCard(ctx, tx, c.Actor, cardID)
		if err != nil {
			return store.Change{}, err
		}
		toName, n, err := columnForAppend(ctx, tx, columnID, card.BoardID)
		if err != nil {
			return store.Change{}, err
		}
		now := tx.now()
		var change store.Change
		if move, change = store.MovedCard(card, columnID, toName, n, position, store.TimeOfNanos(now)); !move.Moved {
			return change, nil
		}
		// Close the gap and open the new slot. The moving card is in none
		// of the shifts, so it is stored on its own afterwards; the unique
		// (column, position) constraint is checked at COMMIT, when
		// positions are dense again.
		// In order, with the activity row: nothing reads what they return.
		for _, sh := range move.Shifts() {
			tx.queue(shiftCardsSQL, sh.Delta, sh.ColumnID, sh.From, sh.To)
		}
		moved := move.Card
		const update = `UPDATE cards SET column_id = $1, position = $2, version = $3, updated_at = $4 WHERE id = $5`
		tx.queue(update, moved.ColumnID, moved.Position, moved.Version, now, moved.ID)
		tx.touch()
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
	err := s.write(ctx, "delete card", c, func(tx *txn) (store.Change, error) {
		card, err := lockOwnedCard(ctx, tx, c.Actor, cardID)
		if err != nil {
			return store.Change{}, err
		}
		gap := store.LeftGap(card.ColumnID, card.Position)
		tx.queue(`DELETE FROM cards WHERE id = $1`, card.ID)
		tx.queue(shiftCardsSQL, gap.Delta, gap.ColumnID, gap.From, gap.To)
		tx.touch()
		var change store.Change
		deleted, change = store.RemovedCard(card)
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}
