package authserver

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

// TestUpstreamMigrationKeepsEverything: 0007 rebuilds the users table, which
// sessions, grants and consents reference with ON DELETE CASCADE. A database
// made before it keeps every account, session, grant, code and consent, and
// its password users still sign in.
func TestUpstreamMigrationKeepsEverything(t *testing.T) {
	sqldbtest.SQLiteOnly(t)
	ctx := context.Background()
	clock := newTestClock()
	db := sqldbtest.OpenSQLite(t, filepath.Join(t.TempDir(), "kanban.db"))

	// The database as the release before federation left it.
	all, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	names, _ := fs.Glob(all, "*.sql")
	for _, name := range names {
		if name < "0007" {
			body, _ := fs.ReadFile(all, name)
			before[name] = &fstest.MapFile{Data: body}
		}
	}
	if err := db.Migrate(ctx, "authserver", before); err != nil {
		t.Fatalf("migrations before 0007: %v", err)
	}
	old := &Store{db: db.SQL(), now: clock.Now}
	users := NewUsers(old, testHasher(t, testHashParams, 2))
	alice := mustAddUser(t, users, "alice", goodPassword, "alice@example.com")
	if _, _, err := old.CreateSession(ctx, alice.Subject); err != nil {
		t.Fatal(err)
	}
	grants, err := old.Grants(users, GrantOptions{Scopes: testScopes(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Inserted with the columns the grants table had then.
	if _, err := db.Writer.ExecContext(ctx, `INSERT INTO grants (id, subject, client_id, scope, resource, auth_time, created_at)
		VALUES ('g_before', $1, 'client', 'kanban.read', 'https://kanban.example/mcp', 1, 1)`, alice.Subject); err != nil {
		t.Fatal(err)
	}
	if err := grants.RememberConsent(ctx, alice.Subject, "client", testScopes(t).Names()[:1]); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		return n
	}
	tables := []string{"users", "sessions", "grants", "consents"}
	want := map[string]int{}
	for _, table := range tables {
		if want[table] = count(table); want[table] != 1 {
			t.Fatalf("before the migration, %s has %d rows, want 1", table, want[table])
		}
	}

	st, err := Open(ctx, db.SQL(), Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("Open (0007 and later): %v", err)
	}
	for _, table := range tables {
		if got := count(table); got != want[table] {
			t.Errorf("after the migration, %s has %d rows, want %d", table, got, want[table])
		}
	}
	var fk int
	if err := db.Reader.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign keys after the migration = %d, %v; want on", fk, err)
	}
	users = NewUsers(st, testHasher(t, testHashParams, 2))
	if u, err := users.Authenticate(ctx, "alice", goodPassword); err != nil || u.Subject != alice.Subject || u.Email != "alice@example.com" {
		t.Errorf("alice after the migration: %+v, %v", u, err)
	}
	// The new columns work, and the constraints hold: a user has a
	// password or an upstream identity, not both, and an identity maps to
	// one user.
	fed, created, err := users.SignInUpstream(ctx, upstream.Identity{Issuer: "https://idp.example", Subject: "s1"})
	if err != nil || !created || !fed.Federated() {
		t.Fatalf("SignInUpstream after the migration: %+v, %v, %v", fed, created, err)
	}
	for _, q := range []string{
		`UPDATE users SET password_hash = '$argon2id$v=19$x' WHERE id = '` + fed.Subject + `'`,
		`UPDATE users SET upstream_issuer = NULL WHERE id = '` + fed.Subject + `'`,
		`INSERT INTO users (id, name, upstream_issuer, upstream_subject, created_at) VALUES ('u_dup', 'dup', 'https://idp.example', 's1', 1)`,
	} {
		if _, err := db.Writer.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "constraint") {
			t.Errorf("%s: %v, want a constraint error", q, err)
		}
	}
	// Deleting a user still cascades: the foreign keys point at the new
	// table.
	if _, err := db.Writer.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, alice.Subject); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"sessions", "grants", "consents"} {
		if got := count(table); got != 0 {
			t.Errorf("after deleting alice, %s has %d rows, want 0 (ON DELETE CASCADE)", table, got)
		}
	}
}
