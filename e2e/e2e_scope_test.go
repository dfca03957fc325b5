package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
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

// implies is the scope graph as this test reads it from the declarations
// (tools.Scopes): what each scope names as implied. The closure and the
// matrix's expectations are worked out from it here, independently of the
// enforcement code (auth.ScopeSet), which must agree.
func implies() map[string][]string {
	out := map[string][]string{}
	for _, d := range tools.Scopes() {
		out[string(d.Name)] = auth.Strings(d.Implies)
	}
	return out
}

// grants returns every scope that holding scopes grants: the closure of
// implies.
func grants(scopes ...string) map[string]bool {
	graph := implies()
	out := map[string]bool{}
	var walk func(string)
	walk = func(s string) {
		if out[s] {
			return
		}
		out[s] = true
		for _, next := range graph[s] {
			walk(next)
		}
	}
	for _, s := range scopes {
		walk(s)
	}
	return out
}

// defaultScopes are the declared Default scopes, in declaration order:
// what a client that asks for nothing specific gets.
func defaultScopes() []string {
	var out []string
	for _, d := range tools.Scopes() {
		if d.Default {
			out = append(out, string(d.Name))
		}
	}
	return out
}

// caller is one kind of caller the matrix tries: no token, or a token
// with a set of declared scopes (possibly none).
type caller struct {
	anonymous bool
	scopes    []string
}

func (c caller) String() string {
	switch {
	case c.anonymous:
		return "anonymous"
	case len(c.scopes) == 0:
		return "no-scope"
	}
	return strings.Join(c.scopes, "+")
}

// callers are the callers the matrix tries: no token, then a token with
// each set of declared scopes, the empty one included.
func callers() []caller {
	var names []string
	for _, d := range tools.Scopes() {
		names = append(names, string(d.Name))
	}
	out := []caller{{anonymous: true}}
	for mask := 0; mask < 1<<len(names); mask++ {
		var set []string
		for i, n := range names {
			if mask&(1<<i) != 0 {
				set = append(set, n)
			}
		}
		out = append(out, caller{scopes: set})
	}
	return out
}

// expectedAccess is what c may do with tool d, from its declaration and
// the closure of implies: anonymous callers reach only tools open to them;
// a token reaches a tool whose scope its scopes grant, and a tool open to
// anonymous callers in any case (as anonymous).
func expectedAccess(d tools.Tool, c caller) access {
	switch {
	case c.anonymous && d.Requires.Anonymous:
		return allowed
	case c.anonymous:
		return needToken
	case d.Requires.Anonymous || d.Requires.Scope == "" || grants(c.scopes...)[string(d.Requires.Scope)]:
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

// TestScopeMatrix calls every declared tool with every set of declared
// scopes (and without a token) in both challenge modes and checks the exact
// answer: success, or the exact challenge with status, error code, scope
// and resource_metadata. What each answer should be comes from the
// declarations and the closure of implies; a wrong declaration is caught by
// the golden descriptors.
func TestScopeMatrix(t *testing.T) {
	t.Parallel()
	for _, d := range tools.All() {
		if d.Requires == (auth.Requirement{}) {
			t.Errorf("%s declares no requirement: neither Anonymous nor a scope", d.Name)
		}
	}
	all := callers()
	for _, mode := range []string{"tool-result", "http"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, map[string]string{"AUTH_CHALLENGE": mode})
			for _, d := range tools.All() {
				for _, c := range all {
					t.Run(d.Name+"/"+c.String(), func(t *testing.T) {
						// One owner per tool: every set of scopes gets a board
						// of its own, and one person may have only so many.
						owner := "matrix-" + d.Name
						f := srv.newFixture(t, owner, "Matrix "+d.Name)
						token := ""
						if !c.anonymous {
							token = srv.token(t, owner, "agent-1", strings.Join(c.scopes, " "))
						}
						if c.anonymous || !grants(c.scopes...)[string(d.Requires.Scope)] {
							// Without the tool's scope, a tool open to anonymous
							// callers runs as anonymous, which sees public boards
							// only.
							srv.mustCall(t, f.AdminTok, "share_board", map[string]any{"board_id": f.BoardID, "visibility": "public"})
						}
						resp := srv.call(t, token, d.Name, matrixArgs(t, d, f))
						checkAccess(t, srv, mode, string(d.Requires.Scope), expectedAccess(d, c), resp)
					})
				}
			}
		})
	}
}

// TestScopeMatrixExpectations pins the worked-out expectations for the
// kanban chain to the table they were once written as, so that a mistake
// in expectedAccess or grants cannot make the matrix vacuous. Scopes
// declared besides the chain do not change these rows.
func TestScopeMatrixExpectations(t *testing.T) {
	read, write, admin := string(tools.ScopeRead), string(tools.ScopeWrite), string(tools.ScopeAdmin)
	levels := []caller{{anonymous: true}, {}, {scopes: []string{read}}, {scopes: []string{write}}, {scopes: []string{admin}}, {scopes: []string{read, admin}}}
	tests := []struct {
		req  auth.Requirement
		want [6]access // anonymous, no scope, read, write, admin, read+admin
	}{
		{auth.Requirement{Anonymous: true, Scope: tools.ScopeRead}, [6]access{allowed, allowed, allowed, allowed, allowed, allowed}},
		{auth.Requirement{Anonymous: true}, [6]access{allowed, allowed, allowed, allowed, allowed, allowed}},
		{auth.Requirement{Scope: tools.ScopeRead}, [6]access{needToken, needScope, allowed, allowed, allowed, allowed}},
		{auth.Requirement{Scope: tools.ScopeWrite}, [6]access{needToken, needScope, needScope, allowed, allowed, allowed}},
		{auth.Requirement{Scope: tools.ScopeAdmin}, [6]access{needToken, needScope, needScope, needScope, allowed, allowed}},
	}
	for _, tt := range tests {
		var got [6]access
		for i, c := range levels {
			got[i] = expectedAccess(tools.Tool{Requires: tt.req}, c)
		}
		if got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.req, got, tt.want)
		}
	}
	if n := len(callers()); n != 1+1<<len(tools.Scopes()) {
		t.Errorf("callers() = %d, want anonymous and every subset of %d scopes", n, len(tools.Scopes()))
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
