package app

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dbPassword is in every -to URL of these tests (the test cluster trusts
// loopback and ignores it); no output may show it.
const dbPassword = "pw-n0t-pr1nted"

// keySecret is KEY_ENCRYPTION_KEY, the same before and after the move.
const keySecret = "one secret for the old machine and the new replicas"

// envOf is an environment with DATABASE_URL set to database.
func envOf(database string) func(string) string {
	env := map[string]string{"DATABASE_URL": database, "KEY_ENCRYPTION_KEY": keySecret}
	return func(k string) string { return env[k] }
}

// run runs one command and returns its exit code and all it printed; it
// fails t if that holds the database password.
func run(t *testing.T, getenv func(string) string, stdin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Run(context.Background(), "test", args, getenv, strings.NewReader(stdin), &out, &out)
	if strings.Contains(out.String(), dbPassword) {
		t.Errorf("%v printed the database password:\n%s", args, out.String())
	}
	return code, out.String()
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, getenv func(string) string, stdin string, args ...string) string {
	t.Helper()
	code, out := run(t, getenv, stdin, args...)
	if code != 0 {
		t.Fatalf("%v exited %d:\n%s", args, code, out)
	}
	return out
}

// withPassword is url with dbPassword as its password.
func withPassword(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), dbPassword)
	return u.String()
}

// TestCopyDataCommand moves a deployment made with the operator's
// commands, and the operator's commands on PostgreSQL then list the same
// users, clients and blocklist. Taken again, the copy is refused (nothing
// is merged), and -replace takes it again.
func TestCopyDataCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	onSQLite := envOf(path)
	// As a server would have at its start: the commands below open only
	// the parts they change.
	mustRun(t, onSQLite, "", "migrate")
	mustRun(t, onSQLite, "correct horse battery staple\n", "users", "add", "alice", "-email", "alice@example.com", "-password-stdin")
	mustRun(t, onSQLite, "", "clients", "add", "-name", "Desk", "-redirect-uri", "https://desk.example/callback", "-confidential")
	mustRun(t, onSQLite, "", "revoke", "client", "https://evil.example/client.json", "-note", "scraping")
	mustRun(t, onSQLite, "", "keys", "rotate", "-now")
	listings := func(getenv func(string) string) []string {
		return []string{
			mustRun(t, getenv, "", "users", "list"),
			mustRun(t, getenv, "", "clients", "list"),
			mustRun(t, getenv, "", "revoke", "list"),
		}
	}
	want := listings(onSQLite)

	raw := pgtest.Shared(t).NewDatabase(t)
	to := withPassword(t, raw)
	out := mustRun(t, onSQLite, "", "copy-data", "-from", "sqlite:"+path, "-to", to)
	u, _ := url.Parse(raw)
	for _, line := range []string{
		"copying " + path + " (SQLite) to postgres://" + u.Host + u.Path + " (PostgreSQL)\n",
		"users ", "signing_keys ", "revocations ", "boards ",
		"copied ", "in one transaction; every table read back with the same rows",
		"same KEY_ENCRYPTION_KEY",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("copy-data's output lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out, "predates") {
		t.Errorf("copy-data says it migrated a database that was up to date:\n%s", out)
	}

	onPostgreSQL := envOf(to)
	if diff := cmp.Diff(want, listings(onPostgreSQL)); diff != "" {
		t.Errorf("the commands list another deployment on PostgreSQL (-want +got):\n%s", diff)
	}
	// The copied keys open with the same KEY_ENCRYPTION_KEY.
	mustRun(t, onPostgreSQL, "", "keys", "rotate")

	code, out := run(t, onSQLite, "", "copy-data", "-from", path, "-to", to)
	if code != 1 || !strings.Contains(out, "holds data already") || !strings.Contains(out, "-replace") {
		t.Errorf("copy-data into a database with data exited %d; want 1 and a refusal that names -replace:\n%s", code, out)
	}
	out = mustRun(t, onSQLite, "", "copy-data", "-from", path, "-to", to, "-replace")
	if !strings.Contains(out, "replaced") {
		t.Errorf("copy-data -replace does not say what it replaced:\n%s", out)
	}
	// Without -to, DATABASE_URL names the target (a secret on fly, never
	// typed on a command line).
	out = mustRun(t, onPostgreSQL, "", "copy-data", "-from", path, "-replace")
	if !strings.Contains(out, "(PostgreSQL)") || !strings.Contains(out, "replaced") {
		t.Errorf("copy-data without -to did not copy into DATABASE_URL's database:\n%s", out)
	}
	if diff := cmp.Diff(want, listings(onPostgreSQL)); diff != "" {
		t.Errorf("after -replace the commands list another deployment on PostgreSQL (-want +got):\n%s", diff)
	}
}

