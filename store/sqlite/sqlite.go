// Package sqlite implements store.Store on a SQLite database opened with
// internal/sqlitedb.
//
// Every write runs in one transaction on the single writer connection
// (BEGIN IMMEDIATE, see sqlitedb) and inserts its activity row in that same
// transaction, so a change and its audit row commit together or not at all.
// Reads run on the read-only pool, in a read transaction when they take more
// than one query, so that they see one snapshot.
//
// Schema decisions:
//
//   - Timestamps are INTEGER unix nanoseconds, so ordering and cursors are
//     exact. Times returned by the store are in UTC and carry no monotonic
//     reading, so a value returned by a write equals the one a later read
//     returns.
//   - Cursors are store's (store.PageArgs, store.BoardPage and the like),
//     the same in every backend: the sort key of the last item of the page
//     (created_at and ID for boards and cards, the row ID for activity).
//   - A board's Version counts changes to the board row itself (today only
//     ShareBoard). Card changes bump the card's own Version and the board's
//     UpdatedAt, not the board's Version: cards carry their own optimistic
//     concurrency, and a board version that moved with every card edit would
//     make any future board-level ExpectedVersion fail for unrelated edits.
//   - SearchCards matches text in Go rather than with SQLite's lower() or
//     LIKE, which fold ASCII letters only: a search for "ärger" finds
//     "Ärger", and % and _ in a query are plain characters.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/internal/boardcache"
)

// migrationFiles holds the schema, applied by New through sqlitedb.Migrate.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// component is the name under which sqlitedb records this package's
// migrations; other components share the database file.
const component = "store"

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Quotas are the per-user and per-board limits; a zero field takes its
	// value from store.DefaultQuotas().
	Quotas store.Quotas
	// Now returns the current time; nil means time.Now. Tests set it to get
	// predictable timestamps.
	Now func() time.Time
	// BoardCacheBytes bounds the memory of the cache of read boards; zero
	// means boardcache.DefaultBytes (32 MiB), and a negative value turns
	// the cache off. Only this process writes boards (the CLI changes
	// revocations and users, never boards), and write invalidates what it
	// changed after its commit, so a cached board is current.
	BoardCacheBytes int64
}

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	db     *sqlitedb.DB
	quotas store.Quotas
	now    func() time.Time

	// getBoard is prepared once: get_board is the most frequent call.
	getBoard *sql.Stmt
	// The statements of transactions, prepared on first use.
	writeStmts, readStmts *stmtCache
	// boards holds recently read boards; write invalidates what it changes.
	boards *boardcache.Cache
}

var _ store.Store = (*Store)(nil)

// New applies the store's migrations to db and returns a Store on it. The
// Store takes ownership of db only on success: Close closes it. On error the
// caller still owns db.
func New(ctx context.Context, db *sqlitedb.DB, opts Options) (*Store, error) {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open store migrations: %w", err)
	}
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, err
	}
	s := &Store{db: db, quotas: opts.Quotas.OrDefaults(), now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.writeStmts, s.readStmts = newStmtCache(db.Writer), newStmtCache(db.Reader)
	s.boards = boardcache.New(boardcache.Bytes(opts.BoardCacheBytes))
	if s.getBoard, err = db.Reader.PrepareContext(ctx, getBoardQuery); err != nil {
		return nil, fmt.Errorf("prepare get board: %w", err)
	}
	return s, nil
}

// Ping reports whether the database answers reads.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.Reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// Close closes the database the Store was created with.
func (s *Store) Close() error {
	serr := errors.Join(s.getBoard.Close(), s.writeStmts.close(), s.readStmts.close())
	if err := s.db.Close(); err != nil {
		return err
	}
	return serr
}

// write runs fn in one writer transaction. When fn succeeds, write completes
// the activity row fn returns (time, tool, outcome, actor, owner) and inserts
// it before committing, so that the change and its audit row are durable
// together or not at all. Domain errors from fn are returned as they are;
// anything else is wrapped with op.
//
// fn gets the time of the write in unix nanoseconds, read after BEGIN
// IMMEDIATE took the write lock, so that with a real clock timestamps follow
// commit order. fn must use only tx: the writer pool has one connection.
//
// Anonymous actors need no check here: they own no board (owner_sub is
// never empty), so the ownership lookups in fn fail with NotFound, exactly
// as for someone else's board.
func (s *Store) write(ctx context.Context, op string, c store.Call, fn func(tx *txn, now int64) (store.Change, error)) error {
	if c.Describe == nil {
		return fmt.Errorf("%s: the call has no Describe to word its activity row", op)
	}
	sqlTx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer sqlTx.Rollback() // a no-op after Commit
	tx := &txn{Tx: sqlTx, stmts: s.writeStmts}

	now := s.now()
	change, err := fn(tx, store.UnixNanos(now))
	if err != nil {
		if store.ErrorCode(err) != "" {
			return err
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	a := c.Activity(change, now)
	if err := insertActivity(ctx, tx, a); err != nil {
		return fmt.Errorf("%s: record activity: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	// Every write names the board it changed in its activity row; a write
	// that named none would forget every cached board, to be safe.
	s.boards.Invalidate(a.BoardID)
	return nil
}

// read runs fn in a read transaction on the reader pool, so that its
// queries see one snapshot. Domain errors are returned as they are;
// anything else is wrapped with op.
func (s *Store) read(ctx context.Context, op string, fn func(tx *txn) error) error {
	sqlTx, err := s.db.Reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer sqlTx.Rollback() // read-only: nothing to commit
	tx := &txn{Tx: sqlTx, stmts: s.readStmts}
	if err := fn(tx); err != nil {
		if store.ErrorCode(err) != "" {
			return err
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// encodeJSONList stores a string list as a JSON array, never "null".
func encodeJSONList(list []string) (string, error) {
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeJSONList reads a JSON array stored by encodeJSONList; the result is
// never nil.
func decodeJSONList(s string) ([]string, error) {
	if s == "[]" {
		return []string{}, nil // most cards have no labels: skip the decoder
	}
	list := []string{}
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("decode stored list %q: %w", s, err)
	}
	if list == nil {
		list = []string{}
	}
	return list, nil
}
