package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// access is what one caller level may do with one tool.
type access int

const (
	allowed   access = iota
	needToken        // no token: sign-in challenge
	needScope        // token without the scope: step-up challenge
)

// implies is the scope hierarchy as this test reads it, one line per
// scope: what holding the scope grants besides itself. The matrix's
// expectations are worked out from it here, independently of the
// enforcement code, which must agree.
var implies = map[string][]string{
	"kanban.read":  nil,
	"kanban.write": {"kanban.read"},
	"kanban.admin": {"kanban.write"},
}

// grants returns every scope that holding scope grants: the closure of
// implies.
func grants(scope string) map[string]bool {
	out := map[string]bool{}
	var walk func(string)
	walk = func(s string) {
		if out[s] {
			return
		}
		out[s] = true
		for _, next := range implies[s] {
			walk(next)
		}
	}
	walk(scope)
	return out
}

// callerLevels are the callers the matrix tries: no token, then a token
// with each scope the server supports.
func callerLevels(t *testing.T) []string {
	levels := []string{"anonymous"}
	for _, s := range auth.SupportedScopes() {
		if _, ok := implies[string(s)]; !ok {
			t.Fatalf("the server supports scope %s; add what it implies to this test's implies", s)
		}
		levels = append(levels, string(s))
	}
	return levels
}

// expectedAccess is what a caller at level may do with tool d, from its
// declaration and the closure of implies: anonymous callers reach only
// tools open to them; a token reaches a tool whose scope its own grants,
// and a tool open to anonymous callers in any case (as anonymous).
func expectedAccess(d tools.Tool, level string) access {
	switch {
	case level == "anonymous" && d.Requires.Anonymous:
		return allowed
	case level == "anonymous":
		return needToken
	case d.Requires.Anonymous || d.Requires.Scope == "" || grants(level)[string(d.Requires.Scope)]:
		return allowed
	}
	return needScope
}

// matrixArgs builds arguments for tool d on fixture f, so that an allowed
// call succeeds: every argument whose name it knows, and no other. A
// required argument it does not know fails the test, naming it.
func matrixArgs(t *testing.T, d tools.Tool, f fixture) map[string]any {
	known := map[string]any{
		"board_id":    f.BoardID,
		"card_id":     f.CardID,
		"column_id":   f.Columns[2],
		"title":       "Matrix title",
		"description": "Matrix description",
		"query":       "first",
		"visibility":  "public",
		"confirm":     true,
	}
	desc := d.Descriptor()
	args := map[string]any{}
	for name := range desc.InputSchema.Properties {
		if v, ok := known[name]; ok {
			args[name] = v
		} else if slices.Contains(desc.InputSchema.Required, name) {
			t.Fatalf("%s requires argument %q: add a value for it to matrixArgs", d.Name, name)
		}
	}
	return args
}

// TestScopeMatrix calls every declared tool at every caller level in both
// challenge modes and checks the exact answer: success, or the exact
// challenge with status, error code, scope and resource_metadata. What
// each answer should be comes from the declarations and the closure of
// implies; a wrong declaration is caught by the golden descriptors.
func TestScopeMatrix(t *testing.T) {
	t.Parallel()
	levels := callerLevels(t)
	for _, mode := range []string{"tool-result", "http"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, map[string]string{"AUTH_CHALLENGE": mode})
			for _, d := range tools.All() {
				for _, level := range levels {
					t.Run(d.Name+"/"+level, func(t *testing.T) {
						f := srv.newFixture(t, "alice", "Matrix "+d.Name)
						token := ""
						if level == "anonymous" {
							// Anonymous callers can read public boards only.
							srv.mustCall(t, f.AdminTok, "share_board", map[string]any{"board_id": f.BoardID, "visibility": "public"})
						} else {
							token = srv.token(t, "alice", "agent-1", level)
						}
						resp := srv.call(t, token, d.Name, matrixArgs(t, d, f))
						checkAccess(t, srv, mode, string(d.Requires.Scope), expectedAccess(d, level), resp)
					})
				}
			}
		})
	}
}

// TestScopeMatrixExpectations pins the worked-out expectations for the
// three kanban scopes to the table they were once written as, so that a
// mistake in expectedAccess or grants cannot make the matrix vacuous.
func TestScopeMatrixExpectations(t *testing.T) {
	tests := []struct {
		req  auth.Requirement
		want [4]access // anonymous, kanban.read, kanban.write, kanban.admin
	}{
		{auth.Requirement{Anonymous: true, Scope: auth.ScopeRead}, [4]access{allowed, allowed, allowed, allowed}},
		{auth.Requirement{Anonymous: true}, [4]access{allowed, allowed, allowed, allowed}},
		{auth.Requirement{Scope: auth.ScopeRead}, [4]access{needToken, allowed, allowed, allowed}},
		{auth.Requirement{Scope: auth.ScopeWrite}, [4]access{needToken, needScope, allowed, allowed}},
		{auth.Requirement{Scope: auth.ScopeAdmin}, [4]access{needToken, needScope, needScope, allowed}},
	}
	for _, tt := range tests {
		var got [4]access
		for i, level := range []string{"anonymous", "kanban.read", "kanban.write", "kanban.admin"} {
			got[i] = expectedAccess(tools.Tool{Requires: tt.req}, level)
		}
		if got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.req, got, tt.want)
		}
	}
}

func checkAccess(t *testing.T, srv *testServer, mode, scope string, want access, resp rpcResponse) {
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
		wantParams := map[string]string{"resource_metadata": srv.PRM(), "scope": scope}
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
