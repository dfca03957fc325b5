// Package postgres implements store.Store on PostgreSQL through a pgx
// pool, for several replicas of the server sharing one database. It
// behaves as store/sqlite does: the same IDs, ordering, errors, activity
// rows, quotas, previews and search. What does not depend on the
// database (input checks, what each write makes and reports, search
// matching, previews, cursors) is package store's, shared with
// store/sqlite; this package holds the SQL, the locks and the retries.
//
// Concurrency. Every write runs in one READ COMMITTED transaction (through
// pgdb.InPipelinedTx, under the one retry policy for serialization failures and
// deadlocks) and inserts its activity row in that same transaction, so a
// change and its audit row commit together or not at all; a write returns
// only after COMMIT. Before it reads anything it decides on, a write that
// touches a board's content locks the board row (SELECT … FOR UPDATE):
// card positions, card counts, the cards-per-board quota and a card's
// expected_version are all read and changed under that lock, so writers on
// any number of replicas take turns per board, and writers of different
// boards do not wait for each other. AddCard alone decides its refusals on
// a read taken before the lock, and inserts on condition, in SQL under the
// lock, that what it read still holds (see AddCard). READ COMMITTED rather than REPEATABLE
// READ: every statement after the lock takes a fresh snapshot, which holds
// everything the previous holder of the lock committed; a REPEATABLE READ
// snapshot would be older than the lock and fail every contended write
// with a serialization failure, only to retry it. Creating a board locks
// its owner instead (an advisory transaction lock on a hash of the owner),
// under which the boards-per-user quota is counted and kept. All writes
// take the board or owner lock first, and nothing else, so they cannot
// deadlock with one another; pgdb retries one anyway should it happen.
//
// Reads of one statement (GetBoard, GetCard, ListBoards, ListActivity) see
// one snapshot on their own; SearchCards, which takes several, runs in a
// REPEATABLE READ READ ONLY transaction.
//
// Board cache. GetBoard keeps the boards it read in memory (the cache of
// store/sqlite, package store/internal/boardcache), each labelled with the
// board's revision (migrations/0002_board_revision.sql) read in the same
// statement as the board, so the label is exact. A cached board is served
// only after a lookup of the board row's revision finds that same label:
// one primary-key read, cheaper than the board's rows, and it cannot miss
// a change, since every write bumps the revision in its transaction under
// the board's lock. A read right after a write through another replica
// therefore sees the write whatever the cache holds, and nothing depends
// on notifications arriving, or in time. They only save work: with a
// pgdb.Listener in Options, every replica announces the boards it wrote
// on a channel once the writes have committed (pg_notify, see
// announcer), and every replica's Store evicts those boards, which spares
// memory and the lookups that would have found the entries stale.
//
// AddCard, the write agents repeat fastest on one board, is batched: a
// replica's calls for one board that arrive while a transaction holds the
// board's lock go together in the next transaction (see AddCard and
// addQueue), so that a busy board costs one lock and one COMMIT per batch
// rather than per card.
//
// Schema decisions (migrations/0001_init.sql): timestamps are bigint unix
// nanoseconds and IDs sort byte by byte (COLLATE "C"), as in SQLite, so
// that times, orders and cursors are the same; labels and activity IDs are
// text[] rather than JSON text.
//
// PostgreSQL text cannot hold NUL or invalid UTF-8, which SQLite stores.
// What the store validates (titles, descriptions, labels) has neither.
// IDs a caller passes are cleaned (such bytes become U+FFFD) before they
// reach a query: a cleaned ID can only equal an ID the store generated
// (base32) if it was one, so the lookup finds nothing, as in SQLite. Free
// text of activity rows (tool, summary, client, IDs) is cleaned the same
// way, so that one odd row does not lose a whole audit batch. An identity
// (issuer, subject) that is not storable is stored and looked up with
// U+FFFD before its cleaned issuer, which no real issuer (an https URL)
// starts with: such a caller owns no boards (CreateBoard refuses it) and
// shares activity rows with no real identity.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/internal/boardcache"
)

