package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	CardCount  int
}

// boardRowColumns is the select list that scanBoardRow reads.
const boardRowColumns = `id, owner_iss, owner_sub, title, visibility, version, created_at, updated_at, card_count`

func scanBoardRow(row pgx.Row) (boardRow, error) {
	var b boardRow
	err := row.Scan(&b.ID, &b.OwnerIss, &b.OwnerSub, &b.Title, &b.Visibility, &b.Version, &b.CreatedAt, &b.UpdatedAt, &b.CardCount)
	return b, err
}

// visibleBoard loads a board that viewer may read.
func visibleBoard(ctx context.Context, tx pgx.Tx, viewer store.Actor, id string) (boardRow, error) {
	const query = `SELECT ` + boardRowColumns + `
		FROM boards
		WHERE id = $1 AND (visibility = 'public' OR ($3::text <> '' AND owner_iss = $2 AND owner_sub = $3))`
	iss, sub := identity(viewer.Issuer, viewer.Subject)
	b, err := scanBoardRow(tx.QueryRow(ctx, query, clean(id), iss, sub))
	if isNoRows(err) {
		return boardRow{}, store.BoardNotVisible(id)
	}
	if err != nil {
		return boardRow{}, fmt.Errorf("load board: %w", err)
	}
	return b, nil
}

// lockOwnedBoard loads a board that actor owns and locks its row until the
// transaction ends: every write to a board's content holds this lock, so
// they take turns per board across replicas. Anonymous actors own
// nothing: owner_sub is never empty.
func lockOwnedBoard(ctx context.Context, tx *txn, actor store.Actor, id string) (boardRow, error) {
	iss, sub := identity(actor.Issuer, actor.Subject)
	b, err := scanBoardRow(tx.QueryRow(ctx, lockOwnedBoardSQL, clean(id), iss, sub))
	if isNoRows(err) {
		return boardRow{}, store.BoardNotOwned(id)
	}
	if err != nil {
		return boardRow{}, fmt.Errorf("lock board: %w", err)
	}
	return b, nil
}

// lockOwnedBoardSQL locks board $1 if $2, $3 own it, and reads it.
const lockOwnedBoardSQL = `SELECT ` + boardRowColumns + `
	FROM boards
	WHERE id = $1 AND owner_iss = $2 AND owner_sub = $3
	FOR UPDATE`

// boardSummaryColumns is the select list that scanBoardSummary reads, for
// a board aliased b.
const boardSummaryColumns = `b.id, b.owner_iss, b.owner_sub, b.title, b.visibility, b.version, b.created_at, b.updated_at,
	(SELECT count(*) FROM columns c WHERE c.board_id = b.id),
	b.card_count`

// scanBoardSummary reads one row selected with boardSummaryColumns.
func scanBoardSummary(row pgx.Row, viewer store.Actor) (store.BoardSummary, error) {
	var (
		s                  store.BoardSummary
		iss, sub           string
		created, updated   int64
		columnCount, cards int
	)
	if err := row.Scan(&s.ID, &iss, &sub, &s.Title, &s.Visibility, &s.Version, &created, &updated, &columnCount, &cards); err != nil {
		return store.BoardSummary{}, err
	}
	s.Owned = viewer.Is(iss, sub)
	s.CreatedAt, s.UpdatedAt = store.TimeOfNanos(created), store.TimeOfNanos(updated)
	s.ColumnCount, s.CardCount = columnCount, cards
	return s, nil
}

// loadBoardSummary reads the summary of board id, which the caller has
// already found.
func loadBoardSummary(ctx context.Context, tx pgx.Tx, viewer store.Actor, id string) (store.BoardSummary, error) {
	const query = `SELECT ` + boardSummaryColumns + ` FROM boards b WHERE b.id = $1`
	s, err := scanBoardSummary(tx.QueryRow(ctx, query, id), viewer)
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
	// $4 (the subject) is empty for an anonymous viewer, whose branch then
	// finds nothing. One statement: one snapshot.
	const query = `SELECT ` + boardSummaryColumns + `
		FROM boards b
		WHERE b.id IN (
			(SELECT id FROM boards
			WHERE visibility = 'public' AND (created_at, id) > ($1, $2)
			ORDER BY created_at, id LIMIT $5)
			UNION ALL
			(SELECT id FROM boards
			WHERE $4::text <> '' AND owner_iss = $3 AND owner_sub = $4 AND (created_at, id) > ($1, $2)
			ORDER BY created_at, id LIMIT $5))
		ORDER BY b.created_at, b.id
		LIMIT $5`
	iss, sub := identity(viewer.Issuer, viewer.Subject)
	list := store.BoardList{Boards: []store.BoardSummary{}}
	after.ID = clean(after.ID) // the caller's, as it came in the cursor
	err = s.retry.Retry(ctx, func() error {
		list.Boards = list.Boards[:0]
		rows, err := s.pool.Query(ctx, query, after.Key, after.ID, iss, sub, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBoardSummary(rows, viewer)
			if err != nil {
				return err
			}
			list.Boards = append(list.Boards, b)
		}
		return rows.Err()
	})
	if err != nil {
		return store.BoardList{}, wrap("list boards", err)
	}
	return store.BoardPage(list.Boards, limit), nil
}

