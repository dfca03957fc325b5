package loadtest

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// withPassword puts a password into a pgtest URL: the cluster trusts
// loopback and never asks for it, so it only shows where it would leak.
func withPassword(t *testing.T, raw, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// connect connects to url as the servers would, pool parameters and all.
func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// sqlOn runs statements on the database url names. Not with t.Context():
// cleanups use it too, after that context has ended.
func sqlOn(t *testing.T, url string, statements ...string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, ctx, url)
	defer conn.Close(ctx)
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// count runs a query that returns one number.
func count(t *testing.T, url, query string, args ...any) int {
	t.Helper()
	conn := connect(t, t.Context(), url)
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// The bench writes only to a database it made: the URL's own database,
// which here holds someone's boards table, is left as it was, and the
// bench's database is empty at first and gone afterwards.
func TestBenchDatabaseIsItsOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped under -short")
	}
	c := pgtest.Shared(t)
	users := withPassword(t, c.NewDatabase(t), "s3cret")
	sqlOn(t, users, "CREATE TABLE boards (id text PRIMARY KEY)", "INSERT INTO boards VALUES ('b_mine')")
	// The pool's parameters are the servers', not PostgreSQL's: bench's
	// own connection must leave them out, and the servers get them.
	withPool := users + "&pool_max_conns=16"
	// A template1 holding tables must not hand them to the bench's
	// database: it is made from template0. (Undone at once: other tests
	// of the shared cluster create databases from template1.)
	sqlOn(t, c.URL("template1"), "CREATE TABLE schema_migrations (component text)")
	t.Cleanup(func() { sqlOn(t, c.URL("template1"), "DROP TABLE schema_migrations") })

	d, err := createBenchDatabase(t.Context(), withPool)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.URL, "pool_max_conns=16") {
		t.Errorf("the servers' URL lost the pool's parameters")
	}
	if !strings.HasPrefix(d.Name, BenchDatabasePrefix) || len(d.Name) != len(BenchDatabasePrefix)+16 {
		t.Errorf("database name %q; want %s and 16 hex digits", d.Name, BenchDatabasePrefix)
	}
	if strings.Contains(d.Shown, "s3cret") || !strings.HasSuffix(d.Shown, "/"+d.Name) {
		t.Errorf("shown as %q; want host and database, without the password", d.Shown)
	}
	if got := count(t, d.URL, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"); got != 0 {
		t.Errorf("the bench's database starts with %d tables; want none", got)
	}
	if got := count(t, d.URL, "SELECT count(*) FROM pg_database WHERE datname = current_database() AND datname = $1", d.Name); got != 1 {
		t.Errorf("the bench's URL does not lead to database %s", d.Name)
	}
	sqlOn(t, d.URL, "CREATE TABLE cards (id text)") // as the servers would

	// Still connected, as a server that did not stop in time would be.
	conn := connect(t, t.Context(), d.URL)
	defer conn.Close(context.Background())
	if err := d.drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := count(t, users, "SELECT count(*) FROM pg_database WHERE datname = $1", d.Name); got != 0 {
		t.Errorf("database %s is still there after drop", d.Name)
	}
	if err := d.drop(t.Context()); err != nil {
		t.Errorf("a second drop: %v; want nothing to do", err)
	}
	if got := count(t, users, "SELECT count(*) FROM boards WHERE id = 'b_mine'"); got != 1 {
		t.Error("the URL's own database lost its row")
	}
	if got := count(t, users, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); got != 1 {
		t.Errorf("the URL's own database has %d tables; want its one, nothing of the bench's", got)
	}
}

// A role that may not create databases is refused before anything is
// written, with what to do, and without its password.
func TestBenchDatabaseNeedsCreateDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped under -short")
	}
	c := pgtest.Shared(t)
	users := c.NewDatabase(t)
	role := "bench_nocreatedb"
	sqlOn(t, users, "CREATE ROLE "+role+" LOGIN NOCREATEDB")
	t.Cleanup(func() { sqlOn(t, users, "DROP ROLE "+role) })
	u, err := url.Parse(users)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "s3cret")

	before := count(t, users, "SELECT count(*) FROM pg_database")
	d, err := createBenchDatabase(t.Context(), u.String())
	if err == nil {
		_ = d.drop(t.Context())
		t.Fatal("createBenchDatabase as a role without CREATEDB succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "CREATEDB") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q; want it to name CREATEDB and not the password", err)
	}
	if after := count(t, users, "SELECT count(*) FROM pg_database"); after != before {
		t.Errorf("%d databases before, %d after a refused run", before, after)
	}
}

// A URL that cannot be used is refused without being repeated.
func TestBenchDatabaseBadURL(t *testing.T) {
	_, err := createBenchDatabase(t.Context(), "postgres://u:s3cret@h:notaport/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("createBenchDatabase with a bad port: %v; want an error without the password", err)
	}
}