// migrationFiles holds the schema, applied by New through pgdb.Migrate
// under its advisory lock.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// component is the name under which pgdb records this package's
// migrations; other components share the database.
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
	// the cache off. The cache is correct with any number of replicas
	// (see the package comment).
	BoardCacheBytes int64
	// Listener, when set, makes the Store announce the boards it wrote on
	// BoardsChannel and evict the boards that any replica announces. New
	// registers the channel on it, so it must be Run only after New; its
	// owner runs and stops it. Without one, cached boards stay until a
	// read finds them stale or memory runs short, and writes announce
	// nothing: replicas are configured alike, so nobody would listen.
	Listener *pgdb.Listener
	// Retry is the retry policy of the Store's transactions and reads;
	// its OnRetry hears each retry (the server counts them). The zero
	// Policy retries the same way and tells no one.
	Retry pgdb.Policy
}

// BoardsChannel is the notification channel on which writes announce the
// ID of the board they changed, for board caches to evict it.
const BoardsChannel = "kanban_boards"

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use, and any number of Stores (in one process or in several
// replicas) may share one database.
type Store struct {
	pool   *pgxpool.Pool
	retry  pgdb.Policy
	quotas store.Quotas
	now    func() time.Time
	// boards holds recently read boards, each checked against the
	// database's revision before it is served.
	boards *boardcache.Cache
	// announcer announces changed boards on BoardsChannel; nil without a
	// Listener.
	announcer *announcer
	// adds gathers this process's AddCard calls per board (see addQueue).
	adds addQueue
}

var _ store.Store = (*Store)(nil)

// New checks that the database of pool is one the store can use, applies
// the store's migrations and returns a Store on it. The Store takes
// ownership of pool only on success: Close closes it. On error the caller
// still owns pool.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	// Character counts (previews, limits) and case folding in SQL need a
	// UTF-8 database; SQL_ASCII would count bytes.
	var encoding string
	if err := opts.Retry.Retry(ctx, func() error {
		return pool.QueryRow(ctx, `SELECT current_setting('server_encoding')`).Scan(&encoding)
	}); err != nil {
		return nil, wrap("open store", err)
	}
	if encoding != "UTF8" {
		return nil, fmt.Errorf("open store: the database's encoding is %s; the store needs a UTF8 database (CREATE DATABASE … ENCODING 'UTF8')", encoding)
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open store migrations: %w", err)
	}
	if err := pgdb.Migrate(ctx, pool, component, migrations); err != nil {
		return nil, wrap("migrate store", err)
	}
	s := &Store{
		pool: pool, retry: opts.Retry, quotas: opts.Quotas.OrDefaults(), now: opts.Now,
		boards: boardcache.New(boardcache.Bytes(opts.BoardCacheBytes)),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.adds.run = s.runAdds
	if opts.Listener != nil {
		// The payload is a board ID; Invalidate evicts it and refuses the
		// Put of any read of it already under way.
		if err := opts.Listener.Handle(BoardsChannel, s.boards.Invalidate); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.announcer = startAnnouncer(pool)
	}
	return s, nil
}

// Open connects to the database url names (see pgdb.Open for the pool's
// URL parameters) and returns a Store on it, which owns the pool.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	pool, err := pgdb.Open(ctx, url)
	if err != nil {
		return nil, wrap("open store", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	// Retried like a read, so that connections a server restart closed do
	// not report the database down once it is up again.
	return wrap("ping store", s.retry.Retry(ctx, func() error { return s.pool.Ping(ctx) }))
}

// Close stops announcing boards, dropping the announcements not sent yet
// (see announcer), and closes the pool the Store was created with,
// waiting for connections in use to be returned.
func (s *Store) Close() error {
	if s.announcer != nil {
		s.announcer.close()
	}
	s.pool.Close()
	return nil
}

// wrap returns err as the store returns it: nil and domain errors as they
// are, anything else wrapped with op, and marked with store.ErrUnavailable
// when it says the database cannot be reached or cannot serve now.
func wrap(op string, err error) error {
	switch {
	case err == nil, store.ErrorCode(err) != "":
		return err
	case pgdb.Unavailable(err):
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// txn is the transaction of one write, with the time of the write.
type txn struct {
	pgx.Tx
	clock func() time.Time
	at    time.Time
	timed bool // at is set
	// later holds the statements of the write whose results nothing
	// reads; write sends them with the activity row, in one round trip,
	// which shortens the time the board's lock is held.
	later pgx.Batch
	// touched: the write changed the board's cards, so the board's
	// updated_at moves to the time of the write (with its revision, in one
	// row update rather than two).
	touched bool
}

// queue adds a statement whose result nothing reads to the write's last
// round trip (see txn.later); its failure fails the write.
func (t *txn) queue(sql string, args ...any) { t.later.Queue(sql, args...) }

// touch records that the write changes the board's cards (see touched).
func (t *txn) touch() { t.touched = true }

// now returns the time of the write in unix nanoseconds, reading the
// clock on the first call. Writes call it after taking their lock, so that
// with a real clock the timestamps of one board follow commit order (on
// one replica; replicas' clocks may differ a little).
func (t *txn) now() int64 {
	if !t.timed {
		t.at, t.timed = t.clock(), true
	}
	return store.UnixNanos(t.at)
}

// write runs fn in one READ COMMITTED transaction (see the package
// comment). When fn succeeds, write completes the activity row of the
// change fn returns (time, tool, outcome, actor, owner) and inserts it and
// bumps the revision of the board it names, before committing and in one
// round trip, so that the change, its audit row and its revision are
// durable together or not at all; then it evicts and announces the board
// (wrote). Domain errors from fn are returned as they are; anything else
// is wrapped with op.
//
// fn may run more than once (pgdb retries): it must only assign its
// results.
//
// Every write locks the board it changes (lockOwnedBoard, lockCardBoard)
// before fn returns, or creates it, so the revision is bumped under that
// lock: bumps of one board are serialized, and a revision names one state
// of the board. A write whose change named no board would leave board
// caches unaware of it, so write refuses it (there is none).
//
// Anonymous actors need no check here: they own no board (owner_sub is
// never empty), so the ownership lookups in fn fail with NotFound, exactly
// as for someone else's board.
func (s *Store) write(ctx context.Context, op string, c store.Call, fn func(tx *txn) (store.Change, error)) error {
	if c.Describe == nil {
		return fmt.Errorf("%s: the call has no Describe to word its activity row", op)
	}
	var boardID string
	// Pipelined: BEGIN goes with the first statement (the lock) and
	// COMMIT with the last batch, so the lock is held for two round trips
	// fewer.
	err := s.retry.InPipelinedTx(ctx, s.pool, func(ptx pgx.Tx) (*pgx.Batch, error) {
		tx := &txn{Tx: ptx, clock: s.now}
		// The clock is read once per write, as in store/sqlite, even by a
		// write that fn refuses (once per run, should it run again).
		defer tx.now()
		change, err := fn(tx)
		if err != nil {
			return nil, err
		}
		tx.now()
		a := c.Activity(change, tx.at)
		if boardID = a.BoardID; boardID == "" {
			return nil, errors.New("the change names no board, whose cached copies it would leave stale")
		}
		end := writeEnd{board: boardID, rows: []store.Activity{a}, touched: tx.touched, at: tx.now()}
		end.queue(&tx.later)
		return &tx.later, nil
	})
	if boardID != "" {
		s.wrote(boardID, err)
	}
	return wrap(op, err)
}

// wrote tells the board caches, this replica's and the others', that a
// write to board ended with err: unless the write surely did not commit
// (it was refused, as a domain error), the board is evicted here at once,
// rather than on the next read's revision check, and announced to the
// other replicas.
func (s *Store) wrote(board string, err error) {
	if err != nil && store.ErrorCode(err) != "" {
		return
	}
	s.boards.Invalidate(board)
	if s.announcer != nil {
		s.announcer.changed(board)
	}
}

// writeEnd is what ends every write, in its last round trip: its
// activity rows and its board's revision (and updated_at). The board is
// announced after the commit (see wrote).
type writeEnd struct {
	board string
	rows  []store.Activity
	// touched: the write changed the board's cards, so the board's
	// updated_at moves to at. Never back: AddCard reads its clock before
	// it has the lock, so a write that committed first may have a later
	// time.
	touched bool
	at      int64
	// onlyIfCards, for AddCard's conditional inserts, holds for each row
	// the card whose insert it records: the row is inserted only if the
	// card was, and the board bumped only if one was.
	onlyIfCards []string
}

// The board updates of writeEnd.
const (
	bumpSQL        = `UPDATE boards SET revision = revision + 1 WHERE id = $1`
	bumpTouchedSQL = `UPDATE boards SET revision = revision + 1, updated_at = greatest(updated_at, $2) WHERE id = $1`
	// bumpAddedSQL is bumpTouchedSQL if any of cards $3 exists.
	bumpAddedSQL = bumpTouchedSQL + ` AND EXISTS (SELECT FROM cards WHERE id = ANY ($3))`
)

// queue adds the statements to b. After DeleteBoard the board row is
// gone, and the bump finds nothing.
func (e writeEnd) queue(b *pgx.Batch) {
	for i, a := range e.rows {
		if e.onlyIfCards == nil {
			b.Queue(insertActivitySQL, activityArgs(a)...)
		} else {
			b.Queue(insertActivityIfCardSQL, append(activityArgs(a), e.onlyIfCards[i])...)
		}
	}
	switch {
	case e.onlyIfCards != nil: // cards added, which touches the board
		b.Queue(bumpAddedSQL, e.board, e.at, e.onlyIfCards)
	case e.touched:
		b.Queue(bumpTouchedSQL, e.board, e.at)
	default:
		b.Queue(bumpSQL, e.board)
	}
}

// read runs fn in a REPEATABLE READ READ ONLY transaction, so that its
// queries see one snapshot. Domain errors are returned as they are;
// anything else is wrapped with op.
func (s *Store) read(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return wrap(op, s.retry.InTx(ctx, s.pool, opts, fn))
}

// storable reports whether s fits a PostgreSQL text value: valid UTF-8
// without NUL.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// clean makes s storable, turning NUL and invalid bytes into U+FFFD.
func clean(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// unstorableMark starts the stored issuer of an identity that is not
// storable (see identity).
const unstorableMark = "\uFFFD"

// identity returns how the identity (iss, sub) is stored and looked up:
// as it is when storable, otherwise cleaned and with the issuer marked, so
// that it never matches a storable identity.
func identity(iss, sub string) (string, string) {
	if storable(iss) && storable(sub) {
		return iss, sub
	}
	return unstorableMark + clean(iss), clean(sub)
}

// nonNil returns l, or an empty list for nil: a nil slice would be stored
// as NULL, and reads return empty lists, never nil.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// ownerLockSpace is the first key of the advisory lock (two int4 keys, a
// space apart from the one bigint key of pgdb's migration lock) that
// CreateBoard holds for an owner; it is "kbo\x01" in ASCII.
const ownerLockSpace int32 = 0x6b626f01

// ownerLockKey is the second key of an owner's advisory lock: 32 bits of
// a hash of the identity. Two owners that share it only wait for each
// other when both create a board at once.
func ownerLockKey(iss, sub string) int32 {
	h := sha256.Sum256([]byte(iss + "\x00" + sub))
	return int32(binary.BigEndian.Uint32(h[:4]))
}

// isNoRows reports whether err says a QueryRow found nothing.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
