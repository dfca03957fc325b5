package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// access is what one caller level may do with one tool.
type access int

const (
	allowed   access = iota
	needToken        // no token: sign-in challenge
	needScope        // token without the scope: step-up challenge
)

// scopeMatrix is written out by hand from the table, not derived
// from the declarations, so that a wrong declaration makes the test fail.
var callerLevels = []string{"anonymous", "kanban.read", "kanban.write", "kanban.admin"}

type matrixRow struct {
	tool  string
	scope string // the scope a challenge must name
	want  [4]access
	// args builds valid arguments on a fresh fixture, so an allowed call
	// succeeds.
	args func(f fixture) map[string]any
}

func scopeMatrix() []matrixRow {
	return []matrixRow{
		{"list_boards", "kanban.read", [4]access{allowed, allowed, allowed, allowed}, func(f fixture) map[string]any { return nil }},
		{"get_board", "kanban.read", [4]access{allowed, allowed, allowed, allowed}, func(f fixture) map[string]any { return map[string]any{"board_id": f.BoardID} }},
		{"get_card", "kanban.read", [4]access{allowed, allowed, allowed, allowed}, func(f fixture) map[string]any { return map[string]any{"card_id": f.CardID} }},
		{"whoami", "", [4]access{allowed, allowed, allowed, allowed}, func(f fixture) map[string]any { return nil }},
		{"search_cards", "kanban.read", [4]access{needToken, allowed, allowed, allowed}, func(f fixture) map[string]any { return map[string]any{"query": "first"} }},
		{"list_activity", "kanban.read", [4]access{needToken, allowed, allowed, allowed}, func(f fixture) map[string]any { return nil }},
		{"create_board", "kanban.write", [4]access{needToken, needScope, allowed, allowed}, func(f fixture) map[string]any { return map[string]any{"title": "New"} }},
		{"add_card", "kanban.write", [4]access{needToken, needScope, allowed, allowed}, func(f fixture) map[string]any {
			return map[string]any{"board_id": f.BoardID, "column_id": f.Columns[1], "title": "Added"}
		}},
		{"update_card", "kanban.write", [4]access{needToken, needScope, allowed, allowed}, func(f fixture) map[string]any {
			return map[string]any{"card_id": f.CardID, "title": "Renamed"}
		}},
		{"move_card", "kanban.write", [4]access{needToken, needScope, allowed, allowed}, func(f fixture) map[string]any {
			return map[string]any{"card_id": f.CardID, "column_id": f.Columns[2]}
		}},
		{"delete_card", "kanban.write", [4]access{needToken, needScope, allowed, allowed}, func(f fixture) map[string]any { return map[string]any{"card_id": f.CardID} }},
		{"share_board", "kanban.admin", [4]access{needToken, needScope, needScope, allowed}, func(f fixture) map[string]any {
			return map[string]any{"board_id": f.BoardID, "visibility": "public"}
		}},
		{"delete_board", "kanban.admin", [4]access{needToken, needScope, needScope, allowed}, func(f fixture) map[string]any {
			return map[string]any{"board_id": f.BoardID, "confirm": true}
		}},
	}
}

// TestScopeMatrix calls every tool at every caller level in both challenge
// modes and checks the exact answer: success, or the exact challenge with
// status, error code, scope and resource_metadata.
func TestScopeMatrix(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"tool-result", "http"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, map[string]string{"AUTH_CHALLENGE": mode})
			for _, row := range scopeMatrix() {
				for i, level := range callerLevels {
					t.Run(row.tool+"/"+level, func(t *testing.T) {
						f := srv.newFixture(t, "alice", "Matrix "+row.tool)
						if (row.tool == "get_board" || row.tool == "get_card") && level == "anonymous" {
							// Anonymous callers can read public boards only.
							srv.mustCall(t, f.AdminTok, "share_board", map[string]any{"board_id": f.BoardID, "visibility": "public"})
						}
						token := ""
						if level != "anonymous" {
							token = srv.token(t, "alice", "agent-1", level)
						}
						resp := srv.call(t, token, row.tool, row.args(f))
						checkAccess(t, srv, mode, row, row.want[i], resp)
					})
				}
			}
		})
	}
}

func checkAccess(t *testing.T, srv *testServer, mode string, row matrixRow, want access, resp rpcResponse) {
	t.Helper()
	switch want {
	case allowed:
		res := resp.result(t)
		if res.IsError {
			t.Fatalf("want success, got error: %s", res.Text())
		}
		if res.Structured == nil {
			t.Errorf("success without structuredContent")
		}
		if _, ok := res.Meta["mcp/www_authenticate"]; ok {
			t.Errorf("success carries a challenge: %v", res.Meta)
		}
	case needToken, needScope:
		wantParams := map[string]string{"resource_metadata": srv.PRM(), "scope": row.scope}
		if mode == "http" && want == needToken {
			// RFC 6750 §3.1: no error code when no token was sent.
			if resp.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", resp.Status, resp.Body)
			}
			got := challengeParams(t, resp.Header.Get("WWW-Authenticate"))
			if diff := cmp.Diff(wantParams, got); diff != "" {
				t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
			}
			return
		}
		wantParams["error"] = "invalid_token"
		if want == needScope {
			wantParams["error"] = "insufficient_scope"
		}
		var challenge string
		if mode == "http" {
			if resp.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403; body %s", resp.Status, resp.Body)
			}
			challenge = resp.Header.Get("WWW-Authenticate")
			var body map[string]string
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				t.Fatalf("403 body is not an OAuth error JSON: %v: %s", err, resp.Body)
			}
			if body["error"] != "insufficient_scope" || body["error_description"] == "" {
				t.Errorf("403 body = %v, want error insufficient_scope with a description", body)
			}
		} else {
			res := resp.result(t)
			if !res.IsError {
				t.Fatalf("want an isError result, got success: %s", res.Text())
			}
			if res.Text() == "" {
				t.Errorf("challenge result has no human text")
			}
			challenge = metaChallenge(t, res)
		}
		got := challengeParams(t, challenge)
		if got["error_description"] == "" {
			t.Errorf("challenge %q has no error_description", challenge)
		}
		delete(got, "error_description")
		if diff := cmp.Diff(wantParams, got); diff != "" {
			t.Errorf("challenge (-want +got):\n%s", diff)
		}
	}
}
