// Package copydata copies a deployment's data from its SQLite file to a
// PostgreSQL database: every table of every component that shares the
// file (the kanban store, the authorization server, the operator's
// blocklist), in one PostgreSQL transaction that commits only after every
// table read back the same rows. It is the body of `kanban-mcp copy-data`,
// the move from one machine to several replicas.
//
// It knows no component's tables. Both databases must have been migrated
// by the components' own code first (the command opens them as the server
// does); the copy then derives everything from the two schemas: the
// tables (SQLite's sqlite_schema, PostgreSQL's information_schema), their
// columns, the order of the foreign keys, and how each value converts
// (from the PostgreSQL column's type). Each backend has its own
// migrations, so a change to one without its counterpart in the other
// would lose data here: a SQLite table or column that PostgreSQL lacks,
// or a PostgreSQL column that SQLite cannot fill, fails the copy by name
// before anything is written. Tables that only PostgreSQL has (state that
// SQLite keeps in memory) are left empty and reported.
package copydata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// Options tune Copy. The zero value refuses a target that holds any row.
type Options struct {
	// Replace deletes every row of the target's tables first, in the copy's
	// transaction, instead of refusing a target that holds rows: for a
	// target that a server started on too early (it made a signing key),
	// or a copy taken again. Nothing is ever merged.
	Replace bool
}

// Report is what Copy did, table by table.
type Report struct {
	// Tables are the target's tables in the order they were filled
	// (parents before the tables whose foreign keys reference them).
	Tables []Table
}

// Table is what Copy did to one table.
type Table struct {
	Name string
	// Rows is the number of rows copied, which the source's snapshot and
	// the target both hold.
	Rows int64
	// Cleaned counts text values that held NUL or invalid UTF-8, which
	// PostgreSQL's text cannot store: U+FFFD took the place of those
	// bytes, as the PostgreSQL store does with such input.
	Cleaned int64
	// Replaced is how many rows Options.Replace deleted first.
	Replaced int64
	// TargetOnly says that SQLite has no such table: it is left empty.
	TargetOnly bool
}

// Rows is the number of rows copied into all tables.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// NotEmptyError refuses a target that holds rows already (without
// Options.Replace): copying into it would merge two deployments.
type NotEmptyError struct {
	Tables []Table // the tables that hold rows, with Replaced set to their count
}

func (e *NotEmptyError) Error() string {
	var parts []string
	for _, t := range e.Tables {
		parts = append(parts, fmt.Sprintf("%s: %d %s", t.Name, t.Replaced, plural(t.Replaced, "row", "rows")))
	}
	return fmt.Sprintf("the PostgreSQL database holds data already (%s); copying into it would merge two deployments, so nothing was copied",
		strings.Join(parts, ", "))
}

// SchemaError says that the two databases' schemas do not match: some
// data would have nowhere to go, or a target column nothing to come from.
type SchemaError struct {
	Problems []string
}

func (e *SchemaError) Error() string {
	return "the SQLite and PostgreSQL schemas do not match, so copying would leave data behind; nothing was copied. " +
		"Every migration of one backend needs its counterpart in the other:\n  " + strings.Join(e.Problems, "\n  ")
}

// ErrSourceChanged means that something wrote to the SQLite file while it
// was copied: a server still running on it.
var ErrSourceChanged = errors.New("the SQLite database changed while it was copied (is a server still running on it? stop it first); nothing was copied")

// Copy copies every table of the SQLite database src into the PostgreSQL
// database of dst, in one transaction of dst that commits only when every
// table of the target holds exactly the source's rows. src must be a
// database of internal/sqlitedb (its reader pool will do), dst's
// components must be migrated, and dst's tables must be empty unless
// opts.Replace.
//
// The source is read in one read transaction, a consistent snapshot;
// should another connection write to it meanwhile (a server that was not
// stopped), Copy fails with ErrSourceChanged, since what it wrote would be
// lost. While it runs, Copy holds an exclusive lock on every target table,
// so a server started on the target waits for it.
//
// Errors never hold a value of a row: signing keys, password hashes and
// token hashes are data like any other.
func Copy(ctx context.Context, src *sql.DB, dst *pgxpool.Pool, opts Options) (*Report, error) {
	// One connection for the snapshot and for the checks of
	// PRAGMA data_version around it, which are per connection.
	conn, err := src.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the SQLite database: %w", err)
	}
	defer conn.Close()
	var report *Report
	err = pgdb.InTx(ctx, dst, pgx.TxOptions{}, func(tx pgx.Tx) error {
		// InTx may run this again after a lost connection: everything is
		// read anew, from a new snapshot.
		r, err := copyOnce(ctx, conn, tx, opts)
		report = r
		return err
	})
	if err != nil {
		return nil, err
	}
	return report, nil
}

