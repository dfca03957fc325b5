// Package sqlitedb opens the SQLite database file that the kanban store,
// the revocation blocklist and the authorization server share, and
// applies each component's embedded migrations.
//
// Each component keeps its own tables and SQL; this package only knows how
// to open the file the same way for all of them.
package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"github.com/kanban-mcp/kanban-mcp/internal/migrations"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Synchronous is SQLite's synchronous setting for the WAL journal.
type Synchronous string

// The durability levels offered. Both survive a process crash (SIGKILL):
// a committed transaction is in the WAL file before COMMIT returns. FULL
// also survives power loss, at the price of an fsync per commit.
const (
	SyncNormal Synchronous = "NORMAL"
	SyncFull   Synchronous = "FULL"
)

// DB is a pair of connection pools on one file: a single writer connection
// whose transactions begin IMMEDIATE, so that a read-then-write never fails
// with SQLITE_BUSY on lock upgrade, and a read-only pool for concurrent
// readers (WAL lets them run beside the writer).
type DB struct {
	Writer *sql.DB
	Reader *sql.DB
	Path   string

	shared *sqldb.DB
}

// Open opens (creating if needed) the database file at path and its folder.
func Open(ctx context.Context, path string, sync Synchronous) (*DB, error) {
	if sync == "" {
		sync = SyncNormal
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database folder %q: %w", dir, err)
		}
	}
	pragmas := []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"synchronous(" + string(sync) + ")",
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append(pragmas, extra...) {
			q.Add("_pragma", p)
		}
		// Escape the path: a '?' or '#' in it would otherwise end it and
		// drop the pragmas that follow.
		return (&url.URL{Scheme: "file", Opaque: url.PathEscape(path)}).String() + "?" + q.Encode()
	}

	writer, err := sql.Open("sqlite", dsn()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	// One writer connection: SQLite admits one writer at a time anyway, and
	// queueing in database/sql is cheaper than spinning on the busy handler.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)

	reader, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %q for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)

	db := &DB{Writer: writer, Reader: reader, Path: path}
	// Touch the writer first so the file and its WAL mode exist before any
	// reader (query_only) connection opens it.
	if err := writer.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %q: %w (DATABASE_URL must name a file, not a folder, in a folder this user can write)", path, err)
	}
	if err := reader.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %q for reading: %w", path, err)
	}
	// After the pings: the signal's file takes the database file's
	// permissions, so that file must exist.
	revocations, err := newRevocationSignal(path)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	db.shared = sqldb.New(sqldb.Config{
		Dialect: sqldb.SQLite, Reader: reader, Writer: writer, PrepareReads: true,
		Migrate: db.Migrate, Revocations: revocations,
	})
	return db, nil
}

// SQL is the database as components that write their SQL for SQLite and
// PostgreSQL alike see it.
func (db *DB) SQL() *sqldb.DB { return db.shared }

// Close closes both pools. The revocation counter stays mapped until the
// DB is garbage (see openRevocationSignal).
func (db *DB) Close() error {
	werr := db.Writer.Close()
	rerr := db.Reader.Close()
	if werr != nil {
		return werr
	}
	return rerr
}

// Migrate applies the migrations in files (listed by migrations.List:
// NNNN_description.sql, in numeric order) that component has not yet
// applied. Each migration runs in its own transaction together with the
// bookkeeping row that records it, so a crash never leaves one half-applied.
func (db *DB) Migrate(ctx context.Context, component string, files fs.FS) error {
	if _, err := db.Writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		applied_at TEXT    NOT NULL,
		PRIMARY KEY (component, version)
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}

	todo, err := migrations.List(component, files)
	if err != nil {
		return err
	}

	for _, m := range todo {
		if err := db.applyMigration(ctx, component, m.Version, m.Name, files); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration runs one migration with foreign keys off, as SQLite's
// procedure for schema changes asks (sqlite.org/lang_altertable.html §7):
// a migration that rebuilds a table (create, copy, drop, rename) would
// otherwise cascade the drop into every table that references it. Before
// the commit, PRAGMA foreign_key_check must find nothing broken.
func (db *DB) applyMigration(ctx context.Context, component string, version int, name string, migrations fs.FS) error {
	conn, err := db.Writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin %s migration %s: %w", component, name, err)
	}
	defer conn.Close()
	// The pragma is a no-op inside a transaction, so it is set around it.
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("begin %s migration %s: %w", component, name, err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); err != nil {
			// A writer connection without foreign keys must not go back
			// to the pool: discard it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin %s migration %s: %w", component, name, err)
	}
	defer tx.Rollback()

	var applied int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE component = ? AND version = ?`, component, version).Scan(&applied)
	if err != nil {
		return fmt.Errorf("check %s migration %s: %w", component, name, err)
	}
	if applied > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations, name)
	if err != nil {
		return fmt.Errorf("read %s migration %s: %w", component, name, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("apply %s migration %s: %w", component, name, err)
	}
	if err := foreignKeysIntact(ctx, tx); err != nil {
		return fmt.Errorf("apply %s migration %s: %w", component, name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)`,
		component, version, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("record %s migration %s: %w", component, name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s migration %s: %w", component, name, err)
	}
	return nil
}

// foreignKeysIntact reports the first row that PRAGMA foreign_key_check
// finds referencing nothing.
func foreignKeysIntact(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("a row of %s (rowid %v) references a missing row of %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}
