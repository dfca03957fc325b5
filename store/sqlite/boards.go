package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// boardRow is a board as stored, without its columns.
type boardRow struct {
	ID         string
	OwnerIss   string
	OwnerSub   string
	Title      string
	Visibility store.Visibility
	Version    int64
	CreatedAt  int64
	UpdatedAt  int64
}

// visibleBoard loads a board that viewer may read.
func visibleBoard(ctx context.Context, tx *txn, viewer store.Actor, id string) (boardRow, error) {
	const query = `SELECT id, owner_iss, owner_sub, title, visibility, version, created_at, updated_at
		FROM boards
		WHERE id = ?1 AND (visibility = 'public' OR (?3 <> '' AND owner_iss = ?2 AND owner_sub = ?3))`
	var b boardRow
	err := tx.QueryRowContext(ctx, query, id, viewer.Issuer, viewer.Subject).Scan(
		&b.ID, &b.OwnerIss, &b.OwnerSub, &b.Title, &b.Visibility, &b.Version, &b.CreatedAt, &b.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return boardRow{}, store.BoardNotVisible(id)
	}
	if err != nil {
		return boardRow{}, fmt.Errorf("load board: %w", err)
	}
	return b, nil
}

// ownedBoard loads a board that actor owns. Anonymous actors own nothing:
// owner_sub is never empty.
func ownedBoard(ctx context.Context, tx *txn, actor store.Actor, id string) (boardRow, error) {
	const query = `SELECT id, owner_iss, owner_sub, title, visibility, version, created_at, updated_at
		FROM boards
		WHERE id = ? AND owner_iss = ? AND owner_sub = ?`
	var b boardRow
	err := tx.QueryRowContext(ctx, query, id, actor.Issuer, actor.Subject).Scan(
		&b.ID, &b.OwnerIss, &b.OwnerSub, &b.Title, &b.Visibility, &b.Version, &b.CreatedAt, &b.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return boardRow{}, store.BoardNotOwned(id)
	}
	if err != nil {
		return boardRow{}, fmt.Errorf("load board: %w", err)
	}
	return b, nil
}

// boardSummaryColumns is the select list that scanBoardSummary reads, for
// a board aliased b.
const boardSummaryColumns = `b.id, b.owner_iss, b.owner_sub, b.title, b.visibility, b.version, b.created_at, b.updated_at,
	(SELECT count(*) FROM columns c WHERE c.board_id = b.id),
	b.card_count`

// scanBoardSummary reads one row selected with boardSummaryColumns.
func scanBoardSummary(scan func(...any) error, viewer store.Actor) (store.BoardSummary, error) {
	var (
		s                  store.BoardSummary
		iss, sub           string
		created, updated   int64
		columnCount, cards int
	)
	if err := scan(&s.ID, &iss, &sub, &s.Title, &s.Visibility, &s.Version, &created, &updated, &columnCount, &cards); err != nil {
		return store.BoardSummary{}, err
	}
	s.Owned = viewer.Is(iss, sub)
	s.CreatedAt, s.UpdatedAt = store.TimeOfNanos(created), store.TimeOfNanos(updated)
	s.ColumnCount, s.CardCount = columnCount, cards
	return s, nil
}

// loadBoardSummary reads the summary of board id, which the caller has
// already found.
func loadBoardSummary(ctx context.Context, tx *txn, viewer store.Actor, id string) (store.BoardSummary, error) {
	const query = `SELECT ` + boardSummaryColumns + ` FROM boards b WHERE b.id = ?`
	s, err := scanBoardSummary(tx.QueryRowContext(ctx, query, id).Scan, viewer)
	if err != nil {
		return store.BoardSummary{}, fmt.Errorf("load board summary: %w", err)
	}
	return s, nil
}

// ListBoards lists the public boards and, for a signed-in viewer, its own,
// oldest first by (created_at, id).
func (s *Store) ListBoards(ctx context.Context, viewer store.Actor, page store.Page) (store.BoardList, error) {
	limit, after, err := store.PageArgs(store.BoardCursor, page)
	if err != nil {
		return store.BoardList{}, err
	}
	// Each branch of the UNION walks one index in order and stops after
	// limit+1 rows, so a page costs O(limit) whatever the number of boards.
	// ?4 (the subject) is empty for an anonymous viewer, whose branch then
	// finds nothing.
	const query = `SELECT ` + boardSummaryColumns + `
		FROM boards b
		WHERE b.id IN (
			SELECT id FROM (
				SELECT id FROM boards
				WHERE visibility = 'public' AND (created_at > ?1 OR (created_at = ?1 AND id > ?2))
				ORDER BY created_at, id LIMIT ?5)
			UNION ALL
			SELECT id FROM (
				SELECT id FROM boards
				WHERE ?4 <> '' AND owner_iss = ?3 AND owner_sub = ?4
					AND (created_at > ?1 OR (created_at = ?1 AND id > ?2))
				ORDER BY created_at, id LIMIT ?5))
		ORDER BY b.created_at, b.id
		LIMIT ?5`
	list := store.BoardList{Boards: []store.BoardSummary{}}
	err = s.read(ctx, "list boards", func(tx *txn) error {
		rows, err := tx.QueryContext(ctx, query, after.Key, after.ID, viewer.Issuer, viewer.Subject, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBoardSummary(rows.Scan, viewer)
			if err != nil {
				return err
			}
			list.Boards = append(list.Boards, b)
		}
		return rows.Err()
	})
	if err != nil {
		return store.BoardList{}, err
	}
	return store.BoardPage(list.Boards, limit), nil
}