// copyOnce is one attempt of Copy, inside the target's transaction tx.
func copyOnce(ctx context.Context, conn *sql.Conn, tx pgx.Tx, opts Options) (*Report, error) {
	before, err := dataVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	stx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin reading the SQLite database: %w", err)
	}
	defer stx.Rollback()

	source, err := readSource(ctx, stx)
	if err != nil {
		return nil, err
	}
	target, err := readTarget(ctx, tx)
	if err != nil {
		return nil, err
	}
	tables, err := plan(source, target)
	if err != nil {
		return nil, err
	}
	if err := lockAll(ctx, tx, target); err != nil {
		return nil, err
	}
	report := &Report{}
	for _, p := range tables {
		report.Tables = append(report.Tables, Table{Name: p.target.name, TargetOnly: p.source == nil})
	}
	if err := emptyTarget(ctx, tx, target, report, opts.Replace); err != nil {
		return nil, err
	}
	// Triggers are off while the rows go in: the source's rows already
	// hold what they derive (boards.card_count counts the cards that are
	// copied after it, and would count them twice).
	if err := setTriggers(ctx, tx, target, "DISABLE"); err != nil {
		return nil, err
	}
	for i, p := range tables {
		if p.source == nil {
			continue
		}
		if err := copyTable(ctx, stx, tx, p, &report.Tables[i]); err != nil {
			return nil, err
		}
	}
	if err := setTriggers(ctx, tx, target, "ENABLE"); err != nil {
		return nil, err
	}
	if err := advanceSequences(ctx, tx, tables, source); err != nil {
		return nil, err
	}
	for _, p := range tables {
		if p.source != nil {
			if err := verify(ctx, tx, p); err != nil {
				return nil, err
			}
		}
	}
	if err := stx.Rollback(); err != nil {
		return nil, fmt.Errorf("end reading the SQLite database: %w", err)
	}
	after, err := dataVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	if after != before {
		return nil, ErrSourceChanged
	}
	return report, nil
}

// dataVersion is SQLite's PRAGMA data_version of conn, which changes when
// another connection commits a change to the file.
func dataVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read the SQLite database's data version: %w", err)
	}
	return v, nil
}

// lockAll locks every target table against all other access until the
// copy commits: a server started on the target meanwhile waits, and two
// copies cannot both find the target empty.
func lockAll(ctx context.Context, tx pgx.Tx, target *targetSchema) error {
	if len(target.tables) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+target.list()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock the PostgreSQL tables: %w", err)
	}
	return nil
}

// emptyTarget counts the rows of every target table and refuses any, or
// with replace deletes them, noting how many in report.
func emptyTarget(ctx context.Context, tx pgx.Tx, target *targetSchema, report *Report, replace bool) error {
	var full []Table
	for i := range report.Tables {
		t := &report.Tables[i]
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+ident(t.Name)).Scan(&n); err != nil {
			return fmt.Errorf("count the rows of %s in PostgreSQL: %w", t.Name, err)
		}
		if n > 0 {
			t.Replaced = n
			full = append(full, *t)
		}
	}
	switch {
	case len(full) == 0:
		return nil
	case !replace:
		return &NotEmptyError{Tables: full}
	}
	// TRUNCATE of all of them at once: foreign keys between them do not
	// stand in the way, and no row-level trigger fires.
	if _, err := tx.Exec(ctx, "TRUNCATE "+target.list()); err != nil {
		return fmt.Errorf("delete the rows of the PostgreSQL tables: %w", err)
	}
	return nil
}

