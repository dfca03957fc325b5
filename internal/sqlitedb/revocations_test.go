package sqlitedb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

// version reads s's version, failing the test on an error.
func version(t *testing.T, s sqldb.RevocationSignal) uint64 {
	t.Helper()
	v, err := s.RevocationVersion()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkSignalPair checks two handles on one database's signal, as the
// server and the CLI hold: a change noted through either changes the
// version the server sees at once, nothing else does, and the version
// never goes back.
func checkSignalPair(t *testing.T, server, cli sqldb.RevocationSignal) {
	t.Helper()
	v0 := version(t, server)
	if again := version(t, server); again != v0 {
		t.Fatalf("version changed from %d to %d with no change", v0, again)
	}
	for i := range 3 {
		if err := cli.NoteRevocationChange(t.Context()); err != nil {
			t.Fatal(err)
		}
		v := version(t, server)
		if v == v0 {
			t.Fatalf("change %d through another handle: version stayed %d", i+1, v)
		}
		if v < v0 {
			t.Fatalf("change %d through another handle: version went back from %d to %d", i+1, v0, v)
		}
		if again := version(t, server); again != v {
			t.Fatalf("after change %d: version moved from %d to %d on its own", i+1, v, again)
		}
		v0 = v
	}

	// A change noted through the server's own handle counts at once.
	if err := server.NoteRevocationChange(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := version(t, server); after <= v0 {
		t.Fatalf("own change: version went from %d to %d", v0, after)
	}
}

// TestRevocationVersionAcrossProcesses opens the file twice, as the server
// and the CLI do, whichever signal the platform gives.
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
	checkSignalPair(t, server.SQL(), cli.SQL())
}

// TestFileSignalAcrossProcesses checks the fallback signal on its own, as
// a platform with the shared counter does not otherwise use it.
func TestFileSignalAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	checkSignalPair(t, newFileSignal(path), newFileSignal(path))

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

func TestFileSignalFailsWhenUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A signal path whose parent is a regular file cannot be stat'ed
	// (ENOTDIR): the version must fail rather than pretend nothing changed.
	signal := newFileSignal(filepath.Join(path, "inside-a-file"))
	if _, err := signal.RevocationVersion(); err == nil {
		t.Fatal("RevocationVersion succeeded on an unreadable signal file; want an error")
	}
	if err := signal.NoteRevocationChange(t.Context()); err == nil {
		t.Fatal("NoteRevocationChange succeeded on an unwritable signal file; want an error")
	}
}
