package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// insertActivitySQL inserts one activity row.
const insertActivitySQL = `INSERT INTO activity
	(at, tool, outcome, actor_iss, actor_sub, client_id, board_id, ids, summary, owner_iss, owner_sub)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// insertActivityIfCardSQL is insertActivitySQL run only if card $12
// exists (see writeEnd.onlyIfCards). The parameters take the activity columns'
// types, as in VALUES.
const insertActivityIfCardSQL = `INSERT INTO activity
	(at, tool, outcome, actor_iss, actor_sub, client_id, board_id, ids, summary, owner_iss, owner_sub)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
	WHERE EXISTS (SELECT 1 FROM cards WHERE id = $12)`

// activityArgs are the arguments of insertActivitySQL for a, made storable
// (see the package comment); a.At must be set.
func activityArgs(a store.Activity) []any {
	ids := make([]string, len(a.IDs))
	for i, id := range a.IDs {
		ids[i] = clean(id)
	}
	actorIss, actorSub := identity(a.Actor.Issuer, a.Actor.Subject)
	ownerIss, ownerSub := identity(a.BoardOwner.Issuer, a.BoardOwner.Subject)
	return []any{store.UnixNanos(a.At), clean(a.Tool), clean(string(a.Outcome)),
		actorIss, actorSub, clean(a.Actor.ClientID), clean(a.BoardID), ids, clean(a.Summary),
		ownerIss, ownerSub}
}

// ListActivity returns, newest first, the activity rows the viewer made and
// those recorded against boards it owned, optionally of one board only.
// Filtering by board needs no existence check: rows of a board the viewer
// never touched nor owned are filtered out anyway, so nothing leaks.
//
// Row IDs come from an identity column, in the order rows were inserted,
// which across concurrent transactions is not quite the order they
// committed: a page read while a transaction that took a smaller ID is
// still open does not show that row, nor does the next page.
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
			(SELECT id FROM activity
			WHERE actor_iss = $1 AND actor_sub = $2 AND id < $3 AND ($4::text = '' OR board_id = $4)
			ORDER BY id DESC LIMIT $5)
			UNION ALL
			(SELECT id FROM activity
			WHERE owner_iss = $1 AND owner_sub = $2 AND id < $3 AND ($4::text = '' OR board_id = $4)
			ORDER BY id DESC LIMIT $5))
		ORDER BY id DESC
		LIMIT $5`
	iss, sub := identity(viewer.Issuer, viewer.Subject)
	err = s.retry.Retry(ctx, func() error {
		list.Activity = list.Activity[:0]
		rows, err := s.pool.Query(ctx, query, iss, sub, before.Key, clean(boardID), limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a       store.Activity
				at      int64
				outcome string
			)
			if err := rows.Scan(&a.ID, &at, &a.Tool, &outcome, &a.Actor.Issuer, &a.Actor.Subject, &a.Actor.ClientID,
				&a.BoardID, &a.IDs, &a.Summary, &a.BoardOwner.Issuer, &a.BoardOwner.Subject); err != nil {
				return err
			}
			a.At, a.Outcome, a.IDs = store.TimeOfNanos(at), store.Outcome(outcome), nonNil(a.IDs)
			list.Activity = append(list.Activity, a)
		}
		return rows.Err()
	})
	if err != nil {
		return store.ActivityList{}, wrap("list activity", err)
	}
	return store.ActivityPage(list.Activity, limit), nil
}

// RecordActivity inserts rows in one transaction, sent to the server in
// one round trip; a row without a time gets the current one. Row IDs are
// assigned by the database.
func (s *Store) RecordActivity(ctx context.Context, rows []store.Activity) error {
	if len(rows) == 0 {
		return nil
	}
	err := s.retry.InTx(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		now := s.now()
		batch := &pgx.Batch{}
		for _, a := range rows {
			if a.At.IsZero() {
				a.At = now
			}
			batch.Queue(insertActivitySQL, activityArgs(a)...)
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	return wrap("record activity", err)
}

// PruneActivity deletes the activity rows recorded before cutoff.
func (s *Store) PruneActivity(ctx context.Context, cutoff time.Time) (int64, error) {
	// One statement, so repeating it after a lost connection is harmless
	// even if the first run deleted rows.
	var n int64
	err := s.retry.Retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM activity WHERE at < $1`, store.UnixNanos(cutoff))
		n += tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, wrap("prune activity", err)
	}
	return n, nil
}
