package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
)

// BenchDatabasePrefix begins the name of every database bench creates, so
// that one left behind by a run that was killed can be told apart.
const BenchDatabasePrefix = "bench_"

// benchDatabase is the PostgreSQL database a bench run writes to. bench
// never writes to the database that -database names: that may be a
// user's, and a benchmark fills its tables with thousands of cards. It
// creates a database of its own there instead, with a random name, runs
// the servers in it and drops it afterwards; the role in the URL needs
// CREATEDB. (The alternative, running in the URL's database when it holds
// no tables, would leave the bench's boards and users in it afterwards,
// or need the bench to delete everything it finds there: neither is safe
// with someone else's database.)
type benchDatabase struct {
	// adminURL is the -database URL, where CREATE and DROP DATABASE run.
	adminURL string
	// Name is bench_ and 16 random hex digits.
	Name string
	// URL is adminURL with Name for its database: what the servers get.
	// It may hold the password, so it is never printed; Shown is.
	URL string
	// Shown is URL without user, password or parameters (pgdb.Redacted).
	Shown string
}

// adminTimeout bounds each of the bench's own statements (connect, CREATE
// and DROP DATABASE), so that an unreachable server fails the run rather
// than hang it.
const adminTimeout = 30 * time.Second

// createBenchDatabase creates an empty database in the cluster that
// rawURL points to, named bench_<random>, from template0 so that nothing
// in template1 comes with it (a template holding kanban tables would mean
// the servers start on someone's data). Its errors never repeat the URL.
func createBenchDatabase(ctx context.Context, rawURL string) (*benchDatabase, error) {
	// Checked here too, not only by the flags: pgx.Connect's own error
	// for a URL it cannot parse may repeat it, password included.
	if err := pgdb.CheckURL(rawURL); err != nil {
		return nil, fmt.Errorf("-database %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("-database is not a URL") // url.Parse's error repeats it
	}
	random := make([]byte, 8)
	_, _ = rand.Read(random) // never fails (crypto/rand)
	d := &benchDatabase{adminURL: rawURL, Name: BenchDatabasePrefix + hex.EncodeToString(random)}
	u.Path = "/" + d.Name
	q := u.Query()
	q.Del("dbname") // it would override the path
	u.RawQuery = q.Encode()
	d.URL = u.String()
	d.Shown = pgdb.Redacted(d.URL)

	err = d.admin(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{d.Name}.Sanitize()+" TEMPLATE template0")
		return err
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		return nil, fmt.Errorf("-database: its role may not create databases (%s). bench runs in a database of its own, which it creates and drops, so that it never writes to an existing one: give the role CREATEDB, or use one that has it", pgErr.Message)
	case err != nil:
		return nil, fmt.Errorf("-database %s: create database %s: %w", pgdb.Redacted(rawURL), d.Name, err)
	}
	return d, nil
}

// drop drops the database, whoever is still connected to it (WITH
// (FORCE), PostgreSQL 13 and later; older ones need every server stopped
// first, which Bench does anyway). It runs even when ctx has ended: an
// interrupted run must not leave its database behind.
func (d *benchDatabase) drop(ctx context.Context) error {
	err := d.admin(context.WithoutCancel(ctx), func(ctx context.Context, conn *pgx.Conn) error {
		force := ""
		if serverVersionNum(ctx, conn) >= 130000 {
			force = " WITH (FORCE)"
		}
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+force)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop the bench's database %s (drop it yourself: DROP DATABASE %s): %w", d.Name, d.Name, err)
	}
	return nil
}

// serverVersionNum is the server's version as a number (150004 for
// 15.4), or 0 when it cannot be read.
func serverVersionNum(ctx context.Context, conn *pgx.Conn) int {
	var n int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&n); err != nil {
		return 0
	}
	return n
}

// admin runs fn on a connection of its own to the -database URL's
// database, within adminTimeout.
func (d *benchDatabase) admin(ctx context.Context, fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	// Parsed as the servers parse it, by pgxpool: the URL may carry the
	// pool's parameters (pool_max_conns…), which pgx.Connect would send
	// to the server as settings it does not know.
	cfg, err := pgxpool.ParseConfig(d.adminURL)
	if err != nil {
		return fmt.Errorf("is not a usable PostgreSQL URL") // checked before; its error may repeat the URL
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return err // pgx names user, host and database, never the password
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(ctx, conn)
}
