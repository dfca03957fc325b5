package sqlitedb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRevocationVersionAcrossProcesses opens the file twice, as the server
// and the CLI do, and checks that a change noted through one handle
// changes the version the other sees, and that nothing else does.
func TestRevocationVersionAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	server, err := Open(t.Context(), path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cli, err := Open(t.Context(), path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	version := func(db *DB) uint64 {
		t.Helper()
		v, err := db.SQL().RevocationVersion()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v0 := version(server)
	if again := version(server); again != v0 {
		t.Fatalf("version changed from %d to %d with no change", v0, again)
	}
	for i := range 3 {
		if err := cli.SQL().NoteRevocationChange(t.Context()); err != nil {
			t.Fatal(err)
		}
		v := version(server)
		if v == v0 {
			t.Fatalf("change %d through another handle: version stayed %d", i+1, v)
		}
		if again := version(server); again != v {
			t.Fatalf("after change %d: version moved from %d to %d on its own", i+1, v, again)
		}
		v0 = v
	}

	// A change noted through the server's own handle counts at once.
	before := version(server)
	if err := server.SQL().NoteRevocationChange(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := version(server); after == before {
		t.Fatalf("own change: version stayed %d", after)
	}

	// No temporary files are left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".tmp" {
			t.Errorf("leftover temporary file %s", e.Name())
		}
	}
}

func TestRevocationVersionFailsWhenUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	db, err := Open(t.Context(), path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A signal path whose parent is a regular file cannot be stat'ed
	// (ENOTDIR): the version must fail rather than pretend nothing changed.
	signal := newRevocationSignal(filepath.Join(path, "inside-a-file"))
	if _, err := signal.RevocationVersion(); err == nil {
		t.Fatal("RevocationVersion succeeded on an unreadable signal file; want an error")
	}
	if err := signal.NoteRevocationChange(t.Context()); err == nil {
		t.Fatal("NoteRevocationChange succeeded on an unwritable signal file; want an error")
	}
}
