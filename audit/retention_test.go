package audit_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/audit"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
)

// TestEnforceRetention runs the retention loop against a real SQLite store:
// rows older than the retention go, newer rows stay.
func TestEnforceRetention(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice := store.Actor{Issuer: "https://issuer.example", Subject: "alice"}
	now := time.Now()
	rows := []store.Activity{
		{At: now.Add(-100 * 24 * time.Hour), Tool: "get_board", Outcome: store.OutcomeOK, Actor: alice, Summary: "old"},
		{At: now.Add(-time.Hour), Tool: "get_board", Outcome: store.OutcomeOK, Actor: alice, Summary: "recent"},
	}
	if err := st.RecordActivity(ctx, rows); err != nil {
		t.Fatal(err)
	}

	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		audit.EnforceRetention(loopCtx, st, 90*24*time.Hour, slog.New(slog.DiscardHandler))
		close(done)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := st.ListActivity(ctx, alice, "", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Activity) == 1 {
			if got := list.Activity[0].Summary; got != "recent" {
				t.Fatalf("kept %q, want the recent row", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old row not pruned within 10s; %d rows remain", len(list.Activity))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("EnforceRetention did not stop when its context ended")
	}
}