// setTriggers runs ALTER TABLE … DISABLE or ENABLE TRIGGER for each
// trigger of the target's own (not the ones that enforce foreign keys)
// that was enabled when the copy began, so that the copy leaves them as
// it found them.
func setTriggers(ctx context.Context, tx pgx.Tx, target *targetSchema, verb string) error {
	for _, t := range target.tables {
		for _, trigger := range t.triggers {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s %s TRIGGER %s", ident(t.name), verb, ident(trigger))); err != nil {
				return fmt.Errorf("%s trigger %s of %s (copy-data needs the role that owns the tables, the one that ran the migrations): %w",
					strings.ToLower(verb), trigger, t.name, err)
			}
		}
	}
	return nil
}

// copyTable copies the rows of one table from the source's snapshot into
// the target with COPY (which writes identity columns as given, like
// OVERRIDING SYSTEM VALUE), in SQLite's row order, converting each value
// to its target column's type.
func copyTable(ctx context.Context, stx *sql.Tx, tx pgx.Tx, p *tablePlan, out *Table) error {
	if err := stx.QueryRowContext(ctx, "SELECT count(*) FROM "+sqliteIdent(p.source.name)).Scan(&p.sourceRows); err != nil {
		return fmt.Errorf("count the rows of %s in SQLite: %w", p.source.name, err)
	}
	rows, err := stx.QueryContext(ctx, p.selectQuery())
	if err != nil {
		return fmt.Errorf("read %s from SQLite: %w", p.source.name, err)
	}
	defer rows.Close()
	rs := &rowSource{rows: rows, plan: p, scanned: make([]any, len(p.columns)), dest: make([]any, len(p.columns))}
	for i := range rs.scanned {
		rs.dest[i] = &rs.scanned[i]
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{p.target.name}, p.targetColumns(), rs)
	if err != nil {
		return fmt.Errorf("copy %s: %w", p.target.name, shown(err))
	}
	if n != p.sourceRows || rs.n != p.sourceRows {
		return fmt.Errorf("copy %s: SQLite holds %d rows, %d were read and %d written", p.target.name, p.sourceRows, rs.n, n)
	}
	out.Rows, out.Cleaned = n, rs.cleaned
	return nil
}

// rowSource feeds COPY with the converted rows of one source table.
type rowSource struct {
	rows    *sql.Rows
	plan    *tablePlan
	scanned []any // the row as SQLite gives it
	dest    []any // pointers into scanned, for Scan
	n       int64 // rows read
	cleaned int64
	err     error
}

func (s *rowSource) Next() bool { return s.err == nil && s.rows.Next() }

func (s *rowSource) Values() ([]any, error) {
	if err := s.rows.Scan(s.dest...); err != nil {
		s.err = fmt.Errorf("read a row of %s from SQLite: %w", s.plan.source.name, err)
		return nil, s.err
	}
	s.n++
	vals := make([]any, len(s.scanned))
	for i, c := range s.plan.columns {
		v, cleaned, err := c.convert(s.scanned[i])
		if err != nil {
			// The row's number, never its values.
			s.err = &ConversionError{Table: s.plan.target.name, Column: c.name, Row: s.n, Reason: err.Error()}
			return nil, s.err
		}
		if cleaned {
			s.cleaned++
		}
		vals[i] = v
	}
	if err := s.plan.digest.add(vals); err != nil {
		s.err = fmt.Errorf("copy %s: %w", s.plan.target.name, err)
		return nil, s.err
	}
	return vals, nil
}

