package sqlite

import (
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// TestCardCountMigration starts from a database made before boards had a
// card_count (migration 0001 only), with cards in it, and checks that
// opening the store backfills the counts and that the triggers keep them
// right through adds, deletes and a board's deletion.
func TestCardCountMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kanban.db")
	db, err := sqlitedb.Open(t.Context(), path, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	init, err := fs.ReadFile(migrationFiles, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context(), component, fstest.MapFS{"0001_init.sql": {Data: init}}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO boards (id, owner_iss, owner_sub, title, visibility, version, created_at, updated_at)
			VALUES ('b_old', 'https://id.example', 'alice', 'Old', 'private', 1, 1, 1)`,
		`INSERT INTO columns (id, board_id, name, position) VALUES ('col_old', 'b_old', 'To do', 0)`,
		`INSERT INTO cards (id, board_id, column_id, title, description, labels, position, version, created_at, updated_at)
			VALUES ('c_1', 'b_old', 'col_old', 'one', '', '[]', 0, 1, 1, 1), ('c_2', 'b_old', 'col_old', 'two', '', '[]', 1, 1, 1, 1)`,
	} {
		if _, err := db.Writer.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

	s, _ := openStore(t, path, Options{})
	defer s.Close()
	count := func(step, boardID string, want int) {
		t.Helper()
		list, err := s.ListBoards(t.Context(), alice, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range list.Boards {
			if b.ID == boardID {
				if b.CardCount != want {
					t.Fatalf("%s: card count %d, want %d", step, b.CardCount, want)
				}
				return
			}
		}
		t.Fatalf("%s: board %s not listed", step, boardID)
	}
	count("backfilled", "b_old", 2)

	added, err := s.AddCard(t.Context(), storetest.Call(alice, "add_card"), store.NewCard{BoardID: "b_old", ColumnID: "col_old", Title: "three"})
	if err != nil {
		t.Fatal(err)
	}
	if added.Position != 2 {
		t.Errorf("added card at position %d, want 2 (after the two old ones)", added.Position)
	}
	count("after an add", "b_old", 3)
	if _, err := s.DeleteCard(t.Context(), storetest.Call(alice, "delete_card"), "c_1"); err != nil {
		t.Fatal(err)
	}
	count("after a delete", "b_old", 2)

	// Deleting a board removes its cards through the cascade, which fires the
	// trigger on a board that is going away: that must not fail.
	if _, err := s.DeleteBoard(t.Context(), storetest.Call(alice, "delete_board"), "b_old"); err != nil {
		t.Fatal(err)
	}
}
