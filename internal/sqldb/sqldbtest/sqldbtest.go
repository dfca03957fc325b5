// Package sqldbtest runs a package's tests against both databases that
// internal/sqldb serves, with no copy of any test: tests open their
// database with Open, which is SQLite by default, and the package's
// TestOnPostgreSQL calls RerunOnPostgreSQL, which runs the same test
// binary again with every Open on PostgreSQL.
//
//	func TestMain(m *testing.M)            { pgtest.Main(m) }
//	func TestOnPostgreSQL(t *testing.T)    { sqldbtest.RerunOnPostgreSQL(t) }
//
// KANBAN_TEST_DATABASE=postgres go test -run X ./pkg runs test X on
// PostgreSQL alone.
package sqldbtest

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
)

// EnvDatabase names the environment variable that picks the database of
// Open: "postgres" for PostgreSQL, anything else for SQLite.
const EnvDatabase = "KANBAN_TEST_DATABASE"

// OnPostgreSQL reports whether this test binary runs its tests on
// PostgreSQL.
func OnPostgreSQL() bool { return os.Getenv(EnvDatabase) == string(sqldb.Postgres) }

// Open returns a fresh, empty database for t, closed when t ends: a SQLite
// file in t.TempDir(), or a new database of the test binary's shared
// PostgreSQL cluster when OnPostgreSQL (the package's TestMain must then
// be pgtest.Main).
func Open(t testing.TB) *sqldb.DB {
	t.Helper()
	return Reopener(t)(t)
}

// Reopener makes a fresh, empty database for t and returns a function
// that opens it, as a process that starts (again) would: each call opens
// it anew, closed when the test it is given ends.
func Reopener(t testing.TB) func(testing.TB) *sqldb.DB {
	t.Helper()
	if OnPostgreSQL() {
		url := pgtest.Shared(t).NewDatabase(t)
		return func(t testing.TB) *sqldb.DB { t.Helper(); return OpenPostgreSQL(t, url) }
	}
	path := filepath.Join(t.TempDir(), "kanban.db")
	return func(t testing.TB) *sqldb.DB { t.Helper(); return OpenSQLite(t, path).SQL() }
}

// OpenSQLite opens the SQLite database file at path for t, closed when t
// ends; for tests of what only SQLite has (its file, its migrations).
func OpenSQLite(t testing.TB, path string) *sqlitedb.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatalf("sqlitedb.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close the SQLite database: %v", err)
		}
	})
	return db
}

// OpenPostgreSQL opens the PostgreSQL database at url as a DB for t, with a
// pool of its own closed when t ends and a revocation signal that never
// lets a cache answer (pgdb.UncachedRevocations).
func OpenPostgreSQL(t testing.TB, url string) *sqldb.DB {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("pgdb.Open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pgdb.SQL(pool, &pgdb.UncachedRevocations{Pool: pool})
}

// RerunOnPostgreSQL runs the test binary again, with the same -run, -short
// and -v, with every Open on PostgreSQL, and fails t with the run's output
// if any test failed there. It skips when the binary runs on PostgreSQL
// already, under -short (the whole package again is no quick loop), and,
// like every PostgreSQL test, without PostgreSQL's binaries (failing
// instead under CI=true).
func RerunOnPostgreSQL(t *testing.T) {
	t.Helper()
	if OnPostgreSQL() {
		t.Skip("this run is the one on PostgreSQL")
	}
	if testing.Short() {
		t.Skip("the package's tests on PostgreSQL run without -short")
	}
	pgtest.RequireBinaries(t)

	args := []string{"-test.count=1", "-test.timeout=0"}
	if testing.Verbose() {
		args = append(args, "-test.v=true")
	}
	// The same selection as this run's, unless this run selected only
	// the rerun itself: then everything.
	if run := flagValue("test.run"); run != "" && !onlyThis(run, t.Name()) {
		args = append(args, "-test.run="+run)
	}
	if skip := flagValue("test.skip"); skip != "" {
		args = append(args, "-test.skip="+skip)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), EnvDatabase+"="+string(sqldb.Postgres))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if testing.Verbose() {
		t.Logf("the package's tests on PostgreSQL:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("the package's tests failed on PostgreSQL (%v); rerun with %s=postgres to see them alone:\n%s",
			err, EnvDatabase, failures(out.String()))
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Fatalf("the run on PostgreSQL did not report PASS:\n%s", out.String())
	}
}

// flagValue is the value of the test flag name, "" when unset.
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// onlyThis reports whether the -run pattern run selects the test named
// name and no other top-level test names alike (a pattern written for it).
func onlyThis(run, name string) bool {
	first, _, _ := strings.Cut(run, "/")
	re, err := regexp.Compile(first)
	return err == nil && re.MatchString(name) && !re.MatchString("Test")
}

// failures keeps the lines of a test run's output around its failures, or
// all of it when it is short.
func failures(out string) string {
	lines := strings.Split(out, "\n")
	if len(lines) <= 200 {
		return out
	}
	var keep []string
	for i, l := range lines {
		if strings.Contains(l, "--- FAIL") || strings.HasPrefix(l, "FAIL") || strings.Contains(l, "panic:") {
			keep = append(keep, lines[max(0, i-20):min(len(lines), i+20)]...)
			keep = append(keep, "…")
		}
	}
	if len(keep) == 0 {
		return strings.Join(lines[len(lines)-200:], "\n")
	}
	return strings.Join(keep, "\n")
}

// SQLiteOnly skips t in the run on PostgreSQL: for tests of what only
// SQLite has (its file, its migrations), which the SQLite run covers.
func SQLiteOnly(t testing.TB) {
	t.Helper()
	if OnPostgreSQL() {
		t.Skip("a test of SQLite alone; the SQLite run covers it")
	}
}
