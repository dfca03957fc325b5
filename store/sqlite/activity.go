package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// insertActivity inserts one activity row; a.At must be set.
func insertActivity(ctx context.Context, tx *txn, a store.Activity) error {
	ids, err := encodeJSONList(a.IDs)
	if err != nil {
		return err
	}
	const insert = `INSERT INTO activity
		(at, tool, outcome, actor_iss, actor_sub, client_id, board_id, ids, summary, owner_iss, owner_sub)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	_, err = tx.ExecContext(ctx, insert, store.UnixNanos(a.At), a.Tool, string(a.Outcome),
		a.Actor.Issuer, a.Actor.Subject, a.Actor.ClientID, a.BoardID, ids, a.Summary,
		a.BoardOwner.Issuer, a.BoardOwner.Subject)
	return err
}

// ListActivity returns, newest first, the activity rows the viewer made and
// those recorded against boards it owned, optionally of one board only.
// Filtering by board needs no existence check: rows of a board the viewer
// never touched nor owned are filtered out anyway, so nothing leaks.
func (s *Store) ListActivity(ctx context.Context, viewer store.Actor, boardID string, page store.Page) (store.ActivityList, error) {
	limit, before, err := store.CheckActivityQuery(boardID, page)
	if err != nil {
		return store.ActivityList{}, err
	}
	list := store.ActivityList{Activity: []store.Activity{}}
	if viewer.Anonymous() {
		return list, nil // anonymous rows belong to nobody in particular
	}

	// Each branch of the UNION walks one index backwards and stops after
	// limit+1 rows, so a page costs O(limit) however long the trail is.
	const query = `SELECT id, at, tool, outcome, actor_iss, actor_sub, client_id, board_id, ids, summary, owner_iss, owner_sub
		FROM activity
		WHERE id IN (
			SELECT id FROM (
				SELECT id FROM activity
				WHERE actor_iss = ?1 AND actor_sub = ?2 AND id < ?3 AND (?4 = '' OR board_id = ?4)
				ORDER BY id DESC LIMIT ?5)
			UNION ALL
			SELECT id FROM (
				SELECT id FROM activity
				WHERE owner_iss = ?1 AND owner_sub = ?2 AND id < ?3 AND (?4 = '' OR board_id = ?4)
				ORDER BY id DESC LIMIT ?5))
		ORDER BY id DESC
		LIMIT ?5`
	err = s.read(ctx, "list activity", func(tx *txn) error {
		rows, err := tx.QueryContext(ctx, query, viewer.Issuer, viewer.Subject, before.Key, boardID, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a       store.Activity
				at      int64
				outcome string
				ids     string
			)
			if err := rows.Scan(&a.ID, &at, &a.Tool, &outcome, &a.Actor.Issuer, &a.Actor.Subject, &a.Actor.ClientID,
				&a.BoardID, &ids, &a.Summary, &a.BoardOwner.Issuer, &a.BoardOwner.Subject); err != nil {
				return err
			}
			a.At, a.Outcome = store.TimeOfNanos(at), store.Outcome(outcome)
			if a.IDs, err = decodeJSONList(ids); err != nil {
				return err
			}
			list.Activity = append(list.Activity, a)
		}
		return rows.Err()
	})
	if err != nil {
		return store.ActivityList{}, err
	}
	return store.ActivityPage(list.Activity, limit), nil
}

// RecordActivity inserts rows in one transaction; a row without a time
// gets the current one. Row IDs are assigned by the database.
func (s *Store) RecordActivity(ctx context.Context, rows []store.Activity) error {
	if len(rows) == 0 {
		return nil
	}
	sqlTx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record activity: begin: %w", err)
	}
	defer sqlTx.Rollback() // a no-op after Commit
	tx := &txn{Tx: sqlTx, stmts: s.writeStmts}
	now := s.now()
	for _, a := range rows {
		if a.At.IsZero() {
			a.At = now
		}
		if err := insertActivity(ctx, tx, a); err != nil {
			return fmt.Errorf("record activity: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record activity: commit: %w", err)
	}
	return nil
}

// PruneActivity deletes the activity rows recorded before cutoff.
func (s *Store) PruneActivity(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.Writer.ExecContext(ctx, `DELETE FROM activity WHERE at < ?`, store.UnixNanos(cutoff))
	if err != nil {
		return 0, fmt.Errorf("prune activity: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune activity: %w", err)
	}
	return n, nil
}
