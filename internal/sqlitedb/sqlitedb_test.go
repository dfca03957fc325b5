package sqlitedb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrate(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "sub", "kanban.db"), SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1 := fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE t (x INTEGER) STRICT;")}}
	if err := db.Migrate(t.Context(), "c", v1); err != nil {
		t.Fatal(err)
	}
	// Applying again is a no-op, not a "table exists" failure.
	if err := db.Migrate(t.Context(), "c", v1); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	// Another component has its own numbering.
	if err := db.Migrate(t.Context(), "other", fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE u (y INTEGER) STRICT;")}}); err != nil {
		t.Fatal(err)
	}
	// The reader pool is read-only.
	if _, err := db.Reader.Exec("INSERT INTO t VALUES (1)"); err == nil {
		t.Error("the reader pool accepted a write")
	}

	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"duplicate version", fstest.MapFS{"0002_a.sql": {Data: []byte("SELECT 1;")}, "0002_b.sql": {Data: []byte("SELECT 1;")}}, "share version 2"},
		{"bad name", fstest.MapFS{"init.sql": {Data: []byte("SELECT 1;")}}, "must start with a positive number"},
		{"failing SQL rolls back", fstest.MapFS{"0003_bad.sql": {Data: []byte("CREATE TABLE v (z INTEGER); SELECT nope FROM nowhere;")}}, "apply c migration 0003_bad.sql"},
	}
	for _, tt := range tests {
		err := db.Migrate(t.Context(), "c", tt.files)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Migrate = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	// The failed migration left nothing behind.
	var n int
	if err := db.Reader.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'v'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half-applied migration: table v exists (%d, %v)", n, err)
	}
}

// TestOpenOddPath: a path with '?' and '#' in it still names the file, and
// the pragmas still apply.
func TestOpenOddPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd?name#1 x.db")
	db, err := Open(t.Context(), path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.Writer.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.Reader.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at the path given: %v", err)
	}
}
