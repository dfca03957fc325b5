package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/app"
)

// TestRefusedTokensAreAudited: a tools/call turned away before it reaches
// the tool — a revoked, an expired or a malformed token — still leaves an
// audit row, with the user and client when they are known (revoked).
func TestRefusedTokensAreAudited(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	f := srv.newFixture(t, "alice", "Audited")
	getenv := func(k string) string { return srv.Env[k] }
	var out bytes.Buffer
	if code := app.Run(context.Background(), "test", []string{"revoke", "client", "agent-1"}, getenv, nil, &out, &out); code != 0 {
		t.Fatalf("revoke: %s", out.String())
	}
	revoked := srv.token(t, "alice", "agent-1", "kanban.write")
	checkInvalidToken(t, srv, srv.call(t, revoked, "add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[0], "title": "x"}))

	expiredClaims := srv.Issuer.Standard(srv.MCP(), "alice", "agent-2", "kanban.read")
	expiredClaims["exp"] = time.Now().Add(-time.Hour).Unix()
	checkInvalidToken(t, srv, srv.call(t, srv.Issuer.Mint(t, expiredClaims), "get_board", map[string]any{"board_id": f.BoardID}))

	type row struct{ Tool, Outcome, Sub, Client, IDs, Summary string }
	want := []row{
		{"add_card", "unauthenticated", "alice", "agent-1", `["` + f.BoardID + `","` + f.Columns[0] + `"]`, "refused: access revoked by the operator"},
		{"get_board", "unauthenticated", "", "", `["` + f.BoardID + `"]`, "refused: invalid or expired token"},
	}
	db := openDB(t, srv.DBPath)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := db.Query(`SELECT tool, outcome, actor_sub, client_id, ids, summary FROM activity WHERE outcome = 'unauthenticated' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var got []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.Tool, &r.Outcome, &r.Sub, &r.Client, &r.IDs, &r.Summary); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		rows.Close()
		if len(got) >= len(want) || time.Now().After(deadline) {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("refusal rows (-want +got):\n%s", diff)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