func (s *rowSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// ConversionError is a source value that its target column cannot take.
type ConversionError struct {
	Table, Column string
	Row           int64 // 1-based, in SQLite's row order
	Reason        string
}

func (e *ConversionError) Error() string {
	return fmt.Sprintf("%s.%s, row %d in SQLite's order: %s", e.Table, e.Column, e.Row, e.Reason)
}

// verify reads the table back from the target, in the copy's transaction,
// and fails unless it holds exactly the rows that were copied: as many,
// and the same values (compared as a digest of the multiset of rows).
// Counts alone would miss a trigger that changed rows, or a conversion
// that lost something.
func verify(ctx context.Context, tx pgx.Tx, p *tablePlan) error {
	rows, err := tx.Query(ctx, "SELECT "+identList(p.targetColumns())+" FROM "+ident(p.target.name))
	if err != nil {
		return fmt.Errorf("verify %s: %w", p.target.name, err)
	}
	defer rows.Close()
	var got digest
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("verify %s: %w", p.target.name, shown(err))
		}
		if err := got.add(vals); err != nil {
			return fmt.Errorf("verify %s: %w", p.target.name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify %s: %w", p.target.name, shown(err))
	}
	switch {
	case got.n != p.sourceRows:
		return fmt.Errorf("verify %s: SQLite holds %d rows, PostgreSQL %d after the copy; nothing was copied", p.target.name, p.sourceRows, got.n)
	case got != p.digest:
		return fmt.Errorf("verify %s: PostgreSQL holds as many rows as SQLite, but not the same values after the copy (a trigger or a conversion changed them); nothing was copied", p.target.name)
	}
	return nil
}

// shown returns err if its text cannot hold a row's values, and otherwise
// an error that only names its type. PostgreSQL's own errors leave the
// row out of their text (it is in their Detail, which Error omits), and
// so do connection and context errors; but pgx words a value it cannot
// encode or decode with the value itself, and that value may be a
// signing key or a password hash.
func shown(err error) error {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var convErr *ConversionError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr), errors.As(err, &connErr), errors.As(err, &convErr), errors.As(err, &netErr),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), pgconn.SafeToRetry(err):
		return err
	}
	return fmt.Errorf("a value could not be sent or read back (%T; its text is not shown, since it may hold the value)", err)
}

// advanceSequences sets each identity or serial sequence of a copied table
// past every value the table holds, and past SQLite's AUTOINCREMENT
// high-water mark when the column is SQLite's rowid (activity IDs are
// never reused, even after the newest rows were pruned): the next row
// that PostgreSQL numbers must not collide with a copied one. A sequence
// is never moved back.
func advanceSequences(ctx context.Context, tx pgx.Tx, tables []*tablePlan, source *sourceSchema) error {
	for _, p := range tables {
		if p.source == nil {
			continue
		}
		for _, c := range p.columns {
			if c.sequence == "" {
				continue
			}
			var high, last int64
			err := tx.QueryRow(ctx, fmt.Sprintf("SELECT COALESCE(max(%s), 0), COALESCE(pg_sequence_last_value($1::regclass), 0) FROM %s",
				ident(c.name), ident(p.target.name)), c.sequence).Scan(&high, &last)
			if err != nil {
				return fmt.Errorf("read the sequence of %s.%s: %w", p.target.name, c.name, err)
			}
			if c.rowid {
				high = max(high, source.autoincrement[p.source.name])
			}
			if high <= last {
				continue
			}
			if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2, true)`, c.sequence, high); err != nil {
				return fmt.Errorf("advance the sequence of %s.%s: %w", p.target.name, c.name, err)
			}
		}
	}
	return nil
}

// Migration is one migration that schema_migrations records as applied.
type Migration struct {
	Component string
	Version   int
}

// Migrations lists the migrations applied to the SQLite database db, by
// component and version. A database without schema_migrations is refused:
// it is no kanban-mcp database, or a new, empty file.
func Migrations(ctx context.Context, db *sql.DB) ([]Migration, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("read the SQLite database: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("the SQLite database has no schema_migrations table: it is not a %s database, or it is empty", product.Name)
	}
	rows, err := db.QueryContext(ctx, `SELECT component, version FROM schema_migrations ORDER BY component, version`)
	if err != nil {
		return nil, fmt.Errorf("read the SQLite database's migrations: %w", err)
	}
	defer rows.Close()
	var out []Migration
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Component, &m.Version); err != nil {
			return nil, fmt.Errorf("read the SQLite database's migrations: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the SQLite database's migrations: %w", err)
	}
	return out, nil
}

// Applied returns the migrations of after that before lacks: those that
// opening an older database applied.
func Applied(before, after []Migration) []Migration {
	var out []Migration
	for _, m := range after {
		if !slices.Contains(before, m) {
			out = append(out, m)
		}
	}
	return out
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