// TestCopyDataMigratesAnOlderFile: a file from a version that had only the
// kanban store gets the other components' migrations first, and says so.
func TestCopyDataMigratesAnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	db, err := sqlitedb.Open(t.Context(), path, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner := store.Actor{Issuer: "https://kanban.example", Subject: "u_alice"}
	board := storetest.MustBoard(t, st, owner, "Old", "Todo")
	st.Close()

	to := withPassword(t, pgtest.Shared(t).NewDatabase(t))
	out := mustRun(t, envOf(path), "", "copy-data", "-from", path, "-to", to)
	if !strings.Contains(out, "the SQLite database predates this version: its migrations were applied first (authserver 1, 2, 3, 4, 5, 6, 7; revocation 1)") {
		t.Errorf("copy-data does not say that it migrated the older file:\n%s", out)
	}
	pg, err := openDatabase(t.Context(), mustConfig(t, envOf(to)), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.close()
	pgStore, err := pg.openStore(t.Context(), store.Quotas{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Diff(t, "the board on PostgreSQL", board, storetest.MustGet(t, pgStore, owner, board.ID))
}

func mustConfig(t *testing.T, getenv func(string) string) *config.Config {
	t.Helper()
	cfg, err := configWithDatabase(getenv, getenv("DATABASE_URL"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestCopyDataRefuses: arguments that cannot work are refused with what
// to do, before anything is written, and never with the -to URL's
// password.
func TestCopyDataRefuses(t *testing.T) {
	dir := t.TempDir()
	migrated := filepath.Join(dir, "kanban.db")
	mustRun(t, envOf(migrated), "", "migrate")
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sqlitedb.Open(t.Context(), foreign, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer.Exec(`CREATE TABLE photos (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A port where nothing listens: the connection is refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "postgres://kanban:" + dbPassword + "@127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/kanban?sslmode=disable"
	l.Close()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", nil, "usage: copy-data -from"},
		{"no -to", []string{"-from", migrated}, "usage: copy-data -from"},
		{"an argument", []string{"-from", migrated, "-to", closed, "extra"}, "usage: copy-data -from"},
		{"PostgreSQL as the source", []string{"-from", closed, "-to", closed}, "-from must name the SQLite database"},
		{"SQLite as the target", []string{"-from", migrated, "-to", "sqlite:/tmp/" + dbPassword + ".db"}, "-to must be a postgres:// or postgresql:// URL"},
		{"a URL that does not parse", []string{"-from", migrated, "-to", "postgres://kanban:" + dbPassword + "@127.0.0.1:port/kanban"}, "-to is not a usable PostgreSQL URL: invalid port"},
		{"a missing file", []string{"-from", "sqlite:" + filepath.Join(dir, "typo.db"), "-to", closed}, "-from: no SQLite database file at"},
		{"another application's file", []string{"-from", foreign, "-to", closed}, "not a " + product.Name + " database"},
		{"a server out of reach", []string{"-from", migrated, "-to", closed}, "connect to PostgreSQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := run(t, envOf(migrated), "", append([]string{"copy-data"}, tt.args...)...)
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want 1 with %q:\n%s", code, tt.want, out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("copy-data with a mistyped -from made a file there (%v)", err)
	}
}