// getBoardQuery is GetBoard's one statement: the board if viewer may see
// it (public, or viewer owns it), each of its columns in order, and each
// column's cards in order; a column without cards gives one row with NULL
// card fields. Of each description it reads the first $4 characters, all
// that a preview needs, so that a board costs the same however long its
// descriptions are. One statement sees one snapshot, so the revision it
// reads is exactly that of the board it reads.
const getBoardQuery = `SELECT b.id, b.owner_iss, b.owner_sub, b.title, b.visibility, b.version, b.created_at, b.updated_at, b.revision,
		c.id, c.name, c.position,
		k.id, k.title, left(k.description, $4), k.labels, k.position, k.version, k.created_at, k.updated_at
	FROM boards b
	LEFT JOIN columns c ON c.board_id = b.id
	LEFT JOIN cards k ON k.column_id = c.id
	WHERE b.id = $1 AND (b.visibility = 'public' OR ($3::text <> '' AND b.owner_iss = $2 AND b.owner_sub = $3))
	ORDER BY c.position, k.position`

// GetBoard returns a board the viewer may read with its columns and cards
// in position order, each card with a preview of its description.
//
// A cached board is served only when the board row's revision is still
// the one it was read at (see the package comment): whichever replica
// wrote since, the lookup sees it. Otherwise the board is read whole, and
// cached with the revision read in the same statement, unless it was
// invalidated (by a write here, or another's notification) since the
// read began, or a newer revision is cached already.
func (s *Store) GetBoard(ctx context.Context, viewer store.Actor, boardID string) (*store.Board, error) {
	if err := store.ValidateID("board", store.BoardPrefix, boardID); err != nil {
		return nil, err
	}
	if e, ok := s.boards.Lookup(boardID); ok {
		revision, found, err := s.boardRevision(ctx, boardID)
		if err != nil {
			return nil, wrap("get board", err)
		}
		if found && revision == e.Version() {
			b, visible := e.View(viewer)
			if !visible {
				return nil, store.BoardNotVisible(boardID)
			}
			return b, nil
		}
		s.boards.Invalidate(boardID) // stale, or the board is gone
		if !found {
			return nil, store.BoardNotVisible(boardID)
		}
	}

	gen := s.boards.Generation(boardID)
	iss, sub := identity(viewer.Issuer, viewer.Subject)
	var read boardRead
	err := s.retry.Retry(ctx, func() error {
		read = boardRead{}
		rows, err := s.pool.Query(ctx, getBoardQuery, clean(boardID), iss, sub, store.DescriptionPreviewLen+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := read.add(rows, viewer); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("get board", err)
	}
	if read.board == nil {
		return nil, store.BoardNotVisible(boardID)
	}
	s.boards.Put(read.board, read.ownerIss, read.ownerSub, read.revision, gen)
	return read.board, nil
}

// boardRevision reads the revision of board id: found is false when the
// board does not exist. One row by primary key.
func (s *Store) boardRevision(ctx context.Context, id string) (revision int64, found bool, err error) {
	err = s.retry.Retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT revision FROM boards WHERE id = $1`, clean(id)).Scan(&revision)
	})
	if isNoRows(err) {
		return 0, false, nil
	}
	return revision, err == nil, err
}

// boardRead is a board as getBoardQuery reads it, with what the cache
// keeps beside it.
type boardRead struct {
	board              *store.Board // nil until the first row
	ownerIss, ownerSub string
	revision           int64
}

// add adds one row of getBoardQuery to the board, which it makes from the
// first row.
func (r *boardRead) add(rows pgx.Rows, viewer store.Actor) error {
	var (
		b                boardRow
		revision         int64
		colID, colName   *string
		colPos           *int
		cardID, title    *string
		description      *string
		labels           []string
		position         *int
		version          *int64
		created, updated *int64
	)
	if err := rows.Scan(&b.ID, &b.OwnerIss, &b.OwnerSub, &b.Title, &b.Visibility, &b.Version, &b.CreatedAt, &b.UpdatedAt, &revision,
		&colID, &colName, &colPos,
		&cardID, &title, &description, &labels, &position, &version, &created, &updated); err != nil {
		return err
	}
	if r.board == nil {
		r.board = &store.Board{
			ID:         b.ID,
			Title:      b.Title,
			Visibility: b.Visibility,
			Owned:      viewer.Is(b.OwnerIss, b.OwnerSub),
			Version:    b.Version,
			CreatedAt:  store.TimeOfNanos(b.CreatedAt),
			UpdatedAt:  store.TimeOfNanos(b.UpdatedAt),
			Columns:    []store.Column{},
		}
		r.ownerIss, r.ownerSub, r.revision = b.OwnerIss, b.OwnerSub, revision
	}
	if colID == nil {
		return nil // a board without columns
	}
	board := r.board
	if n := len(board.Columns); n == 0 || board.Columns[n-1].ID != *colID {
		board.Columns = append(board.Columns, store.Column{ID: *colID, Name: *colName, Position: *colPos, Cards: []store.Card{}})
	}
	if cardID == nil {
		return nil // an empty column
	}
	col := &board.Columns[len(board.Columns)-1]
	card := store.Card{
		ID: *cardID, BoardID: b.ID, ColumnID: col.ID, ColumnName: col.Name,
		Title:    *title,
		Labels:   nonNil(labels),
		Position: *position, Version: *version,
		CreatedAt: store.TimeOfNanos(*created), UpdatedAt: store.TimeOfNanos(*updated),
	}
	card.Description, card.DescriptionTruncated = store.PreviewDescription(*description)
	col.Cards = append(col.Cards, card)
	return nil
}

// CreateBoard creates a private board owned by c.Actor with the given
// columns, or "To do", "Doing", "Done" when none are given.
func (s *Store) CreateBoard(ctx context.Context, c store.Call, title string, columns []string) (*store.Board, error) {
	title, names, err := store.CheckNewBoard(c.Actor, title, columns)
	if err != nil {
		return nil, err
	}
	if !storable(c.Actor.Issuer) || !storable(c.Actor.Subject) {
		return nil, errors.New("create board: the caller's issuer or subject holds NUL or invalid UTF-8, which PostgreSQL cannot store")
	}

	var board *store.Board
	err = s.write(ctx, "create board", c, func(tx *txn) (store.Change, error) {
		// The boards-per-user quota is counted and kept under a lock of
		// the owner, so that two replicas creating boards for one user at
		// once cannot both see room for one more. An advisory lock, as no
		// row stands for an owner; it is released at COMMIT, when this
		// board is already visible to the next holder's count.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`,
			ownerLockSpace, ownerLockKey(c.Actor.Issuer, c.Actor.Subject)); err != nil {
			return store.Change{}, fmt.Errorf("lock owner: %w", err)
		}
		const countQuery = `SELECT count(*) FROM boards WHERE owner_iss = $1 AND owner_sub = $2`
		var owned int
		if err := tx.QueryRow(ctx, countQuery, c.Actor.Issuer, c.Actor.Subject).Scan(&owned); err != nil {
			return store.Change{}, fmt.Errorf("count boards: %w", err)
		}
		if err := s.quotas.CheckBoards(owned); err != nil {
			return store.Change{}, err
		}

		now := tx.now()
		var change store.Change
		board, change = store.CreatedBoard(title, names, store.TimeOfNanos(now))
		const insertBoard = `INSERT INTO boards (id, owner_iss, owner_sub, title, visibility, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
		if _, err := tx.Exec(ctx, insertBoard, board.ID, c.Actor.Issuer, c.Actor.Subject,
			board.Title, string(board.Visibility), board.Version, now, now); err != nil {
			return store.Change{}, fmt.Errorf("insert board: %w", err)
		}
		colIDs := make([]string, len(board.Columns))
		for i, col := range board.Columns {
			colIDs[i] = col.ID
		}
		const insertColumns = `INSERT INTO columns (id, board_id, name, position)
			SELECT c.id, $1, c.name, c.ord - 1
			FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS c (id, name, ord)`
		if _, err := tx.Exec(ctx, insertColumns, board.ID, colIDs, names); err != nil {
			return store.Change{}, fmt.Errorf("insert columns: %w", err)
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
	err := s.write(ctx, "share board", c, func(tx *txn) (store.Change, error) {
		b, err := lockOwnedBoard(ctx, tx, c.Actor, boardID)
		if err != nil {
			return store.Change{}, err
		}
		change := store.SharedBoard(b.ID, b.Title, b.Visibility, v)
		if !change.Unchanged {
			const update = `UPDATE boards SET visibility = $1, version = version + 1, updated_at = $2 WHERE id = $3`
			if _, err := tx.Exec(ctx, update, string(v), tx.now(), b.ID); err != nil {
				return store.Change{}, fmt.Errorf("update board: %w", err)
			}
		}
		if summary, err = loadBoardSummary(ctx, tx, c.Actor, b.ID); err != nil {
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
	err := s.write(ctx, "delete board", c, func(tx *txn) (store.Change, error) {
		b, err := lockOwnedBoard(ctx, tx, c.Actor, boardID)
		if err != nil {
			return store.Change{}, err
		}
		if summary, err = loadBoardSummary(ctx, tx, c.Actor, b.ID); err != nil {
			return store.Change{}, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM boards WHERE id = $1`, b.ID); err != nil {
			return store.Change{}, fmt.Errorf("delete board: %w", err)
		}
		return store.DeletedBoard(summary), nil
	})
	if err != nil {
		return nil, err
	}
	return &summary, nil
}
