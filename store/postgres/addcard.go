package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// AddCard appends a card to the end of a column of a board the actor owns.
//
// It is the write that agents repeat fastest on one board, so it is built
// to hold the board's lock briefly and to share it. The call joins this
// process's queue for the board (addQueue) and is carried out in one
// transaction with the calls that queued meanwhile (addCards): one read of
// the board and its columns, without the lock, decides which calls are
// refused (not the actor's board, no such column, no room under the
// quota) and what the others' activity rows say; then one round trip
// takes the board's lock, inserts each card on condition that the board
// and its column are still as read and the board still has room (its
// position computed from the column under the lock), records the activity
// rows of the cards inserted, and commits. Only when a rename, a delete
// or another replica's last card got in between does an insert insert
// nothing: that call then leaves no trace and goes again.
func (s *Store) AddCard(ctx context.Context, c store.Call, in store.NewCard) (*store.Card, error) {
	in, err := store.CheckNewCard(in)
	if err != nil {
		return nil, err
	}
	if c.Describe == nil {
		return nil, errors.New("add card: the call has no Describe to word its activity row")
	}
	for range addCardAttempts {
		card, err := s.adds.add(&addRequest{ctx: ctx, call: c, in: in})
		if card != nil || err != nil {
			return card, wrap("add card", err)
		}
	}
	return nil, store.Errorf(store.Conflict, "board %s kept changing while the card was added (renamed, or its columns or cards changed); add the card again", in.BoardID)
}

// addCardAttempts bounds AddCard's tries: each lost try means that the
// board changed between a batch's read and its lock, which a second try
// seldom meets again.
const addCardAttempts = 3

// runAdds is the addQueue's run: it carries out a batch of AddCard calls
// on one board in one transaction. Should the server refuse the data of a
// statement, which one call can cause, it runs each call alone, so that
// such a call fails alone; other failures (an outage, a timeout) are the
// whole batch's.
func (s *Store) runAdds(ctx context.Context, batch []*addRequest) {
	err := s.addCards(ctx, batch)
	if len(batch) > 1 && pgdb.RefusedData(err) {
		for _, r := range batch {
			if err := s.addCards(ctx, []*addRequest{r}); err != nil {
				r.card, r.err = nil, err
			}
		}
		return
	}
	if err != nil {
		for _, r := range batch {
			r.card, r.err = nil, err
		}
	}
}

// addTargetSQL reads board $1 (its title, owner and card count) with each
// of its columns' IDs and names, if it has any.
const addTargetSQL = `SELECT b.title, b.owner_iss, b.owner_sub, b.card_count, c.id, c.name
	FROM boards b
	LEFT JOIN columns c ON c.board_id = b.id
	WHERE b.id = $1`

// addCardSQL inserts card $1 at the end of column $3 of board $2, on
// condition that $9, $10 own the board, that the board's title is still
// $11 and the column's name $12, and that the board has fewer than $13
// cards. Positions are dense (0 … n-1), so the highest plus one is the
// column's card count, read from the end of the (column, position) index.
// The statement runs after the one that took the board's lock, so its
// snapshot holds every write committed before the lock was granted, and
// every card that this transaction inserted before it.
const addCardSQL = `INSERT INTO cards (id, board_id, column_id, title, description, labels, position, version, created_at, updated_at)
	SELECT $1, b.id, c.id, $4, $5, $6, (SELECT coalesce(max(k.position) + 1, 0) FROM cards k WHERE k.column_id = c.id), $7, $8, $8
	FROM boards b
	JOIN columns c ON c.board_id = b.id
	WHERE b.id = $2 AND c.id = $3 AND b.owner_iss = $9 AND b.owner_sub = $10
		AND b.title = $11 AND c.name = $12 AND b.card_count < $13
	RETURNING position`

// addTarget is what addCards read of the board.
type addTarget struct {
	found              bool
	title              string
	ownerIss, ownerSub string
	cardCount          int
	columns            map[string]string // names by ID
}

// addCards runs a batch of AddCard calls on one board in one transaction
// (see AddCard), setting each call's card, or its refusal, or neither
// when its insert's condition failed. It returns the transaction's error.
func (s *Store) addCards(ctx context.Context, batch []*addRequest) error {
	board := clean(batch[0].in.BoardID)
	err := s.retry.InPipelinedTx(ctx, s.pool, func(tx pgx.Tx) (*pgx.Batch, error) {
		// This function runs again when pgdb retries: it only assigns.
		t, err := readAddTarget(ctx, tx, board)
		if err != nil {
			return nil, err
		}
		b := &pgx.Batch{}
		b.Queue(`SELECT FROM boards WHERE id = $1 FOR UPDATE`, board)
		end := writeEnd{board: board, touched: true}
		for _, r := range batch {
			r.card, r.err = nil, nil
			iss, sub := identity(r.call.Actor.Issuer, r.call.Actor.Subject)
			column, ok := t.columns[clean(r.in.ColumnID)]
			switch {
			case !t.found || t.ownerIss != iss || t.ownerSub != sub:
				r.err = store.BoardNotOwned(r.in.BoardID)
			case !ok:
				r.err = store.ColumnNotOnBoard(r.in.ColumnID, r.in.BoardID)
			default:
				// Only the board's own count refuses here: the cards that
				// this batch adds before this one may not all be added.
				// Should they fill the board, this call's insert finds no
				// room, and its next try is refused on the count then.
				r.err = s.quotas.CheckCards(r.in.BoardID, t.cardCount)
			}
			if r.err != nil {
				continue
			}
			// The clock is read in queue order: with a real clock this
			// replica's cards of one board get their times in the order
			// they commit (another replica's clock is read before its
			// lock, so between replicas the order may differ a little).
			nanos := store.UnixNanos(s.now())
			at := store.TimeOfNanos(nanos)
			card, change := store.AddedCard(r.in, t.title, column, 0, at)
			b.Queue(addCardSQL, card.ID, board, clean(r.in.ColumnID), card.Title, card.Description, card.Labels,
				card.Version, nanos, iss, sub, t.title, column, s.quotas.CardsPerBoard,
			).QueryRow(func(row pgx.Row) error {
				// An error from here would abandon the batch's results
				// while its COMMIT runs: only the server's refusal is one.
				err := row.Scan(&card.Position)
				if isNoRows(err) {
					return nil
				}
				if err == nil {
					r.card = card
				}
				return err
			})
			end.rows = append(end.rows, r.call.Activity(change, at))
			end.onlyIfCards = append(end.onlyIfCards, card.ID)
			end.at = nanos
		}
		if len(end.rows) == 0 {
			return nil, nil // every call refused: nothing to lock or write
		}
		end.queue(b)
		return b, nil
	})
	if err != nil || slices.ContainsFunc(batch, func(r *addRequest) bool { return r.card != nil }) {
		s.wrote(board, err)
	}
	return err
}

// readAddTarget reads board id and its columns for addCards, as a batch
// so that BEGIN goes with it (see pgdb.InPipelinedTx).
func readAddTarget(ctx context.Context, tx pgx.Tx, id string) (addTarget, error) {
	t := addTarget{columns: map[string]string{}}
	b := &pgx.Batch{}
	b.Queue(addTargetSQL, id).Query(func(rows pgx.Rows) error {
		var columnID, columnName *string
		_, err := pgx.ForEachRow(rows, []any{&t.title, &t.ownerIss, &t.ownerSub, &t.cardCount, &columnID, &columnName}, func() error {
			t.found = true
			if columnID != nil {
				t.columns[*columnID] = *columnName
			}
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return addTarget{}, fmt.Errorf("load board: %w", err)
	}
	return t, nil
}
