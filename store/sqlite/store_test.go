package sqlite

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

func TestNewDefaults(t *testing.T) {
	e := newEnv(t, Options{Quotas: store.Quotas{CardsPerBoard: 5}})
	want := store.Quotas{BoardsPerUser: store.DefaultQuotas().BoardsPerUser, CardsPerBoard: 5}
	storetest.Diff(t, "quotas", want, e.s.quotas)

	path := filepath.Join(t.TempDir(), "defaults.db")
	s, _ := openStore(t, path, Options{})
	defer s.Close()
	storetest.Diff(t, "default quotas", store.DefaultQuotas(), s.quotas)
	if s.now == nil {
		t.Error("Now not defaulted")
	}
	storetest.WantRealClock(t, s, alice)
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "durable.db")
	opts := Options{}

	s, _ := openStore(t, path, opts)
	b, err := s.CreateBoard(t.Context(), storetest.Call(alice, "create_board"), "Durable", []string{"Only"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCard(t.Context(), storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID,
		Title: "Survivor", Labels: []string{"keep"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ShareBoard(t.Context(), storetest.Call(alice, "share_board"), b.ID, store.Public); err != nil {
		t.Fatal(err)
	}
	wantBoard, err := s.GetBoard(t.Context(), alice, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantActivity, err := s.ListActivity(t.Context(), alice, "", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening applies no migration twice and finds everything.
	s, db := openStore(t, path, opts)
	defer s.Close()
	var migrations int
	if err := db.Reader.QueryRowContext(t.Context(),
		`SELECT count(*) FROM schema_migrations WHERE component = 'store'`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if migrations != len(files) {
		t.Errorf("%d store migrations recorded, want %d (one per file)", migrations, len(files))
	}
	gotBoard, err := s.GetBoard(t.Context(), anon, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotBoard.Owned = true // read anonymously, to show it is public
	storetest.Diff(t, "board", wantBoard, gotBoard)
	gotActivity, err := s.ListActivity(t.Context(), alice, "", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Diff(t, "activity", wantActivity, gotActivity)
}

// TestInfraErrors checks that failures that are not the caller's fault come
// back wrapped, never as domain errors, and that a write failing half-way
// changes nothing. (That a closed store fails every call so is in the
// contract suite.)
func TestInfraErrors(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Launch")
	card := storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "A"})
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "B"})
	before := storetest.MustGet(t, e.s, alice, b.ID)
	c := storetest.Call(alice, "tool")

	// Each trigger breaks one statement that a write runs after its checks.
	for _, tt := range []struct {
		trigger string
		write   func() error
	}{
		{`BEFORE INSERT ON boards`, func() error { _, err := e.s.CreateBoard(t.Context(), c, "New", nil); return err }},
		{`BEFORE INSERT ON columns`, func() error { _, err := e.s.CreateBoard(t.Context(), c, "New", nil); return err }},
		{`BEFORE INSERT ON cards`, func() error {
			_, err := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "C"})
			return err
		}},
		{`BEFORE UPDATE ON boards`, func() error {
			_, err := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "C"})
			return err
		}},
		{`BEFORE UPDATE OF title ON cards`, func() error {
			_, err := e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: card.ID, Title: new("x")})
			return err
		}},
		{`BEFORE UPDATE OF column_id ON cards`, func() error {
			_, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[1].ID, nil)
			return err
		}},
		{`BEFORE UPDATE OF position ON cards`, func() error {
			_, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[0].ID, nil)
			return err
		}},
		{`BEFORE DELETE ON cards`, func() error { _, err := e.s.DeleteCard(t.Context(), c, card.ID); return err }},
		{`BEFORE UPDATE OF visibility ON boards`, func() error {
			_, err := e.s.ShareBoard(t.Context(), c, b.ID, store.Public)
			return err
		}},
		{`BEFORE DELETE ON boards`, func() error { _, err := e.s.DeleteBoard(t.Context(), c, b.ID); return err }},
	} {
		t.Run(tt.trigger, func(t *testing.T) {
			if _, err := e.db.Writer.ExecContext(t.Context(),
				`CREATE TRIGGER broken `+tt.trigger+` BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := e.db.Writer.ExecContext(t.Context(), `DROP TRIGGER broken`); err != nil {
					t.Fatal(err)
				}
			}()
			err := tt.write()
			storetest.WantInfraError(t, err)
			if !strings.Contains(err.Error(), "disk on fire") {
				t.Errorf("error %q lost its cause", err)
			}
			storetest.Diff(t, "board", before, storetest.MustGet(t, e.s, alice, b.ID))
			if n := e.count(t, `SELECT count(*) FROM boards`); n != 1 {
				t.Errorf("%d boards, want 1", n)
			}
		})
	}
}