// GetBoard returns a board the viewer may read with its columns and cards
// in position order, each card with a preview of its description.
func (s *Store) GetBoard(ctx context.Context, viewer store.Actor, boardID string) (*store.Board, error) {
	if err := store.ValidateID("board", store.BoardPrefix, boardID); err != nil {
		return nil, err
	}
	if e, cached := s.boards.Lookup(boardID); cached {
		b, visible := e.View(viewer)
		if !visible {
			return nil, store.BoardNotVisible(boardID)
		}
		return b, nil
	}
	gen := s.boards.Generation(boardID)
	// One prepared statement reads the board, its columns and its cards:
	// a single statement sees one snapshot, so no transaction is needed,
	// and the most frequent read costs one round through SQLite. It reads
	// only as much of each description as its preview needs, so that
	// neither this read nor the cached board grows with the descriptions.
	rows, err := s.getBoard.QueryContext(ctx, boardID, viewer.Issuer, viewer.Subject, store.DescriptionPreviewLen+1)
	if err != nil {
		return nil, fmt.Errorf("get board: %w", err)
	}
	defer rows.Close()
	var board *store.Board
	var ownerIss, ownerSub string
	for rows.Next() {
		var (
			b                 boardRow
			colID, colName    sql.NullString
			colPos            sql.NullInt64
			cardID, title     sql.NullString
			description       sql.NullString
			labels            sql.NullString
			position, version sql.NullInt64
			created, updated  sql.NullInt64
		)
		if err := rows.Scan(&b.ID, &b.OwnerIss, &b.OwnerSub, &b.Title, &b.Visibility, &b.Version, &b.CreatedAt, &b.UpdatedAt,
			&colID, &colName, &colPos,
			&cardID, &title, &description, &labels, &position, &version, &created, &updated); err != nil {
			return nil, fmt.Errorf("get board: %w", err)
		}
		if board == nil {
			board = &store.Board{
				ID:         b.ID,
				Title:      b.Title,
				Visibility: b.Visibility,
				Owned:      viewer.Is(b.OwnerIss, b.OwnerSub),
				Version:    b.Version,
				CreatedAt:  store.TimeOfNanos(b.CreatedAt),
				UpdatedAt:  store.TimeOfNanos(b.UpdatedAt),
				Columns:    []store.Column{},
			}
			ownerIss, ownerSub = b.OwnerIss, b.OwnerSub
		}
		if !colID.Valid {
			continue // a board without columns
		}
		if n := len(board.Columns); n == 0 || board.Columns[n-1].ID != colID.String {
			board.Columns = append(board.Columns, store.Column{ID: colID.String, Name: colName.String, Position: int(colPos.Int64), Cards: []store.Card{}})
		}
		if !cardID.Valid {
			continue // an empty column
		}
		col := &board.Columns[len(board.Columns)-1]
		card := store.Card{
			ID: cardID.String, BoardID: b.ID, ColumnID: col.ID, ColumnName: col.Name,
			Title:    title.String,
			Position: int(position.Int64), Version: version.Int64,
			CreatedAt: store.TimeOfNanos(created.Int64), UpdatedAt: store.TimeOfNanos(updated.Int64),
		}
		card.Description, card.DescriptionTruncated = store.PreviewDescription(description.String)
		if card.Labels, err = decodeJSONList(labels.String); err != nil {
			return nil, fmt.Errorf("get board: %w", err)
		}
		col.Cards = append(col.Cards, card)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get board: %w", err)
	}
	if board == nil {
		return nil, store.BoardNotVisible(boardID)
	}
	// SQLite needs no version label: write invalidates every board it
	// changes, and this process is the only writer.
	s.boards.Put(board, ownerIss, ownerSub, 0, gen)
	return board, nil
}

