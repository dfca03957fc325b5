// Package sqldb is the face that components owning a few tables of their
// own (the authorization server, the operator's blocklist) see of the
// database the server runs on, SQLite or PostgreSQL: database/sql pools,
// a write transaction that behaves alike on both, migrations picked by
// dialect, and the signal that tells revocation caches to start over.
//
// Such a component writes each statement once, for both databases:
// placeholders are numbered ($1, $2, …), which PostgreSQL requires and
// modernc.org/sqlite binds by number too; booleans are TRUE and FALSE;
// types are those both know (text, bigint nanoseconds, bytes). Only the
// schema differs, so migrations come in one folder per dialect. The kanban
// store, whose hot path deserves each database's own API, does not use
// this package: store/sqlite and store/postgres hold its SQL.
//
// internal/sqlitedb and internal/pgdb make a DB (their SQL methods).
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
)

// Dialect names the database a DB runs on; it is also the name of the
// folder that holds a component's migrations for it.
type Dialect string

// The dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// RevocationSignal tells revocation caches, in this process and in every
// other one on the same database, that revocations changed.
type RevocationSignal interface {
	// NoteRevocationChange records that revocations changed (a blocklist
	// entry added or removed, a grant revoked, a user disabled or
	// enabled). Call it after the change committed. An error means that
	// other processes were not told: the change is saved, but they may go
	// on answering from their caches.
	NoteRevocationChange(ctx context.Context) error
	// RevocationVersion returns a number that changes whenever
	// revocations changed, here or elsewhere, since the last call. An
	// error means that no cached answer may be trusted.
	RevocationVersion() (uint64, error)
}

// Config is what a dialect's package gives New.
type Config struct {
	Dialect Dialect
	// Reader runs reads, concurrently with writes.
	Reader *sql.DB
	// Writer runs writes. For SQLite it is the one writer connection,
	// whose transactions begin IMMEDIATE; for PostgreSQL it may be Reader.
	Writer *sql.DB
	// WriteLock, when set, is a statement that every write transaction
	// runs first, so that writers take turns (see BeginWrite).
	WriteLock string
	// PrepareReads makes Prepare prepare statements on Reader. Not for
	// PostgreSQL: pgx keeps prepared statements per connection by itself,
	// and a database/sql Stmt over a pool that keeps no idle connections
	// of its own would be prepared anew at every call.
	PrepareReads bool
	// Migrate applies a component's migrations for this dialect.
	Migrate func(ctx context.Context, component string, files fs.FS) error
	// Revocations is the revocation signal of this database.
	Revocations RevocationSignal
	// Unavailable reports whether an error says that the database cannot
	// serve right now; nil means none does.
	Unavailable func(error) bool
}

// DB is a database as Config describes it.
type DB struct {
	// Reader runs reads; see Config.
	Reader *sql.DB
	c      Config
}

// New returns the DB that c describes.
func New(c Config) *DB { return &DB{Reader: c.Reader, c: c} }

// Dialect is the database the DB runs on.
func (db *DB) Dialect() Dialect { return db.c.Dialect }

// BeginWrite begins a write transaction. Write transactions take turns,
// whatever the database: SQLite admits one writer at a time, and on
// PostgreSQL each first takes one advisory transaction lock, so that a
// component's read-then-write logic (a refresh token's rotation, a code's
// redemption) is as safe with several replicas as with one process, with
// no serialization failures to retry. Components that use DB write
// rarely (a sign-in, a token, a refresh), so taking turns costs nothing
// that matters.
func (db *DB) BeginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := db.c.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if db.c.WriteLock != "" {
		if _, err := tx.ExecContext(ctx, db.c.WriteLock); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("take the write lock: %w", err)
		}
	}
	return tx, nil
}

// ExecWrite runs one writing statement in a write transaction of its own
// (see BeginWrite).
func (db *DB) ExecWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.c.WriteLock == "" {
		return db.c.Writer.ExecContext(ctx, query, args...)
	}
	tx, err := db.BeginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // a no-op after Commit
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// Stmt is a read that runs often, prepared where that pays (see
// Config.PrepareReads).
type Stmt struct {
	reader *sql.DB
	query  string
	stmt   *sql.Stmt // nil: not prepared
}

// Prepare returns query as a Stmt on Reader.
func (db *DB) Prepare(ctx context.Context, query string) (*Stmt, error) {
	s := &Stmt{reader: db.Reader, query: query}
	if db.c.PrepareReads {
		var err error
		if s.stmt, err = db.Reader.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// QueryRowContext runs the statement with args.
func (s *Stmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	if s.stmt != nil {
		return s.stmt.QueryRowContext(ctx, args...)
	}
	return s.reader.QueryRowContext(ctx, s.query, args...)
}

// Close releases the prepared statement, if any.
func (s *Stmt) Close() error {
	if s.stmt != nil {
		return s.stmt.Close()
	}
	return nil
}

// Migrate applies the migrations of component for this DB's dialect: the
// files in the folder of files named after the dialect (sqlite/,
// postgres/).
func (db *DB) Migrate(ctx context.Context, component string, files fs.FS) error {
	sub, err := fs.Sub(files, string(db.c.Dialect))
	if err != nil {
		return fmt.Errorf("%s migrations for %s: %w", component, db.c.Dialect, err)
	}
	return db.c.Migrate(ctx, component, sub)
}

// NoteRevocationChange tells every revocation cache on this database that
// revocations changed; see RevocationSignal.
func (db *DB) NoteRevocationChange(ctx context.Context) error {
	return db.c.Revocations.NoteRevocationChange(ctx)
}

// RevocationVersion is the revocation signal's version; see
// RevocationSignal.
func (db *DB) RevocationVersion() (uint64, error) { return db.c.Revocations.RevocationVersion() }

// Unavailable reports whether err says that the database cannot serve
// right now (PostgreSQL down, restarting or out of connections), which
// callers answer with "try again later" rather than as a failure.
func (db *DB) Unavailable(err error) bool {
	return err != nil && db.c.Unavailable != nil && db.c.Unavailable(err)
}