// getBoardQuery is GetBoard's one statement: the board if viewer may see
// it (public, or viewer owns it), each of its columns in order, and each
// column's cards in order; a column without cards gives one row with NULL
// card fields. Of each description it reads the first ?4 characters
// (SQLite's substr counts characters in text, not bytes).
const getBoardQuery = `SELECT b.id, b.owner_iss, b.owner_sub, b.title, b.visibility, b.version, b.created_at, b.updated_at,
		c.id, c.name, c.position,
		k.id, k.title, substr(k.description, 1, ?4), k.labels, k.position, k.version, k.created_at, k.updated_at
	FROM boards b
	LEFT JOIN columns c ON c.board_id = b.id
	LEFT JOIN cards k ON k.column_id = c.id
	WHERE b.id = ?1 AND (b.visibility = 'public' OR (?3 <> '' AND b.owner_iss = ?2 AND b.owner_sub = ?3))
	ORDER BY c.position, k.position`

// CreateBoard creates a private board owned by c.Actor with the given
// columns, or "To do", "Doing", "Done" when none are given.
func (s *Store) CreateBoard(ctx context.Context, c store.Call, title string, columns []string) (*store.Board, error) {
	title, names, err := store.CheckNewBoard(c.Actor, title, columns)
	if err != nil {
		return nil, err
	}

	var board *store.Board
	err = s.write(ctx, "create board", c, func(tx *txn, now int64) (store.Change, error) {
		const countQuery = `SELECT count(*) FROM boards WHERE owner_iss = ? AND owner_sub = ?`
		var owned int
		if err := tx.QueryRowContext(ctx, countQuery, c.Actor.Issuer, c.Actor.Subject).Scan(&owned); err != nil {
			return store.Change{}, fmt.Errorf("count boards: %w", err)
		}
		if err := s.quotas.CheckBoards(owned); err != nil {
			return store.Change{}, err
		}

		var change store.Change
		board, change = store.CreatedBoard(title, names, store.TimeOfNanos(now))
		const insertBoard = `INSERT INTO boards (id, owner_iss, owner_sub, title, visibility, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
		if _, err := tx.ExecContext(ctx, insertBoard, board.ID, c.Actor.Issuer, c.Actor.Subject,
			board.Title, board.Visibility, board.Version, now, now); err != nil {
			return store.Change{}, fmt.Errorf("insert board: %w", err)
		}
		const insertColumn = `INSERT INTO columns (id, board_id, name, position) VALUES (?, ?, ?, ?)`
		for _, col := range board.Columns {
			if _, err := tx.ExecContext(ctx, insertColumn, col.ID, board.ID, col.Name, col.Position); err != nil {
				return store.Change{}, fmt.Errorf("insert column: %w", err)
			}
		}
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return board, nil
}

// ShareBoard sets the visibility of a board the actor owns and bumps its
// version.
func (s *Store) ShareBoard(ctx context.Context, c store.Call, boardID string, v store.Visibility) (*store.BoardSummary, error) {
	if err := store.CheckShareBoard(boardID, v); err != nil {
		return nil, err
	}
	var summary store.BoardSummary
	err := s.write(ctx, "share board", c, func(tx *txn, now int64) (store.Change, error) {
		b, err := ownedBoard(ctx, tx, c.Actor, boardID)
		if err != nil {
			return store.Change{}, err
		}
		change := store.SharedBoard(boardID, b.Title, b.Visibility, v)
		if !change.Unchanged {
			const update = `UPDATE boards SET visibility = ?, version = version + 1, updated_at = ? WHERE id = ?`
			if _, err := tx.ExecContext(ctx, update, v, now, boardID); err != nil {
				return store.Change{}, fmt.Errorf("update board: %w", err)
			}
		}
		if summary, err = loadBoardSummary(ctx, tx, c.Actor, boardID); err != nil {
			return store.Change{}, err
		}
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	return &summary, nil
}

// DeleteBoard deletes a board the actor owns with its columns and cards
// (by foreign-key cascade) and returns the board as it was. Activity rows
// of the board stay.
func (s *Store) DeleteBoard(ctx context.Context, c store.Call, boardID string) (*store.BoardSummary, error) {
	if err := store.ValidateID("board", store.BoardPrefix, boardID); err != nil {
		return nil, err
	}
	var summary store.BoardSummary
	err := s.write(ctx, "delete board", c, func(tx *txn, now int64) (store.Change, error) {
		if _, err := ownedBoard(ctx, tx, c.Actor, boardID); err != nil {
			return store.Change{}, err
		}
		var err error
		if summary, err = loadBoardSummary(ctx, tx, c.Actor, boardID); err != nil {
			return store.Change{}, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM boards WHERE id = ?`, boardID); err != nil {
			return store.Change{}, fmt.Errorf("delete board: %w", err)
		}
		return store.DeletedBoard(summary), nil
	})
	if err != nil {
		return nil, err
	}
	return &summary, nil
}
